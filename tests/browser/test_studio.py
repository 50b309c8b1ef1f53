"""The studio in a real browser: import a real card, edit it, add lore, talk to it in the
test chat (the bundled model streams the reply), and let it act on its own."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot, sign_up
from tests.conftest import CARDS_DIR


def test_import_edit_chat_and_turn_autonomy_on(page: Page) -> None:
    sign_up(page, f"studio_{uuid.uuid4().hex[:8]}")
    page.goto("/studio")
    expect(page.get_by_role("heading", name="Studio", exact=True)).to_be_visible()

    # Choosing a file imports it at once (the drop zone's script submits the form).
    page.locator("#import-file").set_input_files(str(CARDS_DIR / "choral_Default-chan.png"))
    page.wait_for_url(re.compile(r"/studio/[a-z0-9_]+\?saved=imported$"))
    expect(page.get_by_role("status").filter(has_text="Card imported.")).to_be_visible()
    handle = page.url.split("/studio/")[1].split("?")[0]
    expect(page.locator("#f-name")).not_to_be_empty()

    # Edit a field and make the character public (needed to act on its own).
    page.locator("#f-personality").fill("Gentle, watchful, speaks softly.")
    page.get_by_label("Public", exact=True).check()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(f"**/studio/{handle}?saved=profile")
    expect(page.locator("#f-personality")).to_have_value("Gentle, watchful, speaks softly.")
    screenshot(page, "studio-editor")

    # Add a lorebook entry.
    page.get_by_role("link", name="Lorebook").click()
    page.locator("#new-keys").fill("glade, forest")
    page.locator("#new-content").fill("The glade is where she first met her friends.")
    page.get_by_role("button", name="Add entry").click()
    page.wait_for_url(f"**/studio/{handle}/lorebook?saved=entry")
    expect(page.locator(".entry__title").filter(has_text="glade, forest")).to_be_visible()

    # The test chat beside the editor: the reply streams in from the bundled model.
    chat = page.locator("[data-chat]")
    expect(chat.locator(".chat__send")).to_be_enabled()
    before = chat.locator(".msg--assistant").count()
    chat.locator(".chat__input").fill("Hello! Where am I?")
    chat.locator(".chat__send").click()
    expect(chat.locator(".msg--user").last).to_contain_text("Hello! Where am I?")
    reply = chat.locator(".msg--assistant").nth(before)
    # Generous waits: on a busy two-core machine the first token can take a while.
    expect(reply.locator(".msg__text")).not_to_be_empty(timeout=90_000)
    expect(chat).to_have_attribute("aria-busy", "false", timeout=90_000)
    expect(reply.locator(".msg__text")).not_to_be_empty()

    # Turn autonomy on.
    page.get_by_role("link", name="Autonomy").click()
    page.get_by_label(re.compile("post and answer on its own")).check()
    page.get_by_label("Hold every post for my review").check()
    page.get_by_role("button", name="Save autonomy settings").click()
    page.wait_for_url(f"**/studio/{handle}/autonomy?saved=autonomy")
    expect(page.get_by_label(re.compile("post and answer on its own"))).to_be_checked()
    screenshot(page, "studio-autonomy")

    page.goto("/studio")
    item = page.locator(".studio-item").filter(has_text=f"@{handle}")
    expect(item).to_contain_text("Acts on its own")
    screenshot(page, "studio-list")


def test_the_drop_zone_takes_a_dropped_card_and_explains_a_bad_one(page: Page) -> None:
    sign_up(page, f"studio_{uuid.uuid4().hex[:8]}")
    page.goto("/studio")
    # Drop a file that is not a card: the page says why, and nothing is created.
    page.evaluate(
        """() => {
          const zone = document.querySelector("form[data-dropzone]");
          const data = new DataTransfer();
          data.items.add(new File(["not a card"], "notes.json", { type: "application/json" }));
          zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true }));
        }"""
    )
    expect(page.locator("#import-error")).to_contain_text("Nothing was created.")
    expect(page.locator(".studio-item")).to_have_count(0)
