"""Signing keys: one RSA pair per local actor and one for the instance actor, made lazily.

A key is made the first time something needs it (a remote server fetching the actor, a
delivery), not when the actor is created, so instances that never federate never pay for
it. Generating takes 50-100 ms, so it runs in a worker thread and outside any write
transaction; concurrent first requests each generate, insert-or-ignore, and all reread
the one row that won, so every caller sees the same key.

A new key is its own unit of work, committed at once whatever becomes of the caller's:
it signs requests right away, and the servers receiving them fetch it from us (in
another request, which must find it) and cache it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from personae.db import transaction
from personae.federation.models import ActorKey, InstanceKey
from personae.federation.signatures import generate_key_pair

INSTANCE_KEY_NAME = "instance"


async def _insert_or_ignore(
    session: AsyncSession,
    model: type[ActorKey] | type[InstanceKey],
    primary_key: str,
    values: dict[str, Any],
) -> None:
    """Insert a key row unless one for the same owner exists, in a transaction of its own
    (see the top)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing(index_elements=[primary_key])
    if not isinstance(session.bind, AsyncEngine):
        # Bound to a connection whose transaction someone else owns: the key goes with it.
        await session.execute(statement)
        return
    async with transaction(async_sessionmaker(session.bind)) as own:
        await own.execute(statement)


async def get_key(session: AsyncSession, actor_id: str) -> ActorKey | None:
    """An actor's key if it has one (never creates it)."""
    return await session.scalar(select(ActorKey).where(ActorKey.actor_id == actor_id))


async def ensure_key(session: AsyncSession, actor_id: str) -> ActorKey:
    """An actor's key, made on first use (committed at once, see the top)."""
    key = await get_key(session, actor_id)
    if key is not None:
        return key
    private_pem, public_pem = await asyncio.to_thread(generate_key_pair)
    values = {"actor_id": actor_id, "public_pem": public_pem, "private_pem": private_pem}
    await _insert_or_ignore(session, ActorKey, "actor_id", values)
    # Reread: a concurrent request may have inserted first, and its key is the one kept.
    key = await session.scalar(
        select(ActorKey)
        .where(ActorKey.actor_id == actor_id)
        .execution_options(populate_existing=True)
    )
    assert key is not None  # just inserted, or inserted by whoever won the race
    return key


async def ensure_instance_key(session: AsyncSession) -> InstanceKey:
    """The instance actor's key, made on first use (committed at once, see the top)."""
    statement = select(InstanceKey).where(InstanceKey.name == INSTANCE_KEY_NAME)
    key = await session.scalar(statement)
    if key is not None:
        return key
    private_pem, public_pem = await asyncio.to_thread(generate_key_pair)
    values = {"name": INSTANCE_KEY_NAME, "public_pem": public_pem, "private_pem": private_pem}
    await _insert_or_ignore(session, InstanceKey, "name", values)
    key = await session.scalar(statement.execution_options(populate_existing=True))
    assert key is not None
    return key
