"""Database plumbing: engine, sessions, declarative base, SQLite pragmas."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, String, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from personae import clock
from personae.errors import Invalid

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now in UTC, from the domain's clock (simulated inside simulations)."""
    return clock.now()


def new_id() -> str:
    """A new identifier: 32 hex digits, time first, so ids sort in creation order.

    Like UUIDv7 (which Python 3.11 lacks): cursor paging by id then follows creation time.
    """
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(9)}"


ID_LENGTH = 32


def check_cursor(cursor: str | None) -> str | None:
    """Id cursors are 32 lower-case hex digits; anything else is a clear 422."""
    if cursor is None or cursor == "":
        return None
    if len(cursor) != ID_LENGTH or any(c not in "0123456789abcdef" for c in cursor):
        raise Invalid("cursor must be a value returned as next_cursor", code="bad_cursor")
    return cursor


def search_key(identifier: str) -> int:
    """A 63-bit integer for an id: the row's key in the SQLite full-text index."""
    return int.from_bytes(hashlib.blake2b(identifier.encode(), digest_size=8).digest(), "big") >> 1


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes; SQLite returns naive ones, so re-attach UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class JSONList(TypeDecorator[list[Any]]):
    """A JSON array column that never holds null: None is written and read as []."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: list[Any] | None, dialect: Any) -> list[Any]:
        return [] if value is None else value

    def process_result_value(self, value: Any, dialect: Any) -> list[Any]:
        return value if isinstance(value, list) else []


class JSONDict(TypeDecorator[dict[str, Any]]):
    """A JSON object column that never holds null: None is written and read as {}."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Any) -> dict[str, Any]:
        return {} if value is None else value

    def process_result_value(self, value: Any, dialect: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}


class Base(DeclarativeBase):
    """Declarative base for every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONDict,
        list[Any]: JSONList,
    }


class IdMixin:
    """String primary key and creation time."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers proceed while one writer commits; foreign keys are off by default.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, echo: bool = False) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: a session committed when the block ends, rolled back if it raises.

    Services only flush; this (for workers, the CLI and background steps) and the request
    dependency (`deps.get_db`) are where work is committed.
    """
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()
