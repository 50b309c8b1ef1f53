"""The frame every page shares: navigation, language and theme switches, no script errors."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveInstance, screenshot, sign_up
from tests.browser.test_settings import admin_name, log_in

__all__ = ["admin_name"]  # a fixture, shared with the settings tests


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
    expect(page.get_by_role("link", name="Explorer", exact=True)).to_be_visible()
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


# Phones from small Android to large iPhone: no page may be wider than any of them.
PHONE_WIDTHS = (360, 390, 430)
MEASURE = """() => {
  const width = window.innerWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1 && wide.length < 6) {
      wide.push(`${el.tagName.toLowerCase()}.${el.className} right=${Math.round(box.right)}`);
    }
  }
  return {scroll: document.documentElement.scrollWidth, inner: width, wide};
}"""


def assert_fits_phones(page: Page, path: str) -> None:
    """The page at `path` is never wider than a phone's screen (at 360, 390 and 430 px)."""
    for width in PHONE_WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(50)
        measured = page.evaluate(MEASURE)
        assert measured["scroll"] <= measured["inner"], (path, width, measured)


def visit_all(page: Page, paths: list[str]) -> None:
    """Open each page and check its width on every phone."""
    for path in paths:
        page.set_viewport_size({"width": 390, "height": 800})
        response = page.goto(path)
        assert response is not None and response.status < 500, path
        assert_fits_phones(page, path)


def own_character_and_chat(page: Page, live: LiveInstance) -> tuple[str, str]:
    """A character of the signed-in person (with a long unbroken word) and a chat with it."""
    origin = {"Origin": live.base_url}
    made = page.request.post(
        "/api/v1/characters",
        data={
            "name": "Wanderer " + "x" * 60,
            "description": "https://example.org/" + "a" * 120,
            "first_mes": "Hello! " + "y" * 90,
        },
        headers=origin,
    )
    assert made.status == 201, made.text()
    handle = made.json()["handle"]
    chat = page.request.post("/api/v1/conversations", data={"character": handle}, headers=origin)
    assert chat.status == 201, chat.text()
    return handle, chat.json()["id"]


def test_no_page_scrolls_sideways_on_a_phone(page: Page, live: LiveInstance) -> None:
    name = f"narrow_{uuid.uuid4().hex[:8]}"
    sign_up(page, name, "Narrow " + "z" * 40)
    handle, chat_id = own_character_and_chat(page, live)
    public = page.request.get("/api/v1/timelines/public").json()
    posts = public["items"] if isinstance(public, dict) else public
    thread = f"/@{posts[0]['author']['handle']}/{posts[0]['id']}" if posts else "/public"
    paths = [
        "/home",
        "/for-you",
        "/public",
        "/tags/hello",
        thread,
        "/compose",
        "/explore",
        "/explore?tab=trending",
        "/explore?tab=people",
        "/explore?tab=posts",
        "/explore?q=light",
        f"/@{name}",
        f"/@{name}/followers",
        "/@lighthouse_ansel",
        "/@lighthouse_ansel/following",
        "/@lighthouse_ansel/report",
        "/notifications",
        "/notifications?show=mentions",
        "/chats",
        f"/chat/{chat_id}",
        "/studio",
        "/studio/new",
        f"/studio/{handle}",
        f"/studio/{handle}/lorebook",
        f"/studio/{handle}/avatar",
        f"/studio/{handle}/autonomy",
        f"/studio/{handle}/review",
        f"/studio/{handle}/activity",
        "/settings",
        "/settings/tokens",
        "/settings/ai",
        "/settings/muted",
        "/settings/memories",
        "/menu",
        "/chat/" + "0" * 32,
        "/no-such-page",
    ]
    visit_all(page, paths)
    # And in French, whose words are longer (tabs wrap, nothing is clipped).
    page.context.add_cookies([{"name": "personae_lang", "value": "fr", "url": live.base_url}])
    visit_all(page, ["/settings", "/studio", f"/studio/{handle}", "/notifications", "/menu"])


def test_admin_pages_fit_a_phone(page: Page, admin_name: str) -> None:
    log_in(page, admin_name)
    visit_all(page, ["/admin", "/admin/reports", "/admin/limits", "/menu"])
    page.goto("/menu")
    expect(page.locator("main").get_by_role("link", name="Admin")).to_be_visible()


def test_the_phone_bar_is_labelled_and_more_leads_to_everything(page: Page) -> None:
    # Someone else signs up first, so this person is never the instance's first (admin).
    first = {"username": f"first_{uuid.uuid4().hex[:8]}", "password": PASSWORD}
    assert page.request.post("/api/v1/accounts", data=first).status == 201
    name = f"phone_{uuid.uuid4().hex[:8]}"
    sign_up(page, name, "Phone Person")
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto("/home")
    bar = page.get_by_role("navigation", name="Main")
    for label in ("Home", "Explore", "Alerts", "Chats", "More"):
        item = bar.get_by_role("link", name=re.compile(f"^{label}"))
        expect(item).to_be_visible()
        # The label is text one can read, not only an icon with a hidden name.
        text = item.locator(".nav__label:visible")
        expect(text).to_have_text(label)
        box = text.bounding_box()
        assert box is not None and box["height"] >= 10 and box["width"] >= 10, label
    screenshot(page, "phone-bar")
    bar.get_by_role("link", name="More", exact=True).click()
    page.wait_for_url("**/menu")
    for label in ("Profile", "Studio", "Settings", "Notifications", "Sessions and API tokens"):
        expect(page.get_by_role("link", name=label, exact=True).last).to_be_visible()
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)
    expect(page.locator("#menu-switch-language")).to_be_visible()
    screenshot(page, "menu")
    page.locator("main").get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("form[action='/login']")).to_be_visible()
    assert page.goto("/settings").url.endswith("/")  # type: ignore[union-attr]


def test_the_switches_popover_fits_and_the_ai_chip_is_one_line(page: Page) -> None:
    sign_up(page, f"chip_{uuid.uuid4().hex[:8]}")
    for width in PHONE_WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.goto("/public")
        page.get_by_text("Language and theme").click()
        popover = page.locator(".topbar__menu .switches")
        expect(popover).to_be_visible()
        box = popover.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
        page.get_by_text("Language and theme").click()
        chip = page.locator(".badge--ai").first
        expect(chip).to_be_visible()
        height = chip.evaluate("e => e.getBoundingClientRect().height")
        line = chip.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")
        assert height <= line + 1, (width, height, line)


def test_a_signed_in_error_page_shows_the_account_and_where_to_go(page: Page) -> None:
    name = f"lost_{uuid.uuid4().hex[:8]}"
    sign_up(page, name, "Lost Person")
    for path in ("/chat/" + "0" * 32, "/no-such-page"):
        response = page.goto(path)
        assert response is not None and response.status == 404
        assert "text/html" in response.headers["content-type"]
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        expect(page.locator("nav .nav").get_by_role("link", name="Log in")).to_have_count(0)
        expect(page.locator(".who__name")).to_contain_text("Lost Person")
    page.goto("/chat/" + "0" * 32)
    expect(page.get_by_role("alert")).to_contain_text("chat")
    page.locator("main").get_by_role("link", name="Your chats").click()
    page.wait_for_url("**/chats")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/no-such-page")
    expect(page.get_by_role("link", name="More", exact=True)).to_be_visible()
    screenshot(page, "not-found")
