"""The agents' job plumbing: brokers, the task, dispatch, the runtime loops and the CLI."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import InMemoryBroker
from taskiq_redis import RedisStreamBroker
from typer.testing import CliRunner

from personae import clock
from personae.accounts.service import create_account
from personae.agents import engine as agent_engine
from personae.agents.engine import Engine
from personae.agents.jobs import (
    DEFAULT_QUEUE,
    TASK_NAME,
    AgentJobs,
    BrokerConfigError,
    action_slots,
    dispatch,
    make_broker,
    register_tasks,
)
from personae.agents.models import AgendaItem, AgentSettings
from personae.agents.runtime import AgentRuntime, require_shared_broker
from personae.agents.triggers import agenda_row, insert_agenda
from personae.app import create_app
from personae.characters.schemas import CharacterCreate
from personae.characters.service import create_character
from personae.cli import app as cli_app
from personae.config import BackendSettings, Settings, get_settings
from personae.db import make_sessionmaker
from personae.demo.simulate import simulate
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.social.models import Post
from tests.conftest import free_port, make_settings, migrated_engine, wipe

REDIS_URL = os.environ.get("PERSONAE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FAKE_BACKENDS = '{"fake":{"kind":"fake"}}'
BIN = Path(sys.executable).parent / "personae"


def settings_with(**extra: Any) -> Settings:
    """Settings that read nothing from the environment the tests run in."""
    return Settings(data_dir=Path("/nonexistent"), **extra)


def bare_engine(settings: Settings | None = None) -> Engine:
    """An Engine whose database and backends the monkeypatched engine functions never use."""
    return Engine(settings or settings_with(), async_sessionmaker(), BackendRegistry())


async def redis_available() -> bool:
    """True when the test Redis answers."""
    try:
        async with Redis.from_url(REDIS_URL, socket_connect_timeout=1) as r:
            return bool(await r.ping())
    except Exception:
        return False


@pytest_asyncio.fixture
async def redis_queue() -> AsyncIterator[str]:
    """A broker URL with a stream of its own (parallel runs never share one); removed after."""
    if not await redis_available():
        pytest.skip(f"no Redis at {REDIS_URL} (set PERSONAE_TEST_REDIS_URL)")
    queue = f"personae-test-{uuid.uuid4().hex}"
    yield f"{REDIS_URL}?queue={queue}"
    async with Redis.from_url(REDIS_URL) as r:
        await r.delete(queue)


class Calls:
    """What a monkeypatched `run_item` was called with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, datetime, datetime]] = []
        self.arrived = asyncio.Event()

    async def run_item(self, engine: Engine, item_id: str, now: datetime) -> str:
        self.seen.append((item_id, now, clock.now()))
        self.arrived.set()
        return "published"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Replace the engine's run_item with a recorder."""
    recorder = Calls()
    monkeypatch.setattr(agent_engine, "run_item", recorder.run_item)
    return recorder


# ----------------------------------------------------------------------------- brokers


def test_make_broker_in_memory_by_default() -> None:
    assert isinstance(make_broker(settings_with()), InMemoryBroker)
    assert isinstance(make_broker(settings_with(broker_url="  ")), InMemoryBroker)


def test_make_broker_redis_stream_with_queue_and_lease() -> None:
    broker = make_broker(
        settings_with(broker_url="redis://127.0.0.1:6379/2?queue=mine", agents_lease_s=42)
    )
    assert isinstance(broker, RedisStreamBroker)
    assert broker.queue_name == "mine"
    assert broker.consumer_group_name == "personae-workers"
    assert broker.idle_timeout == 42_000
    kwargs = broker.connection_pool.connection_kwargs
    assert kwargs["db"] == 2 and "queue" not in kwargs
    default = make_broker(settings_with(broker_url="rediss://example.org:6380"))
    assert isinstance(default, RedisStreamBroker) and default.queue_name == DEFAULT_QUEUE


@pytest.mark.parametrize("url", ["amqp://localhost", "postgresql://x/y", "localhost:6379"])
def test_make_broker_refuses_other_urls_and_says_what_works(url: str) -> None:
    with pytest.raises(BrokerConfigError) as caught:
        make_broker(settings_with(broker_url=url))
    message = str(caught.value)
    assert "PERSONAE_BROKER_URL" in message and "redis://" in message and "rediss://" in message


def test_action_slots_follow_the_backend() -> None:
    embedded = BackendSettings(kind="embedded", n_parallel=6)
    settings = settings_with(
        backends={"e": embedded, "f": BackendSettings(kind="fake")}, default_backend="e"
    )
    assert action_slots(settings) == 6
    assert action_slots(settings, "f") == 4
    assert action_slots(settings, "missing") == 4


def test_shared_broker_required_for_separate_processes() -> None:
    with pytest.raises(BrokerConfigError, match=r"PERSONAE_BROKER_URL=redis://"):
        require_shared_broker(settings_with(), "worker")
    require_shared_broker(settings_with(broker_url="redis://x"), "worker")


# ----------------------------------------------------------------------------- the task


async def started(jobs: AgentJobs, engine: Engine) -> AgentJobs:
    jobs.attach(engine)
    await jobs.broker.startup()
    return jobs


async def test_in_memory_task_runs_on_wall_time_or_the_simulated_moment(calls: Calls) -> None:
    jobs = await started(register_tasks(InMemoryBroker()), bare_engine())
    assert TASK_NAME in jobs.broker.get_all_tasks()
    before = datetime.now(UTC)
    await jobs.kick("a")
    moment = datetime(2030, 5, 1, 12, 30, tzinfo=UTC)
    await jobs.kick("b", moment.isoformat())
    await jobs.broker.wait_all()  # type: ignore[attr-defined]
    await jobs.broker.shutdown()
    by_id = {item_id: (now, seen) for item_id, now, seen in calls.seen}
    assert before <= by_id["a"][0] <= datetime.now(UTC)
    assert by_id["b"] == (moment, moment)  # run_item's `now` and clock.now() inside it


async def test_task_logs_engine_errors_and_never_retries(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tries: list[str] = []

    async def broken(engine: Engine, item_id: str, now: datetime) -> str:
        tries.append(item_id)
        raise RuntimeError("database went away")

    monkeypatch.setattr(agent_engine, "run_item", broken)
    jobs = await started(register_tasks(InMemoryBroker()), bare_engine())
    with caplog.at_level(logging.ERROR, logger="personae.agents.jobs"):
        await jobs.kick("x")
        await jobs.broker.wait_all()  # type: ignore[attr-defined]
    await jobs.broker.shutdown()
    assert tries == ["x"]
    assert "agenda item x failed" in caplog.text and "database went away" in caplog.text


async def test_dispatch_kicks_one_message_per_due_item(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[datetime] = []

    async def take_due(engine: Engine, now: datetime, limit: int = 200) -> list[str]:
        asked.append(now)
        return ["i1", "i2", "i3"]

    class Kicks:
        def __init__(self) -> None:
            self.sent: list[tuple[str, str | None]] = []

        async def kick(self, item_id: str, as_of: str | None = None) -> None:
            self.sent.append((item_id, as_of))

    monkeypatch.setattr(agent_engine, "take_due", take_due)
    now = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    kicks = Kicks()
    assert await dispatch(bare_engine(), kicks, now) == 3
    assert kicks.sent == [("i1", None), ("i2", None), ("i3", None)]
    kicks.sent.clear()
    assert await dispatch(bare_engine(), kicks, now, simulated=True) == 3
    assert kicks.sent == [(i, now.isoformat()) for i in ("i1", "i2", "i3")]
    assert asked == [now, now]


async def test_redis_task_reaches_a_worker_in_another_runtime(
    calls: Calls, redis_queue: str
) -> None:
    # Stopping right after a message is also where upstream's listener used to hang
    # (see AgendaStreamBroker): the stop below would time out if it came back.
    settings = settings_with(broker_url=redis_queue)
    worker = AgentRuntime(
        bare_engine(settings), register_tasks(make_broker(settings)), scheduler=False
    )
    await worker.start()
    assert not worker.in_memory
    sender = await started(register_tasks(make_broker(settings)), bare_engine(settings))
    try:
        moment = datetime(2030, 1, 1, tzinfo=UTC)
        await sender.kick("via-redis", moment.isoformat())
        await asyncio.wait_for(calls.arrived.wait(), timeout=20)
    finally:
        await sender.broker.shutdown()
        await asyncio.wait_for(worker.stop(), timeout=15)
    assert calls.seen == [("via-redis", moment, moment)]


async def test_scheduler_loop_survives_a_failing_pass(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    passes: list[datetime] = []

    async def plan(engine: Engine, now: datetime) -> int:
        passes.append(now)
        if len(passes) == 1:
            raise RuntimeError("planning broke once")
        return 0

    async def take_due(engine: Engine, now: datetime, limit: int = 200) -> list[str]:
        return []

    monkeypatch.setattr(agent_engine, "plan", plan)
    monkeypatch.setattr(agent_engine, "take_due", take_due)
    engine = bare_engine(settings_with(agents_tick_s=0.02))
    runtime = AgentRuntime(engine, register_tasks(InMemoryBroker()))
    with caplog.at_level(logging.ERROR, logger="personae.agents.runtime"):
        await runtime.start()
        try:
            for _ in range(200):
                if len(passes) >= 3:
                    break
                await asyncio.sleep(0.02)
        finally:
            await runtime.stop()
    assert len(passes) >= 3
    assert "scheduler pass failed" in caplog.text and "planning broke once" in caplog.text
    await runtime.stop()  # stopping twice is harmless


# ----------------------------------------------------------------------------- real engine


async def autonomous_character(
    session: AsyncSession, handle: str, backend: str = "fake", owner: str = "owner"
) -> str:
    """A public character with autonomy on; its id."""
    from personae.accounts.models import Account

    account = await session.scalar(select(Account).where(Account.username == owner))
    if account is None:
        account = await create_account(session, owner, "a long password")
    character = await create_character(
        session,
        account,
        CharacterCreate(name=handle.title(), handle=handle, visibility="public", backend=backend),
    )
    session.add(AgentSettings(character_id=character.id, enabled=True, interests=["tea"]))
    await session.commit()
    return character.id


async def due_posts(
    sessions: async_sessionmaker[AsyncSession], character_id: str, count: int, now: datetime
) -> list[str]:
    """`count` post actions due at `now` for the character; their ids."""
    rows = [
        agenda_row(character_id, "post", f"test:{uuid.uuid4().hex}", now, "a test post")
        for _ in range(count)
    ]
    async with sessions() as session:
        await insert_agenda(session, rows)
        await session.commit()
    return [row["id"] for row in rows]


async def test_app_with_agents_carries_out_due_actions_in_process(
    db_kind: str, tmp_root: Path, registry: BackendRegistry, fake_backend: FakeBackend
) -> None:
    url, database = await migrated_engine(db_kind, tmp_root)
    # Two different texts: the fake's echo of two like prompts would be held as a repeat.
    fake_backend.enqueue("Fog on the ledge again.", "Fourteen seals counted before breakfast.")
    await wipe(database)
    settings = make_settings(tmp_root, url, agents_tick_s=0.05, agents_model_importance=False)
    application = create_app(settings, backends=registry, migrate=False, agents=True)
    sessions = make_sessionmaker(database)
    async with application.router.lifespan_context(application):
        runtime = application.state.personae.agents
        assert isinstance(runtime, AgentRuntime) and runtime.in_memory
        async with sessions() as session:
            character_id = await autonomous_character(session, "kettle")
        ids = await due_posts(sessions, character_id, 2, datetime.now(UTC))
        for _ in range(200):
            async with sessions() as session:
                states = set(
                    await session.scalars(select(AgendaItem.state).where(AgendaItem.id.in_(ids)))
                )
            if states <= {"done", "held", "skipped", "failed"}:
                break
            await asyncio.sleep(0.05)
    assert runtime._finish.is_set()  # stopped with the app
    async with sessions() as session:
        items = list(await session.scalars(select(AgendaItem).where(AgendaItem.id.in_(ids))))
        assert {i.outcome for i in items} == {"published"}, [(i.state, i.detail) for i in items]
        posts = list(await session.scalars(select(Post).where(Post.author_id == character_id)))
    assert sorted(p.id for p in posts) == sorted(i.result_post_id for i in items)


async def test_simulate_runs_a_small_community_on_a_throwaway_database(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "never",
        backends={"fake": BackendSettings(kind="fake")},
        default_backend="fake",
    )
    ticks: list[tuple[float, int]] = []
    result = await simulate(settings, 8, 4, seed=3, progress=lambda f, n: ticks.append((f, n)))
    assert result.characters == 8 and result.backend == "fake" and result.concurrency == 4
    assert result.actions > 0 and result.published > 0 and result.errors == 0
    assert result.completion_tokens > 0 and result.wall_s > 0
    assert result.actions_per_s > 0 and result.output_tokens_per_s > 0
    assert ticks and ticks[-1][0] == pytest.approx(1.0)
    assert all(
        kind in {"post", "reply", "browse", "follow_back", "reflect", "answer_dm"}
        for kind, _ in result.outcomes
    )
    assert result.started_at < result.ended_at
    # Nothing was written to the data folder: the database lived in a temporary folder.
    assert not (tmp_path / "never").exists()
    assert not Path(result.database_url.removeprefix("sqlite+aiosqlite:///")).exists()


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A clean PERSONAE_* environment for in-process CLI runs (settings are re-read)."""
    for key in list(os.environ):
        if key.startswith("PERSONAE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PERSONAE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    yield {}
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("run", ["--port", "--no-demo"]),
        ("worker", ["PERSONAE_BROKER_URL"]),
        ("scheduler", ["broker"]),
        ("simulate", ["--characters", "--hours", "--backend", "--seed", "--database-url"]),
    ],
)
def test_agent_commands_have_help(cli_env: dict[str, str], command: str, words: list[str]) -> None:
    result = CliRunner().invoke(cli_app, [command, "--help"])
    assert result.exit_code == 0, result.output
    for word in words:
        assert word in result.output


@pytest.mark.parametrize("command", ["worker", "scheduler"])
def test_worker_and_scheduler_without_a_broker_say_what_to_set(
    cli_env: dict[str, str], command: str
) -> None:
    result = CliRunner().invoke(cli_app, [command])
    assert result.exit_code == 1
    assert "PERSONAE_BROKER_URL=redis://" in result.output
    assert "personae run" in result.output


def test_worker_with_a_bad_broker_url_names_the_setting(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONAE_BROKER_URL", "amqp://localhost")
    result = CliRunner().invoke(cli_app, ["worker"])
    assert result.exit_code == 1 and "PERSONAE_BROKER_URL" in result.output


def test_simulate_prints_a_summary(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONAE_BACKENDS", FAKE_BACKENDS)
    monkeypatch.setenv("PERSONAE_DEFAULT_BACKEND", "fake")
    result = CliRunner().invoke(cli_app, ["simulate", "--characters", "3", "--hours", "3"])
    assert result.exit_code == 0, result.output
    for words in ("Actions by kind and outcome", "actions per second", "tokens in / out"):
        assert words in result.output
    result = CliRunner().invoke(cli_app, ["simulate", "--hours", "1", "--backend", "nope"])
    assert (
        result.exit_code == 1 and "nope" in result.output and "PERSONAE_BACKENDS" in (result.output)
    )
    # The real instance was never touched.
    assert not (Path(os.environ["PERSONAE_DATA_DIR"]) / "personae.db").exists()


def test_personae_run_seeds_serves_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env |= {
        "PERSONAE_DATA_DIR": str(tmp_path / "data"),
        "PERSONAE_BACKENDS": FAKE_BACKENDS,
        "PERSONAE_DEFAULT_BACKEND": "fake",
        "COLUMNS": "200",
    }
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "run", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "personae run did not start"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "Seeded 4 people, 6 characters" in output
    assert f"http://127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_worker_says_when_redis_is_unreachable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env |= {
        "PERSONAE_DATA_DIR": str(tmp_path / "data"),
        "PERSONAE_BROKER_URL": "redis://127.0.0.1:1/0",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [str(BIN), "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert "cannot reach the broker" in result.stderr and "PERSONAE_BROKER_URL" in result.stderr
    assert "Traceback" not in result.stderr
