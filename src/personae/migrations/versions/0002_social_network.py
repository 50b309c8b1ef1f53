"""social network

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:08:49.975430
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import personae.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite: FTS5 tables keyed by the rows' integer search_key, kept in step by triggers so
# every way of writing (services, cascades, bulk loads) updates the index.
SQLITE_FULL_TEXT = [
    "CREATE VIRTUAL TABLE post_fts USING fts5(text, content_warning, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts WHEN new.text != '' BEGIN "
    "INSERT INTO post_fts(rowid, text, content_warning) "
    "VALUES (new.search_key, new.text, new.content_warning); END",
    "CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts WHEN old.text != '' BEGIN "
    "DELETE FROM post_fts WHERE rowid = old.search_key; END",
    "CREATE TRIGGER posts_fts_update AFTER UPDATE OF text, content_warning ON posts BEGIN "
    "DELETE FROM post_fts WHERE rowid = old.search_key; "
    "INSERT INTO post_fts(rowid, text, content_warning) SELECT new.search_key, new.text, "
    "new.content_warning WHERE new.text != ''; END",
    "CREATE VIRTUAL TABLE actor_fts USING fts5(handle, display_name, bio, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER actors_fts_insert AFTER INSERT ON actors BEGIN "
    "INSERT INTO actor_fts(rowid, handle, display_name, bio) "
    "VALUES (new.search_key, new.handle, new.display_name, new.bio); END",
    "CREATE TRIGGER actors_fts_delete AFTER DELETE ON actors BEGIN "
    "DELETE FROM actor_fts WHERE rowid = old.search_key; END",
    "CREATE TRIGGER actors_fts_update AFTER UPDATE OF handle, display_name, bio ON actors BEGIN "
    "DELETE FROM actor_fts WHERE rowid = old.search_key; "
    "INSERT INTO actor_fts(rowid, handle, display_name, bio) "
    "VALUES (new.search_key, new.handle, new.display_name, new.bio); END",
]
SQLITE_FULL_TEXT_DOWN = [
    "DROP TRIGGER IF EXISTS posts_fts_insert",
    "DROP TRIGGER IF EXISTS posts_fts_delete",
    "DROP TRIGGER IF EXISTS posts_fts_update",
    "DROP TRIGGER IF EXISTS actors_fts_insert",
    "DROP TRIGGER IF EXISTS actors_fts_delete",
    "DROP TRIGGER IF EXISTS actors_fts_update",
    "DROP TABLE IF EXISTS post_fts",
    "DROP TABLE IF EXISTS actor_fts",
]
# PostgreSQL: expression GIN indexes; search.py queries the very same expressions.
POSTGRES_FULL_TEXT = [
    "CREATE INDEX ix_posts_full_text ON posts USING gin "
    "(to_tsvector('simple', text || ' ' || content_warning))",
    "CREATE INDEX ix_actors_full_text ON actors USING gin "
    "(to_tsvector('simple', handle || ' ' || display_name || ' ' || bio))",
]


def _search_key(identifier: str) -> int:
    digest = hashlib.blake2b(identifier.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _backfill_actors() -> None:
    """Every existing account and character becomes an actor (same id)."""
    bind = op.get_bind()
    actors = sa.table(
        "actors",
        *(
            sa.column(name)
            for name in [
                "id",
                "created_at",
                "kind",
                "handle",
                "display_name",
                "bio",
                "fields",
                "is_ai",
                "account_id",
                "character_id",
                "operator_id",
                "locked",
                "hidden",
                "discoverable",
                "suspended",
                "avatar_mime",
                "header_mime",
                "show_ai",
                "accept_ai_replies",
                "accept_ai_mentions",
                "followers_count",
                "following_count",
                "posts_count",
                "search_key",
            ]
        ),
    )
    common = {
        "bio": "",
        "fields": [],
        "locked": False,
        "suspended": False,
        "avatar_mime": "",
        "header_mime": "",
        "show_ai": "all",
        "accept_ai_replies": True,
        "accept_ai_mentions": True,
        "followers_count": 0,
        "following_count": 0,
        "posts_count": 0,
    }
    rows = []
    for id_, created, username, display in bind.execute(
        sa.text("SELECT id, created_at, username, display_name FROM accounts")
    ):
        rows.append(
            {
                **common,
                "id": id_,
                "created_at": created,
                "kind": "person",
                "handle": username,
                "display_name": display or username,
                "is_ai": False,
                "account_id": id_,
                "character_id": None,
                "operator_id": id_,
                "hidden": False,
                "discoverable": True,
                "search_key": _search_key(id_),
            }
        )
    for id_, created, handle, name, owner, visibility in bind.execute(
        sa.text("SELECT id, created_at, handle, name, owner_id, visibility FROM characters")
    ):
        rows.append(
            {
                **common,
                "id": id_,
                "created_at": created,
                "kind": "character",
                "handle": handle,
                "display_name": name[:100],
                "is_ai": True,
                "account_id": None,
                "character_id": id_,
                "operator_id": owner,
                "hidden": visibility == "private",
                "discoverable": visibility == "public",
                "search_key": _search_key(id_),
            }
        )
    if rows:
        op.bulk_insert(actors, rows)


def _full_text_indexes() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Triggers do not fire for rows inserted before they exist: index those too.
        statements = [
            *SQLITE_FULL_TEXT,
            "INSERT INTO actor_fts(rowid, handle, display_name, bio) "
            "SELECT search_key, handle, display_name, bio FROM actors",
        ]
    else:
        statements = POSTGRES_FULL_TEXT
    for statement in statements:
        op.execute(statement)


def _drop_redundant_lorebook_link_constraint() -> None:
    """The link table's primary key already makes (character, lorebook) unique.

    PostgreSQL never kept the duplicate constraint 0001 asked for; SQLite did.
    """
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("character_lorebooks", schema=None) as batch_op:
            batch_op.drop_constraint("uq_character_lorebooks_character_id", type_="unique")


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "actors",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("handle", sa.String(length=30), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("is_ai", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("character_id", sa.String(length=32), nullable=True),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("discoverable", sa.Boolean(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("avatar", sa.LargeBinary(), nullable=True),
        sa.Column("avatar_mime", sa.String(length=50), nullable=False),
        sa.Column("header", sa.LargeBinary(), nullable=True),
        sa.Column("header_mime", sa.String(length=50), nullable=False),
        sa.Column("show_ai", sa.String(length=10), nullable=False),
        sa.Column("accept_ai_replies", sa.Boolean(), nullable=False),
        sa.Column("accept_ai_mentions", sa.Boolean(), nullable=False),
        sa.Column("followers_count", sa.Integer(), nullable=False),
        sa.Column("following_count", sa.Integer(), nullable=False),
        sa.Column("posts_count", sa.Integer(), nullable=False),
        sa.Column("search_key", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_actors_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["character_id"],
            ["characters.id"],
            name=op.f("fk_actors_character_id_characters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["accounts.id"],
            name=op.f("fk_actors_operator_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actors")),
        sa.UniqueConstraint("account_id", name=op.f("uq_actors_account_id")),
        sa.UniqueConstraint("character_id", name=op.f("uq_actors_character_id")),
        sa.UniqueConstraint("handle", name=op.f("uq_actors_handle")),
        sa.UniqueConstraint("search_key", name=op.f("uq_actors_search_key")),
    )
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actors_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index(
            "ix_actors_inactive",
            ["id"],
            unique=False,
            sqlite_where=sa.text("hidden IS 1 OR suspended IS 1"),
            postgresql_where=sa.text("hidden IS true OR suspended IS true"),
        )

    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.String(length=32), nullable=False),
        sa.Column("blocked_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocked_id"],
            ["actors.id"],
            name=op.f("fk_blocks_blocked_id_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocker_id"],
            ["actors.id"],
            name=op.f("fk_blocks_blocker_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocks")),
        sa.UniqueConstraint("blocker_id", "blocked_id", name=op.f("uq_blocks_blocker_id")),
    )
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_blocks_blocked_id_blocker_id", ["blocked_id", "blocker_id"], unique=False
        )

    op.create_table(
        "follows",
        sa.Column("follower_id", sa.String(length=32), nullable=False),
        sa.Column("followee_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["followee_id"],
            ["actors.id"],
            name=op.f("fk_follows_followee_id_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["actors.id"],
            name=op.f("fk_follows_follower_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follows")),
        sa.UniqueConstraint("follower_id", "followee_id", name=op.f("uq_follows_follower_id")),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follows_followee_id_follower_id", ["followee_id", "follower_id"], unique=False
        )

    op.create_table(
        "mutes",
        sa.Column("muter_id", sa.String(length=32), nullable=False),
        sa.Column("muted_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["muted_id"], ["actors.id"], name=op.f("fk_mutes_muted_id_actors"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["muter_id"], ["actors.id"], name=op.f("fk_mutes_muter_id_actors"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mutes")),
        sa.UniqueConstraint("muter_id", "muted_id", name=op.f("uq_mutes_muter_id")),
    )
    op.create_table(
        "posts",
        sa.Column("author_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("content_warning", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("is_reply", sa.Boolean(), nullable=False),
        sa.Column("in_reply_to_id", sa.String(length=32), nullable=True),
        sa.Column("reply_to_author_id", sa.String(length=32), nullable=True),
        sa.Column("root_id", sa.String(length=32), nullable=False),
        sa.Column("repost_of_id", sa.String(length=32), nullable=True),
        sa.Column("quote_of_id", sa.String(length=32), nullable=True),
        sa.Column("origin_author_id", sa.String(length=32), nullable=False),
        sa.Column("author_is_ai", sa.Boolean(), nullable=False),
        sa.Column("origin_is_ai", sa.Boolean(), nullable=False),
        sa.Column("likes_count", sa.Integer(), nullable=False),
        sa.Column("reposts_count", sa.Integer(), nullable=False),
        sa.Column("replies_count", sa.Integer(), nullable=False),
        sa.Column("quotes_count", sa.Integer(), nullable=False),
        sa.Column("edited_at", personae.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("search_key", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["actors.id"], name=op.f("fk_posts_author_id_actors"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["in_reply_to_id"],
            ["posts.id"],
            name=op.f("fk_posts_in_reply_to_id_posts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["quote_of_id"],
            ["posts.id"],
            name=op.f("fk_posts_quote_of_id_posts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["repost_of_id"],
            ["posts.id"],
            name=op.f("fk_posts_repost_of_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        sa.UniqueConstraint("repost_of_id", "author_id", name=op.f("uq_posts_repost_of_id")),
        sa.UniqueConstraint("search_key", name=op.f("uq_posts_search_key")),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index("ix_posts_author_id_id", ["author_id", "id"], unique=False)
        batch_op.create_index("ix_posts_in_reply_to_id_id", ["in_reply_to_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_posts_origin_author_id"), ["origin_author_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_posts_quote_of_id"), ["quote_of_id"], unique=False)
        batch_op.create_index("ix_posts_root_id_id", ["root_id", "id"], unique=False)
        batch_op.create_index(
            "ix_posts_visibility_is_reply_id", ["visibility", "is_reply", "id"], unique=False
        )

    op.create_table(
        "likes",
        sa.Column("post_id", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["actors.id"], name=op.f("fk_likes_actor_id_actors"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_likes_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_likes")),
        sa.UniqueConstraint("post_id", "actor_id", name=op.f("uq_likes_post_id")),
    )
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.create_index("ix_likes_actor_id_id", ["actor_id", "id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("recipient_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("post_id", sa.String(length=32), nullable=True),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actors.id"],
            name=op.f("fk_notifications_actor_id_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_notifications_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["actors.id"],
            name=op.f("fk_notifications_recipient_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_post_id"), ["post_id"], unique=False)
        batch_op.create_index(
            "ix_notifications_recipient_id_id", ["recipient_id", "id"], unique=False
        )

    op.create_table(
        "post_edits",
        sa.Column("post_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_warning", sa.String(length=500), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_edits_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_edits")),
    )
    with op.batch_alter_table("post_edits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_edits_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_mentions",
        sa.Column("post_id", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["actors.id"],
            name=op.f("fk_post_mentions_actor_id_actors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_mentions_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "actor_id", name=op.f("pk_post_mentions")),
    )
    with op.batch_alter_table("post_mentions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_post_mentions_actor_id_post_id", ["actor_id", "post_id"], unique=False
        )

    op.create_table(
        "post_tags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("post_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_tags_post_id_posts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tag", "post_id", name=op.f("pk_post_tags")),
    )
    with op.batch_alter_table("post_tags", schema=None) as batch_op:
        batch_op.create_index("ix_post_tags_post_id", ["post_id"], unique=False)

    op.create_table(
        "reports",
        sa.Column("reporter_id", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("post_id", sa.String(length=32), nullable=True),
        sa.Column("post_text", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("resolved_by_id", sa.String(length=32), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("resolved_at", personae.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", personae.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_reports_post_id_posts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["accounts.id"],
            name=op.f("fk_reports_reporter_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["accounts.id"],
            name=op.f("fk_reports_resolved_by_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["actors.id"],
            name=op.f("fk_reports_target_id_actors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_status_id", ["status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_target_id"), ["target_id"], unique=False)

    # ### end Alembic commands ###
    _backfill_actors()
    _full_text_indexes()
    _drop_redundant_lorebook_link_constraint()


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FULL_TEXT_DOWN:
            op.execute(statement)
        with op.batch_alter_table("character_lorebooks", schema=None) as batch_op:
            batch_op.create_unique_constraint(
                "uq_character_lorebooks_character_id", ["character_id", "lorebook_id"]
            )
    else:
        op.execute("DROP INDEX IF EXISTS ix_posts_full_text")
        op.execute("DROP INDEX IF EXISTS ix_actors_full_text")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_target_id"))
        batch_op.drop_index("ix_reports_status_id")

    op.drop_table("reports")
    with op.batch_alter_table("post_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_post_tags_post_id")

    op.drop_table("post_tags")
    with op.batch_alter_table("post_mentions", schema=None) as batch_op:
        batch_op.drop_index("ix_post_mentions_actor_id_post_id")

    op.drop_table("post_mentions")
    with op.batch_alter_table("post_edits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_edits_post_id"))

    op.drop_table("post_edits")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_recipient_id_id")
        batch_op.drop_index(batch_op.f("ix_notifications_post_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_actor_id"))

    op.drop_table("notifications")
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.drop_index("ix_likes_actor_id_id")

    op.drop_table("likes")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_visibility_is_reply_id")
        batch_op.drop_index("ix_posts_root_id_id")
        batch_op.drop_index(batch_op.f("ix_posts_quote_of_id"))
        batch_op.drop_index(batch_op.f("ix_posts_origin_author_id"))
        batch_op.drop_index("ix_posts_in_reply_to_id_id")
        batch_op.drop_index("ix_posts_author_id_id")

    op.drop_table("posts")
    op.drop_table("mutes")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_followee_id_follower_id")

    op.drop_table("follows")
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_blocks_blocked_id_blocker_id")

    op.drop_table("blocks")
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_index("ix_actors_inactive")
        batch_op.drop_index(batch_op.f("ix_actors_operator_id"))

    op.drop_table("actors")
    # ### end Alembic commands ###
