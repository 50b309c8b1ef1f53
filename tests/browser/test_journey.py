"""The web app's whole journey in one browser session, on the real instance and model:
sign up, import a card, chat with the reply streaming in, mention the character in a post
and see its own reply arrive, block a character and no longer see it, switch to French."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_up
from tests.conftest import CARDS_DIR

# On a loaded two-core machine the bundled model can take many seconds per reply.
MODEL_WAIT_MS = 120_000


def test_sign_up_import_chat_mention_block_and_switch_to_french(page: Page) -> None:
    person = f"jo_{uuid.uuid4().hex[:8]}"
    sign_up(page, person, "Jo Journey")

    # Import a real card by choosing it in the studio's drop zone.
    page.goto("/studio")
    page.locator("#import-file").set_input_files(str(CARDS_DIR / "choral_Default-chan.png"))
    page.wait_for_url(re.compile(r"/studio/[a-z0-9_]+\?saved=imported$"))
    handle = page.url.split("/studio/")[1].split("?")[0]
    name = page.locator("#f-name").input_value()
    assert name

    # Make it public and let it answer on its own, all day, within a few seconds.
    page.get_by_label("Public", exact=True).check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"**/studio/{handle}?saved=profile")
    page.get_by_role("link", name="Autonomy").click()
    page.get_by_label(re.compile("post and answer on its own")).check()
    page.locator("#a-active_from").select_option("0")
    page.locator("#a-active_until").select_option("24")
    page.locator("#a-reply_delay_min_s").fill("1")
    page.locator("#a-reply_delay_max_s").fill("2")
    page.get_by_role("button", name="Save autonomy settings").click()
    page.wait_for_url(f"**/studio/{handle}/autonomy?saved=autonomy")

    # Chat from its profile: the reply streams in, growing token by token.
    page.goto(f"/@{handle}")
    expect(page.get_by_text(re.compile("AI character operated by")).first).to_be_visible()
    page.get_by_role("button", name="Chat", exact=True).first.click()
    page.wait_for_url(re.compile(r"/chat/[0-9a-f]{32}$"))
    chat = page.locator("[data-chat]")
    before = chat.locator(".msg--assistant").count()
    chat.locator(".chat__input").fill("Hello! Tell me about yourself.")
    chat.locator(".chat__send").click()
    reply = chat.locator(".msg--assistant").nth(before).locator(".msg__text")
    lengths: list[int] = []
    deadline = time.monotonic() + MODEL_WAIT_MS / 1000
    while time.monotonic() < deadline:
        if reply.count():
            lengths.append(len(reply.text_content() or ""))
        if chat.get_attribute("aria-busy") == "false" and lengths and lengths[-1] > 0:
            break
        page.wait_for_timeout(40)
    growing = sorted(set(length for length in lengths if length > 0))
    assert len(growing) >= 2, f"the reply did not stream in: lengths seen {growing}"

    # Mention it in a post; its own reply arrives in the thread.
    page.goto("/home")
    box = page.get_by_role("combobox", name="Write a post")
    box.fill(f"@{handle} what do you like most about this place?")
    page.get_by_role("button", name="Post", exact=True).click()
    card = page.locator("#feed-posts article").filter(has_text="like most about this place").first
    expect(card).to_be_visible()
    card.locator("a.post__time").click()
    page.wait_for_url(re.compile(rf"/@{person}/[0-9a-f]{{32}}$"))
    their_reply = page.locator("#thread-replies article").filter(has_text=f"@{handle}")
    deadline = time.monotonic() + MODEL_WAIT_MS / 1000
    while their_reply.count() == 0 and time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        page.reload()
    expect(their_reply.first).to_be_visible()
    expect(their_reply.first.locator(".badge--ai").first).to_be_visible()

    # Block a character of someone else's (a demo one): it disappears for us.
    ansel = "lighthouse_ansel"
    page.goto(f"/explore?q={ansel}")
    expect(page.locator("main").get_by_text(f"@{ansel}", exact=True).first).to_be_visible()
    page.goto(f"/@{ansel}")
    expect(page.locator("main article").first).to_be_visible()
    page.locator(f"#actions-{ansel}").get_by_text("More").click()
    page.once("dialog", lambda dialog: dialog.accept())  # "Block @…?" asks first
    page.locator(f"#actions-{ansel}").get_by_role("button", name="Block").click()
    expect(page.locator(f"#actions-{ansel}").get_by_role("button", name="Unblock")).to_be_visible()
    page.goto(f"/@{ansel}")
    expect(page.get_by_text(f"You blocked @{ansel}.")).to_be_visible()
    expect(page.locator("main article")).to_have_count(0)
    page.goto(f"/explore?q={ansel}")
    expect(page.locator("main").get_by_text(f"@{ansel}", exact=True)).to_have_count(0)
    page.goto("/public")
    expect(page.locator("#feed-posts article").first).to_be_visible()
    # Neither its posts nor its reposts show (posts by others may still name it).
    by_ansel = page.locator(f"#feed-posts article a.post__name[href='/@{ansel}']")
    expect(by_ansel).to_have_count(0)

    # Switch the interface to French.
    page.get_by_role("combobox", name="Language").select_option("fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    main_nav = page.get_by_role("navigation", name="Principal")
    expect(main_nav.get_by_role("link", name="Accueil")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Les publications publiques")
    page.goto("/explore")
    expect(page.get_by_role("heading", name="Explorer", level=1)).to_be_visible()
