"""Domain events: what happened, told to whoever subscribed, inside the transaction.

The bottom of the house: it imports nothing of personae. A service that changes
something other packages care about (a post written, a follow, a block, a saved chat
message) emits a typed event with `emit(session, event)` instead of calling those
packages. Subscribers are registered at start (the app, the CLI, a worker: see
`personae.wiring`), so the dependency runs one way: federation and the agents depend
on social, never social on them.

Two kinds of subscriber:

- **in the transaction** (`subscribe`): awaited at `emit`, with the same session, so
  whatever they write (federation's outbox row, an agent's due action) commits or rolls
  back with the change itself. They must not do I/O outside the database.
- **after commit** (`after_commit`): called once the transaction that emitted the event
  has committed (live updates, wake-ups); never for a rolled-back change, so nothing is
  ever announced that did not happen. They run on the event loop and must be quick.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of every domain event; only ids and plain values, never ORM objects."""


E = TypeVar("E", bound=Event)
InTransaction = Callable[[AsyncSession, Any], Awaitable[None]]
AfterCommit = Callable[[Any], None]

_PENDING = "personae.events.pending"


class Registry:
    """Who hears which event type; one per process, filled at start."""

    def __init__(self) -> None:
        self.in_transaction: dict[type[Event], list[InTransaction]] = defaultdict(list)
        self.after_commit: dict[type[Event], list[AfterCommit]] = defaultdict(list)
        self.installed: set[str] = set()

    def clear(self) -> None:
        """Forget every subscriber (tests that wire their own)."""
        self.in_transaction.clear()
        self.after_commit.clear()
        self.installed.clear()


registry = Registry()


def subscribe(kind: type[E], handler: Callable[[AsyncSession, E], Awaitable[None]]) -> None:
    """Hear `kind` (and its subclasses) inside the emitting transaction."""
    if handler not in registry.in_transaction[kind]:
        registry.in_transaction[kind].append(handler)


def after_commit(kind: type[E], handler: Callable[[E], None]) -> None:
    """Hear `kind` once the emitting transaction has committed."""
    if handler not in registry.after_commit[kind]:
        registry.after_commit[kind].append(handler)


def _handlers(table: dict[type[Event], list[Any]], event: Event) -> list[Any]:
    found: list[Any] = []
    for kind in type(event).__mro__:
        found.extend(table.get(kind, ()))
    return found


async def emit(session: AsyncSession, event: Event) -> None:
    """Tell subscribers that `event` happened in this session's transaction."""
    for handler in _handlers(registry.in_transaction, event):
        await handler(session, event)
    if _handlers(registry.after_commit, event):
        _listen_once()
        session.sync_session.info.setdefault(_PENDING, []).append(event)


_listening = False


def _listen_once() -> None:
    """Hook every session's commit and rollback, the first time an event needs it."""
    global _listening
    if not _listening:
        sa_event.listen(Session, "after_commit", _announce)
        sa_event.listen(Session, "after_rollback", _forget)
        _listening = True


def _announce(sync: Session) -> None:
    for event in sync.info.pop(_PENDING, []):
        for handler in _handlers(registry.after_commit, event):
            try:
                handler(event)
            except Exception:  # one listener's failure must not undo or hide the others
                log.exception("after-commit handler %r failed for %r", handler, event)


def _forget(sync: Session) -> None:
    sync.info.pop(_PENDING, None)
