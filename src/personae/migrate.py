"""Alembic driven from code: `personae db upgrade` and server start call `upgrade`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Full-text tables (and SQLite's FTS5 shadow tables) are made by hand in migrations, so
# comparing the models with a database leaves them out.
FULL_TEXT_PREFIXES = ("post_fts", "actor_fts", "memory_fts")


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic's filter: every object but the hand-made full-text tables and indexes."""
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith(FULL_TEXT_PREFIXES)
    return not (type_ == "index" and name.endswith("_full_text"))


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations folder and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking; opens its own engine)."""
    command.upgrade(alembic_config(url), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations on an existing async engine."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def _go(connection: object) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_go)


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file so the first run needs no set-up."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)


def run_upgrade(url: str) -> None:
    """Create the SQLite folder if needed, then upgrade (for the CLI)."""
    ensure_sqlite_folder(url)
    asyncio.run(_upgrade_url(url))


async def _upgrade_url(url: str) -> None:
    from personae.db import make_engine

    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
