"""Migration 0012 moves each conversation's character and persona into participants and
says who spoke each message, without losing anything; going back restores the old rows
exactly. On SQLite and PostgreSQL, from data written at 0011."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from personae.accounts.service import create_account, create_persona
from personae.characters.schemas import CharacterCreate
from personae.characters.service import create_character
from personae.db import make_sessionmaker, transaction
from personae.migrate import alembic_config, upgrade
from tests.conftest import drop_scratch_database, scratch_database

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _id(label: str) -> str:
    return label.ljust(32, "0")


async def _rows(conn: AsyncConnection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await conn.execute(text(sql))).all()]


CONVERSATIONS_0011 = (
    "SELECT id, owner_id, character_id, persona_id, title, active_leaf_id FROM conversations "
    "ORDER BY id"
)
MESSAGES = (
    "SELECT id, conversation_id, parent_id, role, content, is_greeting FROM messages ORDER BY id"
)


async def test_participants_migration_is_lossless_both_ways(db_kind: str, tmp_root: Path) -> None:
    engine, url = await scratch_database(db_kind, tmp_root, "participants")
    try:
        await upgrade(engine, "0011")
        # Parents through the services (their tables are the same at 0011 as now).
        async with transaction(make_sessionmaker(engine)) as session:
            ann = await create_account(session, "ann", "correct horse")
            ben = await create_account(session, "ben", "correct horse")
            persona = await create_persona(session, ann, "Captain Ann", "a pirate")
            muse = await create_character(session, ann, CharacterCreate(name="Muse"), commit=False)
            sage = await create_character(session, ben, CharacterCreate(name="Sage"), commit=False)
            ids = {"ann": ann.id, "ben": ben.id, "persona": persona.id}
            ids |= {"muse": muse.id, "sage": sage.id}
        conversations = [
            # id, owner, character, persona (None: the default one)
            (_id("c1"), ids["ann"], ids["muse"], ids["persona"]),
            (_id("c2"), ids["ann"], ids["sage"], None),
            (_id("c3"), ids["ben"], ids["muse"], None),  # no messages at all
        ]
        messages = [
            # id, conversation, parent, role, content, greeting
            (_id("m1"), _id("c1"), None, "assistant", "Ahoy, welcome aboard.", True),
            (_id("m2"), _id("c1"), _id("m1"), "user", "Where are we sailing?", False),
            (_id("m3"), _id("c1"), _id("m2"), "assistant", "North, to the ice.", False),
            (_id("m4"), _id("c1"), _id("m2"), "assistant", "South (a swipe).", False),
            (_id("m5"), _id("c2"), None, "user", "Hello, Sage.", False),
        ]
        async with engine.begin() as conn:
            for n, (cid, owner, character, persona_id) in enumerate(conversations):
                await conn.execute(
                    text(
                        "INSERT INTO conversations (id, created_at, owner_id, character_id, "
                        "persona_id, title, active_leaf_id, updated_at) VALUES (:id, :at, "
                        ":owner, :character, :persona, :title, :leaf, :at)"
                    ),
                    {
                        "id": cid,
                        "at": T0 + timedelta(minutes=n),
                        "owner": owner,
                        "character": character,
                        "persona": persona_id,
                        "title": f"chat {n}",
                        "leaf": _id("m3") if cid == _id("c1") else None,
                    },
                )
            for n, (mid, cid, parent, role, content, greeting) in enumerate(messages):
                await conn.execute(
                    text(
                        "INSERT INTO messages (id, created_at, conversation_id, parent_id, role, "
                        "content, is_greeting) VALUES (:id, :at, :c, :p, :role, :content, :g)"
                    ),
                    {
                        "id": mid,
                        "at": T0 + timedelta(seconds=n),
                        "c": cid,
                        "p": parent,
                        "role": role,
                        "content": content,
                        "g": greeting,
                    },
                )
        async with engine.connect() as conn:
            before_conversations = await _rows(conn, CONVERSATIONS_0011)
            before_messages = await _rows(conn, MESSAGES)

        await upgrade(engine, "0012")
        async with engine.connect() as conn:
            participants = await _rows(
                conn,
                "SELECT conversation_id, position, kind, role, account_id, persona_id, "
                "character_id FROM conversation_participants ORDER BY conversation_id, position",
            )
            expected = []
            for cid, owner, character, persona_id in conversations:
                expected.append((cid, 0, "person", "owner", owner, persona_id, None))
                expected.append((cid, 1, "character", "character", None, None, character))
            assert participants == expected
            speakers = dict(
                await _rows(
                    conn,
                    "SELECT m.id, p.kind FROM messages m LEFT JOIN conversation_participants p "
                    "ON p.id = m.participant_id",
                )
            )
            assert speakers == {
                mid: ("person" if role == "user" else "character")
                for mid, _, _, role, _, _ in messages
            }
            assert await _rows(conn, MESSAGES) == before_messages
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("conversations")}
            )
            assert not columns & {"character_id", "persona_id"}

        def down(connection: Any) -> None:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0011")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            assert await _rows(conn, CONVERSATIONS_0011) == before_conversations
            assert await _rows(conn, MESSAGES) == before_messages
        # And up again to where the code is: the models match (checked for the fresh path
        # in tests/test_migrations.py).
        await upgrade(engine)
        async with engine.connect() as conn:
            assert len(await _rows(conn, "SELECT id FROM conversation_participants")) == 6
    finally:
        await engine.dispose()
        await drop_scratch_database(db_kind, "participants")
