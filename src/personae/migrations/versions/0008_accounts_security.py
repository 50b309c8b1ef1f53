"""accounts security (token expiry and listing, login and sign-up throttles)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import personae.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# API tokens made before tokens expired get the default life of a new one, from now.
LEGACY_TOKEN_DAYS = 90


def upgrade() -> None:
    """Throttle counters; every token expires; look-alike digests of actors' names."""
    op.create_table(
        "auth_throttles",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("reset_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_auth_throttles")),
    )
    op.create_index(op.f("ix_auth_throttles_reset_at"), "auth_throttles", ["reset_at"])

    until = datetime.now(UTC) + timedelta(days=LEGACY_TOKEN_DAYS)
    tokens = sa.table("auth_tokens", sa.column("expires_at", personae.db.UTCDateTime()))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None)).values(expires_at=until))
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=personae.db.UTCDateTime(timezone=True), nullable=False
        )

    # Not in batch mode: on SQLite that copies the table, and dropping the old one takes its
    # full-text triggers (migration 0002) with it. Both databases add a column in place.
    op.add_column("actors", sa.Column("handle_skeleton", sa.String(length=32), nullable=True))
    op.add_column("actors", sa.Column("name_skeleton", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_actors_handle_skeleton"), "actors", ["handle_skeleton"])
    op.create_index(op.f("ix_actors_name_skeleton"), "actors", ["name_skeleton"])
    _backfill_skeletons()


def _backfill_skeletons() -> None:
    from personae.accounts.names import lookalike_digest

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, handle, display_name FROM actors")).all()
    updates = [
        {"id": ident, "h": lookalike_digest(handle or ""), "n": lookalike_digest(name or "")}
        for ident, handle, name in rows
    ]
    if updates:
        bind.execute(
            sa.text("UPDATE actors SET handle_skeleton = :h, name_skeleton = :n WHERE id = :id"),
            updates,
        )


def downgrade() -> None:
    """Drop the digests, let tokens live for ever again, drop the throttle counters."""
    op.drop_index(op.f("ix_actors_name_skeleton"), table_name="actors")
    op.drop_index(op.f("ix_actors_handle_skeleton"), table_name="actors")
    # In place (SQLite 3.35+ and PostgreSQL), for the same reason as in upgrade().
    op.drop_column("actors", "name_skeleton")
    op.drop_column("actors", "handle_skeleton")
    with op.batch_alter_table("auth_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=personae.db.UTCDateTime(timezone=True), nullable=True
        )
    op.drop_index(op.f("ix_auth_throttles_reset_at"), table_name="auth_throttles")
    op.drop_table("auth_throttles")
