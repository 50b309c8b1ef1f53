"""The scheduler's plan: each autonomous character's day, spread over its active hours.

Planning is pure and deterministic (the jitter is seeded by the character and the date),
so writing the same day twice yields the same idempotency keys and nothing doubles.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from personae.agents.models import AgentSettings
from personae.errors import Invalid


@dataclass(frozen=True)
class Planned:
    """One scheduled action before it is written to the agenda."""

    kind: str
    key: str
    due_at: datetime
    reason: str


def zone(name: str) -> ZoneInfo:
    """The IANA time zone called `name`; a clear 4xx for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'",
            code="bad_timezone",
        ) from exc


def active_window(agent: AgentSettings, day: date) -> tuple[datetime, datetime]:
    """The active hours of a local day, in UTC; a window past midnight ends the next day."""
    midnight = datetime.combine(day, time(0), zone(agent.timezone))
    first, last = agent.active_from, agent.active_until
    hours = last - first if last > first else last + 24 - first  # equal: the whole day
    start = midnight + timedelta(hours=first)
    return start.astimezone(UTC), (start + timedelta(hours=hours)).astimezone(UTC)


def _spread(
    agent: AgentSettings, day: date, kind: str, count: int, window: tuple[datetime, datetime]
) -> list[Planned]:
    """`count` moments, one in each equal part of the window, at a seeded random point."""
    start, end = window
    span = (end - start).total_seconds()
    if count <= 0 or span <= 0:
        return []
    part = span / count
    planned = []
    for index in range(count):
        slot = f"{agent.character_id}:{day.isoformat()}:{kind}:{index}"
        rng = random.Random(slot)
        # Jitter inside the middle 80% of the part, so neighbours never bunch up.
        offset = part * index + part * (0.1 + 0.8 * rng.random())
        planned.append(
            Planned(
                kind=kind,
                key=f"plan:{slot}:r{agent.schedule_revision}",
                due_at=start + timedelta(seconds=round(offset)),
                reason=f"scheduled {kind} {index + 1} of {count} on {day.isoformat()}",
            )
        )
    return planned


def plan_day(agent: AgentSettings, day: date) -> list[Planned]:
    """A character's scheduled posts and feed reading on one local day."""
    window = active_window(agent, day)
    allowed = set(agent.allowed_actions or [])
    planned: list[Planned] = []
    if "post" in allowed:
        planned += _spread(agent, day, "post", agent.posts_per_day, window)
    if allowed & {"like", "repost"}:
        planned += _spread(agent, day, "browse", agent.browse_per_day, window)
    return sorted(planned, key=lambda p: p.due_at)


def local_today(agent: AgentSettings, moment: datetime) -> date:
    """The character's local date at `moment`."""
    return moment.astimezone(zone(agent.timezone)).date()
