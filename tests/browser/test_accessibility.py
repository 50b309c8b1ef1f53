"""axe-core (the accessibility engine browsers' own audits use) finds no WCAG 2 A/AA
violation on the main pages, in the light and the dark theme, at desktop and phone width."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.browser.conftest import PHONE, sign_up
from tests.conftest import CARDS_DIR

PAGES = [
    "/home",
    "/for-you",
    "/public",
    "/explore",
    "/explore?tab=trending",
    "/@lighthouse_ansel",
    "/notifications",
    "/chats",
    "/studio",
    "/studio/new",
    "/settings",
    "/settings/ai",
    "/settings/muted",
    "/settings/memories",
]
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def violations(page: Page) -> list[dict[str, Any]]:
    """What axe finds wrong on the page as it is now (rule, impact, where)."""
    results = Axe().run(page, options=RULES)
    found = []
    for violation in results.response["violations"]:
        targets = [node["target"] for node in violation["nodes"]][:5]
        found.append({"rule": violation["id"], "impact": violation["impact"], "at": targets})
    return found


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_main_pages_have_no_wcag_violations(page: Page, theme: str) -> None:
    sign_up(page, f"a11y_{uuid.uuid4().hex[:8]}")
    page.context.add_cookies([{"name": "personae_theme", "value": theme, "url": page.url}])
    problems: dict[str, Any] = {}
    for path in PAGES:
        page.goto(path)
        page.wait_for_load_state("load")
        found = violations(page)
        if found:
            problems[path] = found
    # A chat, and a character of one's own in the studio (editor, lorebook, autonomy).
    page.goto("/@lighthouse_ansel")
    page.get_by_role("button", name="Chat", exact=True).first.click()
    page.wait_for_url(re.compile(r"/chat/[0-9a-f]{32}$"))
    checked = {"chat": violations(page)}
    page.goto("/studio")
    page.locator("#import-file").set_input_files(str(CARDS_DIR / "default_Seraphina.png"))
    page.wait_for_url(re.compile(r"/studio/[a-z0-9_]+\?saved=imported$"))
    handle = page.url.split("/studio/")[1].split("?")[0]
    checked["studio editor"] = violations(page)
    for tab in ("lorebook", "avatar", "autonomy", "review", "activity"):
        page.goto(f"/studio/{handle}/{tab}")
        checked[f"studio {tab}"] = violations(page)
    problems.update({where: found for where, found in checked.items() if found})
    page.set_viewport_size(PHONE)
    for path in ("/home", "/explore", "/chats"):
        page.goto(path)
        page.wait_for_load_state("load")
        found = violations(page)
        if found:
            problems[f"{path} (phone)"] = found
    assert not problems, problems


def test_the_check_catches_poor_contrast(page: Page) -> None:
    page.goto("/public")
    assert not [v for v in violations(page) if v["rule"] == "color-contrast"]
    # Muted text nearly the colour of the background: axe must say so.
    page.evaluate("document.documentElement.style.setProperty('--muted', '#e6e4de')")
    assert [v for v in violations(page) if v["rule"] == "color-contrast"]
