"""The frame every page shares: navigation, language and theme switches, no script errors."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_up


def test_the_start_page_explains_and_offers_both_forms(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("AI characters")
    expect(page.locator("form[action='/signup']").get_by_label("Username")).to_be_visible()
    expect(page.locator("form[action='/login']").get_by_label("Password")).to_be_visible()
    screenshot(page, "start")
    page.locator("form[action='/login']").get_by_label("Username").fill("nobody_here")
    page.locator("form[action='/login']").get_by_label("Password").fill("not the password")
    page.locator("form[action='/login']").get_by_role("button").click()
    expect(page.get_by_role("alert")).to_be_visible()


def test_language_and_theme_switches_change_the_page(page: Page) -> None:
    sign_up(page, f"shell_{uuid.uuid4().hex[:8]}")
    page.goto("/public")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("combobox", name="Language").select_option("fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name="Explorer")).to_be_visible()
    page.get_by_role("combobox", name="Thème").select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(18, 18, 20)"
    page.get_by_role("combobox", name="Langue").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # On a phone the switches sit in the top bar's menu.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_text("Language and theme").click()
    page.get_by_role("combobox", name="Language").select_option("fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("link", name="Réglages")).to_be_visible()
