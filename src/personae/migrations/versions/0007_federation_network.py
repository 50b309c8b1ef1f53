"""federation network: remote actors and posts, inbound dedupe, outbound events, deliveries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import personae.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot ALTER a column, and the usual rebuild (copy, drop, rename) would cascade
# the drop of `actors` into every table that references it (foreign keys are on inside
# the migration's transaction) and lose its full-text triggers. Both changes here only
# relax declarations (a longer VARCHAR has the same TEXT affinity; NOT NULL removed), the
# case SQLite documents as safe to make by editing the stored schema text in place.
SQLITE_ACTOR_COLUMNS = [
    ("handle VARCHAR(30) NOT NULL", "handle VARCHAR(300) NOT NULL"),
    ("operator_id VARCHAR(32) NOT NULL", "operator_id VARCHAR(32)"),
]


def _relax_sqlite_actors(changes: list[tuple[str, str]]) -> None:
    bind = op.get_bind()
    sql = bind.execute(
        sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'actors'")
    ).scalar_one()
    for old, new in changes:
        if old not in sql:
            raise RuntimeError(f"unexpected actors schema: {old!r} not found")
        sql = sql.replace(old, new, 1)
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'actors'"),
        {"sql": sql},
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    """Remote actors live in `actors` (with `domain`), their posts in `posts` (with `uri`)."""
    if op.get_bind().dialect.name == "sqlite":
        _relax_sqlite_actors(SQLITE_ACTOR_COLUMNS)
    else:
        op.alter_column("actors", "handle", type_=sa.String(length=300), existing_nullable=False)
        op.alter_column("actors", "operator_id", existing_type=sa.String(length=32), nullable=True)
    op.add_column("actors", sa.Column("domain", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_actors_domain"), "actors", ["domain"], unique=False)
    op.add_column("posts", sa.Column("uri", sa.String(length=500), nullable=True))
    op.add_column("posts", sa.Column("url", sa.String(length=500), nullable=True))
    op.create_index(op.f("ix_posts_uri"), "posts", ["uri"], unique=True)
    op.add_column("follows", sa.Column("uri", sa.String(length=500), nullable=True))
    op.create_table(
        "remote_actors",
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("uri", sa.String(length=500), nullable=False),
        sa.Column("actor_type", sa.String(length=30), nullable=False),
        sa.Column("inbox", sa.String(length=500), nullable=False),
        sa.Column("shared_inbox", sa.String(length=500), nullable=False),
        sa.Column("outbox", sa.String(length=500), nullable=False),
        sa.Column("followers_url", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("avatar_url", sa.String(length=500), nullable=False),
        sa.Column("key_id", sa.String(length=500), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("fetched_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actors.id"],
            name=op.f("fk_remote_actors_actor_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("actor_id", name=op.f("pk_remote_actors")),
        sa.UniqueConstraint("uri", name=op.f("uq_remote_actors_uri")),
    )
    op.create_index(op.f("ix_remote_actors_key_id"), "remote_actors", ["key_id"], unique=False)
    op.create_table(
        "inbound_activities",
        sa.Column("activity_id", sa.String(length=500), nullable=False),
        sa.Column("actor_uri", sa.String(length=500), nullable=False),
        sa.Column("activity_type", sa.String(length=30), nullable=False),
        sa.Column("received_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("activity_id", name=op.f("pk_inbound_activities")),
    )
    op.create_index(
        op.f("ix_inbound_activities_received_at"),
        "inbound_activities",
        ["received_at"],
        unique=False,
    )
    op.create_table(
        "outbound_events",
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_events")),
    )
    op.create_index(
        "ix_outbound_events_kind_actor_id_subject_id",
        "outbound_events",
        ["kind", "actor_id", "subject_id"],
        unique=False,
    )
    op.create_table(
        "deliveries",
        sa.Column("activity_id", sa.String(length=500), nullable=False),
        sa.Column("sender_id", sa.String(length=32), nullable=True),
        sa.Column("inbox", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", personae.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("finished_at", personae.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["actors.id"],
            name=op.f("fk_deliveries_sender_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index(op.f("ix_deliveries_sender_id"), "deliveries", ["sender_id"], unique=False)
    op.create_index(
        "ix_deliveries_state_next_attempt_at",
        "deliveries",
        ["state", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop the federation tables and every remote actor and post."""
    op.drop_table("deliveries")
    op.drop_table("outbound_events")
    op.drop_table("inbound_activities")
    op.drop_table("remote_actors")
    op.execute("DELETE FROM actors WHERE domain IS NOT NULL")
    op.drop_column("follows", "uri")
    op.drop_index(op.f("ix_posts_uri"), table_name="posts")
    op.drop_column("posts", "url")
    op.drop_column("posts", "uri")
    op.drop_index(op.f("ix_actors_domain"), table_name="actors")
    op.drop_column("actors", "domain")
    if op.get_bind().dialect.name == "sqlite":
        _relax_sqlite_actors([(new, old) for old, new in SQLITE_ACTOR_COLUMNS])
    else:
        op.alter_column("actors", "operator_id", existing_type=sa.String(length=32), nullable=False)
        op.alter_column("actors", "handle", type_=sa.String(length=30), existing_nullable=False)
