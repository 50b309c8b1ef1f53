"""The engine: plan agendas, hand out due actions, carry one out. Queues only carry ids.

Run an item: claim it (an atomic UPDATE that numbers the attempt), read and generate
without holding a transaction, then record the result and apply it (publish, like,
follow) in one transaction (`db.transaction`) that first re-checks the claim. Whoever
lost the item to an expired lease finds the claim changed and writes nothing, so a retry
never publishes twice; a worker killed before that transaction leaves the item to be
handed out again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.accounts.models import Account
from personae.agents import actions, planner
from personae.agents.actions import Action, NewMemory, Result, Skip
from personae.agents.guards import limit_reached
from personae.agents.models import AgendaItem, AgentSettings
from personae.agents.triggers import agenda_row, insert_agenda
from personae.characters.models import Character
from personae.config import Settings
from personae.db import transaction
from personae.errors import DomainError
from personae.llm.base import BackendError
from personae.llm.registry import BackendRegistry
from personae.memory.models import Memory
from personae.memory.reflection import reflect
from personae.memory.stream import memories_since_reflection, remember, touch_memories
from personae.social.access import Viewer, blocks_and_mutes
from personae.social.models import Actor

log = logging.getLogger(__name__)
PLAN_DAYS_AHEAD = 1  # today and tomorrow: a restart after a night off still finds them


@dataclass(frozen=True)
class Engine:
    """What planning and carrying out actions need: settings, database, model backends."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    backends: BackendRegistry


_WRITERS: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


def writing(engine: Engine) -> contextlib.AbstractAsyncContextManager[object]:
    """Serialise this process's agenda writes on SQLite; a no-op on PostgreSQL.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in
    growing steps (up to 100 ms) before trying again: with several actions finishing at
    once most of the time went to those sleeps. Queueing them here instead costs nothing.
    """
    if engine.settings.effective_database_url.startswith("sqlite"):
        lock = _WRITERS.get(engine.sessions)
        if lock is None:
            lock = _WRITERS[engine.sessions] = asyncio.Lock()
        return lock
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- planning


async def plan(engine: Engine, now: datetime) -> int:
    """Write the coming day's scheduled actions for every autonomous character; returns how many.

    Idempotent: keys are derived from character, date and slot, and each character's
    `planned_through` skips the days already written.
    """
    written = 0
    async with transaction(engine.sessions) as session:
        rows = (
            await session.execute(
                select(AgentSettings)
                .join(Actor, Actor.id == AgentSettings.character_id)
                .where(
                    AgentSettings.enabled.is_(True),
                    Actor.hidden.is_(False),
                    Actor.suspended.is_(False),
                )
            )
        ).scalars()
        for agent in rows:
            today = planner.local_today(agent, now)
            last = today + timedelta(days=PLAN_DAYS_AHEAD)
            if agent.planned_through >= last.isoformat():
                continue
            new_rows = []
            day = today
            while day <= last:
                if day.isoformat() > agent.planned_through:
                    for slot in planner.plan_day(agent, day):
                        if slot.due_at >= now:  # a slot already past is not made up in a burst
                            new_rows.append(
                                agenda_row(
                                    agent.character_id,
                                    slot.kind,
                                    slot.key,
                                    slot.due_at,
                                    slot.reason,
                                )
                            )
                day += timedelta(days=1)
            # Only if the schedule did not change meanwhile (a concurrent `replan`): else
            # these rows belong to the old schedule and the next pass plans the new one.
            marked = await session.execute(
                update(AgentSettings)
                .where(
                    AgentSettings.character_id == agent.character_id,
                    AgentSettings.schedule_revision == agent.schedule_revision,
                )
                .values(planned_through=last.isoformat())
                .execution_options(synchronize_session=False)
            )
            if getattr(marked, "rowcount", 0) == 1:
                await insert_agenda(session, new_rows)
                written += len(new_rows)
    return written


def _scheduled(character_id: str, slot: planner.Planned) -> dict[str, object]:
    return agenda_row(character_id, slot.kind, slot.key, slot.due_at, slot.reason)


async def replan(session: AsyncSession, character_id: str, now: datetime) -> None:
    """Drop a character's scheduled (not triggered) pending actions so they are planned anew."""
    await session.execute(
        update(AgendaItem)
        .where(
            AgendaItem.character_id == character_id,
            AgendaItem.state == "pending",
            AgendaItem.key.like("plan:%"),
            AgendaItem.due_at >= now,
        )
        .values(state="skipped", outcome="skipped", detail="the schedule changed", finished_at=now)
    )
    await session.execute(
        update(AgentSettings)
        .where(AgentSettings.character_id == character_id)
        .values(planned_through="", schedule_revision=AgentSettings.schedule_revision + 1)
    )


# ----------------------------------------------------------------------------- hand-out


def _ready(now: datetime) -> object:
    return or_(
        and_(AgendaItem.state == "pending", AgendaItem.ready_at <= now),
        and_(AgendaItem.state == "running", AgendaItem.lease_until <= now),
    )


async def take_due(engine: Engine, now: datetime, limit: int = 200) -> list[str]:
    """Ids of actions ready at `now` (due, or abandoned by a dead worker), leased for hand-out.

    Their ready_at moves one lease ahead, so the next pass does not hand them out again
    unless the queue lost them.
    """
    lease = timedelta(seconds=engine.settings.agents_lease_s)
    async with engine.sessions() as session:
        ids = list(
            await session.scalars(
                select(AgendaItem.id)
                .where(_ready(now))  # type: ignore[arg-type]
                .order_by(AgendaItem.ready_at)
                .limit(limit)
            )
        )
    if ids:
        async with writing(engine), transaction(engine.sessions) as session:
            await session.execute(
                update(AgendaItem)
                .where(AgendaItem.id.in_(ids), AgendaItem.state == "pending")
                .values(ready_at=now + lease)
            )
    return ids


async def next_ready_at(engine: Engine) -> datetime | None:
    """When the earliest pending action becomes ready (None when nothing is pending)."""
    async with engine.sessions() as session:
        pending = await session.scalar(
            select(func.min(AgendaItem.ready_at)).where(AgendaItem.state == "pending")
        )
        running = await session.scalar(
            select(func.min(AgendaItem.lease_until)).where(AgendaItem.state == "running")
        )
    moments = [m for m in (pending, running) if m is not None]
    return min(moments) if moments else None


# ----------------------------------------------------------------------------- carrying out


async def _claim(
    session: AsyncSession, item_id: str, now: datetime, lease_s: float
) -> AgendaItem | None:
    """Take the item for this attempt (its `claim` numbers it), or None when it is not free;
    the caller commits."""
    result = await session.scalars(
        update(AgendaItem)
        .where(
            AgendaItem.id == item_id,
            or_(
                AgendaItem.state == "pending",
                and_(AgendaItem.state == "running", AgendaItem.lease_until <= now),
            ),
        )
        .values(
            state="running",
            claim=AgendaItem.claim + 1,
            attempts=AgendaItem.attempts + 1,
            lease_until=now + timedelta(seconds=lease_s),
        )
        .returning(AgendaItem),
        execution_options={"synchronize_session": False},
    )
    return result.one_or_none()


def _still_mine(item_id: str, claim: int) -> object:
    return and_(AgendaItem.id == item_id, AgendaItem.claim == claim, AgendaItem.state == "running")


STATE_OF = {"held": "held", "skipped": "skipped", "failed": "failed"}


async def _record(
    session: AsyncSession,
    settings: Settings,
    item_id: str,
    claim: int,
    result: Result,
    now: datetime,
    character_id: str,
) -> str:
    """Write the result, its memories and its effect in the caller's transaction; the
    outcome recorded, or '' (nothing written) when the item is no longer ours."""
    if result.limit_kind is not None and result.outcome in ("published", "held"):
        # Checked again here, where concurrent actions of the same character queue up (the
        # settings row is locked on PostgreSQL; SQLite has one writer): the read-phase
        # check alone would let a burst of actions all pass before any was recorded.
        agent = await session.scalar(
            select(AgentSettings)
            .where(AgentSettings.character_id == character_id)
            .with_for_update()
        )
        reason = (
            await limit_reached(session, settings, agent, result.limit_kind, now) if agent else ""
        )
        if reason:
            result = dataclasses.replace(
                result, outcome="skipped", detail=reason, post_id=None, apply=None
            )
    written = await session.execute(
        update(AgendaItem)
        .where(_still_mine(item_id, claim))  # type: ignore[arg-type]
        .values(
            state=STATE_OF.get(result.outcome, "done"),
            outcome=result.outcome,
            detail=result.detail[:2000],
            output_text=result.output_text,
            result_post_id=result.post_id,
            inputs=result.inputs,
            memories_used=result.memories_used,
            prompt_tokens=AgendaItem.prompt_tokens + result.prompt_tokens,
            completion_tokens=AgendaItem.completion_tokens + result.completion_tokens,
            backend=result.backend,
            model=result.model,
            finished_at=now,
            lease_until=None,
        )
    )
    if getattr(written, "rowcount", 0) != 1:
        return ""
    await touch_memories(session, list(result.memories_used), now)
    for memory in result.memories:
        await remember(
            session,
            character_id,
            memory.kind,
            memory.text,
            about_actor_id=memory.about_actor_id,
            source="self" if memory.kind == "reflection" else memory.source,
            source_id=memory.source_id,
            importance=memory.importance,
            scored_by=memory.scored_by,
        )
    if result.apply is not None:
        await result.apply(session)
    return result.outcome


async def _retry_or_fail(
    engine: Engine,
    item_id: str,
    claim: int,
    attempts: int,
    error: str,
    result: Result,
    now: datetime,
) -> str:
    """After a failed attempt: back off and try again, or give up visibly."""
    settings = engine.settings
    spent = {
        "prompt_tokens": AgendaItem.prompt_tokens + result.prompt_tokens,
        "completion_tokens": AgendaItem.completion_tokens + result.completion_tokens,
    }
    if attempts < settings.agents_max_attempts:
        delay = settings.agents_retry_base_s * 2 ** (attempts - 1)
        values: dict[str, object] = {
            "state": "pending",
            "ready_at": now + timedelta(seconds=delay),
            "lease_until": None,
            "detail": f"attempt {attempts} failed ({error}); trying again in {delay:.0f} s",
        }
        outcome = "retry"
    else:
        values = {
            "state": "failed",
            "outcome": "failed",
            "finished_at": now,
            "lease_until": None,
            "detail": f"gave up after {attempts} attempts: {error}",
        }
        outcome = "failed"
    async with writing(engine), transaction(engine.sessions) as session:
        await session.execute(
            update(AgendaItem).where(_still_mine(item_id, claim)).values(**values, **spent)  # type: ignore[arg-type]
        )
    return outcome


async def _prepare(
    engine: Engine, session: AsyncSession, item: AgendaItem, now: datetime
) -> Action:
    """Load the character, its settings, actor and viewer; Skip when it may not act now."""
    row = (
        await session.execute(
            select(Character, AgentSettings, Actor, Account)
            .join(AgentSettings, AgentSettings.character_id == Character.id)
            .join(Actor, Actor.id == Character.id)
            .join(Account, Account.id == Character.owner_id)
            .where(Character.id == item.character_id)
        )
    ).one_or_none()
    if row is None:
        raise Skip("the character is gone")
    character, agent, actor, owner = row
    if not agent.enabled:
        raise Skip("its autonomy is off")
    if actor.hidden or actor.suspended:
        raise Skip("the character is private or suspended")
    # What `viewer_for(owner, as=character)` builds, without its lookups of the operator's
    # other actors: a character reads only as itself.
    blocked, muted = await blocks_and_mutes(session, actor)
    viewer = Viewer(owner, actor, (actor.id,), blocked, muted)
    return Action(
        settings=engine.settings,
        backends=engine.backends,
        session=session,
        item=item,
        character=character,
        agent=agent,
        actor=actor,
        viewer=viewer,
        backend=engine.backends.get(character.backend),
        now=now,
    )


async def _reflect(action: Action) -> None:
    """Write higher-level memories from the recent ones."""
    made, usage = await reflect(
        action.session, action.character.id, action.backend, persona=action.character.name
    )
    action.spend(usage)
    if not made:
        raise Skip("the model wrote no usable reflection")
    # The rows `reflect` flushed are rolled back with the read phase; they are written
    # again, with everything else, only if this attempt's result is recorded.
    action.result.memories = [
        NewMemory("reflection", m.text, importance=m.importance, scored_by=m.scored_by)
        for m in made
    ]
    action.result.outcome = "reflected"
    action.result.detail = f"{len(made)} new reflection(s)"
    action.result.inputs = {"insights": [m.text for m in made]}


# New memories per character written by this process since it last counted them in the
# database: the count (a query) runs only when this says a reflection may be due.
_UNCOUNTED: dict[str, int] = {}


async def _maybe_schedule_reflection(
    engine: Engine, character_id: str, now: datetime, added: int
) -> None:
    """Queue a reflection once enough new memories have gathered."""
    seen = _UNCOUNTED.get(character_id, 0) + added
    if seen < engine.settings.agents_reflect_every:
        _UNCOUNTED[character_id] = seen
        return
    _UNCOUNTED.pop(character_id, None)
    async with engine.sessions() as session:
        count = await memories_since_reflection(session, character_id)
        if count < engine.settings.agents_reflect_every:
            _UNCOUNTED[character_id] = count  # check again once the rest have come
            return
        # Keyed by the newest memory: one reflection per batch, and a failed one does not
        # stop the next batch from getting its own.
        newest = await session.scalar(
            select(func.max(Memory.id)).where(Memory.character_id == character_id)
        )
    key = f"reflect:{character_id}:{newest}"
    row = agenda_row(character_id, "reflect", key, now, f"{count} new memories to think over")
    async with writing(engine), transaction(engine.sessions) as session:
        await insert_agenda(session, [row])


async def run_item(engine: Engine, item_id: str, now: datetime) -> str:
    """Claim and carry out one action; returns its outcome ('' when someone else holds it)."""
    async with writing(engine), transaction(engine.sessions) as session:
        item = await _claim(session, item_id, now, engine.settings.agents_lease_s)
    if item is None:
        return ""
    claim, attempts, character_id = item.claim, item.attempts, item.character_id
    if attempts > engine.settings.agents_max_attempts:
        # Its earlier attempts never came back (workers killed on it, again and again).
        return await _retry_or_fail(
            engine, item_id, claim, attempts, "no attempt finished", Result(), now
        )
    result = Result()
    failed = ""
    # The read phase holds no transaction it commits: whatever it flushed (a reflection's
    # memories) is rolled back when the session closes, and written again by `_record`.
    async with engine.sessions() as session:
        try:
            action = await _prepare(engine, session, item, now)
            result = action.result
            handler = _reflect if item.kind == "reflect" else actions.HANDLERS[item.kind]
            await handler(action)
        except Skip as skip:
            result.outcome, result.detail, result.apply = "skipped", skip.reason, None
        except BackendError as exc:
            log.warning("agenda item %s: backend failed: %s", item_id, exc)
            failed = str(exc)
        except DomainError as exc:
            result.outcome, result.detail, result.apply = "skipped", exc.message, None
        except Exception as exc:  # logged and retried, never lost
            log.exception("agenda item %s failed", item_id)
            failed = f"{type(exc).__name__}: {exc}"
        # Reads are over: detach the loaded objects so they stay readable for the apply
        # step (a rollback would expire them), and give the connection back.
        session.expunge_all()
    if failed:
        return await _retry_or_fail(engine, item_id, claim, attempts, failed, result, now)
    try:
        async with writing(engine), transaction(engine.sessions) as session:
            recorded = await _record(
                session, engine.settings, item_id, claim, result, now, character_id
            )
    except DomainError as exc:
        # The network refused at the last moment (a block, a deleted post): skip.
        refused = Result(
            outcome="skipped",
            detail=exc.message,
            output_text=result.output_text,
            inputs=result.inputs,
            memories_used=result.memories_used,
            memories=result.memories,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            backend=result.backend,
            model=result.model,
        )
        async with writing(engine), transaction(engine.sessions) as session:
            recorded = await _record(
                session, engine.settings, item_id, claim, refused, now, character_id
            )
        result = refused
    except Exception as exc:  # the database failed while recording: retried, never lost
        log.exception("agenda item %s could not be recorded", item_id)
        return await _retry_or_fail(
            engine, item_id, claim, attempts, f"{type(exc).__name__}: {exc}", result, now
        )
    if not recorded:
        return ""
    if result.memories:
        await _maybe_schedule_reflection(engine, character_id, now, len(result.memories))
    return recorded
