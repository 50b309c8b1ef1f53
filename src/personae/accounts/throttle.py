"""Attempt counters in fixed windows, kept in the database so all processes share them.

A counter is a row: a key (a digest of what is counted), its hits, and when the window
ends. Counting is one atomic upsert that returns the new count, so concurrent requests in
any process never lose a hit, on SQLite and PostgreSQL alike. The database is the
embedded default and is always there; one more small write per sign-in attempt is
nothing beside the argon2 hash the attempt costs, so Redis would buy nothing here.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import AuthThrottle
from personae.db import utcnow


@dataclass(frozen=True)
class Count:
    """A counter after a hit: how many in this window, and when the window ends."""

    hits: int
    reset_at: datetime

    def seconds_left(self, now: datetime) -> float:
        """Seconds until the window ends."""
        return max(0.0, (self.reset_at - now).total_seconds())


def client_network(address: str | None) -> str:
    """The unit a client address is counted by: the IPv4 address, or the IPv6 /64 (one
    household or server gets a whole /64, so counting single IPv6 addresses counts nothing).
    """
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return address.strip()[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def counter_key(scope: str, *parts: str) -> str:
    """The row key for one counter: a digest, so no username or address is stored."""
    text = "\x1f".join((scope, *parts))
    return hashlib.sha256(text.encode()).hexdigest()


async def hit(session: AsyncSession, key: str, window_s: float) -> Count:
    """Count one attempt (a new window starts when the last one is over); not committed."""
    now = utcnow()
    fresh = now + timedelta(seconds=window_s)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = insert(AuthThrottle).values(key=key, hits=1, reset_at=fresh)
    table = AuthThrottle.__table__.c
    over = table.reset_at <= now
    statement = values.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "hits": case((over, 1), else_=table.hits + 1),
            "reset_at": case((over, values.excluded.reset_at), else_=table.reset_at),
        },
    ).returning(AuthThrottle.hits, AuthThrottle.reset_at)
    row = (await session.execute(statement)).one()
    return Count(int(row[0]), row[1])


async def peek(session: AsyncSession, key: str) -> Count | None:
    """A counter's current window, or None when it has none running."""
    now = utcnow()
    row = (
        await session.execute(
            select(AuthThrottle.hits, AuthThrottle.reset_at).where(
                AuthThrottle.key == key, AuthThrottle.reset_at > now
            )
        )
    ).first()
    return Count(int(row[0]), row[1]) if row else None


async def refund(session: AsyncSession, *keys: str, hits: int = 1) -> None:
    """Take back hits from each counter (attempts that turned out not to count)."""
    await session.execute(
        update(AuthThrottle)
        .where(AuthThrottle.key.in_(keys), AuthThrottle.hits > 0)
        .values(hits=case((AuthThrottle.hits > hits, AuthThrottle.hits - hits), else_=0))
    )


async def clear(session: AsyncSession, *keys: str) -> None:
    """Forget counters altogether."""
    await session.execute(delete(AuthThrottle).where(AuthThrottle.key.in_(keys)))


async def remember(session: AsyncSession, key: str, days: float) -> None:
    """Keep a marker row for `days` (a window with one hit), e.g. a known address."""
    await clear(session, key)
    await hit(session, key, days * 86_400)


async def purge(session: AsyncSession) -> None:
    """Delete windows that are over (an indexed range delete; cheap when there are none)."""
    await session.execute(delete(AuthThrottle).where(AuthThrottle.reset_at <= utcnow()))
