"""`personae simulate`: many autonomous characters over simulated hours, as fast as the model goes.

The engine runs on a `SimClock` that jumps from one due action to the next, so a day of
a community takes as long as its generations do. Items are carried out by calling
`run_item` directly: a simulation is one process by design, and a broker would only add
a hop (the agenda is the queue either way). By default it runs on a throwaway SQLite
database in a temporary folder, so it never touches the real instance.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae import clock
from personae.accounts.models import Account
from personae.accounts.service import UNUSABLE_PASSWORD_HASH, create_account
from personae.agents import engine as agent_engine
from personae.agents.engine import Engine
from personae.agents.jobs import action_slots
from personae.agents.models import AgendaItem, AgentSettings
from personae.agents.runtime import open_engine
from personae.characters.models import Character
from personae.characters.schemas import CharacterCreate
from personae.characters.service import create_character
from personae.config import Settings
from personae.db import transaction
from personae.demo import seed_demo
from personae.demo.cast import CHARACTERS, PEOPLE
from personae.llm.registry import BackendRegistry

log = logging.getLogger(__name__)

INTERESTS = (
    "tide pools",
    "sourdough",
    "old maps",
    "jazz records",
    "urban foxes",
    "chess openings",
    "mushroom foraging",
    "rainy cities",
    "night trains",
    "beekeeping",
    "typewriters",
    "comets",
    "street food",
    "lighthouses",
    "origami",
    "board games",
)
FIRST_NAMES = ("Ada", "Bram", "Cleo", "Dov", "Esme", "Finn", "Greta", "Hugo", "Iris", "Jonah")
TRAITS = ("curious", "wry", "gentle", "restless", "earnest", "dreamy", "blunt", "playful")
SIM_OPERATOR = "simulation"
# The most passes at one simulated instant (each may add new due actions, such as
# replies to what was just posted) before the clock is moved on regardless.
MAX_PASSES_PER_INSTANT = 20
# Re-plan at least this often, so a long jump never skips a day's schedule.
MAX_JUMP = timedelta(hours=1)


@dataclass
class SimulationResult:
    """What a simulation did: actions by kind and outcome, reasons, tokens and speed."""

    characters: int
    hours: float
    backend: str
    concurrency: int
    database_url: str
    started_at: datetime
    ended_at: datetime
    actions: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0

    @property
    def published(self) -> int:
        """Posts and replies the characters published."""
        return sum(n for (_, outcome), n in self.outcomes.items() if outcome == "published")

    @property
    def actions_per_s(self) -> float:
        """Actions carried out per wall-clock second."""
        return self.actions / self.wall_s if self.wall_s else 0.0

    @property
    def output_tokens_per_s(self) -> float:
        """Generated tokens per wall-clock second."""
        return self.completion_tokens / self.wall_s if self.wall_s else 0.0


def _sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'simulation.db'}"


async def _operator(session: AsyncSession) -> Account:
    """An account to own the extra characters: a demo person, else a simulation account."""
    demo_people = [p.handle for p in PEOPLE]
    account = await session.scalar(
        select(Account).where(Account.username.in_(demo_people)).order_by(Account.username)
    )
    if account is None:
        account = await session.scalar(select(Account).where(Account.username == SIM_OPERATOR))
    if account is None:
        account = await create_account(
            session, SIM_OPERATOR, secrets.token_urlsafe(24), "Simulation", is_admin=False
        )
        account.password_hash = UNUSABLE_PASSWORD_HASH  # nobody signs in as it
    return account


async def make_autonomous(
    session: AsyncSession, count: int, rng: random.Random, backend: str | None = None
) -> list[str]:
    """Turn autonomy on for `count` characters (demo ones first, then new ones); their ids.

    Flushed, not committed: the caller owns the transaction.
    """
    by_handle = {c.handle: c for c in CHARACTERS}
    existing = list(
        await session.scalars(
            select(Character).where(Character.handle.in_(by_handle)).order_by(Character.handle)
        )
    )
    chosen: list[tuple[Character, list[str]]] = []
    for character in existing[:count]:
        tags = list(by_handle[character.handle].tags[:2])
        chosen.append((character, [*tags, rng.choice(INTERESTS)]))
    if len(chosen) < count:
        owner = await _operator(session)
        for index in range(len(chosen), count):
            name = f"{rng.choice(FIRST_NAMES)} {index + 1}"
            trait = rng.choice(TRAITS)
            interests = rng.sample(INTERESTS, 2)
            fields = CharacterCreate(
                name=name,
                visibility="public",
                description=f"{{{{char}}}} is {trait} and loves {' and '.join(interests)}.",
                personality=f"{trait.capitalize()}; writes short, friendly posts.",
                tags=interests,
                backend=backend,
                creator_notes="Made by `personae simulate`.",
            )
            character = await create_character(session, owner, fields, commit=False)
            chosen.append((character, interests))
    for character, interests in chosen:
        agent = await session.get(AgentSettings, character.id)
        if agent is None:
            agent = AgentSettings(character_id=character.id)
            session.add(agent)
        if backend:
            character.backend = backend
        agent.enabled = True
        agent.interests = interests
        # Active all day (equal bounds): a run of a few hours starting at any time of
        # day should see the community act, not sleep through its quiet hours.
        agent.active_from = agent.active_until = 0
    # The demo turns its characters on; a simulation runs exactly the ones it asked for.
    ids = [character.id for character, _ in chosen]
    await session.execute(
        update(AgentSettings).where(AgentSettings.character_id.not_in(ids)).values(enabled=False)
    )
    await session.flush()
    return ids


async def _prepare(engine: Engine, count: int, seed: int, backend: str | None) -> list[str]:
    async with transaction(engine.sessions) as session:
        await seed_demo(session, if_empty=True)
        return await make_autonomous(session, count, random.Random(seed), backend)


async def _tally(engine: Engine, ids: Sequence[str], result: SimulationResult) -> None:
    """Fill the result in from the agenda rows the simulation carried out."""
    unique = list(dict.fromkeys(ids))
    async with engine.sessions() as session:
        for start in range(0, len(unique), 500):
            rows = await session.scalars(
                select(AgendaItem).where(AgendaItem.id.in_(unique[start : start + 500]))
            )
            for item in rows:
                result.prompt_tokens += item.prompt_tokens
                result.completion_tokens += item.completion_tokens
                if item.state in ("pending", "running"):
                    continue  # waiting for a retry when the simulation ended
                result.actions += 1
                result.outcomes[(item.kind, item.outcome or item.state)] += 1
                if item.state == "skipped":
                    result.skipped[item.detail or "no reason given"] += 1
                elif item.state == "failed":
                    result.failed[item.detail or "no reason given"] += 1


async def run_simulation(
    engine: Engine,
    characters: int,
    hours: float,
    *,
    seed: int = 0,
    concurrency: int | None = None,
    backend: str | None = None,
    start: datetime | None = None,
    progress: Callable[[float, int], None] | None = None,
) -> SimulationResult:
    """Simulate `hours` of `characters` autonomous characters on `engine`'s database."""
    if characters < 1 or hours <= 0:
        raise ValueError("a simulation needs at least one character and some hours")
    settings = engine.settings
    name = backend or settings.default_backend
    engine.backends.get(name)  # a clear BackendError now rather than in every action
    slots = concurrency or action_slots(settings, name)
    await _prepare(engine, characters, seed, backend)
    sim = clock.SimClock(start or clock.now())
    begin = sim.now()
    end = begin + timedelta(hours=hours)
    total_s = (end - begin).total_seconds()
    idle_step = timedelta(seconds=max(settings.agents_tick_s, 60.0))
    gate = asyncio.Semaphore(slots)
    ran: list[str] = []
    result = SimulationResult(
        characters=characters,
        hours=hours,
        backend=name,
        concurrency=slots,
        database_url=settings.effective_database_url,
        started_at=begin,
        ended_at=end,
    )

    async def carry_out(item_id: str) -> None:
        async with gate:
            try:
                await agent_engine.run_item(engine, item_id, sim.now())
            except Exception:
                # The engine records the failures it understands; count and log the rest.
                result.errors += 1
                log.exception("simulation: agenda item %s failed", item_id)
            ran.append(item_id)

    wall_start = time.perf_counter()
    with clock.simulated(sim):
        passes = 0
        while sim.now() < end:
            now = sim.now()
            await agent_engine.plan(engine, now)
            due = await agent_engine.take_due(engine, now)
            if due:
                # Tasks copy the context, so every action sees the simulated clock.
                await asyncio.gather(*(carry_out(item_id) for item_id in due))
                passes += 1
                if passes < MAX_PASSES_PER_INSTANT:
                    continue  # what just happened may have made more actions due now
            passes = 0
            following = await agent_engine.next_ready_at(engine)
            if following is None or following <= now:
                step = now + idle_step
            else:
                step = min(following, now + MAX_JUMP)
            sim.advance_to(min(step, end))
            if progress is not None:
                progress((sim.now() - begin).total_seconds() / total_s, len(ran))
    result.wall_s = time.perf_counter() - wall_start
    await _tally(engine, ran, result)
    return result


async def simulate(
    settings: Settings,
    characters: int,
    hours: float,
    *,
    backend: str | None = None,
    seed: int = 0,
    database_url: str | None = None,
    concurrency: int | None = None,
    backends: BackendRegistry | None = None,
    progress: Callable[[float, int], None] | None = None,
) -> SimulationResult:
    """Run a simulation on a throwaway SQLite database (or `database_url`); see run_simulation."""
    with tempfile.TemporaryDirectory(prefix="personae-sim-") as folder:
        url = database_url or _sqlite_url(Path(folder))
        updates: dict[str, object] = {"database_url": url}
        if backend:
            updates["default_backend"] = backend
        config = settings.model_copy(update=updates)
        async with open_engine(config, backends) as engine:
            return await run_simulation(
                engine,
                characters,
                hours,
                seed=seed,
                concurrency=concurrency,
                backend=backend,
                progress=progress,
            )
