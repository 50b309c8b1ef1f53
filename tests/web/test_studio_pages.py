"""The character studio pages: list, import, create, edit every field, lorebook, avatar,
export, autonomy, review queue, operator view, and 404s for everyone but the creator."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from personae.agents.models import AgendaItem
from personae.db import new_id
from tests.conftest import CARDS_DIR
from tests.web.test_pages import SAME, web_sign_up


def png_bytes(size: int = 8) -> bytes:
    """A small valid PNG image."""
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


async def create(client: httpx.AsyncClient, **fields: Any) -> str:
    """Create a character through the studio form; return its handle."""
    r = await client.post("/studio/new", data={"name": "Ansel", **fields}, headers=SAME)
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/studio/([a-z0-9_]+)\?saved=created", r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)


async def api_character(client: httpx.AsyncClient, handle: str) -> dict[str, Any]:
    """The character as the JSON API shows it (with the session cookie)."""
    r = await client.get(f"/api/v1/characters/{handle}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def as_someone_else(client: httpx.AsyncClient, username: str) -> None:
    """Sign out and sign up another person on the same client."""
    client.cookies.clear()
    await web_sign_up(client, username)


async def test_the_studio_lists_my_characters_and_needs_a_session(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    r = await client.get("/studio")
    assert r.status_code == 303 and r.headers["location"] == "/"
    await web_sign_up(client, "carol")
    empty = await client.get("/studio")
    assert empty.status_code == 200
    assert 'href="/studio/new"' in empty.text and 'action="/studio/import"' in empty.text
    assert 'aria-current="page"' in empty.text  # the Studio nav item is highlighted
    handle = await create(client, visibility="public")
    listing = await client.get("/studio")
    assert f"@{handle}" in listing.text and "Autonomy off" in listing.text
    assert "Nothing to review" in listing.text and "Public" in listing.text


async def test_create_then_edit_every_field(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, description="A <b>photographer</b>.")
    page = await client.get(f"/studio/{handle}")
    assert page.status_code == 200
    assert "A &lt;b&gt;photographer&lt;/b&gt;." in page.text  # escaped, never markup
    assert "data-chat" in page.text  # the test chat pane is beside the editor
    form = {
        "name": "Ansel Adams",
        "handle": "ansel_a",
        "nickname": "Ans",
        "description": "Landscape photographer.\r\nLoves Yosemite.",
        "personality": "patient, precise",
        "scenario": "A darkroom in 1941.",
        "first_mes": "Hello, {{user}}.",
        "alternate_greetings": ["Second hello.", "Third hello.", ""],
        "group_only_greetings": ["Hello, everyone.", ""],
        "mes_example": "<START>\n{{user}}: Hi\n{{char}}: Hello",
        "system_prompt": "You are Ansel.",
        "post_history_instructions": "Stay in character.",
        "creator_notes": "Made for testing.",
        "creator": "carol",
        "character_version": "1.2",
        "tags": "photography, nature, photography",
        "visibility": "unlisted",
        "temperature": "0.7",
        "top_p": "0.9",
        "max_tokens": "300",
        "backend": "fake",
    }
    r = await client.post(f"/studio/{handle}", data=form, headers=SAME)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/studio/ansel_a?saved=profile"
    saved = await api_character(client, "ansel_a")
    assert saved["name"] == "Ansel Adams" and saved["nickname"] == "Ans"
    assert saved["description"] == "Landscape photographer.\nLoves Yosemite."
    assert saved["alternate_greetings"] == ["Second hello.", "Third hello."]
    assert saved["group_only_greetings"] == ["Hello, everyone."]
    assert saved["tags"] == ["photography", "nature"]
    assert saved["visibility"] == "unlisted" and saved["backend"] == "fake"
    assert saved["sampling"] == {"temperature": 0.7, "top_p": 0.9, "max_tokens": 300}
    for key in ("personality", "scenario", "first_mes", "mes_example", "system_prompt"):
        assert saved[key] == form[key]
    assert saved["post_history_instructions"] == "Stay in character."
    assert saved["creator_notes"] == "Made for testing." and saved["character_version"] == "1.2"
    shown = await client.get("/studio/ansel_a?saved=profile")
    assert "Saved." in shown.text and "Third hello." in shown.text

    # Removing a greeting without JavaScript: the button posts the form with its index.
    removal = {**form, "remove_greeting": "alternate_greetings:0"}
    r = await client.post("/studio/ansel_a", data=removal, headers=SAME)
    assert r.status_code == 303
    assert (await api_character(client, "ansel_a"))["alternate_greetings"] == ["Third hello."]


async def test_validation_errors_are_shown_by_field_and_nothing_is_written(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    await create(client, name="Other", handle="taken_one")
    bad = {"name": "", "handle": "Bad Handle!", "temperature": "hot", "visibility": "private"}
    r = await client.post(f"/studio/{handle}", data=bad, headers=SAME)
    assert r.status_code == 422
    assert 'id="f-temperature-error"' in r.text and "Enter a number." in r.text
    r = await client.post(f"/studio/{handle}", data={**bad, "temperature": ""}, headers=SAME)
    assert r.status_code == 422
    assert 'id="f-name-error"' in r.text and 'id="f-handle-error"' in r.text
    assert "lowercase letters" in r.text and 'value="bad handle!"' in r.text
    r = await client.post(
        f"/studio/{handle}", data={"name": "Ansel", "handle": "taken_one"}, headers=SAME
    )
    assert r.status_code == 409 and 'id="f-handle-error"' in r.text and "is taken" in r.text
    r = await client.post(f"/studio/{handle}", data={"name": "Ansel", "top_p": "5"}, headers=SAME)
    assert r.status_code == 422 and 'id="f-top_p-error"' in r.text
    assert (await api_character(client, handle))["name"] == "Ansel"
    new = await client.post("/studio/new", data={"name": "  "}, headers=SAME)
    assert new.status_code == 422 and 'id="f-name-error"' in new.text


async def test_lorebook_entries_add_edit_delete(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    empty = await client.get(f"/studio/{handle}/lorebook")
    assert empty.status_code == 200 and "No entries yet." in empty.text
    entry = {
        "keys": "Yosemite, Half Dome",
        "content": "A valley he photographed for decades.",
        "name": "Yosemite",
        "enabled": "on",
        "selective": "on",
        "secondary_keys": "winter",
        "position": "after_char",
        "insertion_order": "5",
        "priority": "10",
        "comment": "a note",
    }
    r = await client.post(f"/studio/{handle}/lorebook", data=entry, headers=SAME)
    assert r.status_code == 303, r.text
    character = await api_character(client, handle)
    (book_id,) = character["lorebook_ids"]
    book = (await client.get(f"/api/v1/lorebooks/{book_id}")).json()
    (stored,) = book["entries"]
    assert stored["keys"] == ["Yosemite", "Half Dome"] and stored["selective"] is True
    assert stored["secondary_keys"] == ["winter"] and stored["position"] == "after_char"
    assert stored["insertion_order"] == 5 and stored["priority"] == 10
    assert stored["enabled"] is True and stored["constant"] is False

    changed = {**entry, "content": "Changed.", "constant": "on"}
    del changed["enabled"]
    r = await client.post(f"/studio/{handle}/lorebook/{stored['id']}", data=changed, headers=SAME)
    assert r.status_code == 303
    (edited,) = (await client.get(f"/api/v1/lorebooks/{book_id}")).json()["entries"]
    assert edited["content"] == "Changed." and edited["enabled"] is False and edited["constant"]

    bad = await client.post(
        f"/studio/{handle}/lorebook", data={"keys": "", "content": ""}, headers=SAME
    )
    assert bad.status_code == 422
    assert 'id="new-keys-error"' in bad.text and 'id="new-content-error"' in bad.text
    bad = await client.post(
        f"/studio/{handle}/lorebook",
        data={"keys": "x", "content": "y", "insertion_order": "soon"},
        headers=SAME,
    )
    assert bad.status_code == 422 and 'id="new-insertion_order-error"' in bad.text
    assert len((await client.get(f"/api/v1/lorebooks/{book_id}")).json()["entries"]) == 1

    r = await client.post(f"/studio/{handle}/lorebook/{stored['id']}/delete", headers=SAME)
    assert r.status_code == 303
    assert (await client.get(f"/api/v1/lorebooks/{book_id}")).json()["entries"] == []


async def test_avatar_upload_good_and_bad(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    page = await client.get(f"/studio/{handle}/avatar")
    assert page.status_code == 200 and "data-avatar-input" in page.text
    files = {"file": ("me.png", png_bytes(), "image/png")}
    r = await client.post(f"/studio/{handle}/avatar", files=files, headers=SAME)
    assert r.status_code == 303, r.text
    image = await client.get(f"/api/v1/characters/{handle}/avatar")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"

    text = {"file": ("notes.txt", b"just words", "text/plain")}
    r = await client.post(f"/studio/{handle}/avatar", files=text, headers=SAME)
    assert r.status_code == 422 and 'id="avatar-error"' in r.text and "not a PNG" in r.text
    huge = {"file": ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (9 * 1024 * 1024), "image/png")}
    r = await client.post(f"/studio/{handle}/avatar", files=huge, headers=SAME)
    assert r.status_code == 413 and 'id="avatar-error"' in r.text
    none = await client.post(f"/studio/{handle}/avatar", files={}, data={}, headers=SAME)
    assert none.status_code == 400 and "choose an image" in none.text
    assert (await client.get(f"/api/v1/characters/{handle}/avatar")).content == image.content


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("default_Seraphina.png", "Seraphina"),
        ("choral_Default-chan.png", None),
        ("choral_Lemniscate_station_alpha.png", None),
    ],
)
async def test_import_real_cards(
    client: httpx.AsyncClient, filename: str, name: str | None
) -> None:
    await web_sign_up(client, "carol")
    data = (CARDS_DIR / filename).read_bytes()
    r = await client.post(
        "/studio/import", files={"file": (filename, data, "application/octet-stream")}, headers=SAME
    )
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/studio/([a-z0-9_]+)\?saved=imported", r.headers["location"])
    assert match
    editor = await client.get(r.headers["location"])
    assert editor.status_code == 200 and "Card imported." in editor.text
    character = await api_character(client, match.group(1))
    assert character["visibility"] == "private"
    if name:
        assert character["name"] == name


async def test_export_then_import_a_charx_and_bad_files_create_nothing(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, first_mes="Hello there.")
    editor = await client.get(f"/studio/{handle}")
    for fmt in ("png", "json", "charx"):
        link = f"/api/v1/characters/{handle}/export?format={fmt}"
        assert link in editor.text
        exported = await client.get(link)
        assert exported.status_code == 200 and exported.content
    for fmt, mime in (("charx", "application/zip"), ("json", "application/json")):
        card = (await client.get(f"/api/v1/characters/{handle}/export?format={fmt}")).content
        files = {"file": (f"ansel.{fmt}", card, mime)}
        r = await client.post("/studio/import", files=files, headers=SAME)
        assert r.status_code == 303, r.text
        copy = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
        assert copy != handle and (await api_character(client, copy))["first_mes"] == "Hello there."

    before = len((await client.get("/api/v1/characters?mine=true")).json())
    junk = {"file": ("card.png", b"not a card at all", "image/png")}
    r = await client.post("/studio/import", files=junk, headers=SAME)
    assert 400 <= r.status_code < 500
    assert 'id="import-error"' in r.text and "Nothing was created." in r.text
    lorebook = {"file": ("Eldoria.json", (CARDS_DIR / "Eldoria.json").read_bytes(), "")}
    r = await client.post("/studio/import", files=lorebook, headers=SAME)
    assert 400 <= r.status_code < 500 and "not a character card" in r.text
    r = await client.post("/studio/import", data={}, headers=SAME)
    assert r.status_code == 400 and "choose a card file" in r.text
    assert len((await client.get("/api/v1/characters?mine=true")).json()) == before


async def test_duplicate_and_delete(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    await client.post(
        f"/studio/{handle}/lorebook", data={"keys": "a", "content": "b"}, headers=SAME
    )
    r = await client.post(f"/studio/{handle}/duplicate", headers=SAME)
    assert r.status_code == 303
    copy = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert copy != handle and (await api_character(client, copy))["lorebook_ids"]
    confirm = await client.get(f"/studio/{copy}/delete")
    assert confirm.status_code == 200 and "Delete for good" in confirm.text
    r = await client.post(f"/studio/{copy}/delete", headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/studio"
    assert (await client.get(f"/api/v1/characters/{copy}")).status_code == 404
    # A cross-site form cannot delete.
    r = await client.post(f"/studio/{handle}/delete", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert (await client.get(f"/api/v1/characters/{handle}")).status_code == 200


async def test_test_chat_is_reused_and_can_start_over(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, first_mes="First greeting.")
    one = await client.get(f"/studio/{handle}")
    two = await client.get(f"/studio/{handle}/lorebook")
    conversation = re.search(r'data-conversation="([0-9a-f]+)"', one.text)
    assert conversation and conversation.group(1) in two.text and "First greeting." in one.text
    await client.post(
        f"/studio/{handle}", data={"name": "Ansel", "first_mes": "New."}, headers=SAME
    )
    r = await client.post(f"/studio/{handle}/test-chat", headers=SAME)
    assert r.status_code == 303
    fresh = await client.get(f"/studio/{handle}")
    assert conversation.group(1) not in fresh.text and "New." in fresh.text
    # One test chat, kept apart: the list of chats does not show it.
    assert len((await client.get("/api/v1/conversations?kind=test")).json()) == 1
    assert (await client.get("/api/v1/conversations")).json() == []


async def test_autonomy_save_and_validation(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    page = await client.get(f"/studio/{handle}/autonomy")
    assert page.status_code == 200 and "post and answer on its own" in page.text
    assert "The last 24 hours" in page.text
    form: dict[str, Any] = {
        "enabled": "on",
        "posts_per_day": "5",
        "browse_per_day": "2",
        "replies_per_hour": "3",
        "tokens_per_day": "5000",
        "active_from": "9",
        "active_until": "21",
        "timezone": "Europe/Paris",
        "interests": "photography, mountains",
        "posting_style": "short and calm",
        "reply_policy": "followers",
        "approval_mode": "on",
        "allowed_actions": ["post", "reply", "like"],
        "reply_delay_min_s": "10",
        "reply_delay_max_s": "60",
    }
    # A private character cannot act: the error sits by the switch, nothing is written.
    r = await client.post(f"/studio/{handle}/autonomy", data=form, headers=SAME)
    assert r.status_code == 422 and 'id="a-enabled-error"' in r.text
    assert (await client.get(f"/api/v1/characters/{handle}/autonomy")).json()["enabled"] is False
    await client.post(
        f"/studio/{handle}", data={"name": "Ansel", "visibility": "public"}, headers=SAME
    )
    r = await client.post(f"/studio/{handle}/autonomy", data=form, headers=SAME)
    assert r.status_code == 303, r.text
    saved = (await client.get(f"/api/v1/characters/{handle}/autonomy")).json()
    assert saved["enabled"] and saved["approval_mode"] and saved["reply_policy"] == "followers"
    assert saved["posts_per_day"] == 5 and saved["timezone"] == "Europe/Paris"
    assert saved["interests"] == ["photography", "mountains"]
    assert saved["allowed_actions"] == ["post", "reply", "like"]
    assert (saved["reply_delay_min_s"], saved["reply_delay_max_s"]) == (10, 60)
    listing = await client.get("/studio")
    assert "Acts on its own" in listing.text

    for changes, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"reply_delay_min_s": "90"}, "reply_delay_min_s"),
        ({"posts_per_day": "500"}, "posts_per_day"),
        ({"tokens_per_day": "lots"}, "tokens_per_day"),
        ({"reply_policy": "everyone"}, "reply_policy"),
    ):
        r = await client.post(f"/studio/{handle}/autonomy", data={**form, **changes}, headers=SAME)
        assert r.status_code == 422, (changes, r.status_code)
        assert f'id="a-{field}-error"' in r.text, changes
    assert (await client.get(f"/api/v1/characters/{handle}/autonomy")).json() == saved


async def held_item(app: FastAPI, character_id: str, text: str) -> str:
    """Put a held post in the character's agenda, as the engine does when moderation holds."""
    now = datetime.now(UTC)
    item = AgendaItem(
        id=new_id(),
        character_id=character_id,
        kind="post",
        key=f"test:{new_id()}",
        reason="scheduled post 1 of 3",
        due_at=now,
        ready_at=now,
        state="held",
        outcome="held",
        detail="approval mode: every post waits for its creator",
        output_text=text,
        inputs={"interests": ["photography"], "recent": "…"},
        memories_used=["saw a post about Yosemite"],
        prompt_tokens=120,
        completion_tokens=30,
        backend="fake",
        model="fake-model",
        finished_at=now,
    )
    async with app.state.personae.sessions() as session:
        session.add(item)
        await session.commit()
    return item.id


async def test_review_approve_edited_and_reject(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, visibility="public")
    character = await api_character(client, handle)
    first = await held_item(app, character["id"], "Morning light on Half Dome.")
    second = await held_item(app, character["id"], "Buy my prints!")
    queue = await client.get(f"/studio/{handle}/review")
    assert queue.status_code == 200
    assert "Morning light on Half Dome." in queue.text and "approval mode" in queue.text
    assert (await client.get("/studio")).text.count("2 posts to review") == 1

    r = await client.post(
        f"/studio/{handle}/review/{first}/approve",
        data={"text": "Morning light on Half Dome, edited."},
        headers=SAME,
    )
    assert r.status_code == 303, r.text
    posts = (await client.get(f"/api/v1/actors/{handle}/posts")).json()
    texts = [p["text"] for p in (posts["items"] if isinstance(posts, dict) else posts)]
    assert "Morning light on Half Dome, edited." in texts
    r = await client.post(f"/studio/{handle}/review/{second}/reject", headers=SAME)
    assert r.status_code == 303
    again = await client.post(f"/studio/{handle}/review/{second}/reject", headers=SAME)
    assert again.status_code == 409 and "not held" in again.text
    queue = await client.get(f"/studio/{handle}/review?done=rejected")
    assert "Nothing is waiting for review." in queue.text

    activity = await client.get(f"/studio/{handle}/activity")
    assert activity.status_code == 200
    assert (
        "approved by its creator" in activity.text and "saw a post about Yosemite" in activity.text
    )
    assert "fake-model" in activity.text and "Prompt inputs" in activity.text
    rejected = await client.get(f"/studio/{handle}/activity?state=rejected&kind=post")
    assert "Buy my prints!" in rejected.text and "edited." not in rejected.text


async def test_activity_pages(app: FastAPI, client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client)
    character = await api_character(client, handle)
    for i in range(23):
        await held_item(app, character["id"], f"post number {i}")
    first = await client.get(f"/studio/{handle}/activity")
    cursor = re.search(r"cursor=([0-9a-f]+)", first.text)
    assert cursor and "post number 22" in first.text and "post number 0<" not in first.text
    older = await client.get(f"/studio/{handle}/activity?cursor={cursor.group(1)}")
    assert older.status_code == 200 and "post number 0" in older.text and "Newest" in older.text
    weird = await client.get(f"/studio/{handle}/activity?state=nonsense")
    assert weird.status_code == 200


async def test_another_user_gets_404_everywhere(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "carol")
    handle = await create(client, visibility="public")
    character = await api_character(client, handle)
    item = await held_item(app, character["id"], "Held text.")
    await as_someone_else(client, "mallory")
    for path in ("", "/lorebook", "/avatar", "/autonomy", "/review", "/activity", "/delete"):
        r = await client.get(f"/studio/{handle}{path}")
        assert r.status_code == 404, path
    for path in (
        "",
        "/lorebook",
        "/avatar",
        "/autonomy",
        "/delete",
        "/duplicate",
        "/test-chat",
        f"/review/{item}/approve",
        f"/review/{item}/reject",
    ):
        r = await client.post(f"/studio/{handle}{path}", data={"name": "Hacked"}, headers=SAME)
        assert r.status_code == 404, path
    assert handle not in (await client.get("/studio")).text
    client.cookies.clear()
    await client.post(
        "/login", data={"username": "carol", "password": "correct horse"}, headers=SAME
    )
    assert (await api_character(client, handle))["name"] == "Ansel"
    assert "Held text." in (await client.get(f"/studio/{handle}/review")).text
