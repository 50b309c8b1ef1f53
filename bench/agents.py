"""Agents benchmark: the engine's own speed, its overhead on a real model, and token costs.

Method:
(a) Platform alone. A fresh database (SQLite file, and PostgreSQL when reachable) gets
    P people and C autonomous characters on the deterministic fake backend (it answers
    at once). People follow characters and mention them. N agenda items are written due
    now: 50% posts, 25% replies to those mentions, 25% feed browsing. They are carried
    out with `engine.take_due` + `engine.run_item`, K at a time, exactly as workers do
    (claim, read, generate, moderate, record and publish in one guarded transaction,
    memories included); actions per second = N / wall time. The instance's default
    settings apply (moderation rules on, model-scored importance on: with the fake
    backend those calls cost nothing, so this measures the platform).
(b) Engine overhead on the bundled model. The same kind of post actions run on the
    bundled SmolLM2-135M through the engine at concurrency K (= the backend's slots),
    and the very prompts the engine sent are then replayed straight to the backend at
    the same concurrency. Ratio = engine output tokens/s / backend output tokens/s.
    Goal >= 0.9.
(c) From (b)'s engine run: prompt and output tokens per action (model calls included:
    the post itself and memory scoring) and the prefix-cache hit ratio (cached prompt
    tokens / prompt tokens, as llama.cpp reports them).

Run (from the repository root):
  .venv/bin/python bench/agents.py                       # everything
  .venv/bin/python bench/agents.py --skip-model --actions 2000
  .venv/bin/python bench/agents.py --db sqlite --model-actions 24
The actions run at the moment the run starts (after the cast is written), never at a fixed
date, so the bench keeps working whatever the date. It exits with status 1 when an action
failed (the test suite runs it at a tiny size, `--post-tokens` keeping the model part short).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from personae import clock, wiring
from personae.accounts.models import Account
from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.service import default_settings
from personae.agents.triggers import agenda_row, insert_agenda
from personae.characters.models import Character
from personae.config import BackendSettings, Settings
from personae.db import make_engine, make_sessionmaker, new_id
from personae.llm.base import Backend, ChatMessage, DoneEvent, GenerationParams, StreamEvent
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry, build_backend
from personae.migrate import upgrade
from personae.social.access import viewer_for
from personae.social.actors import create_person_actor, sync_character_actor
from personae.social.models import Follow, Post
from personae.social.posts import create_post

PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "personae_bench_agents"
FAILED_OUTCOMES = ("retry", "failed")
INTERESTS = ["sailing", "stars", "gardens", "old computers", "tea", "rain", "jazz", "maps"]
POST_TEXTS = [
    "The tide is turning and the harbour smells of salt and tar this morning.",
    "Counted forty gulls on the mast today, a record for the season.",
    "Clear skies tonight: Jupiter rises just after nine, low in the east.",
    "Planted the last of the autumn bulbs; the robin supervised closely.",
]


class Recording(Backend):
    """A backend wrapper that keeps every request and its final event."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name, self.model, self.capabilities = inner.name, inner.model, inner.capabilities
        self.calls: list[tuple[list[ChatMessage], GenerationParams, DoneEvent]] = []

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Pass through, remembering the request and the outcome."""
        async for event in self.inner.stream(messages, params):
            if isinstance(event, DoneEvent):
                self.calls.append((list(messages), params, event))
            yield event

    async def count_tokens(self, text: str) -> int:
        """The inner backend's count."""
        return await self.inner.count_tokens(text)

    async def aclose(self) -> None:
        """Nothing of its own to close."""


class Scripted(FakeBackend):
    """The fake backend answering like a model would: JSON where a schema asks for it
    (an importance, a choice, a verdict), else a short post that differs each time."""

    def __init__(self) -> None:
        super().__init__("fake")
        self.count = os.getpid() * 100_000  # worker processes write different posts

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Queue a fitting answer, then stream it as the fake does."""
        self.count += 1
        schema = params.json_schema or {}
        fields = schema.get("properties", {})
        if "importance" in fields:
            self.enqueue(f'{{"importance": {1 + self.count % 9}}}')
        elif "action" in fields:
            choice = fields["action"]["enum"][self.count % 2]
            self.enqueue(f'{{"action": "{choice}", "post": 1}}')
        else:
            words = random.Random(self.count).sample(POST_WORDS, 9)
            self.enqueue(" ".join(words).capitalize() + f", day {self.count}.")
        async for event in super().stream(messages, params):
            yield event
        self.calls.clear()  # the fake keeps every call; a benchmark makes many


POST_WORDS = [
    "tide",
    "harbour",
    "salt",
    "gulls",
    "mast",
    "season",
    "clear",
    "skies",
    "jupiter",
    "rises",
    "east",
    "bulbs",
    "robin",
    "lantern",
    "compass",
    "rope",
    "anchor",
    "storm",
    "calm",
    "breeze",
    "morning",
    "evening",
    "quiet",
    "bright",
    "cold",
    "warm",
    "wind",
    "letters",
    "maps",
    "stars",
    "tea",
    "rain",
    "jazz",
    "garden",
    "roses",
    "moss",
    "fern",
    "stone",
    "bridge",
    "river",
]


@dataclass
class Cast:
    """Who the benchmark created: people and characters (ids, handles, owners)."""

    people: list[Account] = field(default_factory=list)
    characters: list[Character] = field(default_factory=list)
    mentions: list[tuple[str, str, str]] = field(default_factory=list)  # post, author, char


async def fresh_database(kind: str, folder: Path, args: argparse.Namespace) -> str:
    """A new, empty database; its URL."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / 'agents.db'}"
    admin = make_engine(args.pg_admin_url)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{args.pg_database}"'))
    await admin.dispose()
    return args.pg_admin_url.rsplit("/", 1)[0] + f"/{args.pg_database}"


async def drop_pg(args: argparse.Namespace) -> None:
    """Remove the PostgreSQL benchmark database."""
    admin = make_engine(args.pg_admin_url)
    async with admin.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)'))
    await admin.dispose()


async def build_cast(
    sessions: Any, people: int, characters: int, backend: str, rng: random.Random
) -> Cast:
    """People, autonomous characters, follows and mentions (through the real services)."""
    cast = Cast()
    async with sessions() as session:
        for n in range(people):
            account = Account(
                id=new_id(), username=f"person{n}", display_name=f"Person {n}", password_hash="!"
            )
            session.add(account)
            await session.flush()
            await create_person_actor(session, account)
            cast.people.append(account)
        for n in range(characters):
            owner = cast.people[n % len(cast.people)]
            character = Character(
                id=new_id(),
                owner_id=owner.id,
                handle=f"char{n}",
                visibility="public",
                name=f"Character {n}",
                description=f"Character {n} is curious about {INTERESTS[n % len(INTERESTS)]}.",
                personality="warm, witty",
                backend=backend,
            )
            session.add(character)
            await session.flush()
            await sync_character_actor(session, character)
            session.add(
                default_settings(
                    character.id,
                    enabled=True,
                    posts_per_day=48,
                    replies_per_hour=60,
                    tokens_per_day=10_000_000,
                    browse_per_day=0,
                    active_from=0,
                    active_until=24,
                    interests=[INTERESTS[n % len(INTERESTS)], INTERESTS[(n + 3) % len(INTERESTS)]],
                )
            )
            cast.characters.append(character)
        await session.commit()
        for person in cast.people:
            for character in rng.sample(cast.characters, min(5, len(cast.characters))):
                session.add(
                    Follow(follower_id=person.id, followee_id=character.id, state="accepted")
                )
                session.add(
                    Follow(follower_id=character.id, followee_id=person.id, state="accepted")
                )
        await session.commit()
    return cast


async def write_posts(sessions: Any, cast: Cast, count: int, rng: random.Random) -> None:
    """People's posts, some mentioning a character (reply triggers)."""
    async with sessions() as session:
        for n in range(count):
            person = rng.choice(cast.people)
            viewer = await viewer_for(session, person)
            character = rng.choice(cast.characters)
            body = f"@{character.handle} {rng.choice(POST_TEXTS)} ({n})"
            post = await create_post(session, viewer, body)
            cast.mentions.append((post.id, person.id, character.id))
        await session.commit()  # services only flush: the caller owns the transaction
    async with sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(Post))
    if stored != count:
        raise SystemExit(f"only {stored} of the {count} mention posts were stored")


async def due_actions(
    sessions: Any, cast: Cast, count: int, rng: random.Random, now: datetime
) -> list[str]:
    """`count` agenda items due `now`: half posts, a quarter replies, a quarter browsing."""
    rows = []
    with clock.fixed(now - timedelta(minutes=1)):
        for n in range(count):
            character = rng.choice(cast.characters)
            roll = n % 4
            if roll in (0, 1):
                rows.append(agenda_row(character.id, "post", f"bench:post:{n}", now, "bench"))
            elif roll == 2 and cast.mentions:
                post_id, author, target = cast.mentions[n % len(cast.mentions)]
                rows.append(
                    agenda_row(target, "reply", f"bench:reply:{n}", now, "bench", post_id, author)
                )
            else:
                rows.append(agenda_row(character.id, "browse", f"bench:browse:{n}", now, "bench"))
    async with sessions() as session:
        for start in range(0, len(rows), 500):
            await insert_agenda(session, rows[start : start + 500])
        await session.commit()
    return [row["id"] for row in rows]


async def run_all(
    engine: Engine, ids: list[str], concurrency: int, now: datetime
) -> tuple[float, Counter[str]]:
    """Carry out the items as workers would, at `now`, `concurrency` at a time; wall seconds,
    outcomes."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for item_id in ids:
        queue.put_nowait(item_id)
    outcomes: Counter[str] = Counter()

    async def worker() -> None:
        while not queue.empty():
            item_id = queue.get_nowait()
            outcomes[await agents.run_item(engine, item_id, now)] += 1

    started = time.perf_counter()
    with clock.fixed(now):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, outcomes


async def platform_alone(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """(a): actions per second with the fake backend."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as folder:
        url = await fresh_database(kind, Path(folder), args)
        database = make_engine(url)
        try:
            await upgrade(database)
            sessions = make_sessionmaker(database)
            registry = BackendRegistry("fake")
            registry.register("fake", Scripted())
            settings = Settings(database_url=url)
            engine = Engine(settings, sessions, registry)
            cast = await build_cast(sessions, args.people, args.characters, "fake", rng)
            await write_posts(sessions, cast, args.mentions, rng)
            now = clock.now()  # after the cast and its posts, so they lie in the past
            ids = await due_actions(sessions, cast, args.actions, rng, now)
            await run_all(engine, ids[: args.warmup], args.concurrency, now)  # warm caches
            rest = ids[args.warmup :]
            processes = args.processes if kind == "postgres" else 1
            if processes > 1:
                wall, outcomes = await in_processes(url, rest, processes, args.concurrency, now)
            else:
                wall, outcomes = await run_all(engine, rest, args.concurrency, now)
            return {
                "db": kind,
                "processes": processes,
                "actions": len(rest),
                "wall_s": wall,
                "per_s": len(rest) / wall,
                "outcomes": dict(outcomes),
            }
        finally:
            await database.dispose()
            if kind == "postgres":
                await drop_pg(args)


async def in_processes(
    url: str, ids: list[str], processes: int, concurrency: int, now: datetime
) -> tuple[float, Counter[str]]:
    """Carry the items out in `processes` worker processes (as `personae worker`s would);
    timed from a common start signal, after each has imported and connected."""
    shares = [ids[n::processes] for n in range(processes)]
    children = []
    for share in shares:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--worker",
            url,
            "--concurrency",
            str(concurrency),
            "--now",
            now.isoformat(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write((" ".join(share) + "\n").encode())
        await child.stdin.drain()
        assert (await child.stdout.readline()).strip() == b"ready"
        children.append(child)
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        await child.stdin.drain()
    outcomes: Counter[str] = Counter()
    for child in children:
        out, _ = await child.communicate()
        outcomes.update(json.loads(out.decode().strip().splitlines()[-1]))
    return time.perf_counter() - started, outcomes


async def worker_process(url: str, concurrency: int, now: datetime) -> None:
    """One worker process of `in_processes`: read ids, signal ready, run on 'go'."""
    ids = sys.stdin.readline().split()
    database = make_engine(url)
    registry = BackendRegistry("fake")
    registry.register("fake", Scripted())
    engine = Engine(Settings(database_url=url), make_sessionmaker(database), registry)
    async with engine.sessions() as session:
        await session.execute(text("SELECT 1"))  # connect before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    _, outcomes = await run_all(engine, ids, concurrency, now)
    await database.dispose()
    print(json.dumps(dict(outcomes)), flush=True)


async def engine_on_model(args: argparse.Namespace) -> dict[str, Any]:
    """(b) and (c): the engine on the bundled model vs the backend alone."""
    rng = random.Random(11)
    slots = args.slots
    inner = build_backend(
        "embedded", BackendSettings(kind="embedded", n_parallel=slots, n_ctx=4096 * slots)
    )
    recording = Recording(inner)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'model.db'}"
        database = make_engine(url)
        try:
            await upgrade(database)
            sessions = make_sessionmaker(database)
            registry = BackendRegistry("embedded")
            registry.register("embedded", recording)
            # Repeats are not what this measures; the 135M model repeats itself often.
            cap = {"agents_post_max_tokens": args.post_tokens} if args.post_tokens else {}
            settings = Settings(database_url=url, moderation_repeat_window=0, **cap)
            engine = Engine(settings, sessions, registry)
            cast = await build_cast(sessions, 6, slots * 2, "embedded", rng)
            await write_posts(sessions, cast, 12, rng)
            now = clock.now()
            warm = await due_actions(sessions, cast, slots, rng, now)
            await run_all(engine, warm, slots, now)  # load the model, fill the caches
            recording.calls.clear()
            rows = []
            now = clock.now()  # later than everything the warm-up wrote
            with clock.fixed(now - timedelta(minutes=1)):
                for n in range(args.model_actions):
                    character = cast.characters[n % len(cast.characters)]
                    rows.append(agenda_row(character.id, "post", f"model:{n}", now, "bench"))
            async with sessions() as session:
                await insert_agenda(session, rows)
                await session.commit()
            wall, outcomes = await run_all(engine, [r["id"] for r in rows], slots, now)
            calls = list(recording.calls)
            engine_tokens = sum(done.usage.completion_tokens for _, _, done in calls)
            prompt_tokens = sum(done.usage.prompt_tokens for _, _, done in calls)
            cached = sum(done.usage.cached_tokens for _, _, done in calls)
            async with sessions() as session:
                per_action = (
                    await session.execute(
                        text(
                            "SELECT avg(prompt_tokens), avg(completion_tokens) FROM agenda "
                            "WHERE key LIKE 'model:%'"
                        )
                    )
                ).one()
            # The same requests straight to the backend, at the same concurrency.
            replay: asyncio.Queue[tuple[list[ChatMessage], GenerationParams]] = asyncio.Queue()
            for messages, params, _ in calls:
                replay.put_nowait((messages, params))
            direct_tokens = 0

            async def direct() -> None:
                nonlocal direct_tokens
                while not replay.empty():
                    messages, params = replay.get_nowait()
                    done = await inner.complete(messages, params)
                    direct_tokens += done.usage.completion_tokens

            started = time.perf_counter()
            await asyncio.gather(*(direct() for _ in range(slots)))
            direct_wall = time.perf_counter() - started
        finally:
            await database.dispose()
            await inner.aclose()
    engine_rate = engine_tokens / wall
    direct_rate = direct_tokens / direct_wall
    return {
        "actions": args.model_actions,
        "outcomes": dict(outcomes),
        "model_calls": len(calls),
        "engine_wall_s": wall,
        "engine_out_tok_s": engine_rate,
        "backend_out_tok_s": direct_rate,
        "ratio": engine_rate / direct_rate,
        "prompt_per_action": float(per_action[0] or 0),
        "output_per_action": float(per_action[1] or 0),
        "cache_hit": cached / prompt_tokens if prompt_tokens else 0.0,
        "calls_per_action": len(calls) / args.model_actions,
        "median_call_prompt": statistics.median(d.usage.prompt_tokens for _, _, d in calls),
    }


async def postgres_reachable(admin_url: str) -> bool:
    """Whether the local PostgreSQL answers."""
    try:
        admin = make_engine(admin_url)
        async with admin.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await admin.dispose()
        return True
    except Exception:
        return False


async def main() -> None:
    wiring.install()  # every subscriber, as the app, the CLI and the workers have them
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--characters", type=int, default=40)
    parser.add_argument("--mentions", type=int, default=400)
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--processes", type=int, default=2, help="worker processes on PostgreSQL (SQLite: 1)"
    )
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--now", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--skip-model", action="store_true")
    parser.add_argument("--model-actions", type=int, default=32)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument(
        "--post-tokens",
        type=int,
        default=0,
        help="cap on a post's tokens (default: the instance's)",
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN, help="a database to connect to")
    parser.add_argument("--pg-database", default=PG_BENCH, help="created and dropped by the run")
    args = parser.parse_args()
    if args.worker:
        await worker_process(args.worker, args.concurrency, datetime.fromisoformat(args.now))
        return
    if min(args.people, args.characters, args.concurrency, args.slots) < 1 or not (
        0 <= args.warmup < args.actions
    ):
        parser.error(
            "people, characters, concurrency and slots must be at least 1, "
            "and --warmup smaller than --actions"
        )
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, {datetime.now(UTC):%Y-%m-%d}"
    )
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds and not await postgres_reachable(args.pg_admin_url):
        print(f"PostgreSQL is not reachable at {args.pg_admin_url}; skipping it")
        kinds.remove("postgres")
    failed: list[str] = []
    print(
        f"(a) platform alone, fake backend: {args.actions - args.warmup} actions after "
        f"{args.warmup} warm-up, concurrency {args.concurrency}"
    )
    for kind in kinds:
        r = await platform_alone(kind, args)
        print(
            f"    {r['db']:8} x{r['processes']} process {r['per_s']:6.1f} actions/s "
            f"({r['actions']} in {r['wall_s']:.1f} s; outcomes {r['outcomes']})"
        )
        if any(r["outcomes"].get(outcome) for outcome in FAILED_OUTCOMES):
            failed.append(f"(a) on {kind}")
    if not args.skip_model:
        r = await engine_on_model(args)
        print_model(r, args)
        if any(r["outcomes"].get(outcome) for outcome in FAILED_OUTCOMES):
            failed.append("(b)")
    if failed:  # failed actions would be measured as fast ones: say so in the exit status
        raise SystemExit(f"actions failed in {', '.join(failed)} (see the outcomes above)")


def print_model(r: dict[str, Any], args: argparse.Namespace) -> None:
    """Print (b) and (c)."""
    print(
        f"(b) bundled model, {r['actions']} post actions at concurrency {args.slots}: "
        f"engine {r['engine_out_tok_s']:.1f} output tok/s, backend alone "
        f"{r['backend_out_tok_s']:.1f} tok/s, ratio {r['ratio']:.2f} (goal >= 0.9)"
    )
    print(
        f"(c) per action: {r['prompt_per_action']:.0f} prompt + {r['output_per_action']:.0f} "
        f"output tokens over {r['calls_per_action']:.1f} model calls (median call prompt "
        f"{r['median_call_prompt']:.0f}); prefix-cache hit ratio {r['cache_hit']:.2f}; "
        f"outcomes {r['outcomes']}"
    )


if __name__ == "__main__":
    asyncio.run(main())
