"""Outbound events: what each local action records, the activity it becomes, its inboxes.

Remote actors are stored the way a fetch stores them (`remote.store`, real keys); remote
actors act through the social services with a Viewer of their own, as the inbox does.
Every test that takes `db_kind` runs on SQLite and (when configured) PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from personae.app import create_app
from personae.db import new_id, transaction
from personae.federation import activities_out, outbound
from personae.federation.context import Federation
from personae.federation.fetch import FetchError
from personae.federation.models import Delivery, OutboundEvent, RemoteActor
from personae.federation.notes import PUBLIC
from personae.federation.remote import ParsedActor, store
from personae.federation.signatures import generate_key_pair
from personae.federation.urls import Urls
from personae.llm.registry import BackendRegistry
from personae.social import graph, posts
from personae.social.access import Viewer
from personae.social.actors import search_key
from personae.social.models import Actor, Block, Follow, Post
from tests.conftest import make_settings, migrated_engine, sign_up, wipe

API = "/api/v1"
BASE = "https://social.example"
URLS = Urls.from_base(BASE)
FEDERATION = Federation(urls=URLS)
_, PUBLIC_PEM = generate_key_pair()


@pytest_asyncio.fixture
async def app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> AsyncIterator[FastAPI]:
    """The app on a clean database, with a public https base URL."""
    url, engine = await migrated_engine(db_kind, tmp_root)
    await wipe(engine)
    settings = make_settings(tmp_root, url, base_url=BASE + "/")
    application = create_app(settings, backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


def sessions(app: FastAPI) -> Any:
    return app.state.personae.sessions


async def remote(
    app: FastAPI, name: str, domain: str, shared: bool = True, locked: bool = False
) -> Actor:
    """Store a remote actor as a fetch would (its actors row is returned)."""
    uri = f"https://{domain}/users/{name}"
    parsed = ParsedActor(
        uri=uri,
        actor_type="Person",
        username=name,
        domain=domain,
        name=name.title(),
        bio="",
        inbox=f"{uri}/inbox",
        shared_inbox=f"https://{domain}/inbox" if shared else "",
        outbox=f"{uri}/outbox",
        followers_url=f"{uri}/followers",
        url=f"https://{domain}/@{name}",
        avatar_url="",
        key_id=f"{uri}#main-key",
        public_key_pem=PUBLIC_PEM,
        locked=locked,
    )
    async with transaction(sessions(app)) as session:
        actor, _ = await store(session, parsed)
        return actor


async def as_remote(session: AsyncSession, actor: Actor) -> Viewer:
    """The Viewer the inbox acts with for a remote actor."""
    found = await session.get(Actor, actor.id)
    assert found is not None
    return Viewer(actor=found, identities=(found.id,))


async def remote_follows(app: FastAPI, follower: Actor, handle: str) -> Follow:
    """A remote actor follows a local one, through the graph service as the inbox would."""
    async with transaction(sessions(app)) as session:
        viewer = await as_remote(session, follower)
        return await graph.follow(
            session, viewer, handle, uri=f"https://{follower.domain}/follows/{follower.id}"
        )


async def remote_post(app: FastAPI, author: Actor, text: str = "from afar") -> Post:
    """A post a remote server delivered (its `uri` set), stored as the inbox stores it."""
    post_id = new_id()
    async with sessions(app)() as session:
        post = Post(
            id=post_id,
            author_id=author.id,
            text=text,
            content_html=f"<p>{text}</p>",
            visibility="public",
            origin_author_id=author.id,
            search_key=search_key(post_id),
            root_id=post_id,
            uri=f"https://{author.domain}/notes/{post_id}",
            url=f"https://{author.domain}/@{author.handle}/{post_id}",
        )
        session.add(post)
        await session.commit()
        return post


async def events(app: FastAPI) -> list[tuple[str, str | None]]:
    async with sessions(app)() as session:
        rows = await session.scalars(select(OutboundEvent).order_by(OutboundEvent.id))
        return [(e.kind, e.subject_id) for e in rows]


async def expand(app: FastAPI) -> list[tuple[dict[str, Any], set[str], str | None]]:
    """Expand every pending event; the activities queued (body, inboxes, sender), in order.

    The deliveries are taken off the table, so each call sees only what it queued.
    """
    await outbound.expand_due(sessions(app), FEDERATION, 100)
    async with sessions(app)() as session:
        assert await session.scalar(select(func.count()).select_from(OutboundEvent)) == 0
        rows = list(await session.scalars(select(Delivery).order_by(Delivery.id)))
        out: dict[str, tuple[dict[str, Any], set[str], str | None]] = {}
        for row in rows:
            body = json.loads(row.body)
            assert body["id"] == row.activity_id
            out.setdefault(row.activity_id, (body, set(), row.sender_id))[1].add(row.inbox)
            await session.delete(row)
        await session.commit()
    return list(out.values())


async def one(app: FastAPI) -> tuple[dict[str, Any], set[str], str | None]:
    queued = await expand(app)
    assert len(queued) == 1, [q[0]["type"] for q in queued]
    return queued[0]


async def actor_id(client: httpx.AsyncClient, who: dict[str, str]) -> str:
    r = await client.get(f"{API}/profile", headers=who)
    return str(r.json()["id"])


async def write(client: httpx.AsyncClient, who: dict[str, str], text: str, **extra: Any) -> str:
    r = await client.post(f"{API}/posts", headers=who, json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# --- local-only instances ----------------------------------------------------------------


async def test_a_local_only_instance_records_nothing(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = app.state.personae.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        alice = await sign_up(client, "alice")
        bob = await sign_up(client, "bob")
        post_id = await write(client, alice, "hello @bob #tag")
        r = await client.patch(f"{API}/posts/{post_id}", headers=alice, json={"text": "hi @bob"})
        assert r.status_code == 200
        for verb in ("post", "delete", "post"):
            r = await client.request(verb, f"{API}/posts/{post_id}/like", headers=bob)
            assert r.status_code == 200
        assert (await client.post(f"{API}/posts/{post_id}/repost", headers=bob)).is_success
        assert (await client.delete(f"{API}/posts/{post_id}/repost", headers=bob)).is_success
        assert (await client.post(f"{API}/actors/alice/follow", headers=bob)).status_code == 200
        assert (await client.delete(f"{API}/actors/alice/follow", headers=bob)).is_success
        assert (await client.patch(f"{API}/profile", headers=alice, json={"bio": "x"})).is_success
        assert (await client.delete(f"{API}/posts/{post_id}", headers=alice)).status_code == 204
        assert (await client.post(f"{API}/actors/bob/block", headers=alice)).status_code == 204
        assert (await client.delete(f"{API}/actors/bob/block", headers=alice)).status_code == 204
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # Taking things back costs nothing either: no event is looked for or deleted.
    assert statements and not [s for s in statements if "outbound_events" in s]
    assert await events(app) == []
    assert await expand(app) == []


# --- posts ---------------------------------------------------------------------------------


async def test_a_post_goes_to_remote_followers_and_mentioned_actors(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    dave = await remote(app, "dave", "b.example", shared=False)
    erin = await remote(app, "erin", "c.example")
    await remote(app, "frank", "d.example")
    for follower in (carol, dave, erin):
        row = await remote_follows(app, follower, "alice")
        assert row.state == "accepted"
    async with sessions(app)() as session:
        gone = await session.get(RemoteActor, erin.id)
        assert gone is not None
        gone.gone = True
        await session.commit()
    await expand(app)  # the three Accepts (tested below)

    post_id = await write(client, alice, "hi @frank@d.example and @nobody@e.example #fedi")
    activity, inboxes, sender = await one(app)
    assert sender == await actor_id(client, alice)
    assert inboxes == {
        "https://a.example/inbox",  # carol's server's shared inbox
        "https://b.example/users/dave/inbox",  # dave has no shared inbox
        "https://d.example/inbox",  # frank is mentioned
    }
    note_id = f"{BASE}/users/alice/statuses/{post_id}"
    assert activity["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert activity["type"] == "Create"
    assert activity["id"] == f"{note_id}/activity"
    assert activity["actor"] == f"{BASE}/users/alice"
    note = activity["object"]
    assert note["id"] == note_id and note["type"] == "Note"
    assert note["to"] == [PUBLIC]
    assert note["cc"] == [f"{BASE}/users/alice/followers", "https://d.example/users/frank"]
    assert {
        "type": "Mention",
        "href": "https://d.example/users/frank",
        "name": "@frank@d.example",
    } in note["tag"]
    assert {"type": "Hashtag", "href": f"{BASE}/tags/fedi", "name": "#fedi"} in note["tag"]
    # The mention links to frank's own page; the unknown account stays plain text.
    assert 'href="https://d.example/@frank"' in note["content"]
    assert "@nobody@e.example" in note["content"] and "e.example/" not in note["content"]


async def test_direct_posts_go_only_to_those_addressed(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote(app, "frank", "d.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    await write(client, alice, "@frank@d.example a secret", visibility="direct")
    activity, inboxes, _ = await one(app)
    assert inboxes == {"https://d.example/inbox"}
    frank_uri = "https://d.example/users/frank"
    assert activity["to"] == activity["object"]["to"] == [frank_uri]
    assert activity["object"]["cc"] == []

    await write(client, alice, "for followers only", visibility="followers")
    activity, inboxes, _ = await one(app)
    assert inboxes == {"https://a.example/inbox"}
    assert activity["object"]["to"] == [f"{BASE}/users/alice/followers"]
    assert PUBLIC not in activity["object"]["cc"]


async def test_a_reply_to_a_remote_post_names_it_and_reaches_its_author(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    gus = await remote(app, "gus", "g.example", shared=False)
    parent = await remote_post(app, gus)
    reply_id = await write(client, alice, "nice one", in_reply_to_id=parent.id)
    activity, inboxes, _ = await one(app)
    note = activity["object"]
    assert note["inReplyTo"] == parent.uri
    assert note["id"] == f"{BASE}/users/alice/statuses/{reply_id}"
    assert inboxes == {"https://g.example/users/gus/inbox"}
    assert "https://g.example/users/gus" in note["cc"]


async def test_edit_sends_an_update_and_delete_a_tombstone(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote(app, "frank", "d.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    post_id = await write(client, alice, "first @frank@d.example", visibility="unlisted")
    assert (await one(app))[0]["type"] == "Create"

    r = await client.patch(f"{API}/posts/{post_id}", headers=alice, json={"text": "second"})
    assert r.status_code == 200, r.text
    activity, inboxes, _ = await one(app)
    note_id = f"{BASE}/users/alice/statuses/{post_id}"
    assert activity["type"] == "Update"
    assert activity["id"].startswith(f"{note_id}#updates/")
    assert activity["object"]["content"] == "<p>second</p>"
    assert activity["object"]["updated"]
    # Still addressed to frank: the mention row outlives the edit that dropped the name.
    assert inboxes == {"https://a.example/inbox", "https://d.example/inbox"}

    assert (await client.delete(f"{API}/posts/{post_id}", headers=alice)).status_code == 204
    activity, inboxes, _ = await one(app)
    assert activity == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{note_id}#delete",
        "type": "Delete",
        "actor": f"{BASE}/users/alice",
        "to": [f"{BASE}/users/alice/followers"],
        "cc": [PUBLIC, "https://d.example/users/frank"],
        "object": {"id": note_id, "type": "Tombstone"},
    }
    assert inboxes == {"https://a.example/inbox", "https://d.example/inbox"}


async def test_a_post_deleted_before_it_was_sent_sends_nothing(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    post_id = await write(client, alice, "oops")
    r = await client.patch(f"{API}/posts/{post_id}", headers=alice, json={"text": "oops!"})
    assert r.status_code == 200
    assert await events(app) == [("post.created", post_id)]  # the edit rides on the Create
    assert (await client.delete(f"{API}/posts/{post_id}", headers=alice)).status_code == 204
    assert await events(app) == []
    assert await expand(app) == []


async def test_an_event_whose_post_vanished_is_dropped(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A post removed without the service (the account deleted, say) sends nothing."""
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    post_id = await write(client, alice, "soon gone")
    async with sessions(app)() as session:
        post = await session.get(Post, post_id)
        await session.delete(post)
        await session.commit()
    assert await events(app) == [("post.created", post_id)]
    assert await expand(app) == []


# --- likes and reposts -------------------------------------------------------------------


async def test_like_and_unlike_of_a_remote_post(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    gus = await remote(app, "gus", "g.example")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    post = await remote_post(app, gus)
    assert (await client.post(f"{API}/posts/{post.id}/like", headers=alice)).status_code == 200
    like, inboxes, _ = await one(app)
    assert like["type"] == "Like"
    assert like["id"].startswith(f"{BASE}/users/alice#likes/")
    assert like["actor"] == f"{BASE}/users/alice"
    assert like["object"] == post.uri
    assert inboxes == {"https://g.example/users/gus/inbox"}  # the author only, personally

    assert (await client.delete(f"{API}/posts/{post.id}/like", headers=alice)).status_code == 200
    undo, inboxes, _ = await one(app)
    assert undo["type"] == "Undo" and undo["id"] == like["id"] + "/undo"
    assert undo["object"] == {k: v for k, v in like.items() if k != "@context"}
    assert inboxes == {"https://g.example/users/gus/inbox"}

    # Liked and unliked before anything was sent: nothing is.
    assert (await client.post(f"{API}/posts/{post.id}/like", headers=alice)).status_code == 200
    assert (await client.delete(f"{API}/posts/{post.id}/like", headers=alice)).status_code == 200
    assert await expand(app) == []


async def test_liking_a_local_post_tells_no_one(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "bob")
    await expand(app)
    post_id = await write(client, alice, "local", visibility="direct")
    await expand(app)
    post_id = await write(client, alice, "local too")
    await expand(app)
    assert (await client.post(f"{API}/posts/{post_id}/like", headers=bob)).status_code == 200
    assert await events(app) == [("like", post_id)]
    assert await expand(app) == []


async def test_repost_and_unrepost_of_a_remote_post(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    gus = await remote(app, "gus", "g.example", shared=False)
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    post = await remote_post(app, gus)
    r = await client.post(f"{API}/posts/{post.id}/repost", headers=alice)
    assert r.status_code == 201, r.text
    repost_id = r.json()["id"]
    announce, inboxes, _ = await one(app)
    assert announce["type"] == "Announce"
    assert announce["id"] == f"{BASE}/users/alice/statuses/{repost_id}/activity"
    assert announce["object"] == post.uri
    assert announce["to"] == [PUBLIC]
    assert announce["cc"] == ["https://g.example/users/gus", f"{BASE}/users/alice/followers"]
    assert inboxes == {"https://a.example/inbox", "https://g.example/users/gus/inbox"}

    r = await client.delete(f"{API}/posts/{post.id}/repost", headers=alice)
    assert r.status_code == 200, r.text
    undo, inboxes, _ = await one(app)
    assert undo["type"] == "Undo" and undo["object"]["type"] == "Announce"
    assert undo["object"]["id"] == announce["id"] and undo["object"]["object"] == post.uri
    assert inboxes == {"https://a.example/inbox", "https://g.example/users/gus/inbox"}


async def test_each_server_hears_an_activity_once(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A follower and the reposted author on one server: one copy to its shared inbox."""
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    hank = await remote(app, "hank", "a.example")
    await remote(app, "dave", "b.example", shared=False)
    await remote_follows(app, carol, "alice")
    await expand(app)
    post = await remote_post(app, hank)
    r = await client.post(f"{API}/posts/{post.id}/repost", headers=alice)
    assert r.status_code == 201, r.text
    announce, inboxes, _ = await one(app)
    assert announce["type"] == "Announce"
    assert inboxes == {"https://a.example/inbox"}  # not hank's own inbox besides
    assert (await client.delete(f"{API}/posts/{post.id}/repost", headers=alice)).is_success
    undo, inboxes, _ = await one(app)
    assert undo["type"] == "Undo" and inboxes == {"https://a.example/inbox"}
    # A reply to hank mentioning dave: hank's server once, dave's personal inbox.
    await write(client, alice, "@dave@b.example look", in_reply_to_id=post.id)
    create, inboxes, _ = await one(app)
    assert create["type"] == "Create"
    assert inboxes == {"https://a.example/inbox", "https://b.example/users/dave/inbox"}
    # What goes to one actor alone still goes to its own inbox.
    assert (await client.post(f"{API}/posts/{post.id}/like", headers=alice)).is_success
    like, inboxes, _ = await one(app)
    assert like["type"] == "Like" and inboxes == {"https://a.example/users/hank/inbox"}
    async with sessions(app)() as session:
        kept = await activities_out.one_per_server(
            session,
            [
                "https://a.example/users/hank/inbox",
                "https://a.example/inbox",
                "https://b.example/users/dave/inbox",
                "https://a.example/inbox",
                "https://z.example/inbox",
            ],
        )
    assert kept == [
        "https://a.example/inbox",
        "https://b.example/users/dave/inbox",
        "https://z.example/inbox",
    ]


# --- follows -------------------------------------------------------------------------------


async def test_following_a_remote_actor_is_pending_until_accepted(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    gus = await remote(app, "gus", "g.example")
    r = await client.post(f"{API}/actors/gus@g.example/follow", headers=alice)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending"
    assert r.json()["actor"]["relationship"]["requested"] is True
    follow, inboxes, sender = await one(app)
    assert sender == await actor_id(client, alice)
    async with sessions(app)() as session:
        row = await session.scalar(select(Follow).where(Follow.followee_id == gus.id))
        assert row is not None and row.state == "pending"
        # The id minted at expansion is written back, for the Accept to find the row.
        assert row.uri == f"{BASE}/users/alice#follows/{row.id}"
    assert follow == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": row.uri,
        "type": "Follow",
        "actor": f"{BASE}/users/alice",
        "object": "https://g.example/users/gus",
    }
    assert inboxes == {"https://g.example/users/gus/inbox"}

    r = await client.delete(f"{API}/actors/gus@g.example/follow", headers=alice)
    assert r.status_code == 200, r.text
    undo, inboxes, _ = await one(app)
    assert undo["type"] == "Undo" and undo["id"] == f"{row.uri}/undo"
    assert undo["object"]["id"] == row.uri and undo["object"]["type"] == "Follow"
    assert inboxes == {"https://g.example/users/gus/inbox"}

    # Followed and unfollowed before the Follow went out: nothing goes.
    assert (await client.post(f"{API}/actors/gus@g.example/follow", headers=alice)).is_success
    assert (await client.delete(f"{API}/actors/gus@g.example/follow", headers=alice)).is_success
    assert await expand(app) == []


async def test_an_unlocked_actor_accepts_a_remote_follower_at_once(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    row = await remote_follows(app, carol, "alice")
    assert row.state == "accepted"
    accept, inboxes, _ = await one(app)
    assert accept["type"] == "Accept"
    assert accept["actor"] == f"{BASE}/users/alice"
    assert accept["object"] == {
        "id": row.uri,
        "type": "Follow",
        "actor": "https://a.example/users/carol",
        "object": f"{BASE}/users/alice",
    }
    assert inboxes == {"https://a.example/users/carol/inbox"}


async def test_a_locked_actor_accepts_rejects_and_removes_remote_followers(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    r = await client.patch(f"{API}/profile", headers=alice, json={"locked": True})
    assert r.status_code == 200
    carol = await remote(app, "carol", "a.example")
    dave = await remote(app, "dave", "b.example")
    await expand(app)  # the profile update (nobody follows yet: nothing)
    carol_follow = await remote_follows(app, carol, "alice")
    dave_follow = await remote_follows(app, dave, "alice")
    assert carol_follow.state == dave_follow.state == "pending"
    assert await expand(app) == []  # a request is not answered until alice does

    r = await client.post(f"{API}/follow-requests/carol@a.example/accept", headers=alice)
    assert r.status_code == 204, r.text
    accept, inboxes, _ = await one(app)
    assert accept["type"] == "Accept" and accept["object"]["id"] == carol_follow.uri
    assert inboxes == {"https://a.example/users/carol/inbox"}

    r = await client.post(f"{API}/follow-requests/dave@b.example/reject", headers=alice)
    assert r.status_code == 204, r.text
    reject, inboxes, _ = await one(app)
    assert reject["type"] == "Reject" and reject["object"]["id"] == dave_follow.uri
    assert reject["object"]["actor"] == "https://b.example/users/dave"
    assert inboxes == {"https://b.example/users/dave/inbox"}

    r = await client.delete(f"{API}/actors/carol@a.example/follower", headers=alice)
    assert r.status_code == 204, r.text
    reject, inboxes, _ = await one(app)
    assert reject["type"] == "Reject" and reject["object"]["id"] == carol_follow.uri
    assert inboxes == {"https://a.example/users/carol/inbox"}


async def test_remote_actors_acting_here_record_nothing(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    """What the inbox does for a remote actor must never echo back out."""
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    post_id = await write(client, alice, "hello")
    await expand(app)
    async with transaction(sessions(app)) as session:
        viewer = await as_remote(session, carol)
        await posts.like(session, viewer, post_id)
        await posts.repost(session, viewer, post_id)
        await posts.unlike(session, viewer, post_id)
        await posts.unrepost(session, viewer, post_id)
        await graph.block(session, viewer, "alice")
        await graph.unblock(session, viewer, "alice")
    assert await events(app) == []


# --- blocks and profiles -------------------------------------------------------------------


async def test_block_and_unblock_a_remote_actor(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example", shared=False)
    await remote_follows(app, carol, "alice")
    await expand(app)
    r = await client.post(f"{API}/actors/carol@a.example/block", headers=alice)
    assert r.status_code == 204, r.text
    async with sessions(app)() as session:
        # The remote follower is gone with the block (a remote person operates nothing).
        assert await session.scalar(select(func.count()).select_from(Follow)) == 0
        block_row = await session.scalar(select(Block))
        assert block_row is not None
    block, inboxes, _ = await one(app)
    assert block == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{BASE}/users/alice#blocks/{block_row.id}",
        "type": "Block",
        "actor": f"{BASE}/users/alice",
        "object": "https://a.example/users/carol",
    }
    assert inboxes == {"https://a.example/users/carol/inbox"}
    r = await client.delete(f"{API}/actors/carol@a.example/block", headers=alice)
    assert r.status_code == 204, r.text
    undo, inboxes, _ = await one(app)
    assert undo["type"] == "Undo" and undo["object"]["id"] == block["id"]
    assert inboxes == {"https://a.example/users/carol/inbox"}


async def test_profile_updates_reach_remote_followers_once(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    for bio in ("one", "two", "three"):
        r = await client.patch(f"{API}/profile", headers=alice, json={"bio": bio})
        assert r.status_code == 200
    assert await events(app) == [("profile.updated", None)]  # only the latest goes
    update, inboxes, _ = await one(app)
    assert update["type"] == "Update" and update["actor"] == f"{BASE}/users/alice"
    assert update["object"]["type"] == "Person"
    assert update["object"]["id"] == f"{BASE}/users/alice"
    assert update["object"]["summary"] == "<p>three</p>"
    assert "publicKey" in update["object"] and "@context" not in update["object"]
    assert update["@context"][0] == "https://www.w3.org/ns/activitystreams"
    assert inboxes == {"https://a.example/inbox"}


async def test_a_follow_to_a_gone_actor_is_not_queued(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    gus = await remote(app, "gus", "g.example")
    async with sessions(app)() as session:
        row = await session.get(RemoteActor, gus.id)
        assert row is not None
        row.gone = True
        await session.commit()
    assert (await client.post(f"{API}/actors/gus@g.example/follow", headers=alice)).is_success
    assert await events(app) == [("follow", gus.id)]
    assert await expand(app) == []


# --- what stops an event, and what only delays it ------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("UPDATE follows", {}, Exception("database is locked")),
        FetchError("the server did not answer in time"),
    ],
    ids=["database", "fetch"],
)
async def test_a_passing_failure_keeps_the_event_for_the_next_try(
    db_kind: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    first = await write(client, alice, "one")
    second = await write(client, alice, "two")
    real_build = activities_out.build
    calls: list[str | None] = []

    async def flaky(session: AsyncSession, federation: Federation, event: OutboundEvent) -> Any:
        calls.append(event.subject_id)
        if len(calls) == 1:
            raise error
        return await real_build(session, federation, event)

    monkeypatch.setattr(activities_out, "build", flaky)
    assert await outbound.expand_due(sessions(app), FEDERATION, 100) == 0
    # The batch stopped at the failure; both events wait, in order, for the next pass.
    assert calls == [first]
    assert await events(app) == [("post.created", first), ("post.created", second)]
    queued = await expand(app)
    assert calls == [first, first, second]
    assert [a["object"]["content"] for a, _, _ in queued] == ["<p>one</p>", "<p>two</p>"]


async def test_a_broken_event_is_dropped_and_the_queue_moves_on(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    await remote_follows(app, carol, "alice")
    await expand(app)
    first = await write(client, alice, "one")
    await write(client, alice, "two")
    real_build = activities_out.build

    async def broken_first(
        session: AsyncSession, federation: Federation, event: OutboundEvent
    ) -> Any:
        if event.subject_id == first:
            raise ValueError("a payload that can never be built")
        return await real_build(session, federation, event)

    monkeypatch.setattr(activities_out, "build", broken_first)
    (activity, _, _) = await one(app)
    assert activity["object"]["content"] == "<p>two</p>"
    assert await events(app) == []


@pytest.mark.parametrize("flag", ["suspended", "hidden"])
async def test_a_suspended_or_hidden_actor_only_takes_things_back(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, flag: str
) -> None:
    root = await sign_up(client, "root")  # the admin
    alice = await sign_up(client, "alice")
    carol = await remote(app, "carol", "a.example")
    gus = await remote(app, "gus", "g.example", shared=False)
    await remote(app, "dave", "d.example", shared=False)
    await remote(app, "erin", "e.example", shared=False)
    await remote_follows(app, carol, "alice")
    await expand(app)
    out = await write(client, alice, "already out")
    theirs = await remote_post(app, gus)
    assert (await client.post(f"{API}/posts/{theirs.id}/like", headers=alice)).is_success
    assert (await client.post(f"{API}/posts/{theirs.id}/repost", headers=alice)).is_success
    assert (await client.post(f"{API}/actors/gus@g.example/follow", headers=alice)).is_success
    assert (await client.post(f"{API}/actors/dave@d.example/block", headers=alice)).is_success
    sent = await expand(app)
    assert sorted(a["type"] for a, _, _ in sent) == [
        "Announce",
        "Block",
        "Create",
        "Follow",
        "Like",
    ]

    # Queued, and then alice is suspended (or made private) before they are expanded.
    await write(client, alice, "never out")
    assert (await client.patch(f"{API}/profile", headers=alice, json={"bio": "x"})).is_success
    assert (await client.post(f"{API}/actors/erin@e.example/block", headers=alice)).is_success
    assert (await client.delete(f"{API}/posts/{out}", headers=alice)).status_code == 204
    assert (await client.delete(f"{API}/posts/{theirs.id}/like", headers=alice)).is_success
    assert (await client.delete(f"{API}/posts/{theirs.id}/repost", headers=alice)).is_success
    assert (await client.delete(f"{API}/actors/gus@g.example/follow", headers=alice)).is_success
    assert (await client.delete(f"{API}/actors/dave@d.example/block", headers=alice)).is_success
    assert len(await events(app)) == 8
    if flag == "suspended":
        r = await client.post(f"{API}/admin/actors/alice/suspend", headers=root)
        assert r.status_code == 204, r.text
    else:
        async with sessions(app)() as session:
            row = await session.scalar(select(Actor).where(Actor.handle == "alice"))
            assert row is not None
            row.hidden = True
            await session.commit()

    queued = await expand(app)
    taken_back = sorted(
        (a["type"], a["object"]["type"] if isinstance(a["object"], dict) else a["object"])
        for a, _, _ in queued
    )
    assert taken_back == [
        ("Delete", "Tombstone"),
        ("Undo", "Announce"),
        ("Undo", "Block"),
        ("Undo", "Follow"),
        ("Undo", "Like"),
    ]
    assert await events(app) == []
