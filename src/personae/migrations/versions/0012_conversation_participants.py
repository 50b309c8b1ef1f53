"""conversation participants: people and characters take part in conversations

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 18:00:00
"""

# ruff: noqa: S608 - the SQL below is built from this file's own constants, never input

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

import personae.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows written per statement while filling the participants.
CHUNK = 1000
# Message columns as at 0011, in their order (copied as they are, both ways).
MESSAGE_COLUMNS = (
    "conversation_id",
    "parent_id",
    "role",
    "content",
    "is_greeting",
    "edited_at",
    "backend",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "ttft_ms",
    "duration_ms",
    "finish_reason",
    "id",
    "created_at",
)
# Who spoke a message, by its role: the person wrote "user" turns, the character the rest.
SPEAKER = (
    "(SELECT p.id FROM conversation_participants p WHERE p.conversation_id = m.conversation_id "
    "AND p.kind = CASE m.role WHEN 'user' THEN 'person' WHEN 'assistant' THEN 'character' END "
    "ORDER BY p.position LIMIT 1)"
)
# A conversation's character and its owner's persona, as the 0011 columns held them.
CHARACTER_OF = (
    "(SELECT p.character_id FROM conversation_participants p "
    "WHERE p.conversation_id = c.id AND p.kind = 'character' ORDER BY p.position LIMIT 1)"
)
PERSONA_OF = (
    "(SELECT p.persona_id FROM conversation_participants p "
    "WHERE p.conversation_id = c.id AND p.kind = 'person' AND p.role = 'owner' "
    "ORDER BY p.position LIMIT 1)"
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _fk(
    column: str, target: str, table: str, ondelete: str, refers: str | None = None
) -> sa.Constraint:
    """A named foreign key; `refers` is the table it points at now, if not its final name."""
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column],
        [f"{refers}.{target.split('.')[1]}" if refers else target],
        name=f"fk_{table}_{column}_{referred}",
        ondelete=ondelete,
    )


def _participants_table(conversations: str) -> None:
    op.create_table(
        "conversation_participants",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("persona_id", sa.String(length=32), nullable=True),
        sa.Column("character_id", sa.String(length=32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("joined_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        _fk("account_id", "accounts.id", "conversation_participants", "CASCADE"),
        _fk("character_id", "characters.id", "conversation_participants", "CASCADE"),
        _fk(
            "conversation_id",
            "conversations.id",
            "conversation_participants",
            "CASCADE",
            refers=conversations,
        ),
        _fk("persona_id", "personas.id", "conversation_participants", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_participants"),
    )
    op.create_index(
        "ix_conversation_participants_conversation_position",
        "conversation_participants",
        ["conversation_id", "position"],
        unique=True,
    )
    op.create_index(
        "ix_conversation_participants_character_id",
        "conversation_participants",
        ["character_id"],
    )
    op.create_index(
        "ix_conversation_participants_account_id", "conversation_participants", ["account_id"]
    )


def _fill_participants() -> None:
    """Each conversation's owner (with its persona) at 0 and its character at 1."""
    bind = op.get_bind()
    old = sa.table(
        "conversations",
        sa.column("id"),
        sa.column("owner_id"),
        sa.column("persona_id"),
        sa.column("character_id"),
        sa.column("created_at"),
    )
    target = sa.table(
        "conversation_participants",
        *(
            sa.column(name)
            for name in (
                "id",
                "created_at",
                "conversation_id",
                "kind",
                "role",
                "account_id",
                "persona_id",
                "character_id",
                "position",
                "joined_at",
            )
        ),
    )
    rows = bind.execute(
        sa.select(
            old.c.id, old.c.owner_id, old.c.persona_id, old.c.character_id, old.c.created_at
        ).order_by(old.c.id)
    ).all()
    batch: list[dict[str, object]] = []
    for conversation_id, owner_id, persona_id, character_id, created_at in rows:
        common = {
            "created_at": created_at,
            "joined_at": created_at,
            "conversation_id": conversation_id,
        }
        batch.append(
            {
                **common,
                "id": personae.db.new_id(),
                "kind": "person",
                "role": "owner",
                "account_id": owner_id,
                "persona_id": persona_id,
                "character_id": None,
                "position": 0,
            }
        )
        batch.append(
            {
                **common,
                "id": personae.db.new_id(),
                "kind": "character",
                "role": "character",
                "account_id": None,
                "persona_id": None,
                "character_id": character_id,
                "position": 1,
            }
        )
        if len(batch) >= CHUNK:
            bind.execute(target.insert(), batch)
            batch = []
    if batch:
        bind.execute(target.insert(), batch)


def _conversations_table(name: str, *, with_character: bool) -> None:
    """The conversations table, as at 0011 (`with_character`) or from 0012 on."""
    columns: list[SchemaItem] = [sa.Column("owner_id", sa.String(length=32), nullable=False)]
    if with_character:
        columns += [
            sa.Column("character_id", sa.String(length=32), nullable=False),
            sa.Column("persona_id", sa.String(length=32), nullable=True),
        ]
    columns += [
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("active_leaf_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
    ]
    if with_character:
        columns.append(_fk("character_id", "characters.id", "conversations", "CASCADE"))
    columns.append(_fk("owner_id", "accounts.id", "conversations", "CASCADE"))
    if with_character:
        columns.append(_fk("persona_id", "personas.id", "conversations", "SET NULL"))
    columns.append(sa.PrimaryKeyConstraint("id", name="pk_conversations"))
    op.create_table(name, *columns)


def _messages_table(name: str, conversations: str, *, with_participant: bool) -> None:
    """The messages table (pointing at `conversations` and at itself under `name`)."""
    columns: list[SchemaItem] = [
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("is_greeting", sa.Boolean(), nullable=False),
        sa.Column("edited_at", personae.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("backend", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=300), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cached_tokens", sa.Integer(), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("finish_reason", sa.String(length=30), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
    ]
    if with_participant:
        columns.append(sa.Column("participant_id", sa.String(length=32), nullable=True))
    columns += [
        _fk("conversation_id", "conversations.id", "messages", "CASCADE", refers=conversations),
        _fk("parent_id", "messages.id", "messages", "CASCADE", refers=name),
    ]
    if with_participant:
        columns.append(
            _fk(
                "participant_id",
                "conversation_participants.id",
                "messages",
                "SET NULL",
            )
        )
    columns.append(sa.PrimaryKeyConstraint("id", name="pk_messages"))
    op.create_table(name, *columns)


def _swap_in(new_conversations: str, new_messages: str, drop: Sequence[str]) -> None:
    """Drop the old tables, children first, then give the new ones their names (SQLite).

    Foreign keys are on inside this transaction (PRAGMA foreign_keys cannot change in one),
    so a parent is only dropped once nothing points at it: dropping it deletes its rows,
    with every ON DELETE CASCADE that still reaches them (which is why Alembic's batch mode,
    which drops the old table while the others still point at it, is not used here).
    Renaming a table with foreign keys on rewrites the references to it.
    """
    for table in drop:
        op.drop_table(table)
    op.rename_table(new_conversations, "conversations")
    op.rename_table(new_messages, "messages")


def upgrade() -> None:
    """Conversations get participants; messages say which one spoke; the columns of the
    one character and persona go (their values live on in the participants)."""
    if not _sqlite():
        _participants_table("conversations")
        _fill_participants()
        op.add_column("messages", sa.Column("participant_id", sa.String(length=32), nullable=True))
        op.create_foreign_key(
            "fk_messages_participant_id_conversation_participants",
            "messages",
            "conversation_participants",
            ["participant_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.execute(f"UPDATE messages AS m SET participant_id = {SPEAKER}")
        op.drop_index("ix_conversations_character_id", table_name="conversations")
        op.drop_constraint("fk_conversations_character_id_characters", "conversations")
        op.drop_constraint("fk_conversations_persona_id_personas", "conversations")
        op.drop_column("conversations", "character_id")
        op.drop_column("conversations", "persona_id")
        return
    # SQLite: new tables beside the old ones, filled, then swapped in (see _swap_in).
    _conversations_table("conversations_0012", with_character=False)
    op.execute(
        "INSERT INTO conversations_0012 (owner_id, title, active_leaf_id, updated_at, id, "
        "created_at) SELECT owner_id, title, active_leaf_id, updated_at, id, created_at "
        "FROM conversations"
    )
    _participants_table("conversations_0012")
    _fill_participants()
    _messages_table("messages_0012", "conversations_0012", with_participant=True)
    names = ", ".join(MESSAGE_COLUMNS)
    copied = ", ".join(f"m.{c}" for c in MESSAGE_COLUMNS)
    op.execute(
        f"INSERT INTO messages_0012 ({names}, participant_id) "
        f"SELECT {copied}, {SPEAKER} FROM messages AS m"
    )
    _swap_in("conversations_0012", "messages_0012", ("messages", "conversations"))
    op.create_index("ix_conversations_owner_id", "conversations", ["owner_id"])
    op.create_index("ix_messages_conversation_parent", "messages", ["conversation_id", "parent_id"])


def downgrade() -> None:
    """Back to one character and persona per conversation, taken from the participants.

    A conversation without a character participant (none exist before group scenes) has no
    place in the old table and is dropped with its messages.
    """
    if not _sqlite():
        op.add_column(
            "conversations", sa.Column("character_id", sa.String(length=32), nullable=True)
        )
        op.add_column("conversations", sa.Column("persona_id", sa.String(length=32), nullable=True))
        op.execute(
            f"UPDATE conversations AS c SET character_id = {CHARACTER_OF}, "
            f"persona_id = {PERSONA_OF}"
        )
        op.execute("DELETE FROM conversations WHERE character_id IS NULL")
        op.alter_column("conversations", "character_id", nullable=False)
        op.create_foreign_key(
            "fk_conversations_character_id_characters",
            "conversations",
            "characters",
            ["character_id"],
            ["id"],
            ondelete="CASCADE",
        )
        op.create_foreign_key(
            "fk_conversations_persona_id_personas",
            "conversations",
            "personas",
            ["persona_id"],
            ["id"],
            ondelete="SET NULL",
        )
        op.create_index("ix_conversations_character_id", "conversations", ["character_id"])
        op.drop_constraint("fk_messages_participant_id_conversation_participants", "messages")
        op.drop_column("messages", "participant_id")
        op.drop_table("conversation_participants")
        return
    _conversations_table("conversations_0011", with_character=True)
    op.execute(
        "INSERT INTO conversations_0011 (owner_id, character_id, persona_id, title, "
        "active_leaf_id, updated_at, id, created_at) "
        f"SELECT owner_id, {CHARACTER_OF}, {PERSONA_OF}, title, active_leaf_id, "
        f"updated_at, id, created_at FROM conversations AS c WHERE {CHARACTER_OF} IS NOT NULL"
    )
    _messages_table("messages_0011", "conversations_0011", with_participant=False)
    names = ", ".join(MESSAGE_COLUMNS)
    op.execute(
        f"INSERT INTO messages_0011 ({names}) SELECT {names} FROM messages "
        "WHERE conversation_id IN (SELECT id FROM conversations_0011)"
    )
    _swap_in(
        "conversations_0011",
        "messages_0011",
        ("messages", "conversation_participants", "conversations"),
    )
    op.create_index("ix_conversations_character_id", "conversations", ["character_id"])
    op.create_index("ix_conversations_owner_id", "conversations", ["owner_id"])
    op.create_index("ix_messages_conversation_parent", "messages", ["conversation_id", "parent_id"])
