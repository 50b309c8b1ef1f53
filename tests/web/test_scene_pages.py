"""Scene pages: the list, a scene for its owner, a member, an invited person, a watcher
and a stranger (404 for a private scene), the panel's forms, import, French."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from tests.web.test_pages import SAME, make_character, web_sign_up

HTMX = {**SAME, "HX-Request": "true"}


@pytest_asyncio.fixture
async def other(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser (its own cookies) on the same app."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def new_scene(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    """Create a scene through the JSON API as the client's signed-in person."""
    r = await client.post("/api/v1/scenes", headers=SAME, json={"title": "Tea", **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def two_characters(client: httpx.AsyncClient) -> list[str]:
    """Two fake-backed characters of the signed-in person; their handles."""
    mira = await make_character(client, backend="fake")
    nova = await make_character(client, name="Nova <3", first_mes="Beep.", backend="fake")
    return [mira["handle"], nova["handle"]]


async def test_the_list_creates_a_scene_and_shows_it(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "lena")
    handles = await two_characters(client)
    empty = await client.get("/scenes")
    assert empty.status_code == 200 and "No scenes yet" in empty.text
    assert 'aria-current="page"' in empty.text and 'href="/scenes"' in empty.text
    assert f'value="{handles[0]}"' in empty.text and "Nova &lt;3" in empty.text
    form = {
        "title": "Harbour <night>",
        "character": handles,
        "mode": "list",
        "visibility": "private",
        "scenario": "A quiet harbour.",
    }
    r = await client.post("/scenes", data=form, headers=SAME)
    assert r.status_code == 303, r.text
    path = r.headers["location"]
    assert re.fullmatch(r"/scenes/[0-9a-f]{32}", path)
    listed = (await client.get("/scenes")).text
    assert f'href="{path}"' in listed and "Harbour &lt;night&gt;" in listed
    page = await client.get(path)
    assert page.status_code == 200
    html = page.text
    assert "Content-Security-Policy" in page.headers and "<script>" not in html
    assert "Harbour &lt;night&gt;" in html and "A quiet harbour." in html
    assert html.count('class="badge"') >= 2  # every character labelled AI
    for part in ("scene__composer", "scene__stop", 'id="scene-live"', 'id="scene-panel"'):
        assert part in html
    # The owner's panel: speak, mute, talkativeness, remove, invite, add, settings.
    for part in ("/speak", "Mute", 'type="range"', "Remove", "Invite a person", "Scene settings"):
        assert part in html, part
    strings = re.search(r'class="scene__strings">(.*?)</script>', html, re.DOTALL)
    assert strings is not None and json.loads(strings.group(1))["AI"] == "AI"
    # A refused form keeps what was written and names the problem.
    r = await client.post("/scenes", data={**form, "mode": "shouting"}, headers=SAME)
    assert r.status_code == 422 and "Harbour &lt;night&gt;" in r.text and 'role="alert"' in r.text


async def test_each_role_sees_its_own_page(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await web_sign_up(other, "bob")
    await web_sign_up(client, "ann")
    scene = await new_scene(client, characters=await two_characters(client))
    path = f"/scenes/{scene['id']}"
    # A stranger: a private scene is not there at all, nor are its fragments.
    for suffix in ("", "/messages", "/panel", "/live"):
        assert (await other.get(path + suffix)).status_code == 404, suffix
    # Invited: the title, who invited them, Accept and Decline; no messages.
    r = await client.post(
        f"/api/v1/scenes/{scene['id']}/members", headers=SAME, json={"person": "bob"}
    )
    assert r.status_code in (200, 201), r.text
    invited = await other.get(path)
    assert invited.status_code == 200 and "invited you" in invited.text
    assert "Accept" in invited.text and "Decline" in invited.text
    assert "scene__composer" not in invited.text
    listed = (await other.get("/scenes")).text
    assert "Invitations" in listed and f'action="{path}/invitation"' in listed
    # A member: the composer and Leave, but not the owner's controls.
    r = await other.post(f"{path}/invitation", data={"accept": "yes"}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == path
    member = (await other.get(path)).text
    assert "scene__composer" in member and "Leave scene" in member
    assert "Scene settings" not in member and 'type="range"' not in member
    # Branching makes a scene of the owner's: only the owner is offered it.
    assert 'data-action="branch"' not in member
    assert 'data-action="branch"' in (await client.get(path)).text
    # Leaving: back to the list, and the scene is gone for them.
    me = re.search(r'data-me="(\w+)"', member)
    assert me is not None
    r = await other.post(f"{path}/members/{me.group(1)}/remove", headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/scenes"
    assert (await other.get(path)).status_code == 404


async def test_a_public_scene_can_be_watched_read_only(
    client: httpx.AsyncClient, other: httpx.AsyncClient
) -> None:
    await web_sign_up(client, "cora")
    scene = await new_scene(client, characters=await two_characters(client), visibility="public")
    path = f"/scenes/{scene['id']}"
    for viewer in (other,):  # signed out
        page = await viewer.get(path)
        assert page.status_code == 200, page.text
        assert "You are watching a public scene" in page.text
        assert "scene__composer" not in page.text and 'data-action="edit"' not in page.text
        assert "/speak" not in page.text and "Invite a person" not in page.text
    await web_sign_up(other, "dan")
    page = await other.get(path)
    assert page.status_code == 200 and "You are watching a public scene" in page.text


async def test_panel_forms_answer_htmx_with_the_panel(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "eve")
    scene = await new_scene(client, characters=await two_characters(client))
    path = f"/scenes/{scene['id']}"
    character = next(m for m in scene["members"] if m["kind"] == "character")
    pid = character["id"]
    r = await client.post(f"{path}/members/{pid}", data={"muted": "yes"}, headers=HTMX)
    assert r.status_code == 200 and 'id="scene-panel-body"' in r.text
    assert f'id="mute-{pid}"' in r.text and 'aria-pressed="true"' in r.text
    r = await client.post(f"{path}/members/{pid}", data={"talkativeness": "0.8"}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == path
    shown = (await client.get(f"/api/v1/scenes/{scene['id']}")).json()
    mine = next(m for m in shown["members"] if m["id"] == pid)
    assert mine["muted"] is True and mine["talkativeness"] == pytest.approx(0.8)
    # A refused invitation is shown in the panel, as an alert, in plain words.
    r = await client.post(f"{path}/members", data={"person": "nobody_here"}, headers=HTMX)
    assert r.status_code == 200 and 'role="alert"' in r.text
    # Without htmx the scene's page comes back with the refusal in its panel.
    r = await client.post(f"{path}/members", data={"person": "nobody_here"}, headers=SAME)
    assert r.status_code == 404 and "no person named" in r.text and 'role="alert"' in r.text
    assert "scene-panel--open" in r.text and "scene__composer" in r.text
    # A scene that is not there is an error page that says so and leads to the list.
    r = await client.get("/scenes/" + "0" * 32)
    assert r.status_code == 404 and "This scene isn" in r.text and 'href="/scenes"' in r.text
    # Fragments the page's script asks for.
    for suffix, marker in (("/messages", "scene-messages"), ("/live", "scene-live")):
        r = await client.get(path + suffix, headers=HTMX)
        assert r.status_code == 200 and f'id="{marker}"' in r.text and "<html" not in r.text


async def test_importing_a_sillytavern_group(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "finn")
    mira = await make_character(client, backend="fake")
    group = {
        "name": "Ship's crew",
        "members": [f"{mira['name']}.png", "Nobody Known.png"],
        "activation_strategy": 1,
        "allow_self_responses": False,
    }
    files = {"file": ("crew.json", json.dumps(group).encode(), "application/json")}
    r = await client.post("/scenes/import", files=files, headers=SAME)
    assert r.status_code == 303, r.text
    page = await client.get(r.headers["location"])
    assert page.status_code == 200 and "Ship&#39;s crew" in page.text
    assert "Nobody Known" in page.text  # named as not found among the characters
    r = await client.post(
        "/scenes/import", files={"file": ("x.json", b"not json", "application/json")}, headers=SAME
    )
    assert r.status_code == 422 and 'role="alert"' in r.text


async def test_scene_pages_speak_french(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "gael")
    scene = await new_scene(client, characters=await two_characters(client))
    client.cookies.set("personae_lang", "fr")
    listed = (await client.get("/scenes")).text
    assert "Nouvelle scène" in listed and "Scènes" in listed and "Créer la scène" in listed
    page = (await client.get(f"/scenes/{scene['id']}")).text
    assert "Membres" in page and "Ensuite :" in page and "Mode automatique arrêté" in page
    assert '"AI": "IA"' in page


async def test_the_owner_picks_the_scene_lorebook_in_the_settings(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await web_sign_up(client, "lena")
    handles = await two_characters(client)
    r = await client.post("/api/v1/lorebooks", headers=SAME, json={"name": "Harbour <lore>"})
    assert r.status_code == 201, r.text
    book = r.json()["id"]
    made = await new_scene(client, characters=handles)
    sid = made["id"]
    # The scene opened with the first character's greeting only (Nova's "Beep." waits).
    assert [m["content"] for m in made["messages"]] == ["Welcome aboard, lena!"]
    html = (await client.get(f"/scenes/{sid}")).text
    assert f'<option value="{book}">Harbour &lt;lore&gt;</option>' in html
    assert f'id="regen-{made["messages"][0]["id"]}"' not in html
    form = {"title": "Tea", "mode": "natural", "visibility": "private", "lorebook_id": book}
    r = await client.post(f"/scenes/{sid}/settings", data=form, headers=SAME)
    assert r.status_code == 303, r.text
    shown = (await client.get(f"/api/v1/scenes/{sid}", headers=SAME)).json()
    assert shown["lorebook_id"] == book
    html = (await client.get(f"/scenes/{sid}")).text
    assert f'<option value="{book}" selected>' in html
    r = await client.post(f"/scenes/{sid}/settings", data={**form, "lorebook_id": ""}, headers=SAME)
    assert r.status_code == 303
    assert (await client.get(f"/api/v1/scenes/{sid}", headers=SAME)).json()["lorebook_id"] is None
