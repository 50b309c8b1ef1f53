"""Discovery: WebFinger, actor documents, the instance actor, outbox, notes and NodeInfo.

Every test that takes `db_kind` runs on SQLite and (when configured) PostgreSQL. The app
is given a public https base URL, as an instance behind a TLS proxy would be.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from personae.app import create_app
from personae.db import new_id
from personae.federation.discovery import image_version
from personae.federation.keys import ensure_key
from personae.federation.models import ActorKey, InstanceKey
from personae.federation.notes import PUBLIC, NoteContext, note_for
from personae.federation.remote import ParsedActor, store
from personae.federation.routes import activity_path, wants_activity_json, wants_html
from personae.federation.signatures import generate_key_pair
from personae.federation.urls import Urls
from personae.llm.registry import BackendRegistry
from personae.social.actors import search_key
from personae.social.models import Actor, Post
from tests.conftest import make_settings, migrated_engine, wipe

API = "/api/v1"
BASE = "https://social.example"
DOMAIN = "social.example"
AP = "application/activity+json"
AP_ACCEPT = {"Accept": AP}
URLS = Urls.from_base(BASE)


@pytest_asyncio.fixture
async def app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> AsyncIterator[FastAPI]:
    """The app on a clean database, with a public https base URL."""
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    settings = make_settings(tmp_root, url, base_url=BASE + "/")
    application = create_app(settings, backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


def path_of(url: str) -> str:
    """The path of one of our URLs (the test client talks to the app directly)."""
    assert url.startswith(BASE + "/"), url
    return url[len(BASE) :]


async def webfinger(client: httpx.AsyncClient, resource: str) -> httpx.Response:
    return await client.get("/.well-known/webfinger", params={"resource": resource})


async def ap_get(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    r = await client.get(path_of(url) if url.startswith("http") else url, headers=AP_ACCEPT)
    assert r.status_code == 200, (url, r.text)
    assert r.headers["content-type"].startswith(AP)
    return dict(r.json())


async def character(
    client: httpx.AsyncClient, owner: dict[str, str], name: str, visibility: str = "public"
) -> str:
    r = await client.post(
        f"{API}/characters", headers=owner, json={"name": name, "visibility": visibility}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["handle"])


async def post(
    client: httpx.AsyncClient,
    who: dict[str, str],
    text: str,
    act_as: str | None = None,
    **extra: Any,
) -> str:
    params = {"as": act_as} if act_as else {}
    r = await client.post(f"{API}/posts", headers=who, params=params, json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def stored_key(app: FastAPI, actor_id: str) -> str:
    async with app.state.personae.sessions() as session:
        key = await session.get(ActorKey, actor_id)
        assert key is not None
        return str(key.public_pem)


def public_numbers(pem: str) -> rsa.RSAPublicNumbers:
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key.public_numbers()


# --- WebFinger -----------------------------------------------------------------------


async def test_webfinger_loops_back_to_the_actor(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    r = await webfinger(client, f"acct:alice@{DOMAIN}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/jrd+json")
    assert r.headers["access-control-allow-origin"] == "*"
    jrd = r.json()
    assert jrd["subject"] == f"acct:alice@{DOMAIN}"
    self_link = next(link for link in jrd["links"] if link["rel"] == "self")
    assert self_link["type"] == AP
    assert self_link["href"] == f"{BASE}/users/alice"
    profile = next(link for link in jrd["links"] if "profile-page" in link["rel"])
    assert profile["href"] == f"{BASE}/@alice"
    assert set(jrd["aliases"]) == {f"{BASE}/users/alice", f"{BASE}/@alice"}
    document = await ap_get(client, self_link["href"])
    assert document["id"] == self_link["href"]
    assert document["preferredUsername"] == "alice"
    # The same answer for the other spellings of the resource.
    for resource in (
        f"alice@{DOMAIN}",
        f"@Alice@{DOMAIN.upper()}",
        f"{BASE}/users/alice",
        f"{BASE}/@alice",
    ):
        again = await webfinger(client, resource)
        assert again.status_code == 200, (resource, again.text)
        assert again.json()["subject"] == jrd["subject"]


@pytest.mark.parametrize(
    "resource",
    [
        "",
        "alice",
        "acct:alice",
        "acct:@social.example",
        "acct:alice@",
        "acct:alice@other.example",
        "acct:al ice@social.example",
        "https://other.example/users/alice",
        "mailto:alice@other.example",
    ],
)
async def test_webfinger_rejects_bad_resources(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], resource: str
) -> None:
    r = await webfinger(client, resource)
    assert r.status_code == 400, (resource, r.text)
    assert r.json()["error"]["code"] == "bad_resource"


async def test_webfinger_without_resource_is_400(db_kind: str, client: httpx.AsyncClient) -> None:
    r = await client.get("/.well-known/webfinger")
    assert r.status_code == 400


async def test_unknown_private_and_suspended_actors_do_not_exist(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    secret = await character(client, alice, "Secret Sam", visibility="private")
    r = await client.post(f"{API}/admin/actors/bob/suspend", headers=alice)
    assert r.status_code == 204, r.text
    for handle in ("nobody", secret, "bob"):
        assert (await webfinger(client, f"acct:{handle}@{DOMAIN}")).status_code == 404, handle
        assert (await webfinger(client, f"{BASE}/users/{handle}")).status_code == 404, handle
        for path in ("", "/outbox", "/followers", "/following"):
            r = await client.get(f"/users/{handle}{path}", headers=AP_ACCEPT)
            assert r.status_code == 404, (handle, path)
    assert (await webfinger(client, f"{BASE}/somewhere/else")).status_code == 404
    # Nothing was made for the hidden ones.
    async with app.state.personae.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ActorKey)) == 0


# --- actor documents -----------------------------------------------------------------


async def test_person_actor_document(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    fields = [
        {"name": "Site", "value": "https://alice.example"},
        {"name": "Likes", "value": "<tea>"},
    ]
    r = await client.patch(
        f"{API}/profile",
        headers=alice,
        json={"bio": "Hello #world, see https://x.example", "fields": fields, "locked": True},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"{API}/profile/avatar", headers=alice, files={"file": ("a.png", png(), "image/png")}
    )
    assert r.status_code == 200, r.text
    doc = await ap_get(client, "/users/alice")
    actor_id = f"{BASE}/users/alice"
    assert doc["type"] == "Person"
    assert "https://www.w3.org/ns/activitystreams" in doc["@context"]
    assert "https://w3id.org/security/v1" in doc["@context"]
    assert doc["id"] == actor_id
    assert doc["url"] == f"{BASE}/@alice"
    assert doc["inbox"] == f"{actor_id}/inbox"
    assert doc["outbox"] == f"{actor_id}/outbox"
    assert doc["followers"] == f"{actor_id}/followers"
    assert doc["following"] == f"{actor_id}/following"
    assert doc["endpoints"] == {"sharedInbox": f"{BASE}/inbox"}
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["discoverable"] is True
    assert doc["published"].endswith("Z")
    assert f'href="{BASE}/tags/world"' in doc["summary"]
    assert "🤖" not in doc["summary"]
    assert doc["icon"] == {
        "type": "Image",
        "mediaType": "image/png",
        "url": f"{BASE}{API}/actors/alice/avatar?v={image_version(png())}",
    }
    assert "image" not in doc
    values = {a["name"]: a["value"] for a in doc["attachment"]}
    assert values["Likes"] == "&lt;tea&gt;"
    assert 'href="https://alice.example"' in values["Site"]
    assert all(a["type"] == "PropertyValue" for a in doc["attachment"])
    key = doc["publicKey"]
    assert key["id"] == f"{actor_id}#main-key"
    assert key["owner"] == actor_id
    account_id = (await client.get(f"{API}/actors/alice")).json()["id"]
    assert public_numbers(key["publicKeyPem"]) == public_numbers(await stored_key(app, account_id))
    # The avatar URL serves the image.
    image = await client.get(path_of(doc["icon"]["url"]))
    assert image.status_code == 200 and image.content == png()


async def test_character_is_a_service_with_ai_disclosure_and_operator(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    handle = await character(client, bob, "Robo Rita")
    doc = await ap_get(client, f"/users/{handle}")
    assert doc["type"] == "Service"
    assert doc["name"] == "Robo Rita"
    assert doc["summary"].startswith("<p>🤖 AI character operated by ")
    assert f"@bob@{DOMAIN}" in doc["summary"]
    operator = [a for a in doc["attachment"] if a["name"] == "Operator"]
    assert len(operator) == 1
    assert operator[0]["type"] == "PropertyValue"
    assert f'href="{BASE}/@bob"' in operator[0]["value"]
    assert f"@bob@{DOMAIN}" in operator[0]["value"]
    character_id = (await client.get(f"{API}/actors/{handle}")).json()["id"]
    stored = await stored_key(app, character_id)
    assert public_numbers(doc["publicKey"]["publicKeyPem"]) == public_numbers(stored)
    # A different actor gets a different key.
    alice_doc = await ap_get(client, "/users/alice")
    assert alice_doc["publicKey"]["publicKeyPem"] != doc["publicKey"]["publicKeyPem"]


async def test_a_character_seen_by_other_servers_keeps_its_handle(
    db_kind: str, client: httpx.AsyncClient, bob: dict[str, str]
) -> None:
    unseen = await character(client, bob, "Quiet Quinn")
    renamed = await client.patch(f"{API}/characters/{unseen}", headers=bob, json={"handle": "qq"})
    assert renamed.status_code == 200, renamed.text
    seen = await character(client, bob, "Famous Fay")
    await ap_get(client, f"/users/{seen}")  # a remote server fetched it: its key exists
    refused = await client.patch(
        f"{API}/characters/{seen}", headers=bob, json={"handle": "fay2", "nickname": "F"}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "handle_federated"
    unchanged = await client.get(f"{API}/characters/{seen}", headers=bob)
    assert unchanged.json()["handle"] == seen
    assert unchanged.json()["nickname"] == ""  # nothing half-written
    # Other fields still change.
    edited = await client.patch(f"{API}/characters/{seen}", headers=bob, json={"nickname": "F"})
    assert edited.status_code == 200, edited.text


async def test_profile_address_negotiates_activity_json(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    post_id = await post(client, alice, "negotiated")
    canonical = await ap_get(client, "/users/alice")
    for accept in (
        AP,
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "application/activity+json, application/ld+json",
    ):
        r = await client.get("/@alice", headers={"Accept": accept})
        assert r.status_code == 200, accept
        assert r.headers["content-type"].startswith(AP)
        assert r.json() == canonical
        assert "Accept" in r.headers["vary"]
    page = await client.get(
        "/@alice", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]
    note = await client.get(f"/@alice/{post_id}", headers=AP_ACCEPT)
    assert note.status_code == 200
    assert note.json()["id"] == f"{BASE}/users/alice/statuses/{post_id}"
    assert (await client.get("/@nobody", headers=AP_ACCEPT)).status_code == 404


def test_accept_and_path_rules() -> None:
    assert wants_activity_json(AP)
    assert wants_activity_json("application/ld+json")
    assert not wants_activity_json("text/html")
    assert not wants_activity_json("*/*")
    assert not wants_activity_json("text/html, application/activity+json;q=0.5")
    assert not wants_activity_json("application/activity+json;q=0")
    assert activity_path("/@alice") == "/users/alice"
    assert activity_path("/@alice/") == "/users/alice"
    assert activity_path("/@alice/abc123") == "/users/alice/statuses/abc123"
    assert activity_path("/@alice/followers") == "/users/alice/followers"
    assert activity_path("/@alice/abc/report") is None
    assert activity_path("/@bad-handle") is None
    assert activity_path("/users/alice") is None


async def test_instance_actor(db_kind: str, app: FastAPI, client: httpx.AsyncClient) -> None:
    doc = await ap_get(client, "/actor")
    assert doc["type"] == "Application"
    assert doc["id"] == f"{BASE}/actor"
    assert doc["preferredUsername"] == DOMAIN
    assert doc["inbox"] == f"{BASE}/actor/inbox"
    assert doc["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    assert doc["publicKey"]["id"] == f"{BASE}/actor#main-key"
    assert doc["publicKey"]["owner"] == f"{BASE}/actor"
    async with app.state.personae.sessions() as session:
        stored = await session.scalar(select(InstanceKey.public_pem))
    assert stored is not None
    assert public_numbers(doc["publicKey"]["publicKeyPem"]) == public_numbers(stored)
    assert (await ap_get(client, "/actor"))["publicKey"] == doc["publicKey"]  # kept, not remade
    jrd = (await webfinger(client, f"acct:{DOMAIN}@{DOMAIN}")).json()
    assert next(x for x in jrd["links"] if x["rel"] == "self")["href"] == f"{BASE}/actor"
    assert (await webfinger(client, f"{BASE}/actor")).json()["subject"] == jrd["subject"]
    outbox = await ap_get(client, "/actor/outbox")
    assert outbox["totalItems"] == 0


# --- outbox, notes, collections --------------------------------------------------------


async def test_outbox_lists_public_and_unlisted_posts_only(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    public = await post(client, alice, "Hello @bob and #Fediverse")
    unlisted = await post(client, alice, "quietly", visibility="unlisted")
    hidden = await post(client, alice, "for followers only", visibility="followers")
    secret = await post(client, alice, "psst @bob", visibility="direct")
    warned = await post(client, alice, "spoilers", content_warning="film ending")
    reply = await post(client, bob, "a reply", in_reply_to_id=public)
    outbox = await ap_get(client, "/users/alice/outbox")
    assert outbox["type"] == "OrderedCollection"
    assert outbox["id"] == f"{BASE}/users/alice/outbox"
    assert outbox["totalItems"] == 3
    items = outbox["first"]["orderedItems"]
    assert [i["object"]["id"].rsplit("/", 1)[1] for i in items] == [warned, unlisted, public]
    text = str(outbox)
    assert "for followers only" not in text and "psst" not in text
    assert hidden not in text and secret not in text
    assert "next" not in outbox["first"]
    by_id = {i["object"]["id"].rsplit("/", 1)[1]: i for i in items}
    create = by_id[public]
    note = create["object"]
    followers = f"{BASE}/users/alice/followers"
    assert create["type"] == "Create"
    assert create["id"] == f"{BASE}/users/alice/statuses/{public}/activity"
    assert create["actor"] == f"{BASE}/users/alice"
    assert note["type"] == "Note"
    assert note["attributedTo"] == f"{BASE}/users/alice"
    assert note["url"] == f"{BASE}/@alice/{public}"
    assert note["to"] == [PUBLIC]
    assert note["cc"] == [followers, f"{BASE}/users/bob"]
    assert create["to"] == note["to"] and create["cc"] == note["cc"]
    assert {"type": "Mention", "href": f"{BASE}/users/bob", "name": f"@bob@{DOMAIN}"} in note["tag"]
    assert {"type": "Hashtag", "href": f"{BASE}/tags/fediverse", "name": "#fediverse"} in note[
        "tag"
    ]
    assert f'href="{BASE}/@bob"' in note["content"]
    assert 'href="/' not in note["content"]
    assert note["sensitive"] is False and note["summary"] is None
    assert note["inReplyTo"] is None
    assert by_id[unlisted]["object"]["to"] == [followers]
    assert by_id[unlisted]["object"]["cc"] == [PUBLIC]
    assert by_id[warned]["object"]["sensitive"] is True
    assert by_id[warned]["object"]["summary"] == "film ending"
    # The reply, in bob's outbox, points at alice's note.
    bob_items = (await ap_get(client, "/users/bob/outbox"))["first"]["orderedItems"]
    assert bob_items[0]["object"]["id"].endswith(reply)
    assert bob_items[0]["object"]["inReplyTo"] == f"{BASE}/users/alice/statuses/{public}"


async def test_outbox_pages(db_kind: str, client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    made = [await post(client, alice, f"post {i}") for i in range(23)]
    outbox = await ap_get(client, "/users/alice/outbox")
    assert outbox["totalItems"] == 23
    first = outbox["first"]
    assert len(first["orderedItems"]) == 20
    second = await ap_get(client, first["next"])
    assert second["type"] == "OrderedCollectionPage"
    assert "next" not in second
    seen = [
        i["object"]["id"].rsplit("/", 1)[1] for i in first["orderedItems"] + second["orderedItems"]
    ]
    assert seen == list(reversed(made))


async def test_note_fetch_only_for_public_and_unlisted(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    public = await post(client, alice, "out in the open")
    unlisted = await post(client, alice, "quiet", visibility="unlisted")
    followers = await post(client, alice, "friends only", visibility="followers")
    direct = await post(client, alice, "hi @bob", visibility="direct")
    note = await ap_get(client, f"/users/alice/statuses/{public}")
    assert note["id"] == f"{BASE}/users/alice/statuses/{public}"
    assert note["type"] == "Note" and "@context" in note
    assert (await ap_get(client, f"/users/alice/statuses/{unlisted}"))["cc"] == [PUBLIC]
    create = await ap_get(client, f"/users/alice/statuses/{public}/activity")
    assert create["type"] == "Create" and create["object"]["id"] == note["id"]
    for post_id in (followers, direct, "0" * 32):
        for suffix in ("", "/activity"):
            r = await client.get(f"/users/alice/statuses/{post_id}{suffix}", headers=AP_ACCEPT)
            assert r.status_code == 404, (post_id, suffix)
    # A post is only found under its own author.
    r = await client.get(f"/users/bob/statuses/{public}", headers=AP_ACCEPT)
    assert r.status_code == 404


async def test_follow_collections_count(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    r = await client.post(f"{API}/actors/alice/follow", headers=bob)
    assert r.status_code == 200, r.text
    followers = await ap_get(client, "/users/alice/followers")
    assert followers["type"] == "OrderedCollection"
    assert followers["id"] == f"{BASE}/users/alice/followers"
    assert followers["totalItems"] == 1
    assert (await ap_get(client, "/users/bob/following"))["totalItems"] == 1
    assert (await ap_get(client, "/users/bob/followers"))["totalItems"] == 0


def test_note_addressing_by_visibility() -> None:
    """Followers-only and direct posts are never fetched, but delivery will use note_for."""
    author = Actor(id="a" * 32, handle="alice", kind="person")
    bob = Actor(id="b" * 32, handle="bob", kind="person")
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    followers = f"{BASE}/users/alice/followers"

    def note(visibility: str) -> dict[str, Any]:
        post = Post(id="c" * 32, visibility=visibility, content_html="<p>x</p>", created_at=now)
        post.content_warning, post.language, post.edited_at = "", "en", None
        return note_for(post, NoteContext(author=author, mentioned=[bob]), URLS)

    assert (note("followers")["to"], note("followers")["cc"]) == (
        [followers],
        [f"{BASE}/users/bob"],
    )
    assert (note("direct")["to"], note("direct")["cc"]) == ([f"{BASE}/users/bob"], [])
    assert note("public")["published"] == "2026-01-02T03:04:05Z"
    assert note("public")["contentMap"] == {"en": "<p>x</p>"}


# --- NodeInfo --------------------------------------------------------------------------


async def test_nodeinfo(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    await post(client, alice, "one")
    await post(client, alice, "two")
    await character(client, bob, "Robo Rita")
    await character(client, bob, "Hidden Hal", visibility="private")
    r = await client.get("/.well-known/nodeinfo")
    assert r.status_code == 200
    link = r.json()["links"][0]
    assert link["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    assert link["href"] == f"{BASE}/nodeinfo/2.1"
    r = await client.get(path_of(link["href"]))
    assert r.status_code == 200
    assert "nodeinfo.diaspora.software/ns/schema/2.1" in r.headers["content-type"]
    info = r.json()
    assert info["version"] == "2.1"
    assert info["software"]["name"] == "personae"
    assert info["software"]["version"]
    assert info["protocols"] == ["activitypub"]
    assert info["openRegistrations"] is True
    assert info["usage"]["users"] == {"total": 2, "activeMonth": 1, "activeHalfyear": 1}
    assert info["usage"]["localPosts"] == 2
    assert info["metadata"]["characters"] == 1


# --- keys ----------------------------------------------------------------------------


async def test_key_is_made_once_under_concurrent_requests(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    responses = await asyncio.gather(
        *(client.get("/users/alice", headers=AP_ACCEPT) for _ in range(6)),
        *(client.get("/actor", headers=AP_ACCEPT) for _ in range(4)),
    )
    assert all(r.status_code == 200 for r in responses)
    assert len({r.json()["publicKey"]["publicKeyPem"] for r in responses[:6]}) == 1
    assert len({r.json()["publicKey"]["publicKeyPem"] for r in responses[6:]}) == 1
    bob_id = (await client.get(f"{API}/actors/bob")).json()["id"]
    sessions = app.state.personae.sessions

    async def ensure() -> str:
        async with sessions() as session:
            return (await ensure_key(session, bob_id)).public_pem

    pems = await asyncio.gather(*(ensure() for _ in range(5)))
    assert len(set(pems)) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ActorKey)) == 2
        assert await session.scalar(select(func.count()).select_from(InstanceKey)) == 1
        assert (await session.get(ActorKey, bob_id)) is not None


# --- what other servers read more closely ----------------------------------------------


def coloured_png(rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), rgb).save(out, "PNG")
    return out.getvalue()


async def test_a_character_is_attributed_to_its_operator(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    handle = await character(client, bob, "Robo Rita")
    doc = await ap_get(client, f"/users/{handle}")
    # Machine-readable, besides the summary and the Operator field people read.
    assert doc["attributedTo"] == f"{BASE}/users/bob"
    operator = await ap_get(client, doc["attributedTo"])
    assert (operator["type"], operator["preferredUsername"]) == ("Person", "bob")
    assert "attributedTo" not in await ap_get(client, "/users/alice")


async def test_a_new_image_gets_a_new_url_and_old_urls_keep_working(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str], bob: dict[str, str]
) -> None:
    first, second = coloured_png((10, 20, 30)), coloured_png((200, 100, 50))

    async def put(which: str, data: bytes, who: dict[str, str], **params: str) -> None:
        r = await client.put(
            f"{API}/profile/{which}",
            headers=who,
            params=params,
            files={"file": ("i.png", data, "image/png")},
        )
        assert r.status_code == 200, r.text

    await put("avatar", first, alice)
    await put("header", first, alice)
    doc = await ap_get(client, "/users/alice")
    old_icon, old_image = doc["icon"]["url"], doc["image"]["url"]
    assert old_icon == f"{BASE}{API}/actors/alice/avatar?v={image_version(first)}"
    assert old_image == f"{BASE}{API}/actors/alice/header?v={image_version(first)}"
    await put("avatar", second, alice)
    doc = await ap_get(client, "/users/alice")
    assert doc["icon"]["url"] == f"{BASE}{API}/actors/alice/avatar?v={image_version(second)}"
    assert doc["image"]["url"] == old_image  # the header did not change
    # The old address (and the plain one) still answer, with the current image.
    for url in (old_icon, f"{BASE}{API}/actors/alice/avatar", doc["icon"]["url"]):
        r = await client.get(path_of(url))
        assert r.status_code == 200 and r.content == second, url
    # The same image again keeps its address: nothing to refetch.
    await put("avatar", second, alice)
    assert (await ap_get(client, "/users/alice"))["icon"]["url"] == doc["icon"]["url"]
    # A character's avatar (its card's) is versioned the same way.
    handle = await character(client, bob, "Robo Rita")
    await put("avatar", first, bob, **{"as": handle})
    icon = (await ap_get(client, f"/users/{handle}"))["icon"]["url"]
    assert icon == f"{BASE}{API}/actors/{handle}/avatar?v={image_version(first)}"
    await put("avatar", second, bob, **{"as": handle})
    changed = (await ap_get(client, f"/users/{handle}"))["icon"]["url"]
    assert changed != icon and changed.endswith(image_version(second))


async def test_quotes_carry_fep_044f_with_a_context_that_defines_them(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    original = await post(client, alice, "the original")
    quoting = await post(client, alice, "look at this", quote_of_id=original)
    note = await ap_get(client, f"/users/alice/statuses/{quoting}")
    quoted = f"{BASE}/users/alice/statuses/{original}"
    for term in ("quote", "quoteUrl", "quoteUri", "_misskey_quote"):
        assert note[term] == quoted, term
    terms = {k: v for part in note["@context"] if isinstance(part, dict) for k, v in part.items()}
    assert terms["quote"] == {"@id": "https://w3id.org/fep/044f#quote", "@type": "@id"}
    assert terms["quoteUrl"] == "as:quoteUrl"
    assert terms["_misskey_quote"] == "https://misskey-hub.net/ns#_misskey_quote"
    assert terms["quoteUri"] == "http://fedibird.com/ns#quoteUri"
    assert "quote" not in await ap_get(client, f"/users/alice/statuses/{original}")


async def test_nodeinfo_counts_only_this_servers_people_and_posts(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    await post(client, alice, "mine")
    async with app.state.personae.sessions() as session:
        public_pem = generate_key_pair()[1]
        uri = "https://remote.example/users/zed"
        stranger, _ = await store(
            session,
            ParsedActor(
                uri=uri,
                actor_type="Person",
                username="zed",
                domain="remote.example",
                name="Zed",
                bio="",
                inbox=f"{uri}/inbox",
                shared_inbox="https://remote.example/inbox",
                outbox="",
                followers_url="",
                url="",
                avatar_url="",
                key_id=f"{uri}#main-key",
                public_key_pem=public_pem,
                locked=False,
            ),
        )
        # A post of its, stored here as the inbox stores one, counted on its actor.
        post_id = new_id()
        session.add(
            Post(
                id=post_id,
                author_id=stranger.id,
                text="from afar",
                content_html="<p>from afar</p>",
                visibility="public",
                origin_author_id=stranger.id,
                search_key=search_key(post_id),
                root_id=post_id,
                uri=f"https://remote.example/notes/{post_id}",
            )
        )
        remote_row = await session.get(Actor, stranger.id)
        assert remote_row is not None
        remote_row.posts_count = 3
        await session.commit()
    for version in ("2.1", "2.0"):
        r = await client.get(f"/nodeinfo/{version}")
        assert r.status_code == 200
        assert f"nodeinfo.diaspora.software/ns/schema/{version}" in r.headers["content-type"]
        info = r.json()
        assert info["version"] == version
        assert info["usage"]["users"] == {"total": 1, "activeMonth": 1, "activeHalfyear": 1}
        assert info["usage"]["localPosts"] == 1


async def test_host_meta_and_both_nodeinfo_schemas_are_linked(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    template = f"{BASE}/.well-known/webfinger?resource={{uri}}"
    r = await client.get("/.well-known/host-meta")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xrd+xml")
    root = ElementTree.fromstring(r.content)
    (link,) = root.findall("{http://docs.oasis-open.org/ns/xri/xrd-1.0}Link")
    assert (link.get("rel"), link.get("template")) == ("lrdd", template)
    r = await client.get("/.well-known/host-meta.json")
    assert r.status_code == 200 and r.json() == {"links": [{"rel": "lrdd", "template": template}]}
    # The template leads to WebFinger.
    found = await client.get(path_of(template.replace("{uri}", f"acct:alice@{DOMAIN}")))
    assert found.status_code == 200 and found.json()["subject"] == f"acct:alice@{DOMAIN}"
    links = (await client.get("/.well-known/nodeinfo")).json()["links"]
    assert {link["rel"]: link["href"] for link in links} == {
        "http://nodeinfo.diaspora.software/ns/schema/2.1": f"{BASE}/nodeinfo/2.1",
        "http://nodeinfo.diaspora.software/ns/schema/2.0": f"{BASE}/nodeinfo/2.0",
    }


async def test_a_browser_at_an_actor_or_note_id_is_sent_to_its_page(
    db_kind: str, client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    post_id = await post(client, alice, "hello")
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    r = await client.get("/users/alice", headers=browser)
    assert r.status_code == 302 and r.headers["location"] == f"{BASE}/@alice"
    assert "Accept" in r.headers["vary"]
    r = await client.get(f"/users/alice/statuses/{post_id}", headers=browser)
    assert r.status_code == 302 and r.headers["location"] == f"{BASE}/@alice/{post_id}"
    # Servers (and clients that say nothing particular) still get the JSON there.
    for accept in (AP, "*/*", "application/json", "text/html;q=0.5, application/activity+json"):
        r = await client.get("/users/alice", headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(AP), accept
        # The answer varies by Accept (and by Accept-Encoding once compression is on).
        assert "Accept" in [v.strip() for v in r.headers["vary"].split(",")]
    assert (await client.get("/users/nobody", headers=browser)).status_code == 404
    assert wants_html("text/html") and not wants_html("*/*") and not wants_html("")
