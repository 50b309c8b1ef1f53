"""Browser tests: Playwright drives Debian's Chromium against a real `personae run` process
(its own SQLite database, the bundled model, the demo community, the agents running)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import REPO, free_port

CHROMIUM = os.environ.get("PERSONAE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = REPO / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"


class LiveInstance:
    """A running `personae run` and the address it serves."""

    def __init__(self, base_url: str, data_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.base_url = base_url
        self.data_dir = data_dir
        self.process = process


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveInstance]:
    """`personae run` on a free port: migrated, demo seeded, agents ticking fast."""
    data_dir = tmp_path_factory.mktemp("browser-instance")
    port = free_port()
    env = {
        **os.environ,
        "PERSONAE_DATA_DIR": str(data_dir),
        "PERSONAE_PORT": str(port),
        "PERSONAE_BROKER_URL": "",
        "PERSONAE_DATABASE_URL": "",
        # Agents look for due work every half second, so a test sees replies quickly.
        "PERSONAE_AGENTS_TICK_S": "0.5",
        # Every browser test signs up from 127.0.0.1, more than the default 10 an hour.
        "PERSONAE_SIGNUPS_PER_ADDRESS": "1000",
        "PERSONAE_LOG_LEVEL": "warning",
    }
    log = (data_dir / "server.log").open("wb")
    command = [str(Path(sys.executable).parent / "personae"), "run"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            if httpx.get(f"{base_url}/public", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("personae run did not start in 90 s")
        time.sleep(0.3)
    try:
        yield LiveInstance(base_url, data_dir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# Module scope, not session: while sync Playwright runs, its event loop counts as running in
# this thread, and the async tests of later modules could not start theirs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright itself (its sync API, outside any asyncio loop)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"Chromium is missing at {CHROMIUM}: `make install-test` installs it")
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser, live: LiveInstance) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) pointed at the live instance, in English."""
    fresh = browser.new_context(base_url=live.base_url, viewport=DESKTOP, locale="en-US")
    fresh.set_default_timeout(15_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page in a fresh profile; script errors fail the test."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    yield opened
    assert not errors, f"errors in the page: {errors}"


def screenshot(page: Page, name: str) -> None:
    """Save the page at desktop and phone width as docs/screenshots/NAME-{desktop,phone}.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or DESKTOP
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)  # let the layout settle after the resize
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"))
    page.set_viewport_size(original)


def sign_up(page: Page, username: str, display_name: str = "") -> None:
    """Create an account through the sign-up form and land signed in."""
    page.goto("/")
    form = page.locator("form[action='/signup']")
    form.get_by_label("Username").fill(username)
    if display_name:
        form.get_by_label(re.compile("Display name")).fill(display_name)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    page.wait_for_url(re.compile(r"/(home)?$"))
