"""Migration 0014 (scenes) up and down on both databases: chats keep everything, their
participants get the defaults, and going back removes the scenes and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from personae.accounts.service import create_account
from personae.characters.schemas import CharacterCreate
from personae.characters.service import create_character
from personae.chat.service import open_conversation
from personae.db import make_sessionmaker, transaction
from personae.migrate import alembic_config, upgrade
from personae.scenes.service import create_scene
from tests.conftest import drop_scratch_database, scratch_database

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PARTICIPANTS = (
    "SELECT id, conversation_id, kind, role, account_id, persona_id, character_id, position "
    "FROM conversation_participants ORDER BY id"
)
MESSAGES = (
    "SELECT id, conversation_id, parent_id, role, participant_id, content FROM messages ORDER BY id"
)


async def _rows(conn: AsyncConnection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await conn.execute(text(sql))).all()]


async def test_scenes_migration_up_and_down(db_kind: str, tmp_root: Path) -> None:
    engine, url = await scratch_database(db_kind, tmp_root, "scenes")
    try:
        await upgrade(engine, "0013")
        # A person's participant written at 0013, before the new columns existed.
        old = {"a": "a" * 32, "c": "c" * 32, "p": "p" * 32, "at": T0}
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO accounts (id, created_at, username, display_name, "
                    "password_hash, is_admin) VALUES (:a, :at, 'old', 'Old', 'x', false)"
                ),
                old,
            )
            await conn.execute(
                text(
                    "INSERT INTO conversations (id, created_at, owner_id, title, kind, "
                    "updated_at) VALUES (:c, :at, :a, 'old chat', 'chat', :at)"
                ),
                old,
            )
            await conn.execute(
                text(
                    "INSERT INTO conversation_participants (id, created_at, conversation_id, "
                    "kind, role, account_id, position, joined_at) "
                    "VALUES (:p, :at, :c, 'person', 'owner', :a, 0, :at)"
                ),
                old,
            )
            await conn.execute(
                text(
                    "INSERT INTO messages (id, created_at, conversation_id, role, participant_id,"
                    " content, is_greeting) VALUES (:m, :at, :c, 'user', :p, 'Hello.', false)"
                ),
                {**old, "m": "m" * 32},
            )
        await upgrade(engine)  # head: the services below write today's schema
        sessions = make_sessionmaker(engine)
        async with transaction(sessions) as session:
            ann = await create_account(session, "ben", "correct horse")
            muse = await create_character(
                session, ann, CharacterCreate(name="Muse", first_mes="Hi."), commit=False
            )
            chat = await open_conversation(session, ann, muse.id)
            made = await create_scene(session, ann, "A scene", characters=[muse.handle])
            chat_id, scene_id = chat.id, made.id
        async with engine.connect() as conn:
            chat_participants = [
                r for r in await _rows(conn, PARTICIPANTS) if r[1] in (chat_id, "c" * 32)
            ]
            defaults = await _rows(
                conn,
                "SELECT status, muted, talkativeness, backend, left_at, invited_by FROM "
                "conversation_participants WHERE conversation_id IN "
                f"('{chat_id}', '{'c' * 32}')",
            )
            assert {tuple(d) for d in defaults} == {("member", False, 0.5, None, None, None)}
            # The speaker of a message written before the migration is still known.
            assert (await _rows(conn, MESSAGES))[-1][4] == "p" * 32
            chat_messages = [r for r in await _rows(conn, MESSAGES) if r[1] != scene_id]
            assert chat_messages  # the greeting
            assert len(await _rows(conn, "SELECT conversation_id FROM scenes")) == 1
            assert len(await _rows(conn, "SELECT id FROM scene_presence")) == 2

        def down(connection: Any) -> None:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0013")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
            assert not tables & {"scenes", "scene_presence", "scene_shares"}
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("messages")}
            )
            assert "reason" not in columns
            assert [r for r in await _rows(conn, PARTICIPANTS)] == chat_participants
            assert await _rows(conn, MESSAGES) == chat_messages
            kinds = await _rows(conn, "SELECT id, kind FROM conversations ORDER BY id")
            assert kinds == sorted([(chat_id, "chat"), ("c" * 32, "chat")])
            assert scene_id not in {k[0] for k in kinds}
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await _rows(conn, "SELECT conversation_id FROM scenes") == []
    finally:
        await engine.dispose()
        await drop_scratch_database(db_kind, "scenes")
