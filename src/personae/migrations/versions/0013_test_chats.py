"""test chats: the studio's conversations are a kind of their own, kept out of the chat list

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Until now the studio found its test chat again by this title.
TEST_CHAT_TITLE = "Studio test chat"


def upgrade() -> None:
    """Add conversations.kind ("chat" | "test"); the studio's chats so far become "test"."""
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="chat"))
    conversations = sa.table("conversations", sa.column("kind"), sa.column("title"))
    op.execute(
        conversations.update().where(conversations.c.title == TEST_CHAT_TITLE).values(kind="test")
    )
    op.create_index("ix_conversations_owner_kind", "conversations", ["owner_id", "kind"])


def downgrade() -> None:
    """Drop the kind; test chats keep their title, by which the studio found them before."""
    op.drop_index("ix_conversations_owner_kind", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("kind")
