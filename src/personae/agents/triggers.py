"""Things that happen to a character (a mention, a reply, a follower, a direct message)
add due actions to its agenda, in the same transaction as the event itself."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from personae import clock
from personae.agents.models import AgendaItem, AgentSettings
from personae.db import new_id
from personae.social.events import Notified
from personae.social.models import Actor, Post

# notification kind -> (action kind, the permission it needs)
TRIGGERED = {"mention": "reply", "reply": "reply", "follow": "follow_back"}


async def insert_agenda(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert agenda rows, skipping any whose idempotency key is already there."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(AgendaItem).values(list(rows)).on_conflict_do_nothing(index_elements=["key"])
    await session.execute(statement)


def agenda_row(
    character_id: str,
    kind: str,
    key: str,
    due_at: datetime,
    reason: str,
    trigger_post_id: str | None = None,
    trigger_actor_id: str | None = None,
) -> dict[str, Any]:
    """Column values of a new pending agenda item."""
    return {
        "id": new_id(),
        "created_at": clock.now(),
        "character_id": character_id,
        "kind": kind,
        "key": key,
        "reason": reason,
        "due_at": due_at,
        "ready_at": due_at,
        "state": "pending",
        "trigger_post_id": trigger_post_id,
        "trigger_actor_id": trigger_actor_id,
        "attempts": 0,
        "claim": 0,
        "outcome": "",
        "detail": "",
        "output_text": "",
        "inputs": {},
        "memories_used": [],
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "backend": "",
        "model": "",
    }


async def on_notified(session: AsyncSession, event: Notified) -> None:
    """Add the action a notification calls for when the recipient acts on its own.

    Whether it may act (policy, limits, blocks, engagement) is decided when the action
    runs, so that a change of settings in between is honoured.
    """
    recipient_id, kind, actor_id, post_id = (
        event.recipient_id,
        event.kind,
        event.actor_id,
        event.post_id,
    )
    action = TRIGGERED.get(kind)
    if action is None:
        return
    found = (
        await session.execute(
            select(
                AgentSettings.enabled,
                AgentSettings.reply_delay_min_s,
                AgentSettings.reply_delay_max_s,
            ).where(AgentSettings.character_id == recipient_id)
        )
    ).first()
    if found is None or not found.enabled:
        return
    if action == "reply" and post_id is not None:
        post = await session.get(Post, post_id)
        if post is not None and post.visibility == "direct":
            action = "answer_dm"
    subject = post_id if action != "follow_back" else actor_id
    key = f"{action}:{recipient_id}:{subject}"
    # People answer after a moment, not instantly; so do characters (the delay is seeded by
    # the key, so replays agree).
    rng = random.Random(key)
    low = max(0, found.reply_delay_min_s)
    due = clock.now() + timedelta(seconds=rng.randint(low, max(low, found.reply_delay_max_s)))
    who = await session.scalar(select(Actor.handle).where(Actor.id == actor_id))
    reasons = {
        "reply": f"@{who} {'mentioned it' if kind == 'mention' else 'replied to it'}",
        "answer_dm": f"@{who} sent it a direct message",
        "follow_back": f"@{who} followed it",
    }
    row = agenda_row(recipient_id, action, key, due, reasons[action], post_id, actor_id)
    await insert_agenda(session, [row])
