"""Chatting in a real browser against `personae run` and its bundled model."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, screenshot, sign_up

CHARACTER = "lighthouse_ansel"
REPLY_MS = 90_000  # the bundled model on a busy two-core machine can take a while
# Records how long the streaming reply's text was at each change (set before sending).
WATCH_STREAM = """() => {
  window.__lengths = [];
  const list = document.querySelector("[data-chat] .chat__messages");
  new MutationObserver(() => {
    const pending = list.querySelector(".msg--pending .msg__text");
    if (pending) window.__lengths.push(pending.textContent.length);
  }).observe(list, { childList: true, subtree: true, characterData: true });
}"""


def unique(prefix: str) -> str:
    """A username no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def start_chat(page: Page) -> None:
    """Start a chat with the demo lighthouse keeper from the list of chats."""
    page.goto("/chats")
    page.get_by_label("Character").select_option(CHARACTER)
    page.get_by_role("button", name="Start chat").click()
    page.wait_for_url(re.compile(r"/chat/\w{32}$"))


def test_chat_streams_regenerates_swipes_edits_branches_and_deletes(page: Page) -> None:
    sign_up(page, unique("chatter"))
    start_chat(page)
    chat = page.locator("[data-chat]")
    expect(chat.locator(".msg--assistant")).to_have_count(1)  # the greeting
    box = chat.locator(".chat__input")

    # Send: the pending bubble streams the reply in, then becomes the saved reply.
    page.evaluate(WATCH_STREAM)
    box.fill("Hello! What do you see from the lighthouse tonight?")
    box.press("Shift+Enter")
    box.press_sequentially("Tell me briefly.")
    expect(box).to_have_value(re.compile(r"tonight\?\nTell me briefly\.$"))
    box.press("Enter")
    expect(chat.locator(".msg--user .msg__text")).to_have_text(re.compile("Tell me briefly"))
    expect(chat.locator(".msg--pending")).to_have_count(0, timeout=REPLY_MS)
    lengths = page.evaluate("window.__lengths")
    assert any(n > 0 for n in lengths), lengths
    assert len(set(lengths)) > 2, f"the reply did not grow token by token: {lengths}"
    reply = chat.locator(".msg--assistant").last
    expect(reply.locator(".msg__text")).not_to_be_empty()
    expect(chat.locator(".chat__announce")).to_have_text(re.compile("replied"))
    expect(box).to_be_focused()
    expect(box).to_have_value("")

    # Regenerate: a second version, then swipe back to the first.
    first_text = reply.locator(".msg__text").inner_text()
    reply.get_by_role("button", name="Regenerate").click()
    expect(chat.locator(".msg--pending")).to_have_count(0, timeout=REPLY_MS)
    reply = chat.locator(".msg--assistant").last
    expect(reply.locator(".msg__swipes")).to_have_text("2 / 2")
    reply.get_by_role("button", name="Previous version").click()
    expect(reply.locator(".msg__swipes")).to_have_text("1 / 2")
    expect(reply.locator(".msg__text")).to_have_text(first_text)
    expect(reply.get_by_role("button", name="Next version")).to_be_focused()
    screenshot(page, "chat")

    # Edit my message inline.
    mine = chat.locator(".msg--user").last
    mine.get_by_role("button", name="Edit").click()
    editor = mine.get_by_label("Edit message")
    expect(editor).to_be_focused()
    editor.fill("Hello, keeper.")
    mine.get_by_role("button", name="Save").click()
    expect(mine.locator(".msg__text")).to_have_text("Hello, keeper.")
    expect(mine.locator(".msg__edited")).to_be_visible()
    mine.get_by_role("button", name="Edit").click()
    mine.get_by_label("Edit message").press("Escape")
    expect(mine.locator(".msg__editor")).to_have_count(0)

    # Branch from my message: a new conversation up to it.
    before = page.url
    mine.get_by_role("button", name="Branch").click()
    page.wait_for_url(lambda url: url != before and re.search(r"/chat/\w{32}$", url) is not None)
    expect(page.locator(".chat__title")).to_have_text(re.compile(r"\(branch\)"))
    chat = page.locator("[data-chat]")
    expect(chat.locator(".msg")).to_have_count(2)
    expect(chat.locator(".msg--user .msg__text")).to_have_text("Hello, keeper.")

    # Delete my message in the branch (confirming first); the greeting stays.
    mine = chat.locator(".msg--user").last
    mine.get_by_role("button", name="Delete").click()
    mine.get_by_role("button", name="Cancel").click()
    expect(chat.locator(".msg")).to_have_count(2)
    mine.get_by_role("button", name="Delete").click()
    expect(mine.get_by_text("Delete this message and every reply after it?")).to_be_visible()
    mine.locator(".msg__confirm").get_by_role("button", name="Delete").click()
    expect(chat.locator(".msg")).to_have_count(1)
    expect(chat.locator(".msg--user")).to_have_count(0)

    # Stop a reply while it streams: Send comes back and the page says what happened.
    box = chat.locator(".chat__input")
    box.fill("Tell me a long story about the sea.")
    box.press("Enter")
    chat.get_by_role("button", name="Stop").click()
    expect(chat.locator(".chat__status")).to_have_text(re.compile("Stopped"))
    expect(chat.get_by_role("button", name="Send")).to_be_visible()
    expect(chat.get_by_role("button", name="Stop")).to_be_hidden()
    expect(box).to_be_focused()


def test_errors_are_shown_kindly(page: Page) -> None:
    sign_up(page, unique("errant"))
    start_chat(page)
    chat = page.locator("[data-chat]")
    box = chat.locator(".chat__input")
    status = chat.locator(".chat__status")

    # Over the limit: refused before sending, the text stays to be shortened.
    box.fill("a" * 20_001)
    box.press("Enter")
    expect(status).to_be_visible()
    expect(status).to_have_text(re.compile("too long: 20001 characters, and the limit is 20000"))
    expect(box).to_have_value("a" * 20_001)
    expect(chat.locator(".msg--user")).to_have_count(0)

    # The server says the same if the page's limit is out of date.
    page.evaluate("document.querySelector('[data-chat]').dataset.maxChars = '0'")
    box.press("Enter")
    expect(status).to_have_text(re.compile("too long to send"))
    expect(box).to_have_value("a" * 20_001)
    expect(chat.locator(".msg--user")).to_have_count(0)

    # Backend unreachable: a kind note and a retry that works once it is back.
    page.route("**/api/v1/conversations/*/messages", lambda route: route.abort())
    box.fill("Are you there?")
    box.press("Enter")
    expect(status).to_have_text(re.compile("Could not reach the server"))
    expect(box).to_have_value("Are you there?")
    page.unroute("**/api/v1/conversations/*/messages")
    status.get_by_role("button", name="Try again").click()
    expect(chat.locator(".msg--pending")).to_have_count(0, timeout=REPLY_MS)
    expect(chat.locator(".msg--user .msg__text")).to_have_text("Are you there?")
    expect(status).to_be_hidden()

    # Signed out (the session ended in another tab): say so and offer to log in.
    page.context.clear_cookies()
    box.fill("Still there?")
    box.press("Enter")
    expect(status).to_have_text(re.compile("signed out"))
    expect(status.get_by_role("link", name="Log in")).to_be_visible()


def test_the_list_of_chats_renames_and_deletes(page: Page) -> None:
    sign_up(page, unique("lister"))
    start_chat(page)
    start_chat(page)
    page.goto("/chats")
    rows = page.locator(".chat-row")
    expect(rows).to_have_count(2)
    expect(page.locator('.nav a[aria-current="page"]')).to_have_text(re.compile("Chats"))
    older = rows.nth(1)
    expect(older.locator(".chat-row__preview")).to_contain_text("door")  # the greeting
    expect(older.locator(".badge")).to_have_text("AI")
    screenshot(page, "chats")

    older.locator("summary.icon-button").click()
    older.get_by_label("Title").fill("Evening at the lighthouse")
    older.get_by_role("button", name="Rename").click()
    expect(page.locator(".chat-row__title").first).to_have_text("Evening at the lighthouse")

    row = page.locator(".chat-row").first
    row.locator("summary.icon-button").click()
    row.get_by_text("Delete this chat…").click()
    row.get_by_role("button", name="Delete chat").click()
    expect(page.locator(".chat-row")).to_have_count(1)
    expect(page.get_by_text("Evening at the lighthouse")).to_have_count(0)


def test_the_composer_stays_above_the_phone_nav_bar(page: Page) -> None:
    page.set_viewport_size(PHONE)
    sign_up(page, unique("phoner"))
    start_chat(page)
    composer = page.locator("[data-chat] .chat__composer").bounding_box()
    nav = page.locator(".rail").bounding_box()
    assert composer is not None and nav is not None
    assert composer["y"] + composer["height"] <= nav["y"] + 1, (composer, nav)
    page.mouse.wheel(0, 5000)
    composer = page.locator("[data-chat] .chat__composer").bounding_box()
    assert composer is not None and composer["y"] + composer["height"] <= nav["y"] + 1
    page.locator("[data-chat] .chat__input").fill("Hi from my phone.")
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport()
