"""Benchmark databases for bench/feed.py: create, migrate and bulk-load SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from feedgen import Network, Row
from rich.progress import Progress

BATCH = 20_000
KEPT_COMMENT = "kept by bench/feed.py --keep"
LOADED_TABLES = (
    "accounts",
    "characters",
    "actors",
    "follows",
    "posts",
    "post_tags",
    "post_mentions",
    "likes",
)


def batches(rows: Sequence[Row], size: int) -> Iterable[Sequence[Row]]:
    """Consecutive slices of rows."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


async def migrate(url: str) -> None:
    """Apply personae's migrations to a fresh database."""
    from personae.db import make_engine
    from personae.migrate import upgrade

    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def load_sqlite(url: str, network: Network, progress: Progress) -> None:
    """Bulk-insert with Core executemany; secondary indexes are rebuilt after the load."""
    from personae.db import Base, make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            for pragma in ("synchronous=OFF", "cache_size=-1000000", "temp_store=MEMORY"):
                await conn.exec_driver_sql(f"PRAGMA {pragma}")
            names = ", ".join(f"'{t}'" for t in LOADED_TABLES)
            indexes = (
                await conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                    f"AND sql IS NOT NULL AND tbl_name IN ({names})"
                )
            ).all()
            for name, _ in indexes:
                await conn.exec_driver_sql(f"DROP INDEX {name}")
            await conn.commit()
            for name, (columns, rows) in network.tables.items():
                task = progress.add_task(f"sqlite: {name}", total=len(rows))
                insert = Base.metadata.tables[name].insert()
                for chunk in batches(rows, BATCH):
                    await conn.execute(insert, [dict(zip(columns, r, strict=True)) for r in chunk])
                    progress.advance(task, len(chunk))
                await conn.commit()
            task = progress.add_task("sqlite: indexes", total=len(indexes))
            for _, sql in indexes:
                await conn.exec_driver_sql(sql)
                progress.advance(task)
            await conn.commit()
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await engine.dispose()


def stores_json(column: Any) -> bool:
    """Whether a model column holds JSON, under any TypeDecorator (COPY wants it as text)."""
    from sqlalchemy import JSON
    from sqlalchemy.types import TypeDecorator

    kind = column.type
    while isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    return isinstance(kind, JSON)


def plain_pg_url(url: str) -> str:
    """An asyncpg DSN from a SQLAlchemy URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def pg_database_kept(admin_url: str, name: str) -> bool:
    """Whether the database exists and was kept by an earlier `--keep` run."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        comment = await conn.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            name,
        )
    finally:
        await conn.close()
    return bool(comment == KEPT_COMMENT)


async def create_pg_database(admin_url: str, name: str, keep: bool) -> None:
    """Drop and create the benchmark database; a kept one is marked so no run drops it."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        if keep:
            await conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{KEPT_COMMENT}'")
    finally:
        await conn.close()


async def drop_pg_database(admin_url: str, name: str) -> None:
    """Drop the benchmark database."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def load_postgres(url: str, network: Network, progress: Progress) -> None:
    """COPY every table in one transaction with secondary indexes dropped, then analyse."""
    import asyncpg

    from personae.db import Base

    conn = await asyncpg.connect(plain_pg_url(url))
    try:
        async with conn.transaction():
            indexes = await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = ANY($1::text[]) "
                "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                list(LOADED_TABLES),
            )
            for index in indexes:
                await conn.execute(f'DROP INDEX "{index["indexname"]}"')
            for name, (columns, rows) in network.tables.items():
                task = progress.add_task(f"postgres: {name}", total=len(rows))
                table = Base.metadata.tables[name]
                json_columns = {i for i, c in enumerate(columns) if stores_json(table.c[c])}
                for chunk in batches(rows, BATCH * 5):
                    records: Iterable[Row] = chunk
                    if json_columns:
                        records = [
                            tuple(
                                json.dumps(v) if i in json_columns else v for i, v in enumerate(r)
                            )
                            for r in chunk
                        ]
                    await conn.copy_records_to_table(name, records=records, columns=columns)
                    progress.advance(task, len(chunk))
            await conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
            task = progress.add_task("postgres: indexes", total=len(indexes))
            for index in indexes:
                await conn.execute(index["indexdef"])
                progress.advance(task)
        task = progress.add_task("postgres: vacuum analyze", total=1)
        await conn.execute("VACUUM ANALYZE")
        progress.advance(task)
    finally:
        await conn.close()
