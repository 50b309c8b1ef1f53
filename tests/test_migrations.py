"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from personae.migrate import include_name
from personae.models import metadata
from tests.conftest import migrated_engine


async def test_migrations_match_the_models(db_kind: str, tmp_root: Path) -> None:
    _, engine = await migrated_engine(db_kind, tmp_root)

    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_name": include_name},
        )
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


async def test_full_text_indexes_exist(db_kind: str, tmp_root: Path) -> None:
    _, engine = await migrated_engine(db_kind, tmp_root)
    async with engine.connect() as connection:
        if db_kind == "sqlite":
            rows = await connection.execute(
                text("SELECT name FROM sqlite_master WHERE name IN ('post_fts', 'actor_fts')")
            )
        else:
            rows = await connection.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE indexname IN "
                    "('ix_posts_full_text', 'ix_actors_full_text')"
                )
            )
        assert len(rows.all()) == 2
