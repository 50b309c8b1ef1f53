"""The frame every page shares: navigation, language and theme switches, no script errors."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_up


def test_language_and_theme_switches_change_the_page(page: Page) -> None:
    sign_up(page, "shell_sam")
    page.goto("/public")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_label("Language").select_option("fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name="Explorer")).to_be_visible()
    page.get_by_label("Thème").select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 18, 20)"
    page.get_by_label("Langue").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
