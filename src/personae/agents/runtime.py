"""Running the engine: the scheduler loop, the workers, and the processes that host them.

`AgentRuntime` is what a process runs: the scheduler loop (plan, then hand out what is
due, every `agents_tick_s`) and the worker that carries actions out. With the in-memory
broker the worker is the broker itself (a kicked task runs on this event loop); with
Redis it is a taskiq receiver reading the shared stream, so any number of processes
(`personae run`, `personae worker`) share the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import InMemoryBroker
from taskiq.receiver import Receiver

from personae import clock
from personae.agents import engine as agent_engine
from personae.agents.engine import Engine
from personae.agents.jobs import (
    AgendaStreamBroker,
    AgentJobs,
    BrokerConfigError,
    action_slots,
    dispatch,
    make_broker,
    register_tasks,
)
from personae.config import Settings
from personae.llm.registry import BackendRegistry

log = logging.getLogger(__name__)

# How long a stopping process waits for the actions it is carrying out; the rest are
# cancelled and redone elsewhere once their lease runs out.
DRAIN_TIMEOUT_S = 30.0
# A worker that lost its broker connection tries again after this long.
RECONNECT_DELAY_S = 2.0


class BrokerUnavailable(RuntimeError):
    """The broker cannot be reached; the message says what to check."""


class Companion(Protocol):
    """Background work a process runs beside the agents (federation's deliveries)."""

    def start(self) -> None:
        """Begin running on this event loop."""

    async def stop(self) -> None:
        """Finish what is in flight and stop."""


# Whoever composes the process (the CLI) says what runs beside the agents, so the agents
# need not know the packages that provide it.
CompanionFactory = Callable[[Settings, async_sessionmaker[AsyncSession]], Companion]


def require_shared_broker(settings: Settings, command: str) -> None:
    """Refuse to run `command` in its own process without a shared (Redis) broker."""
    if not settings.broker_url.strip():
        raise BrokerConfigError(
            f"`personae {command}` needs a queue shared between processes, and the default "
            "in-memory one is not: set PERSONAE_BROKER_URL=redis://127.0.0.1:6379/0 (for "
            "every personae process of this instance), or use `personae run`, which runs "
            "the scheduler and a worker inside the server process."
        )


class AgentRuntime:
    """The engine, its broker, and the loops that run them inside one process."""

    def __init__(
        self,
        engine: Engine,
        jobs: AgentJobs,
        *,
        scheduler: bool = True,
        worker: bool = True,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
    ) -> None:
        self.engine = engine
        self.jobs = jobs
        self.scheduler = scheduler
        self.worker = worker
        self.drain_timeout_s = drain_timeout_s
        self.slots = action_slots(engine.settings)
        self.ticks = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._finish = asyncio.Event()
        self._started = False

    @classmethod
    def build(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        backends: BackendRegistry,
        *,
        scheduler: bool = True,
        worker: bool = True,
    ) -> AgentRuntime:
        """A runtime on the broker PERSONAE_BROKER_URL names (raises BrokerConfigError)."""
        jobs = register_tasks(make_broker(settings))
        engine = Engine(settings, sessions, backends)
        return cls(engine, jobs, scheduler=scheduler, worker=worker)

    @property
    def in_memory(self) -> bool:
        """True when jobs run on this event loop (no shared broker)."""
        return isinstance(self.jobs.broker, InMemoryBroker)

    async def start(self) -> None:
        """Connect the broker and start the loops this process runs."""
        broker = self.jobs.broker
        self.jobs.attach(self.engine)
        if self.in_memory:
            # The in-memory broker starts every kicked task at once; the backend has
            # only so many parallel slots, so actions queue here instead of there.
            broker.state.slots = asyncio.Semaphore(self.slots)
        elif self.worker:
            broker.is_worker_process = True
        try:
            await broker.startup()
        except Exception as exc:  # redis.ConnectionError and friends
            with contextlib.suppress(Exception):
                await broker.shutdown()
            raise BrokerUnavailable(
                f"cannot reach the broker at PERSONAE_BROKER_URL ({exc}); check that Redis "
                "is running and that the URL is right."
            ) from exc
        self._started = True
        if self.scheduler:
            self._tasks.append(asyncio.create_task(self._schedule_forever(), name="scheduler"))
        if self.worker and not self.in_memory:
            self._tasks.append(asyncio.create_task(self._receive_forever(), name="worker"))
        log.info(
            "agents: %s%s on the %s broker",
            "scheduler" if self.scheduler else "",
            (" + worker" if self.scheduler else "worker") if self.worker else "",
            "in-memory" if self.in_memory else "Redis",
        )

    async def stop(self) -> None:
        """Stop the loops, let running actions finish (up to the drain timeout), disconnect."""
        if not self._started:
            return
        self._started = False
        broker = self.jobs.broker
        if isinstance(broker, AgendaStreamBroker):
            broker.closing = True  # ends its listener within one read (see its docstring)
        self._finish.set()
        scheduler = [t for t in self._tasks if t.get_name() == "scheduler"]
        for task in scheduler:
            task.cancel()
        # The receiver stops taking messages when `_finish` is set and waits for the
        # ones it took; give it the drain timeout, then cancel.
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.drain_timeout_s + 5)
            for task in pending:
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout_s
        if isinstance(broker, InMemoryBroker):
            # A task kicked just before the scheduler stopped may not have started yet,
            # so it is not among the actions in flight; the broker's own list has it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(broker.wait_all(), self.drain_timeout_s)
        await self.jobs.drain(max(0.0, deadline - loop.time()))
        try:
            await self.jobs.broker.shutdown()
        except Exception:
            log.exception("agents: the broker did not shut down cleanly")

    async def tick(self, now: datetime | None = None) -> int:
        """One scheduler pass: plan the coming day, then hand out what is due; returns how many."""
        moment = now or clock.now()
        await agent_engine.plan(self.engine, moment)
        return await dispatch(self.engine, self.jobs, moment)

    async def _schedule_forever(self) -> None:
        interval = self.engine.settings.agents_tick_s
        while True:
            try:
                sent = await self.tick()
                if sent:
                    log.info("agents: handed out %d actions", sent)
            except Exception:
                # A database hiccup or an engine bug must not end the loop for good:
                # log it, and the next tick tries again (the agenda lost nothing).
                log.exception("agents: the scheduler pass failed; retrying in %.0f s", interval)
            self.ticks += 1
            await asyncio.sleep(interval)

    async def _receive_forever(self) -> None:
        # A Receiver of our own rather than taskiq.api.run_receiver_task: that one can
        # only be cancelled, which abandons the actions in flight, while `listen`
        # with our finish event stops taking messages and waits for those it took.
        while not self._finish.is_set():
            receiver = Receiver(
                self.jobs.broker,
                run_startup=False,
                max_async_tasks=self.slots,
                max_prefetch=0,
                propagate_exceptions=False,
                wait_tasks_timeout=self.drain_timeout_s,
            )
            try:
                await receiver.listen(self._finish)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "agents: lost the broker; listening again in %.0f s", RECONNECT_DELAY_S
                )
                await asyncio.sleep(RECONNECT_DELAY_S)


@asynccontextmanager
async def open_engine(
    settings: Settings, backends: BackendRegistry | None = None, migrate: bool = True
) -> AsyncIterator[Engine]:
    """An Engine on the configured database (migrated first) and backends; closed afterwards."""
    from personae.db import make_engine, make_sessionmaker
    from personae.migrate import ensure_sqlite_folder, upgrade

    url = settings.effective_database_url
    ensure_sqlite_folder(url)
    database = make_engine(url)
    registry = backends or BackendRegistry.from_settings(settings)
    try:
        if migrate:
            await upgrade(database)
        yield Engine(settings, make_sessionmaker(database), registry)
    finally:
        if backends is None:
            await registry.aclose()
        await database.dispose()


async def wait_for_stop_signal(stop: asyncio.Event | None = None) -> None:
    """Return on SIGINT or SIGTERM (or when `stop` is set)."""
    loop = asyncio.get_running_loop()
    event = stop or asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, event.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass
    try:
        await event.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run_until_stopped(
    settings: Settings,
    *,
    scheduler: bool,
    worker: bool,
    stop: asyncio.Event | None,
    alongside: Sequence[CompanionFactory] = (),
) -> None:
    jobs = register_tasks(make_broker(settings))
    async with open_engine(settings) as engine:
        runtime = AgentRuntime(engine, jobs, scheduler=scheduler, worker=worker)
        await runtime.start()
        companions = [make(settings, engine.sessions) for make in alongside]
        for companion in companions:
            companion.start()
        try:
            await wait_for_stop_signal(stop)
        finally:
            for companion in reversed(companions):
                await companion.stop()
            await runtime.stop()


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    alongside: Sequence[CompanionFactory] = (),
) -> None:
    """`personae worker`: carry out shared-broker actions until stopped, running `alongside`
    (the CLI passes federation's delivery worker) on the same loop."""
    require_shared_broker(settings, "worker")
    await _run_until_stopped(settings, scheduler=False, worker=True, stop=stop, alongside=alongside)


async def run_scheduler(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """`personae scheduler`: plan and hand out due actions onto the shared broker."""
    require_shared_broker(settings, "scheduler")
    await _run_until_stopped(settings, scheduler=True, worker=False, stop=stop)
