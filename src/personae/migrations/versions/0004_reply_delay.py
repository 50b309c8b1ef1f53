"""reply delay of autonomous characters

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Each character's creator chooses how long it waits before answering."""
    with op.batch_alter_table("agent_settings") as batch:
        batch.add_column(
            sa.Column("reply_delay_min_s", sa.Integer(), server_default="45", nullable=False)
        )
        batch.add_column(
            sa.Column("reply_delay_max_s", sa.Integer(), server_default="240", nullable=False)
        )


def downgrade() -> None:
    """Back to the fixed delay."""
    with op.batch_alter_table("agent_settings") as batch:
        batch.drop_column("reply_delay_max_s")
        batch.drop_column("reply_delay_min_s")
