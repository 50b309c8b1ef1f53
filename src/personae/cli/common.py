"""What every command shares: the consoles, failing with advice, a unit of work on the
configured database, the account to act as, and the agents' broker and logging checks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.config import Settings, get_settings

console = Console()
err = Console(stderr=True)
T = TypeVar("T")
UserOption = Annotated[str | None, typer.Option(help="As whom (default: the first admin).")]


def fail(message: str, code: int = 1) -> None:
    """Print an error that says what to do next, and exit."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    # Imported here, as in every command, so that `personae --help` stays quick.
    from personae.db import make_engine, make_sessionmaker, transaction
    from personae.migrate import ensure_sqlite_folder, upgrade

    url = settings.effective_database_url
    ensure_sqlite_folder(url)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        # The command owns its transaction: committed when the work is done, rolled back
        # (nothing half-written) when it fails.
        async with transaction(make_sessionmaker(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` as one transaction on the configured database (migrated first)."""
    from personae.errors import DomainError

    try:
        return asyncio.run(_with_session(get_settings(), work))
    except DomainError as exc:
        fail(exc.message)
        raise  # unreachable: fail exits


async def resolve_user(session: AsyncSession, username: str | None) -> Any:
    """The named account, else the first admin; says how to make one when there is none."""
    from personae.accounts.models import Account
    from personae.accounts.service import UNUSABLE_PASSWORD_HASH, get_account_by_username

    if username:
        return await get_account_by_username(session, username)
    account = await session.scalar(
        select(Account)
        .where(Account.password_hash != UNUSABLE_PASSWORD_HASH)
        .order_by(Account.is_admin.desc(), Account.created_at)
        .limit(1)
    )
    if account is None:
        fail("there is no account yet; create one with: personae users create NAME")
    return account


def run_as(user: str | None, work: Callable[[AsyncSession, Any], Awaitable[T]]) -> T:
    """Run `work(session, account)` as one transaction, as `user` (default: the first admin)."""

    async def wrapped(session: AsyncSession) -> T:
        account = await resolve_user(session, user)
        return await work(session, account)

    return run_in_session(wrapped)


def check_broker(settings: Settings, shared: str = "") -> None:
    """Fail with what to do when PERSONAE_BROKER_URL is unusable (or, for `shared`, empty)."""
    from personae.agents.jobs import BrokerConfigError, make_broker
    from personae.agents.runtime import require_shared_broker

    try:
        if shared:
            require_shared_broker(settings, shared)
        make_broker(settings)
    except BrokerConfigError as exc:
        fail(str(exc))


def configure_logging(settings: Settings) -> None:
    """Log to stderr at PERSONAE_LOG_LEVEL, so what the agents do (and why not) shows."""
    import logging

    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if settings.log_level != "debug":
        # A line per model request or migration step is noise next to the agents' own.
        for chatty in ("httpx", "alembic"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
