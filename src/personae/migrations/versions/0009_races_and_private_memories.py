"""races and private memories (memory audience)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Memories carry their audience: public, or the one actor they are private with."""
    with op.batch_alter_table("memories", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("audience", sa.String(length=32), server_default="public", nullable=False)
        )
    # What came from a private chat or a direct or followers-only post stays with the
    # person it is about. One without that person (none should exist) gets the character
    # itself as its audience, which no recall ever asks for: kept, never shown.
    op.execute(
        "UPDATE memories SET audience = COALESCE(about_actor_id, character_id) "
        "WHERE source IN ('chat', 'private')"
    )


def downgrade() -> None:
    """Drop the audience (recall falls back to the sources it was derived from)."""
    # Not in batch mode: on SQLite that copies the table, and dropping the old one takes
    # its full-text triggers (migration 0003) with it. SQLite 3.35+ drops a plain column
    # in place, as PostgreSQL does.
    op.drop_column("memories", "audience")
