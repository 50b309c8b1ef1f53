"""Migration 0013 gives conversations a kind: the studio's test chats (found by their title
until now) become "test", every other conversation "chat"; going back drops the column and
keeps every row. On SQLite and PostgreSQL, from data written at 0012."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from personae.accounts.service import create_account
from personae.db import make_sessionmaker, transaction
from personae.migrate import alembic_config, upgrade
from tests.conftest import drop_scratch_database, scratch_database

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CONVERSATIONS = "SELECT id, owner_id, title, active_leaf_id FROM conversations ORDER BY id"


async def _rows(conn: AsyncConnection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await conn.execute(text(sql))).all()]


async def test_test_chats_migration_both_ways(db_kind: str, tmp_root: Path) -> None:
    engine, url = await scratch_database(db_kind, tmp_root, "testchats")
    try:
        await upgrade(engine, "0012")
        async with transaction(make_sessionmaker(engine)) as session:
            ann = await create_account(session, "ann", "correct horse")
            owner = ann.id
        titles = {"c1".ljust(32, "0"): "Studio test chat", "c2".ljust(32, "0"): "Chat with Muse"}
        async with engine.begin() as conn:
            for n, (cid, title) in enumerate(titles.items()):
                await conn.execute(
                    text(
                        "INSERT INTO conversations (id, created_at, owner_id, title, "
                        "active_leaf_id, updated_at) VALUES (:id, :at, :owner, :title, NULL, :at)"
                    ),
                    {"id": cid, "at": T0 + timedelta(minutes=n), "owner": owner, "title": title},
                )
        async with engine.connect() as conn:
            before = await _rows(conn, CONVERSATIONS)

        await upgrade(engine, "0013")
        async with engine.connect() as conn:
            kinds = dict(await _rows(conn, "SELECT id, kind FROM conversations"))
            assert kinds == {"c1".ljust(32, "0"): "test", "c2".ljust(32, "0"): "chat"}
            assert await _rows(conn, CONVERSATIONS) == before
        async with engine.begin() as conn:  # a new row without a kind is a chat
            await conn.execute(
                text(
                    "INSERT INTO conversations (id, created_at, owner_id, title, updated_at) "
                    "VALUES (:id, :at, :owner, 'later', :at)"
                ),
                {"id": "c3".ljust(32, "0"), "at": T0, "owner": owner},
            )
            kind = await conn.scalar(text("SELECT kind FROM conversations WHERE title = 'later'"))
            assert kind == "chat"
            await conn.execute(text("DELETE FROM conversations WHERE title = 'later'"))

        def down(connection: Any) -> None:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0012")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            assert await _rows(conn, CONVERSATIONS) == before
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("conversations")}
            )
            assert "kind" not in columns
        await upgrade(engine)
        async with engine.connect() as conn:
            assert len(await _rows(conn, "SELECT kind FROM conversations WHERE kind = 'test'")) == 1
    finally:
        await engine.dispose()
        await drop_scratch_database(db_kind, "testchats")
