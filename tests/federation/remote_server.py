"""A real HTTP server on loopback playing another fediverse server in tests.

It serves actor documents (with keys the test generated), followers collections and
WebFinger, answers 410 for actors marked gone, and records what it is sent. Tests sign
activities as its actors with `RemoteServer.signed` and post them to our inbox.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from personae.app import create_app
from personae.federation.httpsig import Dialect, dialect_of, sign
from personae.federation.signatures import generate_key_pair
from personae.llm.registry import BackendRegistry
from tests.conftest import make_settings, migrated_engine, wipe

AP = "application/activity+json"
AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"
_counter = itertools.count()


@dataclass
class RemoteActor:
    """One actor on the remote server."""

    server: RemoteServer
    name: str
    private_pem: str
    public_pem: str
    display_name: str = ""
    locked: bool = False
    gone: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # "mastodon": the key is `actor#main-key`, inside the actor document. "gotosocial":
    # the key is `actor/main-key`, served as a stub of the actor (its id is the actor's)
    # with a type; "gotosocial-untyped": the same stub without one.
    key_style: str = "mastodon"

    @property
    def id(self) -> str:
        """The actor's ActivityPub id."""
        return f"{self.server.url}/users/{self.name}"

    @property
    def key_id(self) -> str:
        """Its key's id."""
        if self.key_style.startswith("gotosocial"):
            return f"{self.id}/main-key"
        return f"{self.id}#main-key"

    def key_stub(self) -> dict[str, Any]:
        """What GoToSocial serves at the key id: the actor's id and key, nothing else."""
        stub: dict[str, Any] = {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.id,
            "publicKey": {"id": self.key_id, "owner": self.id, "publicKeyPem": self.public_pem},
        }
        if self.key_style == "gotosocial":
            stub["type"] = "Person"
        return stub

    @property
    def followers(self) -> str:
        """Its followers collection."""
        return f"{self.id}/followers"

    @property
    def handle(self) -> str:
        """How our instance names it: user@host:port."""
        return f"{self.name}@{self.server.host}"

    def document(self) -> dict[str, Any]:
        """The actor document the server serves."""
        return {
            "@context": [AS, "https://w3id.org/security/v1"],
            "id": self.id,
            "type": "Person",
            "preferredUsername": self.name,
            "name": self.display_name or self.name.title(),
            "summary": "<p>A remote person.</p>",
            "inbox": f"{self.id}/inbox",
            "outbox": f"{self.id}/outbox",
            "followers": self.followers,
            "endpoints": {"sharedInbox": f"{self.server.url}/inbox"},
            "manuallyApprovesFollowers": self.locked,
            "publicKey": {"id": self.key_id, "owner": self.id, "publicKeyPem": self.public_pem},
            **self.extra,
        }

    def rotate_key(self) -> None:
        """Give the actor a new key (the old one stops verifying)."""
        self.private_pem, self.public_pem = generate_key_pair()

    def new_id(self, kind: str = "activities") -> str:
        """A fresh id on the actor's server, under the actor."""
        return f"{self.id}/{kind}/{next(_counter)}"

    def activity(self, kind: str, obj: Any, **extra: Any) -> dict[str, Any]:
        """An activity by this actor."""
        return {
            "@context": AS,
            "id": self.new_id(),
            "type": kind,
            "actor": self.id,
            "object": obj,
            **extra,
        }

    def note(self, content: str, **extra: Any) -> dict[str, Any]:
        """A public Note by this actor."""
        return {
            "id": self.new_id("statuses"),
            "type": "Note",
            "attributedTo": self.id,
            "content": content,
            "to": [PUBLIC],
            "cc": [self.followers],
            **extra,
        }

    def create(self, note: dict[str, Any]) -> dict[str, Any]:
        """The Create of a note."""
        return self.activity("Create", note, to=note.get("to", []), cc=note.get("cc", []))


class _Handler(BaseHTTPRequestHandler):
    server_ref: RemoteServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any] | None = None, ctype: str = AP) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        remote = self.server_ref
        remote.fetched.append(self.path)
        remote.fetched_headers.append({k.lower(): v for k, v in self.headers.items()})
        if remote.fetch_dialects is not None and (
            dialect_of({k.lower(): v for k, v in self.headers.items()}) not in remote.fetch_dialects
        ):
            self._send(401)
            return
        parts = urlsplit(self.path)
        segments = parts.path.strip("/").split("/")
        if parts.path == "/.well-known/webfinger":
            resource = parse_qs(parts.query).get("resource", [""])[0]
            name = resource.removeprefix("acct:").split("@")[0]
            actor = remote.actors.get(name)
            if actor is None:
                self._send(404)
                return
            links = [{"rel": "self", "type": AP, "href": actor.id}]
            self._send(200, {"subject": resource, "links": links}, "application/jrd+json")
            return
        if len(segments) >= 2 and segments[0] == "users" and segments[1] in remote.actors:
            actor = remote.actors[segments[1]]
            if actor.gone:
                self._send(410)
            elif len(segments) == 2:
                self._send(200, actor.document())
            elif segments[2:] == ["main-key"] and actor.key_style.startswith("gotosocial"):
                self._send(200, actor.key_stub())
            elif segments[2:] == ["followers"]:
                self._send(200, {"id": actor.followers, "type": "OrderedCollection"})
            else:
                self._send(404)
            return
        self._send(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server_ref.received.append({"path": self.path, "body": body, "headers": headers})
        self._send(202)


class RemoteServer:
    """A ThreadingHTTPServer on a free loopback port with a few actors."""

    def __init__(self) -> None:
        self.actors: dict[str, RemoteActor] = {}
        self.fetched: list[str] = []
        self.fetched_headers: list[dict[str, str]] = []
        self.received: list[dict[str, Any]] = []
        # The signature dialects its GETs accept (None: any request, signed or not).
        self.fetch_dialects: set[str] | None = None
        handler = type("BoundHandler", (_Handler,), {"server_ref": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.host}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> RemoteServer:
        """Serve in a thread."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()

    def actor(self, name: str, **options: Any) -> RemoteActor:
        """Add an actor with a fresh key."""
        private_pem, public_pem = generate_key_pair()
        actor = RemoteActor(self, name, private_pem, public_pem, **options)
        self.actors[name] = actor
        return actor


def stranger(base_url: str, name: str) -> RemoteActor:
    """An actor of a server we do not run: nothing answers for it, or its host is unknown."""
    # No socket: only the addresses are needed, to sign and to name the actor.
    server = RemoteServer.__new__(RemoteServer)
    server.url = base_url
    server.host = urlsplit(base_url).netloc
    server.actors, server.fetched, server.received = {}, [], []
    server.fetched_headers, server.fetch_dialects = [], None
    private_pem, public_pem = generate_key_pair()
    return RemoteActor(server, name, private_pem, public_pem)


def signed(
    url: str,
    body: bytes,
    key_id: str,
    private_pem: str,
    *,
    now: datetime | None = None,
    dialect: Dialect = "cavage",
) -> dict[str, str]:
    """Headers of a signed POST of `body` to `url` (as a remote server sends it)."""
    headers = sign("POST", url, {}, body, key_id, private_pem, dialect=dialect, now=now)
    return {**headers, "Content-Type": AP}


# --- our side: an app that federates with the remote server ---------------------------

BASE = "https://social.example"
API = "/api/v1"
TABLES = (
    "posts",
    "follows",
    "likes",
    "blocks",
    "notifications",
    "inbound_activities",
    "remote_actors",
    "actors",
    "outbound_events",
    "post_edits",
    "peer_servers",
)


@asynccontextmanager
async def federated_app(
    db_kind: str, tmp_root: Path, registry: BackendRegistry, **settings: Any
) -> AsyncIterator[FastAPI]:
    """The app on a clean database, public at BASE, allowed to reach loopback peers."""
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    options: dict[str, Any] = {"base_url": BASE + "/", "federation_allow_private_addresses": True}
    config = make_settings(tmp_root, url, **{**options, **settings})
    application = create_app(config, backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """An in-process client that reaches the app as BASE (so signed Host headers match)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def deliver(
    client: httpx.AsyncClient,
    actor: RemoteActor,
    activity: dict[str, Any],
    path: str = "/inbox",
    *,
    key_id: str | None = None,
    private_pem: str | None = None,
    now: datetime | None = None,
    dialect: Dialect = "cavage",
) -> httpx.Response:
    """POST an activity to one of our inboxes, signed as `actor` (or with the key given)."""
    body = json.dumps(activity).encode()
    headers = signed(
        BASE + path,
        body,
        key_id or actor.key_id,
        private_pem or actor.private_pem,
        now=now,
        dialect=dialect,
    )
    return await client.post(path, content=body, headers=headers)


async def counts(app: FastAPI) -> dict[str, int]:
    """Rows in the tables an inbound activity may touch."""
    async with app.state.personae.sessions() as session:
        found = {}
        for table in TABLES:
            found[table] = int(
                (await session.execute(text(f'SELECT COUNT(*) FROM "{table}"'))).scalar_one()
            )
        return found


async def introduce(client: httpx.AsyncClient, actor: RemoteActor) -> None:
    """Make our side fetch and store `actor`: a signed Like of a post we never had (ignored)."""
    r = await deliver(client, actor, actor.activity("Like", actor.new_id("statuses")))
    assert r.status_code == 202, r.text
