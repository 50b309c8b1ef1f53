"""Counter upkeep when an actor leaves: the database cascades its rows away, but the
counts those rows added to other actors and posts must come off first."""

from __future__ import annotations

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from personae.social.models import Actor, Follow, Like, Post


async def release_actor_counts(session: AsyncSession, actor_id: str) -> None:
    """Take an actor's follows, likes, reposts, replies and quotes off others' counters.

    Call before deleting the actor (or its character or account); not committed here.
    """
    accepted_out = select(Follow.followee_id).where(
        Follow.follower_id == actor_id, Follow.state == "accepted"
    )
    accepted_in = select(Follow.follower_id).where(
        Follow.followee_id == actor_id, Follow.state == "accepted"
    )
    await session.execute(
        update(Actor)
        .where(Actor.id.in_(accepted_out))
        .values(followers_count=Actor.followers_count - 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Actor)
        .where(Actor.id.in_(accepted_in))
        .values(following_count=Actor.following_count - 1)
        .execution_options(synchronize_session=False)
    )
    # One like and one repost per actor and post, so each target loses exactly one.
    await session.execute(
        update(Post)
        .where(Post.id.in_(select(Like.post_id).where(Like.actor_id == actor_id)))
        .values(likes_count=Post.likes_count - 1)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Post)
        .where(
            Post.id.in_(
                select(Post.repost_of_id).where(
                    Post.author_id == actor_id, Post.repost_of_id.is_not(None)
                )
            )
        )
        .values(reposts_count=Post.reposts_count - 1)
        .execution_options(synchronize_session=False)
    )
    # Replies and quotes can be many per target: subtract how many this actor made.
    mine = aliased(Post)
    for link, column in (
        (mine.in_reply_to_id, "replies_count"),
        (mine.quote_of_id, "quotes_count"),
    ):
        made = (
            select(func.count())
            .where(and_(link == Post.id, mine.author_id == actor_id))
            .scalar_subquery()
        )
        targets = select(link).where(mine.author_id == actor_id, link.is_not(None))
        await session.execute(
            update(Post)
            .where(Post.id.in_(targets), Post.author_id != actor_id)
            .values({column: getattr(Post, column) - made})
            .execution_options(synchronize_session=False)
        )
