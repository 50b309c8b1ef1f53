"""Remote actors from here: look one up on a real server, follow it, mention it, show it.

The remote server is a real HTTP server on loopback serving WebFinger and an actor
document (the app allows private addresses for it, as in test_fetch). Every test that
takes `db_kind` runs on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select

from personae.app import create_app
from personae.federation import outbound
from personae.federation.context import Federation
from personae.federation.models import Delivery, InstanceKey, RemoteActor
from personae.federation.signatures import generate_key_pair, verify_request
from personae.federation.urls import Urls
from personae.llm.registry import BackendRegistry
from personae.social.models import Actor, Follow, PostMention
from tests.conftest import free_port, make_settings, migrated_engine, sign_up, wipe

API = "/api/v1"
BASE = "https://social.example"
FEDERATION = Federation(urls=Urls.from_base(BASE), allow_private=True, timeout_s=5.0)
SAME = {"Origin": "http://testserver"}
_, PUBLIC_PEM = generate_key_pair()


class RemoteServer:
    """Another server on loopback: WebFinger for `bob` and `liar`, and their documents."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append({"path": self.path, "headers": dict(self.headers.items())})
                status, body = server.answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.domain = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.domain}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def actor(self, name: str) -> dict[str, Any]:
        uri = f"{self.url}/users/{name}"
        return {
            "@context": ["https://www.w3.org/ns/activitystreams"],
            "id": uri if name != "liar" else f"{self.url}/users/someone-else",
            "type": "Person",
            "preferredUsername": name,
            "name": f"{name.title()} Remote",
            "summary": "<p>I live <b>elsewhere</b>.</p>",
            "inbox": f"{uri}/inbox",
            "outbox": f"{uri}/outbox",
            "followers": f"{uri}/followers",
            "url": f"{self.url}/@{name}",
            "endpoints": {"sharedInbox": f"{self.url}/inbox"},
            "manuallyApprovesFollowers": False,
            "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": PUBLIC_PEM},
        }

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        if parts.path == "/.well-known/webfinger":
            resource = parse_qs(parts.query).get("resource", [""])[0]
            user = resource.removeprefix("acct:").split("@", 1)[0]
            if user not in ("bob", "liar") or resource != f"acct:{user}@{self.domain}":
                return 404, {}
            return 200, {
                "subject": resource,
                "links": [
                    {
                        "rel": "self",
                        "type": "application/activity+json",
                        "href": f"{self.url}/users/{user}",
                    }
                ],
            }
        if parts.path in ("/users/bob", "/users/liar"):
            return 200, self.actor(parts.path.rsplit("/", 1)[1])
        return 404, {}


@pytest.fixture(scope="module")
def server() -> Iterator[RemoteServer]:
    srv = RemoteServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def remote_server(server: RemoteServer) -> RemoteServer:
    server.seen.clear()
    return server


@pytest_asyncio.fixture
async def app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> AsyncIterator[FastAPI]:
    """The app on a clean database, allowed to reach servers on loopback."""
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    settings = make_settings(
        tmp_root,
        url,
        base_url=BASE + "/",
        federation_allow_private_addresses=True,
        federation_fetch_timeout_s=5.0,
    )
    application = create_app(settings, backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


async def counts(app: FastAPI) -> tuple[int, int]:
    """How many actors and remote actors are stored."""
    async with app.state.personae.sessions() as session:
        actors = await session.scalar(select(func.count()).select_from(Actor))
        remotes = await session.scalar(select(func.count()).select_from(RemoteActor))
        return int(actors or 0), int(remotes or 0)


async def lookup(client: httpx.AsyncClient, acct: str, who: dict[str, str]) -> httpx.Response:
    return await client.get(f"{API}/actors/lookup", params={"acct": acct}, headers=who)


# --- the API -------------------------------------------------------------------------------


async def test_look_up_a_remote_account_and_follow_it(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, remote_server: RemoteServer
) -> None:
    alice = await sign_up(client, "alice")
    handle = f"bob@{remote_server.domain}"
    r = await lookup(client, f"@{handle}", alice)
    assert r.status_code == 200, r.text
    bob = r.json()
    assert bob["handle"] == handle and bob["domain"] == remote_server.domain
    assert bob["display_name"] == "Bob Remote" and bob["bio"] == "I live elsewhere."
    assert bob["url"] == f"/@{handle}" and bob["is_ai"] is False
    assert bob["relationship"]["following"] is False
    # WebFinger, then the actor document; both fetches signed by the instance actor.
    paths = [seen["path"] for seen in remote_server.seen]
    assert paths[0].startswith("/.well-known/webfinger?resource=acct:bob@")
    assert paths[-1] == "/users/bob"
    async with app.state.personae.sessions() as session:
        key = await session.get(InstanceKey, "instance")
        assert key is not None
    for seen in remote_server.seen:
        key_id = verify_request(
            "GET", seen["path"], seen["headers"], b"", key.public_pem, max_skew_s=60
        )
        assert key_id == f"{BASE}/actor#main-key"
    # Looking it up again finds the same actor (no second row).
    again = await lookup(client, handle, alice)
    assert again.status_code == 200 and again.json()["id"] == bob["id"]
    assert await counts(app) == (2, 1)

    r = await client.post(f"{API}/actors/{handle}/follow", headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending"
    assert r.json()["actor"]["relationship"]["requested"] is True
    assert await outbound.expand_due(app.state.personae.sessions, FEDERATION) == 1
    async with app.state.personae.sessions() as session:
        row = await session.scalar(select(Follow))
        delivery = await session.scalar(select(Delivery))
    assert row is not None and row.state == "pending" and row.followee_id == bob["id"]
    assert delivery is not None
    assert delivery.inbox == f"{remote_server.url}/users/bob/inbox"
    assert delivery.sender_id == row.follower_id and delivery.state == "pending"
    body = json.loads(delivery.body)
    assert body == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": row.uri,
        "type": "Follow",
        "actor": f"{BASE}/users/alice",
        "object": f"{remote_server.url}/users/bob",
    }
    assert delivery.activity_id == row.uri == f"{BASE}/users/alice#follows/{row.id}"


async def test_local_addresses_need_no_lookup(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    for acct in ("alice", "@alice", "alice@social.example", "@ALICE@social.example"):
        r = await lookup(client, acct, {})
        assert r.status_code == 200, (acct, r.text)
        assert r.json()["handle"] == "alice" and r.json()["domain"] is None
    assert (await lookup(client, "nobody@social.example", {})).status_code == 404


@pytest.mark.parametrize(
    "acct", ["not an address", "bob@", "@@example.org", "bob@exa mple.org", "a/b@example.org"]
)
async def test_a_malformed_address_is_422_and_stores_nothing(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, acct: str
) -> None:
    alice = await sign_up(client, "alice")
    r = await lookup(client, acct, alice)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]
    assert await counts(app) == (1, 0)


async def test_unreachable_or_unknown_accounts_are_4xx_and_store_nothing(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, remote_server: RemoteServer
) -> None:
    alice = await sign_up(client, "alice")
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    for acct in (f"ghost@{closed}", "ghost@no-such-host.invalid"):
        r = await lookup(client, acct, alice)
        assert r.status_code == 404, (acct, r.text)
        assert "could not reach" in r.json()["error"]["message"]
    r = await lookup(client, f"nobody@{remote_server.domain}", alice)
    assert r.status_code == 404, r.text
    # An actor document that is not where WebFinger said it was is refused.
    r = await lookup(client, f"liar@{remote_server.domain}", alice)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "bad_remote_actor"
    assert await counts(app) == (1, 0)
    # Following an account never looked up is a plain 404, and sends nothing.
    r = await client.post(f"{API}/actors/ghost@{closed}/follow", headers=alice)
    assert r.status_code == 404
    async with app.state.personae.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 0


async def test_only_members_make_the_server_look_accounts_up(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, remote_server: RemoteServer
) -> None:
    alice = await sign_up(client, "alice")
    handle = f"bob@{remote_server.domain}"
    r = await lookup(client, handle, {})
    assert r.status_code == 401
    assert remote_server.seen == [] and await counts(app) == (1, 0)
    assert (await lookup(client, handle, alice)).status_code == 200
    # Once known, anyone may see the profile, without another fetch.
    remote_server.seen.clear()
    r = await client.get(f"{API}/actors/{handle}")
    assert r.status_code == 200 and r.json()["handle"] == handle
    assert remote_server.seen == []


# --- mentions ------------------------------------------------------------------------------


async def test_a_post_mentions_a_known_remote_account(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, remote_server: RemoteServer
) -> None:
    alice = await sign_up(client, "alice")
    handle = f"bob@{remote_server.domain}"
    bob_id = (await lookup(client, handle, alice)).json()["id"]
    r = await client.post(
        f"{API}/posts", headers=alice, json={"text": f"hi @{handle} and @zed@unknown.example"}
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["mentions"] == [{"id": bob_id, "handle": handle}]
    assert f'<a href="/@{handle}" class="mention">@{handle}</a>' in post["content_html"]
    assert "@zed@unknown.example" in post["content_html"]
    assert "/@zed" not in post["content_html"]
    async with app.state.personae.sessions() as session:
        mentioned = await session.scalars(
            select(PostMention.actor_id).where(PostMention.post_id == post["id"])
        )
        assert list(mentioned) == [bob_id]
    # The Create goes to bob, who is addressed, and names him by his own id.
    await outbound.expand_due(app.state.personae.sessions, FEDERATION)
    async with app.state.personae.sessions() as session:
        delivery = await session.scalar(select(Delivery))
    assert delivery is not None and delivery.inbox == f"{remote_server.url}/inbox"
    note = json.loads(delivery.body)["object"]
    assert f"{remote_server.url}/users/bob" in note["cc"]
    assert f'href="{remote_server.url}/@bob"' in note["content"]


# --- the web pages -------------------------------------------------------------------------


async def test_explore_finds_a_remote_account_to_open_and_follow(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, remote_server: RemoteServer
) -> None:
    alice = await sign_up(client, "alice")
    handle = f"bob@{remote_server.domain}"
    dom = "bob-127-0-0-1-" + remote_server.domain.rsplit(":", 1)[1]
    page = await client.get("/explore", params={"q": f"@{handle}"}, headers=alice)
    assert page.status_code == 200, page.text
    assert f'href="/@{handle}"' in page.text and "Bob Remote" in page.text
    assert f'id="follow-{dom}"' in page.text
    assert f'hx-target="#follow-{dom}"' in page.text
    # htmx asks for the results only, as the search box does while typing.
    part = await client.get(
        "/explore", params={"q": handle}, headers={**alice, "HX-Request": "true"}
    )
    assert "<html" not in part.text and f'href="/@{handle}"' in part.text

    r = await client.post(
        f"/@{handle}/follow",
        headers={**alice, **SAME, "HX-Request": "true"},
        data={"part": "follow"},
    )
    assert r.status_code == 200, r.text
    assert "Requested" in r.text and f'id="follow-{dom}"' in r.text
    async with app.state.personae.sessions() as session:
        row = await session.scalar(select(Follow))
        assert row is not None and row.state == "pending"

    # A visitor does not make the server fetch anything, and learns why.
    missing = await client.get("/explore", params={"q": f"carol@{remote_server.domain}"})
    assert missing.status_code == 200 and "Log in to look up accounts" in missing.text
    failed = await client.get("/explore", params={"q": "ghost@no-such-host.invalid"}, headers=alice)
    assert failed.status_code == 200 and "Could not find ghost@no-such-host.invalid" in failed.text


async def test_a_remote_profile_page_shows_where_it_lives_and_no_chat(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, remote_server: RemoteServer
) -> None:
    alice = await sign_up(client, "alice")
    handle = f"bob@{remote_server.domain}"
    assert (await lookup(client, handle, alice)).status_code == 200
    page = await client.get(f"/@{handle}", headers=alice)
    assert page.status_code == 200, page.text
    assert f"@{handle}" in page.text and "Bob Remote" in page.text
    assert f"This account lives on {remote_server.domain}" in page.text
    assert f'href="{remote_server.url}/@bob"' in page.text
    assert "/chat/new" not in page.text and ">Follow<" in page.text
    # Addresses are case-insensitive: the canonical one is the stored handle.
    r = await client.get(f"/@BOB@{remote_server.domain}", headers=alice)
    assert r.status_code in (301, 302, 307, 308) and r.headers["location"] == f"/@{handle}"
