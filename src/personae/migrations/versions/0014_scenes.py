"""scenes: group conversations with several characters and people

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import personae.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, personae.db.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Participants gain status, muting, talkativeness, a backend and a leaving time;
    messages a reason; new tables for scenes, presence intervals and shares."""
    # Plain ALTER TABLE on both databases (SQLite 3.35+ drops columns too): Alembic's batch
    # mode would copy these tables and drop the old ones, and with foreign keys on, dropping
    # the participants would null every message's speaker (see 0012).
    table = "conversation_participants"
    op.add_column(
        table, sa.Column("status", sa.String(10), nullable=False, server_default="member")
    )
    op.add_column(
        table, sa.Column("muted", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        table, sa.Column("talkativeness", sa.Float(), nullable=False, server_default="0.5")
    )
    op.add_column(table, sa.Column("backend", sa.String(100), nullable=True))
    op.add_column(table, _when("left_at", True))
    op.add_column(table, sa.Column("invited_by", sa.String(32), nullable=True))
    op.add_column("messages", sa.Column("reason", sa.String(300), nullable=True))
    op.create_table(
        "scenes",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("allow_self", sa.Boolean(), nullable=False),
        sa.Column("seed", sa.String(40), nullable=False),
        sa.Column("lorebook_id", sa.String(32), nullable=True),
        sa.Column("auto_on", sa.Boolean(), nullable=False),
        sa.Column("auto_delay_s", sa.Float(), nullable=False),
        sa.Column("auto_turn_budget", sa.Integer(), nullable=False),
        sa.Column("auto_turns_used", sa.Integer(), nullable=False),
        sa.Column("auto_tokens_per_day", sa.Integer(), nullable=False),
        sa.Column("auto_tokens_day", sa.String(10), nullable=False),
        sa.Column("auto_tokens_used", sa.Integer(), nullable=False),
        sa.Column("auto_paused_reason", sa.String(100), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_scenes_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lorebook_id"],
            ["lorebooks.id"],
            name="fk_scenes_lorebook_id_lorebooks",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_scenes"),
    )
    op.create_table(
        "scene_presence",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("participant_id", sa.String(32), nullable=False),
        _when("joined_at", False),
        _when("left_at", True),
        sa.Column("id", sa.String(32), nullable=False),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_scene_presence_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["conversation_participants.id"],
            name="fk_scene_presence_participant_id_conversation_participants",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scene_presence"),
    )
    op.create_index("ix_scene_presence_conversation_id", "scene_presence", ["conversation_id"])
    op.create_index("ix_scene_presence_participant_id", "scene_presence", ["participant_id"])
    op.create_table(
        "scene_shares",
        sa.Column("conversation_id", sa.String(32), nullable=False),
        sa.Column("from_message_id", sa.String(32), nullable=False),
        sa.Column("to_message_id", sa.String(32), nullable=False),
        sa.Column("post_id", sa.String(32), nullable=False),
        sa.Column("id", sa.String(32), nullable=False),
        _when("created_at", False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_scene_shares_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name="fk_scene_shares_post_id_posts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scene_shares"),
    )
    op.create_index("ix_scene_shares_conversation_id", "scene_shares", ["conversation_id"])
    op.create_index("ix_scene_shares_post_id", "scene_shares", ["post_id"])


def downgrade() -> None:
    """Back to one-to-one chats only: scenes cannot exist before 0014, so scene
    conversations (their messages and participants with them) are deleted; chats keep
    everything but the columns added here, which hold only their defaults there."""
    op.drop_index("ix_scene_shares_post_id", table_name="scene_shares")
    op.drop_index("ix_scene_shares_conversation_id", table_name="scene_shares")
    op.drop_table("scene_shares")
    op.drop_index("ix_scene_presence_participant_id", table_name="scene_presence")
    op.drop_index("ix_scene_presence_conversation_id", table_name="scene_presence")
    op.drop_table("scene_presence")
    op.drop_table("scenes")
    conversations = sa.table("conversations", sa.column("id"), sa.column("kind"))
    messages = sa.table("messages", sa.column("conversation_id"), sa.column("parent_id"))
    participants = sa.table("conversation_participants", sa.column("conversation_id"))
    scene_ids = sa.select(conversations.c.id).where(conversations.c.kind == "scene")
    # Children before parents, explicitly: SQLite may run this with foreign keys off.
    op.execute(
        messages.update().where(messages.c.conversation_id.in_(scene_ids)).values(parent_id=None)
    )
    op.execute(messages.delete().where(messages.c.conversation_id.in_(scene_ids)))
    op.execute(participants.delete().where(participants.c.conversation_id.in_(scene_ids)))
    op.execute(conversations.delete().where(conversations.c.kind == "scene"))
    op.drop_column("messages", "reason")
    for column in ("invited_by", "left_at", "backend", "talkativeness", "muted", "status"):
        op.drop_column("conversation_participants", column)
