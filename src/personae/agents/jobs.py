"""The job plumbing of autonomous characters: a taskiq broker and its one task.

Queues only carry agenda item ids (and, in a simulation, the simulated moment): what
is due and what was done lives in the `agenda` table, so a lost in-memory queue or a
killed worker loses nothing. The scheduler hands an abandoned item out again when its
lease runs out, and `run_item` claims atomically, so a message delivered twice is
harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from redis.asyncio import Redis
from taskiq import AckableMessage, AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from personae import clock
from personae.agents import engine as agent_engine
from personae.agents.engine import Engine
from personae.config import Settings

log = logging.getLogger(__name__)

TASK_NAME = "personae.agents.run_item"
DEFAULT_QUEUE = "personae:agents"
CONSUMER_GROUP = "personae-workers"
REDIS_SCHEMES = ("redis", "rediss")
# Parallel actions when the backend does not say (remote servers): a modest default.
DEFAULT_SLOTS = 4


class BrokerConfigError(ValueError):
    """PERSONAE_BROKER_URL is not something we can use; the message says what would be."""


def action_slots(settings: Settings, backend: str | None = None) -> int:
    """How many actions to carry out at once: the backend's parallel slots (default 4)."""
    name = backend or settings.default_backend
    configured = settings.backends.get(name)
    if configured is None or configured.kind != "embedded":
        return DEFAULT_SLOTS
    return configured.n_parallel


def split_queue(url: str) -> tuple[str, str]:
    """The Redis URL without our `queue` parameter, and the queue (stream) name."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    queue = next((value for key, value in query if key == "queue" and value), DEFAULT_QUEUE)
    rest = urlencode([(key, value) for key, value in query if key != "queue"])
    return urlunsplit(parts._replace(query=rest)), queue


class AgendaStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker with a listener that stops when asked.

    Upstream's listener re-claims stale messages through a locked pipeline. With
    taskiq-redis 1.2 and redis-py 8 we saw a cancellation that arrived during that step
    get lost: the generator looped on, and taskiq's receiver, which awaits it shielded
    while stopping, hung for good. This one also checks `closing` between reads (each
    blocks at most `xread_block` ms), and calls XAUTOCLAIM directly: the server runs it
    atomically and resets the idle time of what it hands out, so two workers never take
    the same message in one sweep and the lock is not needed. Needs Redis 6.2 or later.
    """

    closing = False

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """Yield new messages, then messages left unacknowledged by dead consumers."""
        async with Redis(connection_pool=self.connection_pool) as conn:
            while not self.closing:
                # redis-py types replies as a union of everything a command may return.
                fetched: Any = await conn.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    count=self.count,
                )
                for stream, messages in fetched or []:
                    for message_id, fields in messages:
                        yield self._ackable(stream, message_id, fields)
                if self.closing:
                    return
                claimed: Any = await conn.xautoclaim(
                    self.queue_name,
                    self.consumer_group_name,
                    self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for entry in claimed[1]:
                    # Redis 6.2 lists a message trimmed away while pending as nil.
                    if entry and entry[1]:
                        yield self._ackable(self.queue_name, entry[0], entry[1])

    def _ackable(self, stream: Any, message_id: Any, fields: dict[bytes, bytes]) -> AckableMessage:
        return AckableMessage(
            data=fields[b"data"], ack=self._ack_generator(id=message_id, queue_name=stream)
        )


def make_broker(settings: Settings) -> AsyncBroker:
    """The broker PERSONAE_BROKER_URL asks for: in process when empty, else Redis."""
    url = settings.broker_url.strip()
    if not url:
        # Runs each kicked task right away on this event loop: the embedded default,
        # one process, nothing to install. Not shareable between processes.
        return InMemoryBroker(max_stored_results=1)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in REDIS_SCHEMES:
        raise BrokerConfigError(
            f"PERSONAE_BROKER_URL={url!r} is not supported: use redis://HOST:PORT/DB or "
            "rediss://... (add ?queue=NAME to share one Redis between instances), or leave "
            "it empty to run jobs in process."
        )
    redis_url, queue = split_queue(url)
    slots = action_slots(settings)
    # A stream with a consumer group rather than a plain list (ListQueueBroker): a
    # message stays pending until the worker acknowledges it after the action, so one
    # taken by a worker that dies is claimed again by a live worker (after
    # `idle_timeout`, set to the agenda lease: the scheduler would hand the item out
    # again then anyway, and run_item's atomic claim makes the two deliveries one
    # action). With a list, BRPOP removes the message for good the moment it is taken.
    return AgendaStreamBroker(
        redis_url,
        queue_name=queue,
        consumer_group_name=CONSUMER_GROUP,
        idle_timeout=int(settings.agents_lease_s * 1000),
        # Read no more than we can run: messages read sit pending on this worker,
        # out of reach of idle ones, until acknowledged.
        xread_count=slots,
        # Acknowledged messages stay in a stream until trimmed; the agenda is the
        # record, so an approximate cap is enough.
        maxlen=100_000,
    )


class Kicker(Protocol):
    """Something that sends one agenda item to a worker."""

    async def kick(self, item_id: str, as_of: str | None = None) -> None:
        """Queue `item_id` for a worker (as_of: the simulated moment, if any)."""


@dataclass
class AgentJobs:
    """A broker with the agents' task registered on it, and the engine its workers use."""

    broker: AsyncBroker
    task: AsyncTaskiqDecoratedTask[[str, str | None], Any]
    # Actions being carried out in this process, so a stopping process can wait for them.
    inflight: set[asyncio.Task[Any]] = field(default_factory=set)

    def attach(self, engine: Engine) -> None:
        """Give the task its engine (call before the broker starts running tasks)."""
        self.broker.state.engine = engine

    async def kick(self, item_id: str, as_of: str | None = None) -> None:
        """Queue `item_id` for a worker (as_of: the simulated moment, if any)."""
        await self.task.kiq(item_id, as_of)

    async def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the actions running here, then cancel the rest."""
        running = set(self.inflight)
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=timeout_s)
        for task in late:
            # Left claimed: the scheduler hands it out again when its lease runs out.
            task.cancel()
        if late:
            log.warning("agents: cancelled %d unfinished actions on shutdown", len(late))
            await asyncio.wait(late, timeout=5)


async def carry_out(engine: Engine, item_id: str, as_of: str | None) -> str:
    """Run one agenda item on wall time, or at `as_of` (ISO) when it comes from a simulation."""
    try:
        if as_of is None:
            return await agent_engine.run_item(engine, item_id, clock.now())
        moment = datetime.fromisoformat(as_of)
        with clock.fixed(moment):
            return await agent_engine.run_item(engine, item_id, moment)
    except Exception:
        # No retry here: the engine writes backoff into the agenda for the failures it
        # understands; anything escaping it leaves the item claimed, and the scheduler
        # hands it out again when its lease runs out. Logged so it is never silent.
        log.exception("agenda item %s failed in the worker; it will be retried", item_id)
        return "error"


def register_tasks(broker: AsyncBroker) -> AgentJobs:
    """Register the agents' task on `broker` (no work at import: one call per broker)."""

    inflight: set[asyncio.Task[Any]] = set()

    async def run_agenda_item(item_id: str, as_of: str | None = None) -> str:
        engine = getattr(broker.state, "engine", None)
        if not isinstance(engine, Engine):
            log.error("agenda item %s arrived before the worker had an engine", item_id)
            return "error"
        current = asyncio.current_task()
        if current is not None:
            inflight.add(current)
        try:
            limit = getattr(broker.state, "slots", None)
            if limit is None:
                return await carry_out(engine, item_id, as_of)
            async with limit:
                return await carry_out(engine, item_id, as_of)
        finally:
            if current is not None:
                inflight.discard(current)

    # retry_on_error=False: retries are the engine's (backoff in the agenda), and no
    # retry middleware is installed either.
    task = broker.register_task(run_agenda_item, task_name=TASK_NAME, retry_on_error=False)
    return AgentJobs(broker, task, inflight)


async def dispatch(engine: Engine, kicker: Kicker, now: datetime, simulated: bool = False) -> int:
    """Hand out the items due at `now`: one message each; returns how many were sent."""
    ids = await agent_engine.take_due(engine, now)
    as_of = now.isoformat() if simulated else None
    for item_id in ids:
        await kicker.kick(item_id, as_of)
    return len(ids)
