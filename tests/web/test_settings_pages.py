"""Settings pages: account and personas, AI visibility, muted and blocked, memories."""

from __future__ import annotations

import io
import re

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from personae.accounts.models import Account, Persona
from personae.memory.models import Memory
from personae.memory.stream import remember
from personae.social.models import Actor
from tests.conftest import sign_up
from tests.web.test_pages import PASSWORD, SAME, web_sign_up
from tests.web.test_social_pages import character


def png() -> bytes:
    """A small real PNG."""
    out = io.BytesIO()
    Image.new("RGB", (3, 2), (10, 20, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


async def actor_of(app: FastAPI, username: str) -> Actor:
    """A person's actor, fresh from the database."""
    async with app.state.personae.sessions() as session:
        actor = await session.scalar(select(Actor).where(Actor.handle == username))
        assert actor is not None
        return actor


def done(r: httpx.Response, path: str, key: str) -> None:
    """A 303 back to the tab with the notice."""
    assert r.status_code == 303, r.text[-1500:]
    assert r.headers["location"] == f"{path}?done={key}"


async def test_signed_out_visitors_are_sent_to_the_start(client: httpx.AsyncClient) -> None:
    for path in ("/settings", "/settings/ai", "/settings/muted", "/settings/memories"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/"
    r = await client.post("/settings/ai", data={"show_ai": "none"}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_every_tab_renders_in_english_and_french(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "carol")
    for path in ("/settings", "/settings/ai", "/settings/muted", "/settings/memories"):
        r = await client.get(path)
        assert r.status_code == 200 and 'aria-current="page"' in r.text
        assert "Content-Security-Policy" in r.headers and "style=" not in r.text
        assert "<script>" not in r.text
        french = await client.get(path, headers={"Accept-Language": "fr"})
        assert "Réglages" in french.text
    assert "Chat personas" in (await client.get("/settings")).text


async def test_profile_is_saved_and_bad_input_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await web_sign_up(client, "carol")
    form = {
        "display_name": "Carol C.",
        "bio": "I read <b>books</b>.",
        "field_name": ["Site", "", "Pronouns", ""],
        "field_value": ["https://carol.example", "", "she/her", ""],
    }
    done(await client.post("/settings/profile", data=form, headers=SAME), "/settings", "profile")
    actor = await actor_of(app, "carol")
    assert actor.display_name == "Carol C." and actor.bio == "I read <b>books</b>."
    assert actor.fields == [
        {"name": "Site", "value": "https://carol.example"},
        {"name": "Pronouns", "value": "she/her"},
    ]
    page = await client.get("/settings?done=profile")
    assert "Your profile is saved." in page.text and "I read &lt;b&gt;books&lt;/b&gt;." in page.text
    for bad in ({"display_name": ""}, {"display_name": "x", "bio": "b" * 2001}):
        r = await client.post("/settings/profile", data=bad, headers=SAME)
        assert r.status_code == 422 and 'role="alert"' in r.text
    r = await client.post(
        "/settings/profile",
        data={"display_name": "x", "field_name": [""], "field_value": ["v" * 201]},
        headers=SAME,
    )
    assert r.status_code == 422
    assert (await actor_of(app, "carol")).display_name == "Carol C."
    r = await client.post("/settings/profile", data=form)  # no Origin: refused
    assert r.status_code == 403


async def test_avatar_upload(app: FastAPI, client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "carol")
    files = {"avatar": ("me.png", png(), "image/png")}
    done(await client.post("/settings/avatar", files=files, headers=SAME), "/settings", "avatar")
    assert (await actor_of(app, "carol")).avatar_mime == "image/png"
    assert "/api/v1/actors/carol/avatar" in (await client.get("/settings")).text
    files = {"avatar": ("x.png", b"not an image", "image/png")}
    r = await client.post("/settings/avatar", files=files, headers=SAME)
    assert 400 <= r.status_code < 500


async def test_password_change_needs_the_current_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await web_sign_up(client, "carol")
    other = httpx.AsyncClient(transport=client._transport, base_url="http://testserver")
    r = await other.post("/login", data={"username": "carol", "password": PASSWORD}, headers=SAME)
    assert r.status_code == 303
    wrong = {
        "current_password": "not it",
        "new_password": "new secret 1",
        "confirm_password": "new secret 1",
    }
    r = await client.post("/settings/password", data=wrong, headers=SAME)
    assert r.status_code == 403 and "the current password is wrong" in r.text
    differ = {
        "current_password": PASSWORD,
        "new_password": "new secret 1",
        "confirm_password": "other one",
    }
    r = await client.post("/settings/password", data=differ, headers=SAME)
    assert r.status_code == 422
    short = {"current_password": PASSWORD, "new_password": "short", "confirm_password": "short"}
    assert (await client.post("/settings/password", data=short, headers=SAME)).status_code == 422
    r = await client.post("/api/v1/auth/token", json={"username": "carol", "password": PASSWORD})
    assert r.status_code == 200  # nothing changed yet
    good = {
        "current_password": PASSWORD,
        "new_password": "new secret 1",
        "confirm_password": "new secret 1",
    }
    done(await client.post("/settings/password", data=good, headers=SAME), "/settings", "password")
    r = await client.post("/api/v1/auth/token", json={"username": "carol", "password": PASSWORD})
    assert r.status_code == 401
    r = await client.post(
        "/api/v1/auth/token", json={"username": "carol", "password": "new secret 1"}
    )
    assert r.status_code == 200
    # This browser stays signed in; the other one was signed out.
    assert (await client.get("/settings")).status_code == 200
    assert (await other.get("/settings")).status_code == 303
    await other.aclose()


async def test_personas_are_listed_created_edited_and_deleted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await web_sign_up(client, "carol")
    new = {"name": "Captain C", "description": "A ship's captain.", "is_default": "on"}
    done(
        await client.post("/settings/personas", data=new, headers=SAME),
        "/settings",
        "persona_added",
    )
    async with app.state.personae.sessions() as session:
        rows = list(await session.scalars(select(Persona).order_by(Persona.created_at)))
    assert [(p.name, p.is_default) for p in rows] == [("carol", False), ("Captain C", True)]
    captain = rows[1].id
    page = await client.get("/settings")
    assert "Captain C" in page.text and f'action="/settings/personas/{captain}"' in page.text
    edit = {"name": "Admiral C", "description": "Promoted."}
    r = await client.post(f"/settings/personas/{captain}", data=edit, headers=SAME)
    done(r, "/settings", "persona_saved")
    r = await client.post(f"/settings/personas/{captain}", data={"name": ""}, headers=SAME)
    assert r.status_code == 422
    r = await client.post("/settings/personas", data={"name": "n" * 101}, headers=SAME)
    assert r.status_code == 422
    async with app.state.personae.sessions() as session:
        kept = await session.get(Persona, captain)
        assert kept is not None and kept.name == "Admiral C" and kept.is_default
    r = await client.post(f"/settings/personas/{captain}/delete", headers=SAME)
    done(r, "/settings", "persona_deleted")
    async with app.state.personae.sessions() as session:
        assert await session.get(Persona, captain) is None


async def test_nobody_edits_or_deletes_another_persons_persona(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bob = await sign_up(client, "bob")
    r = await client.post("/api/v1/personas", headers=bob, json={"name": "Bob's"})
    async with app.state.personae.sessions() as session:
        theirs = await session.scalar(select(Persona.id).where(Persona.name == "Bob's"))
    assert theirs is not None, r.text
    await web_sign_up(client, "carol")
    r = await client.post(f"/settings/personas/{theirs}/delete", headers=SAME)
    assert r.status_code == 404
    r = await client.post(f"/settings/personas/{theirs}", data={"name": "Mine now"}, headers=SAME)
    assert r.status_code == 404
    assert theirs not in (await client.get("/settings")).text
    async with app.state.personae.sessions() as session:
        kept = await session.get(Persona, theirs)
        assert kept is not None and kept.name == "Bob's"


async def test_ai_visibility_choices_are_saved(app: FastAPI, client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "carol")
    page = await client.get("/settings/ai")
    assert re.search(r'id="show-ai-all"[^>]*checked', page.text)
    assert re.search(r'id="accept-ai-replies"[^>]*checked', page.text)
    form = {"show_ai": "followed", "accept_ai_mentions": "on"}
    done(await client.post("/settings/ai", data=form, headers=SAME), "/settings/ai", "ai")
    actor = await actor_of(app, "carol")
    assert (actor.show_ai, actor.accept_ai_replies, actor.accept_ai_mentions) == (
        "followed",
        False,
        True,
    )
    page = await client.get("/settings/ai?done=ai")
    assert re.search(r'id="show-ai-followed"[^>]*checked', page.text)
    assert not re.search(r'id="accept-ai-replies"[^>]*checked', page.text)
    assert "Your AI visibility choices are saved." in page.text
    r = await client.post("/settings/ai", data={"show_ai": "some"}, headers=SAME)
    assert r.status_code == 422 and "show_ai must be one of" in r.text
    assert (await actor_of(app, "carol")).show_ai == "followed"
    done(
        await client.post("/settings/ai", data={"show_ai": "none"}, headers=SAME),
        "/settings/ai",
        "ai",
    )
    assert (await actor_of(app, "carol")).show_ai == "none"


async def test_muted_and_blocked_lists_with_unmute_and_unblock(
    client: httpx.AsyncClient,
) -> None:
    bob = await sign_up(client, "bob")
    mira = await character(client, bob, "Captain Mira")
    await web_sign_up(client, "carol")
    assert (await client.post(f"/api/v1/actors/{mira}/mute", headers=SAME)).status_code == 204
    assert (await client.post("/api/v1/actors/bob/block", headers=SAME)).status_code == 204
    page = await client.get("/settings/muted")
    assert f'action="/settings/muted/{mira}/unmute"' in page.text
    assert 'action="/settings/muted/bob/unblock"' in page.text
    r = await client.post(f"/settings/muted/{mira}/unmute", headers=SAME)
    done(r, "/settings/muted", "unmuted")
    done(
        await client.post("/settings/muted/bob/unblock", headers=SAME),
        "/settings/muted",
        "unblocked",
    )
    page = await client.get("/settings/muted")
    assert "You mute nobody." in page.text and "You block nobody." in page.text
    assert (await client.get("/api/v1/mutes", headers=SAME)).json()["items"] == []


async def memory_about(app: FastAPI, character_id: str, username: str, text: str) -> str:
    """Store a memory a character holds about a person; its id."""
    async with app.state.personae.sessions() as session:
        about = await session.scalar(select(Account.id).where(Account.username == username))
        memory, _ = await remember(session, character_id, "told", text, about_actor_id=about)
        await session.commit()
        return memory.id


async def memories_count(app: FastAPI) -> int:
    """How many memories there are."""
    async with app.state.personae.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Memory)) or 0)


async def test_memories_listed_forgotten_one_by_one_or_all_once_confirmed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bob = await sign_up(client, "bob")
    mira_handle = await character(client, bob, "Captain Mira")
    r = await client.get(f"/api/v1/characters/{mira_handle}", headers=bob)
    mira = r.json()["id"]
    await web_sign_up(client, "carol")
    first = await memory_about(app, mira, "carol", "Carol likes lighthouses.")
    await memory_about(app, mira, "carol", "Carol has a cat named Moss.")
    bobs = await memory_about(app, mira, "bob", "Bob is the captain's creator.")
    page = await client.get("/settings/memories")
    assert "Carol likes lighthouses." in page.text and "Moss" in page.text
    assert "Bob is the captain" not in page.text
    filtered = await client.get(f"/settings/memories?character={mira_handle}")
    assert "Carol likes lighthouses." in filtered.text
    # Nobody deletes someone else's memories.
    assert (await client.post(f"/settings/memories/{bobs}/delete", headers=SAME)).status_code == 404
    r = await client.post(f"/settings/memories/{first}/delete", headers=SAME)
    done(r, "/settings/memories", "forgot_one")
    assert "Carol likes lighthouses." not in (await client.get("/settings/memories")).text
    # Everything, only once confirmed.
    r = await client.post(
        "/settings/memories/forget", data={"character": mira_handle}, headers=SAME
    )
    assert r.status_code == 422 and "tick the box" in r.text
    assert await memories_count(app) == 2
    form = {"character": mira_handle, "confirm": "on"}
    done(
        await client.post("/settings/memories/forget", data=form, headers=SAME),
        "/settings/memories",
        "forgot_all",
    )
    assert await memories_count(app) == 1  # Bob's is left
    assert (
        "No character remembers anything about you."
        in (await client.get("/settings/memories")).text
    )
