"""federation keys: key pairs of local actors and of the instance actor

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import personae.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Actors sign what they send with keys stored here, made on first use."""
    op.create_table(
        "actor_keys",
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actors.id"],
            name=op.f("fk_actor_keys_actor_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("actor_id", name=op.f("pk_actor_keys")),
    )
    op.create_table(
        "instance_keys",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_keys")),
    )


def downgrade() -> None:
    """Drop the keys (remote servers will see new ones if they come back)."""
    op.drop_table("instance_keys")
    op.drop_table("actor_keys")
