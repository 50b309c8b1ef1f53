"""Scenes in a real browser: two people see the same replies stream live; members,
invitations, auto-mode; a phone's width. Against `personae run` and its bundled model."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import DESKTOP, PHONE, LiveInstance, screenshot, sign_up

REPLY_MS = 90_000  # the bundled model on a busy two-core machine can take a while
ANSEL = "lighthouse_ansel"
FERN = "fern_unit7"
# Records, in this page, every length the reply being written had (set before sending).
WATCH_STREAM = """() => {
  window.__lengths = [];
  const list = document.querySelector(".scene__pending");
  new MutationObserver(() => {
    for (const text of list.querySelectorAll(".msg__text")) {
      window.__lengths.push(text.textContent.length);
    }
  }).observe(list, { childList: true, subtree: true, characterData: true });
}"""
# A JSON request with the page's own session (the cookie, and its Origin).
API = """async ([method, path, body]) => {
  const r = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await r.json(); } catch {}
  return [r.status, data];
}"""


def unique(prefix: str) -> str:
    """A username no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def api(page: Page, method: str, path: str, body: Any = None) -> Any:
    """Call the JSON API as the page's signed-in person; fail on an error status."""
    status, data = page.evaluate(API, [method, path, body])
    assert status < 400, (method, path, status, data)
    return data


def person(browser: Browser, live: LiveInstance, name: str) -> tuple[BrowserContext, Page]:
    """A second person in a browser profile of their own, signed up."""
    context = browser.new_context(base_url=live.base_url, viewport=DESKTOP, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    sign_up(page, name)
    return context, page


def no_sideways_scroll(page: Page) -> None:
    """The page is no wider than the window."""
    width = page.evaluate("document.documentElement.scrollWidth")
    viewport = page.viewport_size
    assert viewport is not None and width <= viewport["width"], (width, viewport)


def test_two_people_see_the_same_replies_stream_live(
    page: Page, browser: Browser, live: LiveInstance
) -> None:
    owner = unique("host")
    guest = unique("guest")
    guest_context, guest_page = person(browser, live, guest)
    try:
        sign_up(page, owner)
        # Create a scene with two characters from the form.
        page.goto("/scenes")
        form = page.locator("form[action='/scenes']")
        form.get_by_label("Title").fill("Storm at the lighthouse")
        form.get_by_label(re.compile("Ansel Brine")).check()
        form.get_by_label(re.compile("FERN-7")).check()
        form.get_by_label("Who speaks").select_option("natural")
        form.get_by_role("button", name="Create scene").click()
        page.wait_for_url(re.compile(r"/scenes/\w{32}$"))
        scene_path = page.url.removeprefix(live.base_url)
        panel = page.locator("#scene-panel")
        expect(panel.get_by_text("Ansel Brine")).to_be_visible()
        expect(panel.locator(".badge")).to_have_count(2)  # each character labelled AI

        # Invite the guest; they accept from their list of scenes.
        panel.get_by_label("Invite a person").fill(guest)
        panel.get_by_role("button", name="Invite", exact=True).click()
        expect(panel.get_by_text(guest)).to_be_visible()
        guest_page.goto("/scenes")
        invitation = guest_page.locator(".scene-invitations")
        expect(invitation.get_by_text("Storm at the lighthouse")).to_be_visible()
        invitation.get_by_role("button", name="Accept").click()
        guest_page.wait_for_url(re.compile(scene_path + "$"))
        expect(guest_page.locator(".scene__composer")).to_be_visible()

        # The owner writes; both pages watch the replies grow token by token.
        page.evaluate(WATCH_STREAM)
        guest_page.evaluate(WATCH_STREAM)
        box = page.get_by_label("Your message to the scene")
        box.fill("Ansel Brine, what do you see from the lighthouse tonight?")
        box.press("Enter")
        for watcher in (page, guest_page):
            saved = watcher.locator("#scene-messages .msg--assistant")
            expect(saved.first).to_be_visible(timeout=REPLY_MS)
        for watcher in (page, guest_page):
            expect(watcher.locator(".scene__pending .msg--pending")).to_have_count(
                0, timeout=REPLY_MS
            )
            lengths = watcher.evaluate("window.__lengths")
            assert len(set(lengths)) > 2, f"the reply did not stream in: {lengths}"
        first_reply = page.locator("#scene-messages .msg--assistant").first
        expect(first_reply.locator(".msg__name")).to_have_text("Ansel Brine")
        expect(first_reply.locator(".badge")).to_have_text("AI")
        expect(first_reply.locator(".msg__reason")).to_have_text("mentioned")
        text = first_reply.locator(".msg__text").inner_text()
        expect(guest_page.locator("#scene-messages .msg--assistant .msg__text").first).to_have_text(
            text
        )
        # The guest sees the owner's message as someone else's, with a name.
        expect(guest_page.locator("#scene-messages .msg--person .msg__name").first).to_be_visible()
        screenshot(page, "scene")

        # Mute a character (it stays a member), then remove it; the guest leaves.
        fern = panel.locator("li[data-member]", has_text="FERN-7")
        fern.get_by_role("button", name="Mute").click()
        expect(fern.get_by_role("button", name="Muted")).to_have_attribute("aria-pressed", "true")
        page.once("dialog", lambda dialog: dialog.accept())
        fern.get_by_role("button", name="Remove FERN-7").click()
        # A removed character stays in the record (its lines keep their speaker), as "Left".
        expect(fern).to_contain_text("Left")
        expect(fern.get_by_role("button", name="Make FERN-7 speak now")).to_have_count(0)
        guest_page.get_by_role("button", name="Leave scene").click()
        guest_page.wait_for_url(re.compile(r"/scenes$"))
        expect(page.locator("#scene-panel li[data-member]", has_text=guest)).to_contain_text(
            "Left", timeout=10_000
        )
        assert guest_page.goto(scene_path).status == 404  # type: ignore[union-attr]
    finally:
        guest_context.close()


def test_invitations_auto_mode_and_a_phone(
    page: Page, browser: Browser, live: LiveInstance
) -> None:
    owner = unique("owner")
    guest = unique("invitee")
    guest_context, guest_page = person(browser, live, guest)
    try:
        sign_up(page, owner)
        scene = api(page, "POST", "/api/v1/scenes", {"title": "Tea", "characters": [ANSEL, FERN]})
        api(page, "POST", f"/api/v1/scenes/{scene['id']}/members", {"person": guest})
        # Declining takes the invitation away.
        guest_page.goto("/scenes")
        guest_page.locator(".scene-invitations").get_by_role("button", name="Decline").click()
        guest_page.wait_for_url(re.compile(r"/scenes$"))
        expect(guest_page.locator(".scene-invitations")).to_have_count(0)
        page.goto("/scenes")
        expect(page.get_by_role("link", name=re.compile("^Tea"))).to_be_visible()
        screenshot(page, "scenes")

        # Auto-mode: start it with a small budget, see it on, and stop it.
        page.goto(f"/scenes/{scene['id']}")
        live_bar = page.locator("#scene-live")
        live_bar.get_by_label("Turns").fill("2")
        live_bar.get_by_role("button", name="Start auto-mode").click()
        expect(live_bar.get_by_text("Auto-mode is on")).to_be_visible()
        live_bar.get_by_role("button", name="Stop").click()
        expect(live_bar.get_by_text("Auto-mode is off")).to_be_visible()

        # A phone: nothing wider than the screen, and every action within reach.
        for width in (360, 390, 430):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"/scenes/{scene['id']}")
            no_sideways_scroll(page)
            expect(page.get_by_label("Your message to the scene")).to_be_visible()
            expect(
                page.locator("#scene-live").get_by_role("button", name="Start auto-mode")
            ).to_be_visible()
            page.get_by_role("link", name=re.compile("^Members")).click()
            panel = page.locator("#scene-panel")
            expect(panel.get_by_role("button", name="Make Ansel Brine speak now")).to_be_visible()
            expect(panel.get_by_label("Invite a person")).to_be_visible()
            no_sideways_scroll(page)
            panel.get_by_role("link", name="Close").click()
            expect(panel).to_be_hidden()
            page.goto("/scenes")
            no_sideways_scroll(page)
            bar = page.get_by_role("navigation", name="Main")
            expect(bar.get_by_role("link", name="Scenes")).to_be_visible()
        page.set_viewport_size(PHONE)
    finally:
        guest_context.close()
