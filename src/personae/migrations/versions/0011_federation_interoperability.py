"""federation interoperability: the signature dialect each peer server speaks

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import personae.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """`peer_servers`: which HTTP signature dialect (draft-cavage or RFC 9421) a host speaks."""
    op.create_table(
        "peer_servers",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("signature_dialect", sa.String(length=10), nullable=False),
        sa.Column("updated_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_peer_servers")),
    )


def downgrade() -> None:
    """Drop `peer_servers` (outgoing requests go back to draft-cavage everywhere)."""
    op.drop_table("peer_servers")
