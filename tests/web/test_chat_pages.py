"""Chat pages: the list of chats, a chat, rename, persona, delete; others' chats stay hidden."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from personae.llm.fake import FakeBackend
from personae.web.pages import STATIC_DIR, TEMPLATE_DIR
from tests.web.test_pages import SAME, make_character, open_chat_page, web_sign_up


async def say(client: httpx.AsyncClient, cid: str, content: str) -> None:
    """Send a message through the JSON API (no streaming) and wait for the reply."""
    body = {"content": content, "stream": False}
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=SAME, json=body)
    assert r.status_code == 200, r.text


async def test_the_list_shows_chats_newest_first_with_previews(
    client: httpx.AsyncClient, fake_backend: FakeBackend
) -> None:
    await web_sign_up(client, "lena")
    empty = await client.get("/chats")
    assert empty.status_code == 200 and "No chats yet" in empty.text
    assert 'aria-current="page"' in empty.text and 'href="/chats"' in empty.text
    mira = await make_character(client, backend="fake")
    nova = await make_character(client, name="Nova <3", first_mes="Beep.", backend="fake")
    first = (await open_chat_page(client, mira["handle"])).removeprefix("/chat/")
    second = (await open_chat_page(client, nova["handle"])).removeprefix("/chat/")
    fake_backend.enqueue("Anchors aweigh & all that.")
    await say(client, first, "Where are we sailing?")
    html = (await client.get("/chats")).text
    assert html.index(f'href="/chat/{first}"') < html.index(f'href="/chat/{second}"')
    assert "Anchors aweigh &amp; all that." in html and "Nova &lt;3" in html
    assert "Chat with Captain Mira" in html and ">AI</span>" in html
    # The new-chat picker lists the viewer's characters.
    assert f'<option value="{mira["handle"]}">' in html and 'action="/chat/new"' in html


async def test_the_list_is_paged(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "milo")
    character = await make_character(client)
    opened = [(await open_chat_page(client, character["handle"]))[6:] for _ in range(22)]
    page_one = (await client.get("/chats")).text
    assert page_one.count('class="chat-row"') == 20 and "Older chats" in page_one
    older = re.search(r'href="/chats\?before=(\w+)"', page_one)
    assert older is not None
    page_two = (await client.get(f"/chats?before={older.group(1)}")).text
    assert page_two.count('class="chat-row"') == 2 and "Older chats" not in page_two
    assert f"/chat/{opened[0]}" in page_two and f"/chat/{opened[-1]}" in page_one
    assert (await client.get("/chats?before=" + "x" * 40)).status_code == 422


async def test_new_chat_from_the_form_field(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "nina")
    character = await make_character(client)
    r = await client.post("/chat/new", data={"character": character["handle"]}, headers=SAME)
    assert r.status_code == 303 and re.fullmatch(r"/chat/\w{32}", r.headers["location"])
    r = await client.post("/chat/new", data={"character": "nobody-here"}, headers=SAME)
    assert r.status_code == 404


async def test_the_chat_page_renders_the_component(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "otto")
    character = await make_character(client)
    path = await open_chat_page(client, character["handle"])
    html = (await client.get(path)).text
    assert f'data-conversation="{path[6:]}"' in html and "data-chat" in html
    assert 'data-max-chars="20000"' in html and 'data-branch-url="/chat/"' in html
    for part in ("chat__messages", "chat__composer", "chat__input", "chat__status", "chat__stop"):
        assert f"{part}" in html
    assert 'aria-live="polite"' in html and 'data-action="edit"' in html
    assert 'data-action="delete"' in html and 'data-action="branch"' in html
    assert 'aria-current="page"' in html  # "Chats" is highlighted in the navigation
    strings = re.search(
        r'<script type="application/json" class="chat__strings">(.*?)</script>', html
    )
    assert strings is not None and json.loads(strings.group(1))["Regenerate"] == "Regenerate"
    assert 'name="persona_id"' in html and f'action="{path}/rename"' in html


async def test_the_chat_page_speaks_french(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "pia")
    character = await make_character(client)
    path = await open_chat_page(client, character["handle"])
    client.cookies.set("personae_lang", "fr")
    html = (await client.get(path)).text
    strings = re.search(r'class="chat__strings">(.*?)</script>', html)
    assert strings is not None
    assert json.loads(strings.group(1))["Previous version"] == "Version précédente"
    assert "Envoyer" in html and "Vous parlez en tant que" in html


async def test_rename_a_chat(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "quinn")
    character = await make_character(client)
    path = await open_chat_page(client, character["handle"])
    form = {"title": "  Night   watch <b>  ", "next": "/chats"}
    r = await client.post(f"{path}/rename", data=form, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/chats"
    assert "Night watch &lt;b&gt;" in (await client.get("/chats")).text
    r = await client.post(
        f"{path}/rename", data={"title": "x", "next": "//evil.example"}, headers=SAME
    )
    assert r.status_code == 303 and r.headers["location"] == path
    r = await client.post(f"{path}/rename", data={"title": "   "}, headers=SAME)
    assert r.status_code == 422 and "must not be empty" in r.text
    r = await client.post(f"{path}/rename", data={"title": "x" * 201}, headers=SAME)
    assert r.status_code == 422


async def test_pick_a_persona(client: httpx.AsyncClient, fake_backend: FakeBackend) -> None:
    await web_sign_up(client, "rosa")
    r = await client.post("/api/v1/personas", headers=SAME, json={"name": "Captain Rosa"})
    assert r.status_code == 201, r.text
    persona = r.json()["id"]
    character = await make_character(client, backend="fake", description="Loyal to {{user}}.")
    path = await open_chat_page(client, character["handle"])
    r = await client.post(f"{path}/persona", data={"persona_id": persona}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == path
    api = await client.get(f"/api/v1/conversations/{path[6:]}")
    assert api.json()["persona_id"] == persona
    assert f'<option value="{persona}" selected>' in (await client.get(path)).text
    # The reply is now written for the chosen persona.
    fake_backend.enqueue("Aye.")
    await say(client, path[6:], "Report!")
    assert any("Loyal to Captain Rosa." in m["content"] for m in fake_backend.calls[-1].messages)
    r = await client.post(f"{path}/persona", data={"persona_id": "nope"}, headers=SAME)
    assert r.status_code == 404


async def test_delete_a_chat(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "sam")
    character = await make_character(client)
    path = await open_chat_page(client, character["handle"])
    r = await client.post(f"{path}/delete", data={"next": path}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/chats"
    assert (await client.get(path)).status_code == 404
    assert (await client.post(f"{path}/delete", headers=SAME)).status_code == 404


async def test_other_peoples_chats_are_404(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "tara")
    character = await make_character(client, visibility="public")
    path = await open_chat_page(client, character["handle"])
    client.cookies.clear()
    await web_sign_up(client, "uma")
    assert path not in (await client.get("/chats")).text
    assert (await client.get(path)).status_code == 404
    for action, form in (("rename", {"title": "mine"}), ("persona", {"persona_id": "x"})):
        assert (await client.post(f"{path}/{action}", data=form, headers=SAME)).status_code == 404
    assert (await client.post(f"{path}/delete", headers=SAME)).status_code == 404
    client.cookies.clear()
    await client.post(
        "/login", data={"username": "tara", "password": "correct horse"}, headers=SAME
    )
    assert (await client.get(path)).status_code == 200  # still there, untouched
    assert "mine" not in (await client.get("/chats")).text


@pytest.mark.parametrize("path", ["/chats", "/chat/0123456789abcdef0123456789abcdef"])
async def test_signed_out_visitors_go_home(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 303 and r.headers["location"] == "/"


@pytest.mark.parametrize("action", ["rename", "persona", "delete"])
async def test_chat_forms_from_elsewhere_are_refused(
    client: httpx.AsyncClient, action: str
) -> None:
    await web_sign_up(client, "vera")
    character = await make_character(client)
    path = await open_chat_page(client, character["handle"])
    evil = {"Origin": "https://evil.example"}
    r = await client.post(f"{path}/{action}", data={"title": "x"}, headers=evil)
    assert r.status_code == 403
    assert (await client.get(path)).status_code == 200


def test_every_string_the_script_shows_is_passed_in_and_translated() -> None:
    from personae.web import i18n

    script = (STATIC_DIR / "js" / "chat.js").read_text()
    pane = (TEMPLATE_DIR / "chat" / "_pane.html").read_text()
    shown = set(re.findall(r'\bt\("([^"]*)"', script))
    assert len(shown) > 20
    french = i18n.catalog("fr")
    for message in shown:
        assert f'"{message}"' in pane, f"pass {message!r} through js_strings in chat/_pane.html"
        assert french.get(message), f"translate {message!r} in locales/fr/chat.json"


def test_the_script_mounts_every_component_and_uses_no_global_ids() -> None:
    script = (STATIC_DIR / "js" / "chat.js").read_text()
    assert 'querySelectorAll("[data-chat]")' in script
    assert "getElementById" not in script
