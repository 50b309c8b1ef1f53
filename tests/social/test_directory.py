"""The character directory: what is listed, tag matching, and the trending ranking."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from personae.db import utcnow
from personae.social import directory
from personae.social.access import ANONYMOUS, viewer_for
from personae.social.models import Follow, Like
from tests.conftest import sign_up
from tests.web.test_profile_pages import Headers, character, cheap_password_hashing, post

__all__ = ["cheap_password_hashing"]  # the autouse fixture, used here too
API = "/api/v1"


async def like(client: httpx.AsyncClient, who: Headers, post_id: str, as_: str = "") -> None:
    """Like a post through the API."""
    r = await client.post(
        f"{API}/posts/{post_id}/like", headers=who, params={"as": as_} if as_ else {}
    )
    assert r.status_code == 200, r.text


async def test_trending_ranks_by_weighted_engagement_in_the_window(
    app: FastAPI, client: httpx.AsyncClient, db_kind: str
) -> None:
    owner = await sign_up(client, "owner")
    fans = [await sign_up(client, f"fan{n}") for n in range(3)]
    for handle in ("liked", "followed", "replied", "selfish", "stale", "secret"):
        await character(
            client, owner, handle, visibility="private" if handle == "secret" else "public"
        )
    posts = {
        h: await post(client, owner, f"A post by {h}.", who=h)
        for h in ("liked", "replied", "selfish", "stale")
    }

    # liked: three likes (3). followed: two new followers (6). replied: a reply and a
    # repost (2 + 2 = 4). selfish: likes from its own operator and sibling (0).
    for fan in fans:
        await like(client, fan, posts["liked"])
    for fan in fans[:2]:
        r = await client.post(f"{API}/actors/followed/follow", headers=fan)
        assert r.status_code == 200
    r = await client.post(
        f"{API}/posts", headers=fans[0], json={"text": "Nice!", "in_reply_to_id": posts["replied"]}
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"{API}/posts/{posts['replied']}/repost", headers=fans[1])
    assert r.status_code in (200, 201), r.text
    await like(client, owner, posts["selfish"])
    await like(client, owner, posts["selfish"], as_="liked")
    # stale: many likes, but all older than the window.
    for fan in fans:
        await like(client, fan, posts["stale"])
    async with app.state.personae.sessions() as session:
        await session.execute(
            update(Like)
            .where(Like.post_id == posts["stale"])
            .values(created_at=utcnow() - timedelta(days=8))
        )
        await session.commit()

        ranked = await directory.trending(session, ANONYMOUS)
        assert [(c.actor.handle, c.score) for c in ranked] == [
            ("followed", 6),
            ("replied", 4),
            ("liked", 3),
        ]
        month = await directory.trending(session, ANONYMOUS, days=30)
        assert ("stale", 3) in [(c.actor.handle, c.score) for c in month]

        # Follows older than the window do not count either.
        await session.execute(update(Follow).values(created_at=utcnow() - timedelta(days=9)))
        await session.commit()
        ranked = await directory.trending(session, ANONYMOUS)
        assert [c.actor.handle for c in ranked] == ["replied", "liked"]


async def test_listing_tags_and_blocks(
    app: FastAPI, client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    await character(client, bob, "ansel", tags=["Sea", "Grumpy", "sea "])
    await character(client, bob, "fern", tags=["sea", "robot"])
    await character(client, bob, "hush", visibility="unlisted", tags=["sea"])
    await character(client, bob, "shut", visibility="private", tags=["sea"])
    async with app.state.personae.sessions() as session:
        assert await directory.popular_tags(session, ANONYMOUS) == ["sea", "grumpy", "robot"]
        found, cursor = await directory.list_characters(session, ANONYMOUS, tag="SEA")
        assert sorted(c.actor.handle for c in found) == ["ansel", "fern"] and cursor is None
        page, cursor = await directory.list_characters(session, ANONYMOUS, limit=1)
        assert len(page) == 1 and cursor is not None
        rest, _last = await directory.list_characters(session, ANONYMOUS, cursor=cursor, limit=1)
        assert {page[0].actor.handle, rest[0].actor.handle} == {"ansel", "fern"}

    r = await client.post(f"{API}/actors/fern/block", headers=alice)
    assert r.status_code == 204
    async with app.state.personae.sessions() as session:
        from sqlalchemy import select

        from personae.accounts.models import Account

        account = await session.scalar(select(Account).where(Account.username == "alice"))
        viewer = await viewer_for(session, account)
        assert [c.actor.handle for c in (await directory.list_characters(session, viewer))[0]] == [
            "ansel"
        ]
        blocked = await directory.blocked_actor(session, viewer, "@FERN")
        assert blocked is not None and blocked.handle == "fern"
        assert await directory.blocked_actor(session, viewer, "ansel") is None
