"""Settings and admin in a real browser: AI visibility, muted lists, a backend, a limit."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveInstance, screenshot, sign_up
from tests.conftest import REPO, free_port


def unique(prefix: str) -> str:
    """A username no other test on the shared instance uses."""
    return f"{prefix}_{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def admin_name(live: LiveInstance) -> str:
    """An admin account made with the CLI on the live instance's data (never by sign-up
    order, which other browser tests share)."""
    name = unique("root")
    env = {**os.environ, "PERSONAE_DATA_DIR": str(live.data_dir), "PERSONAE_DATABASE_URL": ""}
    command = [str(Path(sys.executable).parent / "personae"), "users", "create", name]
    done = subprocess.run(
        [*command, "--admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return name


def log_in(page: Page, username: str) -> None:
    """Log in through the start page's form."""
    page.goto("/")
    form = page.locator("form[action='/login']")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    page.wait_for_url(re.compile(r"/(home)?$"))


def test_settings_ai_visibility_and_muted_lists(
    page: Page, live: LiveInstance, admin_name: str
) -> None:
    sign_up(page, unique("sam"), "Sam")
    characters = page.request.get("/api/v1/characters").json()
    handle = next(c["handle"] for c in characters if c["visibility"] == "public")
    origin = {"Origin": live.base_url}
    assert page.request.post(f"/api/v1/actors/{handle}/mute", headers=origin).status == 204

    page.goto("/settings")
    expect(page.get_by_role("heading", name="Settings", level=1)).to_be_visible()
    page.get_by_role("link", name="AI visibility").click()
    page.get_by_label("Only from characters I follow").check()
    page.get_by_label("Let AI characters reply to me").uncheck()
    page.get_by_role("button", name="Save AI visibility").click()
    expect(page.get_by_role("status")).to_have_text("Your AI visibility choices are saved.")
    expect(page.get_by_label("Only from characters I follow")).to_be_checked()
    expect(page.get_by_label("Let AI characters reply to me")).not_to_be_checked()
    expect(page.get_by_label("Let AI characters mention me")).to_be_checked()
    screenshot(page, "settings")

    page.get_by_role("link", name="Muted and blocked").click()
    expect(page.get_by_text(f"@{handle}")).to_be_visible()
    expect(page.get_by_text("You block nobody.")).to_be_visible()
    page.get_by_role("button", name=f"Unmute @{handle}").click()
    expect(page.get_by_role("status")).to_contain_text("Unmuted")
    expect(page.get_by_text("You mute nobody.")).to_be_visible()
    # Ordinary members have no admin: the page does not exist for them.
    assert page.goto("/admin").status == 404  # type: ignore[union-attr]


def test_admin_adds_and_tests_a_backend_and_changes_a_limit(
    page: Page, live: LiveInstance, admin_name: str
) -> None:
    log_in(page, admin_name)
    page.goto("/admin")
    expect(page.get_by_role("heading", name="Configured backends")).to_be_visible()
    name = unique("gpu").replace("_", "-")
    nowhere = f"http://127.0.0.1:{free_port()}/v1"
    form = page.locator("form[action='/admin/backends']")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Base URL").fill(nowhere)
    form.get_by_label("Model").fill("llama-3-8b")
    form.get_by_label("API key (optional)").fill("sk-never-shown")
    form.get_by_role("button", name="Add backend").click()
    expect(page.get_by_role("status")).to_have_text("The backend is added and ready to use.")
    backend = page.locator(f"#backend-{name}")
    expect(backend).to_contain_text(nowhere)
    assert "sk-never-shown" not in page.content()

    backend.get_by_role("button", name="Test it").click()
    result = backend.locator(".admin-test")
    expect(result).to_contain_text("Test did not pass")
    expect(result).to_contain_text(f"Could not connect to {nowhere}.")
    assert page.url.endswith("/admin?done=added")  # htmx answered in place
    screenshot(page, "admin")

    page.get_by_role("link", name="Instance limits").click()
    limit = page.get_by_label("Posts per day, all characters together")
    limit.fill("5000")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_role("status")).to_contain_text("The limits are saved.")
    expect(page.get_by_label("Posts per day, all characters together")).to_have_value("5000")
    expect(page.get_by_text("In force: 5000.")).to_be_visible()
    # Leave the shared instance as it was.
    page.get_by_label("Posts per day, all characters together").fill("")
    page.get_by_role("button", name="Save limits").click()
    expect(page.get_by_text("In force: 2000.")).to_be_visible()
    page.goto("/admin")
    page.get_by_role("button", name=f"Remove backend {name}").click()
    expect(page.get_by_role("status")).to_have_text("The backend is removed.")
