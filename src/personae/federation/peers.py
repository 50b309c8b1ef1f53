"""Which HTTP signature dialect each remote server speaks, remembered per host.

A server's dialect is learned from what worked: the dialect its own signed requests
used (a request that verified), and the dialect its inbox accepted when we had to try
both (`delivery` retries a 401 in the other dialect). Outgoing requests to a server are
signed in its dialect, draft-cavage while nothing is known (every fediverse server
accepts it today; RFC 9421 is what Fedify tries first).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from personae.db import utcnow
from personae.federation.httpsig import CAVAGE, DIALECTS, Dialect
from personae.federation.models import PeerServer
from personae.federation.urls import host_of


async def dialects(session: AsyncSession, hosts: Iterable[str]) -> dict[str, Dialect]:
    """The known dialect of each of these hosts (hosts nothing is known about are left out)."""
    wanted = sorted({host for host in hosts if host})
    if not wanted:
        return {}
    rows = await session.execute(
        select(PeerServer.host, PeerServer.signature_dialect).where(PeerServer.host.in_(wanted))
    )
    return {host: dialect for host, dialect in rows if dialect in DIALECTS}


async def dialect_for(session: AsyncSession, url: str) -> Dialect:
    """The dialect to sign a request to `url` in (draft-cavage unless we learned otherwise)."""
    host = host_of(url)
    return (await dialects(session, [host])).get(host, CAVAGE)


async def remember(session: AsyncSession, host: str, dialect: Dialect) -> None:
    """Record the dialect that worked with a host (not committed)."""
    if not host or dialect not in DIALECTS:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    values = {"host": host[:255], "signature_dialect": dialect, "updated_at": utcnow()}
    statement = insert(PeerServer).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["host"],
        set_={"signature_dialect": dialect, "updated_at": values["updated_at"]},
    )
    await session.execute(statement)
