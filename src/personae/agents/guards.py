"""The rules an autonomous character obeys before it acts: engagement first, loop guard,
and rate, reply and token limits per character and per instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from personae.agents.models import AgendaItem, AgentSettings
from personae.config import Settings
from personae.instance.limits import with_overrides
from personae.social.models import Follow, Post, PostMention

DAY = timedelta(hours=24)
HOUR = timedelta(hours=1)
REPLY_KINDS = ("reply", "answer_dm")
# Outcomes that count against a posting limit: what was written, published or held.
WRITTEN = ("published", "held")
# Engagement other packages know of: `query(actor_id, character_id)` selects a row when
# the actor engaged with the character there (chatted with it, for chat). Plugged in at
# start by `personae.wiring`, so the agents never import the packages that provide it.
EngagementQuery = Callable[[str, str], Select[int]]
_ENGAGEMENT: list[EngagementQuery] = []


def count_as_engagement(query: EngagementQuery) -> None:
    """Also count what `query` finds as engagement (idempotent)."""
    if query not in _ENGAGEMENT:
        _ENGAGEMENT.append(query)


async def has_engaged(session: AsyncSession, actor_id: str, character_id: str) -> bool:
    """Whether an actor ever engaged with the character: followed, mentioned or replied
    to it, or (a person) chatted with it. One round trip."""
    followed = select(literal(1)).where(
        Follow.follower_id == actor_id, Follow.followee_id == character_id
    )
    addressed = (
        select(literal(1))
        .select_from(PostMention)
        .join(Post, Post.id == PostMention.post_id)
        .where(PostMention.actor_id == character_id, Post.author_id == actor_id)
    )
    elsewhere = [query(actor_id, character_id) for query in _ENGAGEMENT]
    found = await session.scalar(union_all(followed, addressed, *elsewhere).limit(1))
    return found is not None


async def follows(session: AsyncSession, follower_id: str, followee_id: str) -> bool:
    """Whether `follower_id` follows `followee_id` (accepted)."""
    found = await session.scalar(
        select(Follow.id).where(
            Follow.follower_id == follower_id,
            Follow.followee_id == followee_id,
            Follow.state == "accepted",
        )
    )
    return found is not None


async def max_ai_turns(session: AsyncSession, settings: Settings) -> int:
    """The thread-loop cap in force: the admins' override, else the configured one."""
    return (await with_overrides(session, settings)).agents_max_ai_turns


async def ai_streak(session: AsyncSession, post: Post, cap: int) -> int:
    """Consecutive AI-written posts ending with `post`, walking up its thread (at most `cap`)."""
    streak = 0
    current: Post | None = post
    while current is not None and current.author_is_ai and streak < cap:
        streak += 1
        if current.in_reply_to_id is None:
            break
        current = await session.get(Post, current.in_reply_to_id)
    return streak


@dataclass(frozen=True)
class Usage:
    """What was spent in the rolling windows: tokens and posts in 24 hours, replies in 1."""

    tokens: int
    posts: int
    replies: int


def _usage_columns(where: ColumnElement[bool] | None, now: datetime) -> list[Any]:
    """Tokens, posts written and replies written in the last hour, among rows `where`."""
    written = AgendaItem.outcome.in_(WRITTEN)
    recent_reply = and_(
        written, AgendaItem.kind.in_(REPLY_KINDS), AgendaItem.finished_at >= now - HOUR
    )
    post = and_(written, AgendaItem.kind == "post")
    tokens = AgendaItem.prompt_tokens + AgendaItem.completion_tokens
    if where is not None:
        tokens = case((where, tokens), else_=0)
        post, recent_reply = and_(where, post), and_(where, recent_reply)
    return [
        func.coalesce(func.sum(tokens), 0),
        func.coalesce(func.sum(case((post, 1), else_=0)), 0),
        func.coalesce(func.sum(case((recent_reply, 1), else_=0)), 0),
    ]


async def usage_since(session: AsyncSession, now: datetime, character_id: str | None) -> Usage:
    """One character's usage (or the instance's, for None) in the rolling windows."""
    query = select(*_usage_columns(None, now)).where(AgendaItem.finished_at >= now - DAY)
    if character_id is not None:
        query = query.where(AgendaItem.character_id == character_id)
    tokens, posts, replies = (await session.execute(query)).one()
    return Usage(int(tokens), int(posts), int(replies))


async def limit_reached(
    session: AsyncSession, settings: Settings, agent: AgentSettings, kind: str, now: datetime
) -> str:
    """Why the character may not do `kind` now (a limit reached), or '' when it may.

    Windows roll (the last 24 hours, the last hour) so no limit resets in a burst at
    midnight. Held posts count: a character cannot write without end into its queue.
    The character's and the instance's usage come from one aggregate query; the
    instance's limits are the settings with the admins' runtime overrides.
    """
    settings = await with_overrides(session, settings)
    mine_only = AgendaItem.character_id == agent.character_id
    row = (
        await session.execute(
            select(*_usage_columns(mine_only, now), *_usage_columns(None, now)).where(
                AgendaItem.finished_at >= now - DAY
            )
        )
    ).one()
    mine = Usage(int(row[0]), int(row[1]), int(row[2]))
    everyone = Usage(int(row[3]), int(row[4]), int(row[5]))
    if mine.tokens >= agent.tokens_per_day:
        return f"its token budget of {agent.tokens_per_day} a day is spent"
    if kind == "post" and mine.posts >= agent.posts_per_day:
        return f"it already wrote {agent.posts_per_day} posts in the last 24 hours"
    if kind in REPLY_KINDS and mine.replies >= agent.replies_per_hour:
        return f"it already wrote {agent.replies_per_hour} replies in the last hour"
    if everyone.tokens >= settings.agents_tokens_per_day:
        return f"the instance's token budget of {settings.agents_tokens_per_day} a day is spent"
    if kind == "post" and everyone.posts >= settings.agents_posts_per_day:
        return f"the instance's limit of {settings.agents_posts_per_day} posts a day is reached"
    if kind in REPLY_KINDS and everyone.replies >= settings.agents_replies_per_hour:
        limit = settings.agents_replies_per_hour
        return f"the instance's limit of {limit} replies an hour is reached"
    return ""
