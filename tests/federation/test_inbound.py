"""What each verified activity does here, sent by a real remote server on loopback.

Each test drives the app over HTTP with properly signed POSTs and then reads the
database (and the social API) to check the effect, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select

from personae.agents.models import AgendaItem
from personae.federation.inbound_posts import parse_note, visibility_of
from personae.federation.models import OutboundEvent
from personae.federation.models import RemoteActor as RemoteActorRow
from personae.llm.registry import BackendRegistry
from personae.social.models import (
    Actor,
    Block,
    Follow,
    Like,
    Notification,
    Post,
    PostEdit,
    PostMention,
    PostTag,
)
from tests.conftest import sign_up
from tests.federation.remote_server import (
    API,
    BASE,
    PUBLIC,
    RemoteActor,
    RemoteServer,
    client_for,
    counts,
    deliver,
    federated_app,
    introduce,
)

ALICE = f"{BASE}/users/alice"
Auth = dict[str, str]


@pytest.fixture(scope="module")
def remote() -> Iterator[RemoteServer]:
    server = RemoteServer().start()
    yield server
    server.stop()


@pytest_asyncio.fixture
async def app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> AsyncIterator[FastAPI]:
    async with federated_app(db_kind, tmp_root, registry) as application:
        yield application


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest_asyncio.fixture
async def alice(client: httpx.AsyncClient) -> Auth:
    return await sign_up(client, "alice")


async def ok(client: httpx.AsyncClient, actor: RemoteActor, activity: dict[str, Any]) -> None:
    r = await deliver(client, actor, activity)
    assert r.status_code == 202, r.text


async def rows(app: FastAPI, model: Any, *where: Any) -> list[Any]:
    async with app.state.personae.sessions() as session:
        return list(await session.scalars(select(model).where(*where)))


async def one(app: FastAPI, model: Any, *where: Any) -> Any:
    found = await rows(app, model, *where)
    assert len(found) == 1, found
    return found[0]


async def actor_row(app: FastAPI, handle: str) -> Actor:
    return await one(app, Actor, Actor.handle == handle)  # type: ignore[no-any-return]


async def local_post(client: httpx.AsyncClient, who: Auth, text: str, **extra: Any) -> str:
    r = await client.post(f"{API}/posts", headers=who, json={"text": text, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def note_url(handle: str, post_id: str) -> str:
    return f"{BASE}/users/{handle}/statuses/{post_id}"


def mention(href: str = ALICE, name: str = "@alice@social.example") -> dict[str, str]:
    return {"type": "Mention", "href": href, "name": name}


async def follower_of_bob(
    app: FastAPI, client: httpx.AsyncClient, who: Auth, bob: RemoteActor
) -> None:
    """A local account follows bob (accepted, as if bob's server had answered)."""
    await introduce(client, bob)
    follow = bob.new_id("follows")
    me = (await client.get(f"{API}/profile", headers=who)).json()
    async with app.state.personae.sessions() as session:
        remote = await session.scalar(select(RemoteActorRow).where(RemoteActorRow.uri == bob.id))
        assert remote is not None
        session.add(
            Follow(follower_id=me["id"], followee_id=remote.actor_id, state="pending", uri=follow)
        )
        await session.commit()
    await ok(client, bob, bob.activity("Accept", follow))


# --- follows ----------------------------------------------------------------------------


async def test_follow_is_accepted_and_answered(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    activity = bob.activity("Follow", ALICE)
    await ok(client, bob, activity)
    stored = await one(app, RemoteActorRow, RemoteActorRow.uri == bob.id)
    assert stored.inbox == f"{bob.id}/inbox" and stored.key_id == bob.key_id
    follow = await one(app, Follow)
    assert (follow.follower_id, follow.state, follow.uri) == (
        stored.actor_id,
        "accepted",
        activity["id"],
    )
    alice_actor = await actor_row(app, "alice")
    assert follow.followee_id == alice_actor.id and alice_actor.followers_count == 1
    event = await one(app, OutboundEvent, OutboundEvent.kind == "follow.accepted")
    assert (event.actor_id, event.subject_id, event.payload["uri"]) == (
        alice_actor.id,
        stored.actor_id,
        activity["id"],
    )
    note = await one(app, Notification)
    assert (note.kind, note.recipient_id, note.actor_id) == (
        "follow",
        alice_actor.id,
        stored.actor_id,
    )
    # The follower shows in alice's list under its remote handle.
    r = await client.get(f"{API}/actors/alice/followers")
    assert [a["handle"] for a in r.json()["items"]] == [bob.handle]

    # Undo (embedded, as Mastodon sends it) ends it.
    await ok(client, bob, bob.activity("Undo", activity))
    assert await rows(app, Follow) == []
    assert (await actor_row(app, "alice")).followers_count == 0


async def test_follow_of_locked_actor_is_a_request(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    r = await client.patch(f"{API}/profile", headers=alice, json={"locked": True})
    assert r.status_code == 200, r.text
    bob = remote.actor("bob")
    activity = bob.activity("Follow", ALICE)
    await ok(client, bob, activity)
    follow = await one(app, Follow)
    assert follow.state == "pending" and follow.uri == activity["id"]
    assert await rows(app, OutboundEvent, OutboundEvent.kind == "follow.accepted") == []
    assert (await one(app, Notification)).kind == "follow_request"
    r = await client.get(f"{API}/follow-requests", headers=alice)
    assert [a["handle"] for a in r.json()["items"]] == [bob.handle]
    # Undo by id alone withdraws the request.
    await ok(client, bob, bob.activity("Undo", activity["id"]))
    assert await rows(app, Follow) == []


async def test_follow_of_unknown_or_private_actor_is_404(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    r = await client.post(
        f"{API}/characters", headers=alice, json={"name": "Secret", "visibility": "private"}
    )
    assert r.status_code == 201, r.text
    secret = r.json()["handle"]
    bob = remote.actor("bob")
    await introduce(client, bob)
    before = await counts(app)
    for target in (
        f"{BASE}/users/nobody",
        f"{BASE}/users/{secret}",
        f"{BASE}/actor",
        f"{remote.url}/users/elsewhere",
    ):
        r = await deliver(client, bob, bob.activity("Follow", target))
        assert r.status_code == 404, (target, r.text)
    assert await counts(app) == before


async def test_only_the_follower_can_undo_its_follow(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob, eve = remote.actor("bob"), remote.actor("eve")
    follow = bob.activity("Follow", ALICE)
    await ok(client, bob, follow)
    await ok(client, eve, eve.activity("Undo", follow["id"]))  # by id: not eve's to undo
    assert len(await rows(app, Follow)) == 1


async def test_accept_and_reject_of_our_follow(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob, eve = remote.actor("bob"), remote.actor("eve")
    await follower_of_bob(app, client, alice, bob)
    follow = await one(app, Follow)
    assert follow.state == "accepted"
    assert (await actor_row(app, "alice")).following_count == 1
    assert (await actor_row(app, bob.handle)).followers_count == 1
    # Someone else cannot reject it; bob can (Mastodon does so to remove a follower).
    await introduce(client, eve)
    await ok(client, eve, eve.activity("Reject", follow.uri))
    assert len(await rows(app, Follow)) == 1
    await ok(
        client,
        bob,
        bob.activity(
            "Reject", {"type": "Follow", "id": follow.uri, "actor": ALICE, "object": bob.id}
        ),
    )
    assert await rows(app, Follow) == []
    assert (await actor_row(app, "alice")).following_count == 0


# --- posts ------------------------------------------------------------------------------


async def test_mention_stores_the_post_and_notifies(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    note = bob.note(
        '<p>Hello <a href="https://social.example/@alice" class="mention">@alice</a>'
        '<script>alert(1)</script> <a href="javascript:x()">x</a> #Sea</p><p>Bye</p>',
        tag=[mention(), {"type": "Hashtag", "name": "#Sea", "href": f"{remote.url}/tags/sea"}],
        cc=[bob.followers, ALICE],
        summary="spoilers",
        contentMap={"en": "..."},
        url=f"{remote.url}/@bob/1",
    )
    await ok(client, bob, bob.create(note))
    post = await one(app, Post)
    assert (post.uri, post.url, post.visibility) == (note["id"], f"{remote.url}/@bob/1", "public")
    assert "<script" not in post.content_html and "javascript:" not in post.content_html
    assert post.text.startswith("Hello @alice") and post.text.endswith("Bye")
    assert (post.content_warning, post.language) == ("spoilers", "en")
    assert not post.is_reply
    alice_actor = await actor_row(app, "alice")
    assert [m.actor_id for m in await rows(app, PostMention)] == [alice_actor.id]
    assert [t.tag for t in await rows(app, PostTag)] == ["sea"]
    notification = await one(app, Notification)
    assert (notification.kind, notification.recipient_id, notification.post_id) == (
        "mention",
        alice_actor.id,
        post.id,
    )
    assert (await actor_row(app, bob.handle)).posts_count == 1
    # Alice sees it among her notifications, with its author's remote handle.
    r = await client.get(f"{API}/notifications", headers=alice)
    assert r.status_code == 200, r.text
    # The same note in another Create is stored once.
    await ok(client, bob, bob.create(note))
    assert len(await rows(app, Post)) == 1
    assert len(await rows(app, Notification)) == 1


async def test_mention_wakes_an_autonomous_character(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    r = await client.post(
        f"{API}/characters",
        headers=alice,
        json={"name": "Marina", "handle": "marina", "visibility": "public", "backend": "fake"},
    )
    assert r.status_code == 201, r.text
    body = {"enabled": True, "active_from": 0, "active_until": 24}
    r = await client.put(f"{API}/characters/marina/autonomy", headers=alice, json=body)
    assert r.status_code == 200, r.text
    bob = remote.actor("bob")
    marina = f"{BASE}/users/marina"
    await ok(
        client,
        bob,
        bob.create(bob.note("<p>@marina how is the sea?</p>", tag=[mention(marina, "@marina")])),
    )
    post = await one(app, Post)
    item = await one(app, AgendaItem)
    assert (item.kind, item.trigger_post_id) == ("reply", post.id)
    assert item.trigger_actor_id == (await actor_row(app, bob.handle)).id


async def test_reply_to_a_local_post_is_threaded(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    parent_id = await local_post(client, alice, "What is your favourite fish?")
    bob = remote.actor("bob")
    await ok(
        client, bob, bob.create(bob.note("<p>Cod.</p>", inReplyTo=note_url("alice", parent_id)))
    )
    reply = await one(app, Post, Post.uri.is_not(None))
    parent = await one(app, Post, Post.id == parent_id)
    assert (reply.is_reply, reply.in_reply_to_id, reply.root_id) == (True, parent_id, parent_id)
    assert parent.replies_count == 1
    notification = await one(app, Notification)
    assert (notification.kind, notification.post_id) == ("reply", reply.id)
    r = await client.get(f"{API}/posts/{parent_id}/thread", headers=alice)
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["descendants"]] == [reply.id]
    # A reply to a post we do not have is kept, as a reply, without a parent.
    await ok(
        client,
        bob,
        bob.create(
            bob.note("<p>@alice yes</p>", tag=[mention()], inReplyTo=f"{remote.url}/n/unknown")
        ),
    )
    orphan = await one(app, Post, Post.uri.is_not(None), Post.id != reply.id)
    assert (orphan.is_reply, orphan.in_reply_to_id, orphan.root_id) == (True, None, orphan.id)


async def test_posts_nobody_here_wants_are_dropped(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    await ok(client, bob, bob.create(bob.note("<p>Into the void</p>")))
    assert await rows(app, Post) == []
    # Once alice follows bob, his public posts are kept and reach her home timeline.
    await follower_of_bob(app, client, alice, bob)
    await ok(client, bob, bob.create(bob.note("<p>Hello followers</p>")))
    post = await one(app, Post)
    r = await client.get(f"{API}/timelines/home", headers=alice)
    assert r.status_code == 200, r.text
    assert post.id in r.text


async def test_followers_only_and_direct_visibility(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    carol = await sign_up(client, "carol")
    bob = remote.actor("bob")
    await follower_of_bob(app, client, alice, bob)
    private = bob.note("<p>just for followers</p>", to=[bob.followers], cc=[])
    await ok(client, bob, bob.create(private))
    direct = bob.note(
        "<p>@carol psst</p>",
        to=[f"{BASE}/users/carol"],
        cc=[],
        tag=[mention(f"{BASE}/users/carol", "@carol")],
    )
    await ok(client, bob, bob.create(direct))
    followers_post = await one(app, Post, Post.uri == private["id"])
    direct_post = await one(app, Post, Post.uri == direct["id"])
    assert (followers_post.visibility, direct_post.visibility) == ("followers", "direct")
    for who, post_id, status in (
        (alice, followers_post.id, 200),
        (carol, followers_post.id, 404),
        (carol, direct_post.id, 200),
        (alice, direct_post.id, 404),
    ):
        r = await client.get(f"{API}/posts/{post_id}", headers=who)
        assert r.status_code == status, (post_id, r.text)


async def test_blockers_get_nothing(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    await introduce(client, bob)
    r = await client.post(f"{API}/actors/{bob.handle}/block", headers=alice)
    assert r.status_code == 204, r.text
    before = await counts(app)
    await ok(client, bob, bob.create(bob.note("<p>@alice hi</p>", tag=[mention()])))
    after = await counts(app)
    assert after["posts"] == before["posts"] and after["notifications"] == before["notifications"]
    r = await deliver(client, bob, bob.activity("Follow", ALICE))
    assert r.status_code == 404, r.text
    assert await rows(app, Follow) == []


async def test_update_of_a_note_keeps_its_history(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob, eve = remote.actor("bob"), remote.actor("eve")
    note = bob.note("<p>@alice frist</p>", tag=[mention()])
    await ok(client, bob, bob.create(note))
    edited = {
        **note,
        "content": "<p>@alice first #typo</p>",
        "tag": [mention(), {"type": "Hashtag", "name": "#typo"}],
    }
    await ok(client, bob, bob.activity("Update", edited))
    post = await one(app, Post)
    assert post.text == "@alice first #typo" and post.edited_at is not None
    assert [e.text for e in await rows(app, PostEdit)] == ["@alice frist"]
    assert [t.tag for t in await rows(app, PostTag)] == ["typo"]
    assert len(await rows(app, Notification)) == 1  # alice was already mentioned
    # Eve cannot edit bob's note: not even by claiming it in her own Update.
    await introduce(client, eve)
    before = await counts(app)
    forged = {**edited, "attributedTo": eve.id, "content": "<p>pwned</p>"}
    r = await deliver(client, eve, eve.activity("Update", forged))
    assert r.status_code == 403, r.text
    assert await counts(app) == before
    assert (await one(app, Post)).text == "@alice first #typo"


async def test_update_of_the_actor_refreshes_its_profile(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob, eve = remote.actor("bob"), remote.actor("eve")
    await introduce(client, bob)
    bob.display_name = "Bob Renamed"
    await ok(client, bob, bob.activity("Update", bob.document()))
    assert (await actor_row(app, bob.handle)).display_name == "Bob Renamed"
    await introduce(client, eve)
    r = await deliver(client, eve, eve.activity("Update", {**bob.document(), "name": "Eve"}))
    assert r.status_code == 422, r.text
    assert (await actor_row(app, bob.handle)).display_name == "Bob Renamed"


async def test_delete_of_a_note_and_of_the_actor(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob, eve = remote.actor("bob"), remote.actor("eve")
    parent_id = await local_post(client, alice, "Hello fediverse")
    first = bob.note("<p>@alice one</p>", tag=[mention()], inReplyTo=note_url("alice", parent_id))
    second = bob.note("<p>@alice two</p>", tag=[mention()])
    await ok(client, bob, bob.create(first))
    await ok(client, bob, bob.create(second))
    await ok(client, bob, bob.activity("Follow", ALICE))
    assert (await one(app, Post, Post.id == parent_id)).replies_count == 1
    # Eve cannot delete bob's note (another server's object is refused outright; one
    # on the same server that is not hers is simply not found).
    await introduce(client, eve)
    await ok(client, eve, eve.activity("Delete", {"id": first["id"], "type": "Tombstone"}))
    assert len(await rows(app, Post, Post.uri.is_not(None))) == 2
    await ok(client, bob, bob.activity("Delete", {"id": first["id"], "type": "Tombstone"}))
    assert [p.uri for p in await rows(app, Post, Post.uri.is_not(None))] == [second["id"]]
    assert (await one(app, Post, Post.id == parent_id)).replies_count == 0
    assert (await actor_row(app, bob.handle)).posts_count == 1
    # Bob leaves: his actor, posts and follow go; alice's counters come back down.
    await ok(client, bob, bob.activity("Delete", bob.id))
    assert await rows(app, RemoteActorRow, RemoteActorRow.uri == bob.id) == []
    assert await rows(app, Post, Post.uri.is_not(None)) == []
    assert await rows(app, Follow) == []
    assert (await actor_row(app, "alice")).followers_count == 0


async def test_like_and_announce_and_their_undo(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    post_id = await local_post(client, alice, "Like me")
    url = note_url("alice", post_id)
    like = bob.activity("Like", url)
    await ok(client, bob, like)
    announce = bob.activity("Announce", url, to=[PUBLIC])
    await ok(client, bob, announce)
    post = await one(app, Post, Post.id == post_id)
    assert (post.likes_count, post.reposts_count) == (1, 1)
    bob_id = (await actor_row(app, bob.handle)).id
    assert (await one(app, Like)).actor_id == bob_id
    repost = await one(app, Post, Post.repost_of_id == post_id)
    assert (repost.author_id, repost.uri) == (bob_id, announce["id"])
    kinds = sorted(n.kind for n in await rows(app, Notification))
    assert kinds == ["like", "repost"]
    await ok(client, bob, bob.activity("Undo", like))
    await ok(client, bob, bob.activity("Undo", announce["id"]))
    post = await one(app, Post, Post.id == post_id)
    assert (post.likes_count, post.reposts_count) == (0, 0)
    assert await rows(app, Like) == []
    assert await rows(app, Post, Post.repost_of_id == post_id) == []


async def test_like_of_a_post_the_sender_may_not_see_is_404(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    await introduce(client, bob)
    secret = await local_post(client, alice, "only for my followers", visibility="followers")
    before = await counts(app)
    for target in (note_url("alice", secret), note_url("alice", "0" * 32)):
        r = await deliver(client, bob, bob.activity("Like", target))
        assert r.status_code == 404, r.text
    assert await counts(app) == before


async def test_block_ends_follows_both_ways(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    bob = remote.actor("bob")
    await follower_of_bob(app, client, alice, bob)
    await ok(client, bob, bob.activity("Follow", ALICE))
    assert len(await rows(app, Follow)) == 2
    block = bob.activity("Block", ALICE)
    await ok(client, bob, block)
    bob_id = (await actor_row(app, bob.handle)).id
    assert (await one(app, Block)).blocker_id == bob_id
    assert await rows(app, Follow) == []
    alice_actor = await actor_row(app, "alice")
    assert (alice_actor.followers_count, alice_actor.following_count) == (0, 0)
    # Alice no longer sees bob.
    r = await client.get(f"{API}/actors/{bob.handle}", headers=alice)
    assert r.status_code == 404, r.text
    await ok(client, bob, bob.activity("Undo", block))
    assert await rows(app, Block) == []


async def public_character(client: httpx.AsyncClient, owner: Auth, handle: str) -> str:
    """A public character of `owner`; its actor id."""
    body = {"name": handle.title(), "handle": handle, "visibility": "public"}
    r = await client.post(f"{API}/characters", headers=owner, json=body)
    assert r.status_code == 201, r.text
    return f"{BASE}/users/{handle}"


async def make_private(client: httpx.AsyncClient, owner: Auth, handle: str) -> None:
    """Turn a character private: remote servers can no longer see it."""
    body = {"visibility": "private"}
    r = await client.patch(f"{API}/characters/{handle}", headers=owner, json=body)
    assert r.status_code == 200, r.text


async def test_undo_works_when_the_target_is_out_of_sight(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    marina = await public_character(client, alice, "marina")
    nereid = await public_character(client, alice, "nereid")
    bob = remote.actor("bob")
    follow = bob.activity("Follow", marina)
    await ok(client, bob, follow)
    block = bob.activity("Block", nereid)
    await ok(client, bob, block)
    assert (await actor_row(app, "marina")).followers_count == 1
    assert (await actor_row(app, bob.handle)).following_count == 1
    await make_private(client, alice, "marina")
    await make_private(client, alice, "nereid")
    assert (await actor_row(app, "marina")).hidden
    assert len(await rows(app, Follow)) == 1 and len(await rows(app, Block)) == 1
    # Bob's Undo still ends his follow, and the counters come back down.
    await ok(client, bob, bob.activity("Undo", follow))
    assert await rows(app, Follow) == []
    assert (await actor_row(app, "marina")).followers_count == 0
    assert (await actor_row(app, bob.handle)).following_count == 0
    # His block of a character now private is lifted too.
    await ok(client, bob, bob.activity("Undo", block))
    assert await rows(app, Block) == []


async def test_undo_like_of_a_post_out_of_sight(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    post_id = await local_post(client, alice, "Like me")
    bob = remote.actor("bob")
    like = bob.activity("Like", note_url("alice", post_id))
    await ok(client, bob, like)
    assert (await one(app, Post, Post.id == post_id)).likes_count == 1
    # Alice blocks bob: her post is out of his sight, his like stays until he takes it back.
    await introduce(client, bob)
    r = await client.post(f"{API}/actors/{bob.handle}/block", headers=alice)
    assert r.status_code == 204, r.text
    assert len(await rows(app, Like)) == 1
    await ok(client, bob, bob.activity("Undo", like))
    assert await rows(app, Like) == []
    assert (await one(app, Post, Post.id == post_id)).likes_count == 0


async def test_undo_follow_by_target_of_a_hidden_actor(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    marina = await public_character(client, alice, "marina")
    bob = remote.actor("bob")
    await ok(client, bob, bob.activity("Follow", marina))
    await make_private(client, alice, "marina")
    # An Undo embedding a Follow whose id we never kept: found by follower and target.
    await ok(client, bob, bob.activity("Undo", bob.activity("Follow", marina)))
    assert await rows(app, Follow) == []
    assert (await actor_row(app, "marina")).followers_count == 0


# --- pure parsing -----------------------------------------------------------------------


def test_visibility_from_addressing() -> None:
    followers = "https://r.example/users/bob/followers"
    assert visibility_of([PUBLIC], [followers], followers) == "public"
    assert visibility_of(["as:Public"], [], followers) == "public"
    assert visibility_of([followers], [PUBLIC], followers) == "unlisted"
    assert visibility_of([followers], [], followers) == "followers"
    assert visibility_of([ALICE], [], followers) == "direct"
    assert visibility_of([followers], [], "") == "direct"


def test_parse_note_bounds_and_languages() -> None:
    actor = "https://r.example/users/bob"
    note = {
        "id": "https://r.example/n/1",
        "attributedTo": [actor],
        "contentMap": {"not a tag!": "x", "pt-BR": "<p>Olá</p>"},
        "summary": "<b>cw</b>" + "x" * 600,
        "tag": [
            {"type": "Hashtag", "name": "#" + "a" * 101},
            {"type": "Hashtag", "name": "#ok"},
            {"type": "Mention", "href": "javascript:x"},
            "junk",
        ],
        "attachment": [{"type": "Image", "url": "https://r.example/i.png", "name": "a fish"}],
    }
    parsed = parse_note(note, actor, "")
    assert parsed.language == "pt-BR" and parsed.text.startswith("Olá")
    assert len(parsed.content_warning) == 500 and parsed.content_warning.startswith("cw")
    assert parsed.tags == ("ok",) and parsed.mentions == ()
    assert 'href="https://r.example/i.png"' in parsed.content_html
    assert parsed.visibility == "direct"
    article = {**note, "type": "Article", "name": "<Title>", "content": "<p>Body</p>"}
    assert parse_note(article, actor, "").text.startswith("<Title>\nBody\n")


async def test_counts_are_consistent(
    db_kind: str, app: FastAPI, client: httpx.AsyncClient, alice: Auth, remote: RemoteServer
) -> None:
    # Many followers at once: the counter matches the rows.
    actors = [remote.actor(f"fan{i}") for i in range(3)]
    for actor in actors:
        await ok(client, actor, actor.activity("Follow", ALICE))
    async with app.state.personae.sessions() as session:
        n = await session.scalar(select(func.count()).select_from(Follow))
    assert n == 3 and (await actor_row(app, "alice")).followers_count == 3
