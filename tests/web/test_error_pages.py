"""Error pages speak to people, inside the shell of whoever is signed in; the More page;
messages that services write, shown in French."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI, Request

from personae.web import i18n
from personae.web.guard import PageRoute
from personae.web.pages import templates
from tests.web.test_pages import SAME, make_character, open_chat_page, web_sign_up

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
MISSING_CHAT = "/chat/" + "0" * 32


@pytest_asyncio.fixture
async def lenient(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that gets the app's 500 answers instead of the exception itself."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_a_missing_chat_says_what_happened_and_where_to_go_signed_in(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "wanda")
    r = await client.get(MISSING_CHAT, headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "This chat isn't here" in r.text
    assert "no such conversation" not in r.text
    assert 'href="/chats"' in r.text and 'href="/home"' in r.text
    # The shell of the signed-in person: their name and Log out, never "Log in".
    assert "@wanda" in r.text and 'action="/logout"' in r.text
    assert ">Log in<" not in r.text


async def test_unknown_addresses_are_pages_for_browsers_and_json_for_the_api(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "walter")
    r = await client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404 and "This page doesn't exist" in r.text
    assert "@walter" in r.text and ">Log in<" not in r.text
    r = await client.get("/no/such/page")  # no Accept: a script, not a browser
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get("/api/v1/no-such-thing", headers=HTML)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.get("/api/v1/conversations/" + "0" * 32, headers=SAME)
    assert r.status_code in (401, 404) and "error" in r.json()


async def test_a_visitor_gets_the_page_with_log_in(client: httpx.AsyncClient) -> None:
    r = await client.get("/@nobody_here", headers=HTML)
    assert r.status_code == 404 and "We couldn't find that" in r.text
    assert 'href="/"' in r.text and ">Log in<" in r.text


async def test_a_server_error_is_a_kind_page_for_browsers_and_an_envelope_for_the_api(
    app: FastAPI, lenient: httpx.AsyncClient
) -> None:
    async def broken(request: Request) -> None:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, PageRoute("/broken-page", broken, include_in_schema=False))
    await web_sign_up(lenient, "ursula")
    r = await lenient.get("/broken-page", headers=HTML)
    assert r.status_code == 500 and "Something went wrong on our side" in r.text
    assert "a bug" not in r.text and "@ursula" in r.text
    r = await lenient.get("/broken-page")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"


async def test_the_more_page_has_everything_and_logs_out(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "mo")  # the first account: an admin
    r = await client.get("/menu")
    assert r.status_code == 200
    for href in ("/@mo", "/studio", "/settings", "/notifications", "/admin", "/chats"):
        assert f'href="{href}"' in r.text, href
    assert '<form method="post" action="/logout">' in r.text
    assert 'id="menu-switch-language"' in r.text and 'id="menu-switch-theme"' in r.text
    # Every page's bottom bar leads there, with a label one can read.
    home = await client.get("/home")
    assert 'href="/menu"' in home.text and '<span class="nav__label">More</span>' in home.text
    r = await client.post("/logout", headers=SAME)
    assert r.status_code == 303
    r = await client.get("/menu")
    assert 'action="/logout"' not in r.text and 'href="/admin"' not in r.text


async def test_an_ordinary_member_has_no_admin_on_the_more_page(
    client: httpx.AsyncClient,
) -> None:
    await web_sign_up(client, "first")
    await client.post("/logout", headers=SAME)
    await web_sign_up(client, "second")
    r = await client.get("/menu")
    assert 'href="/@second"' in r.text and 'href="/admin"' not in r.text


async def test_error_pages_chat_titles_and_service_messages_in_french(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "francoise")
    client.cookies.set("personae_lang", "fr")
    r = await client.get(MISSING_CHAT, headers=HTML)
    assert r.status_code == 404 and "Cette discussion n’est pas là" in r.text
    assert "Vos discussions" in r.text
    # A chat's default title is stored in English and shown in the reader's language.
    character = await make_character(client, name="Capitaine Mira")
    await open_chat_page(client, character["handle"])
    r = await client.get("/chats")
    assert "Discussion avec Capitaine Mira" in r.text and "Chat with" not in r.text
    # A service's error with a value inside it, on a page.
    r = await client.post("/prefs/theme", data={"theme": "neon"}, headers={**SAME, **HTML})
    assert r.status_code == 422 and "Thème inconnu" in r.text
    r = await client.post(
        "/settings/password",
        data={"current_password": "not it at all", "new_password": "x", "confirm_password": "x"},
        headers=SAME,
    )
    assert r.status_code == 422
    assert "le nouveau mot de passe doit faire de 8 à 1024 caractères" in r.text


def test_say_translates_messages_with_values_and_keeps_them_plain_text() -> None:
    token = i18n.current_language.set("fr")
    try:
        assert i18n.say("no post 'abc123'") == "aucune publication « abc123 »"
        assert i18n.say("no such conversation") == "cette discussion n’existe pas"
        # The reason inside a moderation note is a sentence of its own, translated too.
        held = i18n.say("moderation (empty): the post is empty")
        assert held == "modération (empty) : la publication est vide"
        assert i18n.say("the password must not contain the username") == (
            "le mot de passe ne doit pas contenir le nom d’utilisateur"
        )
        assert i18n.say("a message nobody wrote") == "a message nobody wrote"
        shown = templates().env.from_string("{{ say(m) }}").render(m="no actor '@<b>x</b>'")
        assert "&lt;b&gt;" in shown and "<b>" not in shown
        names = templates().env.from_string(
            '{% from "studio/_names.html" import kind_names, state_names with context %}'
            "{{ kind_names['reply'] }}/{{ state_names['held'] }}/{{ state_names['failed'] }}"
        )
        assert names.render() == "réponse/retenu/échoué"
    finally:
        i18n.current_language.reset(token)
    assert i18n.say("no post 'abc123'") == "no post 'abc123'"
