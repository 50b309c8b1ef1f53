"""The delivery worker: a loop that expands outbound events, sends due deliveries, prunes.

Every `federation_worker_tick_s` it turns newly recorded events into activities and
deliveries (`outbound.expand_due`), then sends what is due (`delivery.deliver_due`);
once an hour it deletes old inbound dedupe rows and finished deliveries. Any number of
processes may run one (`personae serve`, `run`, `worker`): claims keep them apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.config import Settings
from personae.db import transaction, utcnow
from personae.federation import outbound
from personae.federation.context import Federation
from personae.federation.delivery import DeliveryPolicy, deliver_due
from personae.federation.models import Delivery, InboundActivity

log = logging.getLogger(__name__)

# Events expanded and deliveries sent per pass; a full pass runs again without waiting.
EXPAND_BATCH = 50
DELIVERY_BATCH = 20
PRUNE_EVERY = timedelta(hours=1)
# Inbound ids are kept long enough that a redelivery within a month changes nothing.
INBOUND_KEEP = timedelta(days=30)
FINISHED_KEEP = timedelta(days=7)
# How long stopping waits for the pass in progress; what it cuts short is sent again
# once its claim runs out.
DRAIN_TIMEOUT_S = 5.0


async def prune(sessions: async_sessionmaker[AsyncSession], now: datetime) -> tuple[int, int]:
    """Delete old inbound dedupe rows and finished deliveries; returns how many of each."""
    async with transaction(sessions) as session:
        inbound = await session.execute(
            delete(InboundActivity)
            .where(InboundActivity.received_at < now - INBOUND_KEEP)
            .execution_options(synchronize_session=False)
        )
        finished = await session.execute(
            delete(Delivery)
            .where(
                Delivery.state.in_(("delivered", "failed", "gone")),
                Delivery.finished_at < now - FINISHED_KEEP,
            )
            .execution_options(synchronize_session=False)
        )
    return int(getattr(inbound, "rowcount", 0)), int(getattr(finished, "rowcount", 0))


class DeliveryWorker:
    """Runs expand, deliver and prune in a loop on this event loop, until stopped."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        federation: Federation | None = None,
        policy: DeliveryPolicy | None = None,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
    ) -> None:
        self.sessions = sessions
        self.federation = federation or Federation.from_settings(settings)
        self.policy = policy or DeliveryPolicy.from_settings(settings)
        self.interval_s = settings.federation_worker_tick_s
        self.drain_timeout_s = drain_timeout_s
        self.ticks = 0
        self.more_waiting = False
        self._stopping = asyncio.Event()
        self._last_prune: datetime | None = None
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime | None = None) -> int:
        """One pass: expand events, send what is due, prune hourly; returns how many were sent."""
        moment = now or utcnow()
        expanded = await outbound.expand_due(self.sessions, self.federation, EXPAND_BATCH)
        if expanded:
            log.info("federation: %d outbound events expanded", expanded)
        sent = await deliver_due(
            self.sessions, self.federation, limit=DELIVERY_BATCH, now=moment, policy=self.policy
        )
        if self._last_prune is None or moment - self._last_prune >= PRUNE_EVERY:
            self._last_prune = moment
            inbound, finished = await prune(self.sessions, moment)
            if inbound or finished:
                log.info(
                    "federation: pruned %d inbound ids and %d finished deliveries",
                    inbound,
                    finished,
                )
        self.ticks += 1
        # A full batch of either kind means more may be waiting: go again at once.
        self.more_waiting = sent >= DELIVERY_BATCH or expanded >= EXPAND_BATCH
        return sent

    async def _run_forever(self) -> None:
        while not self._stopping.is_set():
            self.more_waiting = False
            try:
                await self.tick()
            except Exception:
                # A database hiccup must not end deliveries for good: the rows are
                # durable, so the next pass picks up where this one failed.
                log.exception("federation: the delivery pass failed; retrying shortly")
            if not self.more_waiting:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.interval_s)

    @property
    def running(self) -> bool:
        """Whether the loop is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (a second call does nothing)."""
        if self.running:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run_forever(), name="federation-delivery")
        log.info("federation: delivery worker every %.1f s", self.interval_s)

    async def stop(self) -> None:
        """Stop the loop, letting the pass in progress finish within the drain timeout."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        _, pending = await asyncio.wait({task}, timeout=self.drain_timeout_s)
        if pending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
