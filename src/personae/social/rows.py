"""Writes that stay right when the same request arrives twice at once (a double click,
two workers acting for one character)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from personae.db import Base


async def insert_new(
    session: AsyncSession, model: type[Base], values: dict[str, Any], unique: Sequence[str]
) -> bool:
    """Insert a row unless one with the same `unique` columns exists; True when it was new.

    `INSERT ... ON CONFLICT DO NOTHING`: a concurrent twin waits for the first writer (its
    commit on PostgreSQL, the write lock on SQLite) and then inserts nothing, leaving the
    caller's transaction intact. Catching the IntegrityError instead would need a rollback,
    which throws away the caller's other writes and expires every object it loaded (the
    next attribute read then fails with MissingGreenlet). Not committed here.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = model.__table__
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(unique))
        .returning(table.c.id)
    )
    return (await session.execute(statement)).first() is not None
