"""A worker killed in the middle of an action: another one finishes it, and nothing doubles.

Real processes (`personae worker`), real Redis, a SQLite file shared by all of them. The
model is a tiny OpenAI-compatible server in this test that holds every request until
told to answer: the fake backend answers in microseconds, so a worker using it would
rarely be caught with an action claimed, while this one reliably is.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import func, select

from personae import clock
from personae.agents import engine as agent_engine
from personae.agents.engine import Engine
from personae.agents.jobs import dispatch, make_broker, register_tasks
from personae.agents.models import AgendaItem
from personae.config import Settings
from personae.db import make_engine, make_sessionmaker
from personae.llm.registry import BackendRegistry
from personae.migrate import upgrade
from personae.social.models import Post
from tests.agents.test_jobs import REDIS_URL, autonomous_character, due_posts, redis_available

BIN = Path(sys.executable).parent / "personae"
LEASE_S = 5  # the smallest lease the settings allow
FINAL = {"done", "held", "skipped", "failed", "rejected"}
WORDS = [
    "harbour",
    "fog",
    "kettle",
    "lantern",
    "moss",
    "pebble",
    "quill",
    "rain",
    "seal",
    "tide",
    "ember",
    "orchard",
    "thistle",
    "violin",
    "walnut",
    "yarrow",
    "zephyr",
    "barley",
    "cinder",
    "dune",
    "fern",
    "gravel",
    "heron",
    "ivy",
    "juniper",
    "kelp",
    "lichen",
    "marble",
    "nettle",
    "otter",
    "plum",
    "quartz",
    "reed",
    "slate",
    "tern",
    "umber",
    "vale",
    "willow",
]


@dataclass
class HeldModel:
    """An OpenAI-compatible chat server that holds requests until `release` is set."""

    url: str = ""
    release: threading.Event = field(default_factory=threading.Event)
    received: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self) -> str:
        """A different sentence each time, so two posts of one text mean one reply twice."""
        with self.lock:
            self.received += 1
            number = self.received
        words = random.Random(number).sample(WORDS, 9)
        return f"Note {number}: " + " ".join(words) + "."


@contextmanager
def held_model() -> Iterator[HeldModel]:
    """Serve /v1/chat/completions (streamed) on a free port; 404 for anything else."""
    model = HeldModel()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.endswith("/chat/completions"):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            model.release.wait(timeout=120)
            text = model.reply()
            chunks = [
                {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 12}},
            ]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the killed worker's connections break; that is the point

    server = Server(("127.0.0.1", 0), Handler)
    model.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield model
    finally:
        model.release.set()
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture
async def broker_url() -> AsyncIterator[str]:
    """A Redis URL with a stream of its own for this test run; removed afterwards."""
    if not await redis_available():
        pytest.skip(f"no Redis at {REDIS_URL} (set PERSONAE_TEST_REDIS_URL)")
    queue = f"personae-kill-{uuid.uuid4().hex}"
    yield f"{REDIS_URL}?queue={queue}"
    async with Redis.from_url(REDIS_URL) as r:
        await r.delete(queue)


def start_worker(env: dict[str, str], log: BinaryIO) -> subprocess.Popen[bytes]:
    """`personae worker` as a real process, its output into `log`."""
    return subprocess.Popen([str(BIN), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a worker we started: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
async def test_killed_worker_loses_nothing_and_publishes_nothing_twice(
    tmp_path: Path, broker_url: str
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'kill.db'}"
    database = make_engine(database_url)
    await upgrade(database)
    sessions = make_sessionmaker(database)
    procs: list[subprocess.Popen[bytes]] = []
    logs = [open(tmp_path / f"worker{n}.log", "wb") for n in (1, 2)]  # noqa: SIM115
    jobs = None
    try:
        with held_model() as model:
            held = {"kind": "openai", "base_url": model.url, "model": "held", "max_retries": 0}
            env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
            env |= {
                "PERSONAE_DATA_DIR": str(tmp_path / "data"),
                "PERSONAE_DATABASE_URL": database_url,
                "PERSONAE_BROKER_URL": broker_url,
                "PERSONAE_AGENTS_LEASE_S": str(LEASE_S),
                "PERSONAE_BACKENDS": json.dumps({"held": held}),
                "PERSONAE_DEFAULT_BACKEND": "held",
                "PERSONAE_AGENTS_MODEL_IMPORTANCE": "false",
                "PERSONAE_LOG_LEVEL": "info",
            }
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=database_url,
                broker_url=broker_url,
                agents_lease_s=LEASE_S,
            )
            engine = Engine(settings, sessions, BackendRegistry())
            now = clock.now()
            item_ids: list[str] = []
            async with sessions() as session:
                characters = [
                    await autonomous_character(session, handle, backend="held")
                    for handle in ("ansel_k", "fern_k", "quill_k")
                ]
            # The day's schedule (all later than now), then two posts each due right now.
            assert await agent_engine.plan(engine, now) > 0
            for character_id in characters:
                item_ids += await due_posts(sessions, character_id, 2, now)

            jobs = register_tasks(make_broker(settings))
            await jobs.broker.startup()  # declares the consumer group before the first kick
            assert await dispatch(engine, jobs, clock.now()) == len(item_ids)

            procs.append(start_worker(env, logs[0]))
            claimed = await wait_for_claims(sessions, item_ids, procs[0])
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(timeout=10)
            model.release.set()

            procs.append(start_worker(env, logs[1]))
            deadline = time.monotonic() + 120
            while True:
                states = await item_states(sessions, item_ids)
                if set(states.values()) <= FINAL:
                    break
                assert procs[1].poll() is None, read(tmp_path / "worker2.log")
                assert time.monotonic() < deadline, (states, read(tmp_path / "worker2.log"))
                # The scheduler's part: hand out what is due, and what the dead worker
                # left claimed once its lease has run out.
                await dispatch(engine, jobs, clock.now())
                await asyncio.sleep(0.5)

        async with sessions() as session:
            items = {
                i.id: i
                for i in await session.scalars(
                    select(AgendaItem).where(AgendaItem.id.in_(item_ids))
                )
            }
            posts = list(await session.scalars(select(Post).where(Post.author_id.in_(characters))))
            planned_pending = await session.scalar(
                select(func.count())
                .select_from(AgendaItem)
                .where(AgendaItem.id.not_in(item_ids), AgendaItem.state == "pending")
            )
        # Every item ended, and every one published exactly one post.
        assert {i.state for i in items.values()} == {"done"}, [
            (i.state, i.outcome, i.detail) for i in items.values()
        ]
        assert {i.outcome for i in items.values()} == {"published"}
        assert len(posts) == len(items)
        assert sorted(p.id for p in posts) == sorted(str(i.result_post_id) for i in items.values())
        assert max(Counter(p.text for p in posts).values()) == 1
        # What the killed worker had claimed was finished by the second, on a later claim.
        for item_id, claim in claimed.items():
            assert items[item_id].claim > claim, (item_id, claim, items[item_id].claim)
        # The later schedule is untouched: the scheduler only hands out what is due.
        assert planned_pending and planned_pending > 0
    finally:
        if jobs is not None:
            await jobs.broker.shutdown()
        for proc in procs:
            stop(proc)
        for log in logs:
            log.close()
        await database.dispose()


async def wait_for_claims(
    sessions: Any, item_ids: list[str], proc: subprocess.Popen[bytes]
) -> dict[str, int]:
    """Poll until the worker holds some items ('running'); their claim numbers."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the first worker exited early"
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(AgendaItem.id, AgendaItem.claim).where(
                        AgendaItem.id.in_(item_ids), AgendaItem.state == "running"
                    )
                )
            ).all()
        if rows:
            return {item_id: claim for item_id, claim in rows}
        await asyncio.sleep(0.05)
    raise AssertionError("the first worker never claimed an item")


async def item_states(sessions: Any, item_ids: list[str]) -> dict[str, str]:
    """Each item's state."""
    async with sessions() as session:
        rows = await session.execute(
            select(AgendaItem.id, AgendaItem.state).where(AgendaItem.id.in_(item_ids))
        )
        return {item_id: state for item_id, state in rows.all()}


def read(path: Path) -> str:
    """The end of a worker's log, for assertion messages."""
    return path.read_text(errors="replace")[-4000:]
