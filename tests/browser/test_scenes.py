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


def listening(page: Page) -> None:
    """Wait until the scene page's event stream is open (replies made later reach it)."""
    expect(page.locator("[data-scene]")).to_have_attribute("data-live", "open")


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
        listening(page)
        listening(guest_page)
        page.evaluate(WATCH_STREAM)
        guest_page.evaluate(WATCH_STREAM)
        box = page.get_by_label("Your message to the scene")
        box.fill("Ansel Brine, what do you see from the lighthouse tonight?")
        box.press("Enter")
        # The replies come after the owner's message (the first character's greeting before).
        replies = {
            page: page.locator("#scene-messages .msg--user ~ .msg--assistant"),
            guest_page: guest_page.locator("#scene-messages .msg--person ~ .msg--assistant"),
        }
        for watcher in (page, guest_page):
            expect(replies[watcher].first).to_be_visible(timeout=REPLY_MS)
        for watcher in (page, guest_page):
            expect(watcher.locator(".scene__pending .msg--pending")).to_have_count(
                0, timeout=REPLY_MS
            )
            lengths = watcher.evaluate("window.__lengths")
            assert len(set(lengths)) > 2, f"the reply did not stream in: {lengths}"
        first_reply = replies[page].first
        expect(first_reply.locator(".msg__name")).to_have_text("Ansel Brine")
        expect(first_reply.locator(".badge")).to_have_text("AI")
        expect(first_reply.locator(".msg__reason")).to_have_text("mentioned")
        text = first_reply.locator(".msg__text").inner_text()
        expect(replies[guest_page].first.locator(".msg__text")).to_have_text(text)
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


LONG_STORY = "Tell me a very long story about the sea, with many ships and storms."
# A character of one's own whose replies are a dozen tokens: quick on the bundled model.
BARD = {
    "name": "Brief Bard",
    "description": "{{char}} tells tales of the sea.",
    "first_mes": "Shall I tell you a tale?",
    "sampling": {"max_tokens": 12},
}


def bard(page: Page) -> str:
    """Create the brief bard as the page's person; its handle."""
    return str(api(page, "POST", "/api/v1/characters", BARD)["handle"])


def test_speak_swipes_edit_stop_branch_and_delete(page: Page) -> None:
    sign_up(page, unique("teller"))
    handle = bard(page)
    scene = api(
        page,
        "POST",
        "/api/v1/scenes",
        {"title": "Harbour", "characters": [handle, ANSEL], "mode": "manual"},
    )
    page.goto(f"/scenes/{scene['id']}")
    listening(page)
    panel = page.locator("#scene-panel")
    said = page.locator("#scene-messages")
    box = page.get_by_label("Your message to the scene")
    box.fill("Hello, everyone.")
    box.press("Enter")
    expect(said.locator(".msg--user .msg__text")).to_have_text("Hello, everyone.")

    # Speak: a tap in the members panel makes the character reply, streamed.
    expect(said.locator(".msg--assistant")).to_have_count(1)  # the first character's greeting
    page.evaluate(WATCH_STREAM)
    panel.get_by_role("button", name="Make Brief Bard speak now").click()
    expect(said.locator(".msg--assistant")).to_have_count(2, timeout=REPLY_MS)
    reply = said.locator(".msg--assistant").last
    expect(reply.locator(".msg__name")).to_have_text("Brief Bard")
    expect(page.locator(".scene__pending .msg--pending")).to_have_count(0, timeout=REPLY_MS)
    lengths = page.evaluate("window.__lengths")
    assert len(set(lengths)) > 2, f"the reply did not stream in: {lengths}"
    expect(reply.locator(".badge")).to_have_text("AI")
    first_text = reply.locator(".msg__text").inner_text()

    # Regenerate: a second version beside the first; the arrows switch between them.
    reply.get_by_role("button", name="Regenerate").click()
    expect(reply.locator(".msg__swipes")).to_have_text("2 / 2", timeout=REPLY_MS)
    reply.get_by_role("button", name="Previous version").click()
    expect(reply.locator(".msg__swipes")).to_have_text("1 / 2")
    expect(reply.locator(".msg__text")).to_have_text(first_text)
    expect(reply.get_by_role("button", name="Previous version")).to_be_disabled()
    reply.get_by_role("button", name="Next version").click()
    expect(reply.locator(".msg__swipes")).to_have_text("2 / 2")
    expect(said.locator(".msg--assistant")).to_have_count(2)

    # Edit my own message inline.
    mine = said.locator(".msg--user").first
    mine.get_by_role("button", name="Edit").click()
    editor = mine.get_by_label("Edit message")
    expect(editor).to_be_focused()
    editor.fill("Hello, keeper.")
    mine.get_by_role("button", name="Save").click()
    expect(mine.locator(".msg__text")).to_have_text("Hello, keeper.")
    expect(mine.locator(".msg__edited")).to_be_visible()

    # The composer's Stop while a long reply streams: the partial is kept, marked stopped.
    box.fill(LONG_STORY)
    box.press("Enter")
    expect(said.locator(".msg--user")).to_have_count(2)
    panel.get_by_role("button", name="Make Ansel Brine speak now").click()
    pending = page.locator(".scene__pending .msg--pending .msg__text")
    expect(pending).to_have_text(re.compile(r"\w+\W+\w+\W+\w+"), timeout=REPLY_MS)
    stop = page.locator(".scene__composer").get_by_role("button", name="Stop")
    with page.expect_response(re.compile(r"/stop$")) as stopped:
        stop.click()
    assert stopped.value.json()["stopped"] is True
    last = said.locator(".msg--assistant").last
    expect(last.locator(".msg__name")).to_have_text("Ansel Brine")
    expect(last.locator(".msg__cut")).to_have_text("Stopped before the end.")
    expect(page.locator(".scene__status")).to_have_text(re.compile("Stopped"))
    expect(stop).to_be_hidden()
    saved = api(page, "GET", f"/api/v1/scenes/{scene['id']}")["messages"][-1]
    assert saved["generation"]["finish_reason"] == "stopped", saved
    assert 0 < saved["generation"]["completion_tokens"] < 60, saved
    assert last.get_attribute("data-id") == saved["id"]

    # A phone: the actions of every message fit, nothing scrolls sideways.
    page.set_viewport_size(PHONE)
    no_sideways_scroll(page)
    for action in ("Regenerate", "Branch", "Delete"):
        expect(last.get_by_role("button", name=action)).to_be_visible()

    # Branch from my first message: a new scene opens, holding the history up to it.
    before = page.url
    said.locator(".msg--user").first.get_by_role("button", name="Branch").click()
    page.wait_for_url(lambda url: url != before and re.search(r"/scenes/\w{32}$", url) is not None)
    expect(page.locator(".chat__title")).to_have_text("Harbour (branch)")
    said = page.locator("#scene-messages")
    expect(said.locator("li[data-id]")).to_have_count(2)  # the greeting, and mine
    expect(said.locator(".msg--user .msg__text")).to_have_text("Hello, keeper.")
    expect(page.locator("#scene-panel li[data-member]")).to_have_count(3)

    # Delete (asking first), at a phone's width.
    mine = said.locator(".msg--user")
    mine.get_by_role("button", name="Delete").click()
    mine.get_by_role("button", name="Cancel").click()
    expect(said.locator("li[data-id]")).to_have_count(2)
    mine.get_by_role("button", name="Delete").click()
    confirm = mine.locator(".msg__confirm")
    expect(confirm).to_contain_text("Delete this message and every reply after it?")
    no_sideways_scroll(page)
    confirm.get_by_role("button", name="Delete").click()
    expect(said.locator(".msg--user")).to_have_count(0)
    expect(said.locator("li[data-id]")).to_have_count(1)
    # The original scene keeps its messages.
    assert len(api(page, "GET", f"/api/v1/scenes/{scene['id']}")["messages"]) == 5


def test_share_watch_live_and_typing_pauses_auto_mode(
    page: Page, browser: Browser, live: LiveInstance
) -> None:
    owner = unique("sharer")
    sign_up(page, owner)
    handle = bard(page)
    scene = api(
        page,
        "POST",
        "/api/v1/scenes",
        {"title": "Open sea", "characters": [handle], "mode": "manual", "visibility": "public"},
    )
    path = f"/scenes/{scene['id']}"
    api(page, "POST", f"/api/v1{path}/messages", {"content": "Sing us something."})
    page.goto(path)
    # A signed-out visitor watches the public scene: read-only, no member actions.
    visitor = browser.new_context(base_url=live.base_url, viewport=DESKTOP, locale="en-US")
    visitor.set_default_timeout(15_000)
    try:
        watcher = visitor.new_page()
        watcher.goto(path)
        listening(watcher)
        expect(watcher.get_by_text("You are watching a public scene")).to_be_visible()
        expect(watcher.locator(".scene__composer")).to_have_count(0)
        expect(watcher.locator(".msg__actions")).to_have_count(0)
        expect(watcher.locator(".scene-member__actions")).to_have_count(0)
        expect(watcher.get_by_role("button", name="Start auto-mode")).to_have_count(0)
        watcher.evaluate(WATCH_STREAM)

        # The owner taps Speak; the watcher receives the reply live, as it is written.
        page.locator("#scene-panel").get_by_role("button", name="Make Brief Bard speak now").click()
        replies = watcher.locator("#scene-messages .msg--assistant")
        expect(replies).to_have_count(2, timeout=REPLY_MS)
        seen = replies.last
        expect(seen.locator(".msg__name")).to_have_text("Brief Bard")
        expect(seen.locator(".badge")).to_have_text("AI")
        expect(watcher.locator(".scene__pending .msg--pending")).to_have_count(0)
        lengths = watcher.evaluate("window.__lengths")
        assert len(set(lengths)) > 2, f"the watcher did not see the reply stream: {lengths}"
        expect(seen.locator(".msg__actions")).to_have_count(0)
        expect(page.locator("#scene-messages .msg--assistant")).to_have_count(2)

        # Typing pauses auto-mode, for the owner and (live) for the watcher.
        api(page, "POST", f"/api/v1{path}/auto", {"on": True, "delay_s": 3600, "turn_budget": 3})
        page.reload()
        listening(page)
        bar = page.locator("#scene-live")
        expect(bar.get_by_text("Auto-mode is on")).to_be_visible()
        page.get_by_label("Your message to the scene").press_sequentially("Wait, I")
        expect(bar).to_contain_text("paused: a person is typing")
        expect(watcher.locator("#scene-live")).to_contain_text("paused: a person is typing")
        bar.get_by_role("button", name="Stop").click()
        expect(bar.get_by_text("Auto-mode is off")).to_be_visible()

        # Share the transcript from the panel: a post with the AI labels, linking to it.
        panel = page.locator("#scene-panel")
        panel.get_by_label("Share to the feed").fill("An evening at sea.")
        panel.get_by_role("button", name="Share the transcript").click()
        expect(panel.get_by_text("Shared to the feed.")).to_be_visible()
        panel.get_by_role("link", name="See the post").click()
        page.wait_for_url(re.compile(rf"/@{owner}/\w+$"))
        expect(page.get_by_text("Brief Bard (AI)").first).to_be_visible()
        page.locator(f"a[href*='{path}/shared/']").first.click()
        page.wait_for_url(re.compile(rf"{path}/shared/\w{{32}}$"))
        expect(page.locator(".msg")).to_have_count(3)  # greeting, my line, the reply
        expect(page.locator(".msg--assistant .badge")).to_have_text(["AI", "AI"])
        expect(page.locator(".msg__actions")).to_have_count(0)

        # A range (the reply alone), read signed out: just that message, labelled AI.
        reply_id = seen.get_attribute("data-id")
        shared = api(
            page,
            "POST",
            f"/api/v1{path}/share",
            {"from_message_id": reply_id, "to_message_id": reply_id},
        )
        watcher.goto(shared["url"].removeprefix(live.base_url))
        expect(watcher.locator(".chat__title")).to_have_text("Open sea")
        expect(watcher.locator(".msg")).to_have_count(1)
        expect(watcher.locator(".msg__name")).to_have_text("Brief Bard")
        expect(watcher.locator(".badge")).to_have_text("AI")
        watcher.set_viewport_size(PHONE)
        no_sideways_scroll(watcher)
    finally:
        visitor.close()
