"""The one clock of the domain: wall time normally, a simulated time in simulations.

Everything that decides by time (the agents' planning, due times, limits and memory
recency; every `created_at`, through `db.utcnow`) reads `now()` here, never the wall
clock directly, so a simulated day is coherent and a test can fix the moment.
A context variable rather than a parameter threaded through every call, because the
social services that fire triggers (a mention, a follow) run inside the engine's
actions as well as inside web requests, and must stamp the time of whichever is current.
Row ids (`db.new_id`) stay on the wall clock on purpose: they order rows by insertion,
which must hold even when many rows are written at one simulated instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_simulated: ContextVar[SimClock | None] = ContextVar("personae_sim_clock", default=None)


class SimClock:
    """A clock that only moves when told to (never backwards)."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """The simulated time."""
        return self._now

    def advance_to(self, moment: datetime) -> None:
        """Move the clock forward to `moment` (earlier moments are ignored)."""
        moment = moment.astimezone(UTC)
        if moment > self._now:
            self._now = moment


def now() -> datetime:
    """The current time of the engine: simulated inside `simulated(...)`, else UTC wall time."""
    clock = _simulated.get()
    return clock.now() if clock is not None else datetime.now(UTC)


@contextmanager
def simulated(clock: SimClock) -> Iterator[SimClock]:
    """Run the enclosed code (and the tasks it starts) on a simulated clock."""
    token = _simulated.set(clock)
    try:
        yield clock
    finally:
        _simulated.reset(token)


@contextmanager
def fixed(moment: datetime) -> Iterator[SimClock]:
    """Run the enclosed code as if it were `moment` (a worker carrying out a simulated action)."""
    with simulated(SimClock(moment)) as clock:
        yield clock
