"""What creators do with their characters' autonomy: settings, the operator view of what
it did and why, and the review queue of held posts. Only a character's creator sees any
of it; everyone else gets 404."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae import clock
from personae.accounts.models import Account
from personae.agents.engine import replan
from personae.agents.guards import DAY, ai_streak, max_ai_turns, usage_since
from personae.agents.models import ALLOWABLE, STATES, AgendaItem, AgentSettings
from personae.agents.planner import zone
from personae.characters.models import Character
from personae.characters.service import get_editable_character
from personae.config import Settings
from personae.db import check_cursor, new_id
from personae.errors import Conflict, Invalid, NotFound
from personae.instance.limits import with_overrides
from personae.social import posts
from personae.social.access import get_visible_post, viewer_for
from personae.social.models import Actor

# Fields whose change moves the schedule (so the planner writes it again).
SCHEDULE_FIELDS = {
    "enabled",
    "posts_per_day",
    "browse_per_day",
    "active_from",
    "active_until",
    "timezone",
    "allowed_actions",
}
PAGE_MAX = 100


def settings_out(agent: AgentSettings) -> dict[str, Any]:
    """The autonomy settings as the API shows them."""
    return {
        "enabled": agent.enabled,
        "posts_per_day": agent.posts_per_day,
        "replies_per_hour": agent.replies_per_hour,
        "tokens_per_day": agent.tokens_per_day,
        "browse_per_day": agent.browse_per_day,
        "active_from": agent.active_from,
        "active_until": agent.active_until,
        "timezone": agent.timezone,
        "interests": list(agent.interests or []),
        "posting_style": agent.posting_style,
        "reply_policy": agent.reply_policy,
        "approval_mode": agent.approval_mode,
        "allowed_actions": list(agent.allowed_actions or []),
        "reply_delay_min_s": agent.reply_delay_min_s,
        "reply_delay_max_s": agent.reply_delay_max_s,
    }


def default_settings(character_id: str, **changes: Any) -> AgentSettings:
    """A character's settings before its creator ever changed them (autonomy off), with
    `changes` applied."""
    agent = AgentSettings(
        character_id=character_id,
        enabled=False,
        posts_per_day=3,
        replies_per_hour=4,
        tokens_per_day=20_000,
        browse_per_day=4,
        active_from=8,
        active_until=22,
        timezone="UTC",
        interests=[],
        posting_style="",
        reply_policy="engaged",
        approval_mode=False,
        allowed_actions=list(ALLOWABLE),
        reply_delay_min_s=45,
        reply_delay_max_s=240,
        planned_through="",
        schedule_revision=0,
    )
    for name, value in changes.items():
        setattr(agent, name, value)
    return agent


async def _own_character(session: AsyncSession, account: Account, ref: str) -> Character:
    return await get_editable_character(session, account, ref)


async def get_autonomy(session: AsyncSession, account: Account, ref: str) -> AgentSettings:
    """A character's autonomy settings (its creator only)."""
    character = await _own_character(session, account, ref)
    agent = await session.get(AgentSettings, character.id)
    return agent or default_settings(character.id)


async def update_autonomy(
    session: AsyncSession, account: Account, ref: str, changes: dict[str, Any]
) -> AgentSettings:
    """Change some autonomy settings (the caller commits); a schedule change re-plans the
    character's days."""
    character = await _own_character(session, account, ref)
    if "timezone" in changes:
        zone(changes["timezone"])  # a clear 4xx before anything is written
    if "allowed_actions" in changes:
        unknown = sorted(set(changes["allowed_actions"]) - set(ALLOWABLE))
        if unknown:
            raise Invalid(
                f"unknown actions {unknown}; choose from {list(ALLOWABLE)}", code="bad_action"
            )
        changes["allowed_actions"] = [a for a in ALLOWABLE if a in changes["allowed_actions"]]
    if changes.get("enabled"):
        actor = await session.get(Actor, character.id)
        if actor is None or actor.hidden:
            raise Invalid(
                "a private character cannot act in the network; make it public or unlisted first",
                code="character_private",
            )
    agent = await session.get(AgentSettings, character.id)
    if agent is None:
        agent = default_settings(character.id)
        session.add(agent)
    low = changes.get("reply_delay_min_s", agent.reply_delay_min_s)
    high = changes.get("reply_delay_max_s", agent.reply_delay_max_s)
    if low > high:
        raise Invalid(
            f"the shortest reply delay ({low} s) is longer than the longest ({high} s)",
            code="bad_reply_delay",
        )
    for name, value in changes.items():
        setattr(agent, name, value)
    await session.flush()
    if SCHEDULE_FIELDS & set(changes):
        await replan(session, character.id, clock.now())
    return agent


def item_out(item: AgendaItem) -> dict[str, Any]:
    """One agenda item for the operator view: what, when, why, with what, at what cost."""
    return {
        "id": item.id,
        "kind": item.kind,
        "state": item.state,
        "reason": item.reason,
        "due_at": item.due_at.isoformat(),
        "finished_at": item.finished_at.isoformat() if item.finished_at else None,
        "outcome": item.outcome,
        "detail": item.detail,
        "text": item.output_text,
        "post_id": item.result_post_id,
        "trigger_post_id": item.trigger_post_id,
        "attempts": item.attempts,
        "inputs": item.inputs,
        "memories_used": item.memories_used,
        "tokens": {"prompt": item.prompt_tokens, "completion": item.completion_tokens},
        "backend": item.backend,
        "model": item.model,
    }


async def list_activity(
    session: AsyncSession,
    account: Account,
    ref: str,
    state: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[AgendaItem], str | None]:
    """A character's agenda, newest first: what it did, is due to do, and what was held."""
    character = await _own_character(session, account, ref)
    if state is not None and state not in STATES:
        raise Invalid(f"unknown state {state!r}; choose from {list(STATES)}", code="bad_state")
    limit = max(1, min(int(limit), PAGE_MAX))
    cursor = check_cursor(cursor)
    query = select(AgendaItem).where(AgendaItem.character_id == character.id)
    if state:
        query = query.where(AgendaItem.state == state)
    if kind:
        query = query.where(AgendaItem.kind == kind)
    if cursor:
        query = query.where(AgendaItem.id < cursor)
    rows = list(await session.scalars(query.order_by(AgendaItem.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None


async def activity_summary(
    session: AsyncSession, settings: Settings, account: Account, ref: str
) -> dict[str, Any]:
    """What a character spent and did in the last 24 hours, against its limits."""
    character = await _own_character(session, account, ref)
    agent = await session.get(AgentSettings, character.id) or default_settings(character.id)
    settings = await with_overrides(session, settings)  # the admins' runtime limits
    now = clock.now()
    used = await usage_since(session, now, character.id)
    outcomes = Counter(
        {
            f"{kind}:{outcome}": int(count)
            for kind, outcome, count in await session.execute(
                select(AgendaItem.kind, AgendaItem.outcome, func.count())
                .where(AgendaItem.character_id == character.id, AgendaItem.finished_at >= now - DAY)
                .group_by(AgendaItem.kind, AgendaItem.outcome)
            )
        }
    )
    pending = await session.scalar(
        select(func.count()).where(
            AgendaItem.character_id == character.id, AgendaItem.state == "pending"
        )
    )
    held = await session.scalar(
        select(func.count()).where(
            AgendaItem.character_id == character.id, AgendaItem.state == "held"
        )
    )
    next_due = await session.scalar(
        select(func.min(AgendaItem.due_at)).where(
            AgendaItem.character_id == character.id, AgendaItem.state == "pending"
        )
    )
    return {
        "enabled": agent.enabled,
        "last_24h": {
            "tokens": used.tokens,
            "posts": used.posts,
            "replies_last_hour": used.replies,
            "outcomes": dict(sorted(outcomes.items())),
        },
        "limits": {
            "tokens_per_day": agent.tokens_per_day,
            "posts_per_day": agent.posts_per_day,
            "replies_per_hour": agent.replies_per_hour,
            "instance_tokens_per_day": settings.agents_tokens_per_day,
            "instance_posts_per_day": settings.agents_posts_per_day,
            "instance_replies_per_hour": settings.agents_replies_per_hour,
        },
        "pending": int(pending or 0),
        "held": int(held or 0),
        "next_due_at": next_due.isoformat() if next_due else None,
    }


async def _held_item(session: AsyncSession, account: Account, item_id: str) -> AgendaItem:
    item = await session.get(AgendaItem, item_id)
    character = await session.get(Character, item.character_id) if item else None
    if item is None or character is None or character.owner_id != account.id:
        raise NotFound(f"no held post '{item_id}' of yours")
    if item.state != "held":
        raise Conflict(f"this item is {item.state}, not held for review", code="not_held")
    return item


async def approve(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    item_id: str,
    text: str | None = None,
) -> AgendaItem:
    """Publish a held post (optionally edited) as the character; the network's rules
    (blocks, AI preferences, the thread-loop guard) still apply."""
    item = await _held_item(session, account, item_id)
    body = (text if text is not None else item.output_text).strip()
    if not body:
        raise Invalid("there is no text to publish", code="empty_post")
    character = await session.get(Character, item.character_id)
    actor = await session.get(Actor, item.character_id)
    assert character is not None and actor is not None
    viewer = await viewer_for(session, account, actor.handle)
    visibility, in_reply_to, warning = "public", None, ""
    if item.kind in ("reply", "answer_dm") and item.trigger_post_id:
        parent = await get_visible_post(session, viewer, item.trigger_post_id)
        cap = await max_ai_turns(session, settings)
        if await ai_streak(session, parent, cap) >= cap:
            raise Conflict(
                f"the thread already has {cap} AI posts in a row; reject this reply",
                code="thread_loop",
            )
        visibility, in_reply_to, warning = parent.visibility, parent.id, parent.content_warning
    post_id = new_id()
    now = clock.now()
    claimed = await session.execute(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.state == "held")
        .values(
            state="done",
            outcome="published",
            output_text=body,
            result_post_id=post_id,
            reviewed_at=now,
            detail=f"{item.detail} — approved by its creator",
        )
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise Conflict("this item was reviewed meanwhile", code="not_held")
    await posts.create_post(
        session,
        viewer,
        body,
        content_warning=warning,  # a reply keeps its parent's warning, as when not held
        visibility=visibility,
        in_reply_to_id=in_reply_to,
        post_id=post_id,
    )
    await session.refresh(item)
    return item


async def reject(session: AsyncSession, account: Account, item_id: str) -> AgendaItem:
    """Turn a held post down: it is never published."""
    item = await _held_item(session, account, item_id)
    turned_down = await session.execute(
        update(AgendaItem)
        .where(AgendaItem.id == item.id, AgendaItem.state == "held")
        .values(state="rejected", outcome="rejected", reviewed_at=clock.now())
    )
    if getattr(turned_down, "rowcount", 0) != 1:
        raise Conflict("this item was reviewed meanwhile", code="not_held")
    await session.refresh(item)
    return item
