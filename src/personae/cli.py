"""The `personae` command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.config import Settings, get_settings

app = typer.Typer(help="personae: a self-hostable home for AI characters.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
users_app = typer.Typer(help="Account commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")
EXPORT_FORMATS = {".png": "png", ".json": "json", ".charx": "charx"}


def fail(message: str, code: int = 1) -> None:
    """Print an error that says what to do next, and exit."""
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


async def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    from personae.db import make_engine, make_sessionmaker
    from personae.migrate import ensure_sqlite_folder, upgrade

    url = settings.effective_database_url
    ensure_sqlite_folder(url)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` with a database session on the configured database."""
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the web server (migrates the database first)."""
    import uvicorn

    from personae.app import create_app

    settings = get_settings()
    if host:
        settings.host = host
    if port is not None:
        settings.port = port
    from personae.accounts.service import count_admins

    admins = run_in_session(count_admins)
    url = settings.effective_base_url
    console.print(f"personae is starting at [bold]{url}[/]  (data: {settings.data_dir})")
    if admins == 0:
        console.print(
            "No admin yet: open the page and sign up (the first account becomes the admin),"
            " or run [bold]personae users create NAME[/]."
        )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    from personae.migrate import run_upgrade

    settings = get_settings()
    with console.status("Migrating the database..."):
        run_upgrade(settings.effective_database_url)
    console.print("The database is up to date.")


@users_app.command("create")
def users_create(
    username: str,
    admin: Annotated[bool, typer.Option(help="Make the account an admin.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a local account (asks for the password)."""
    from personae.accounts.service import count_admins, create_account

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(session: AsyncSession) -> tuple[str, bool]:
        first = await count_admins(session) == 0
        account = await create_account(session, username, password, is_admin=admin or first)
        return account.username, account.is_admin

    name, is_admin = run_in_session(work)
    console.print(f"Created {'admin ' if is_admin else ''}account [bold]{name}[/].")


@app.command("import")
def import_card(
    file: Path,
    user: Annotated[str | None, typer.Option(help="Owner (default: the first admin).")] = None,
) -> None:
    """Import a character card (PNG, JSON or CHARX); prints the new character's handle."""
    from personae.characters.importing import import_card as do_import

    if not file.is_file():
        fail(f"no such file: {file}")
    data = file.read_bytes()

    async def work(session: AsyncSession) -> str:
        account = await resolve_user(session, user)
        character = await do_import(session, account, data, file.name)
        return character.handle

    console.print(run_in_session(work), highlight=False)


@app.command("export")
def export_card(
    handle: str,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File to write: .png, .json or .charx")
    ],
    user: Annotated[str | None, typer.Option(help="As whom (default: the first admin).")] = None,
) -> None:
    """Export a character as a card; the format follows the file's extension."""
    from personae.characters.importing import export_character

    fmt = EXPORT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        fail("the output file must end in .png, .json or .charx")

    async def work(session: AsyncSession) -> bytes:
        account = await resolve_user(session, user)
        exported = await export_character(session, account, handle, fmt)  # type: ignore[arg-type]
        return exported.data

    data = run_in_session(work)
    output.write_bytes(data)
    console.print(f"Wrote {output} ({len(data)} bytes).")


@app.command()
def demo(
    if_empty: Annotated[
        bool, typer.Option(help="Do nothing if the instance already has accounts or posts.")
    ] = False,
) -> None:
    """Seed a demo community: people, characters, follows and posts (migrates first)."""
    from personae.social.demo import DemoSummary, seed_demo

    with console.status("Seeding the demo community...") as status:

        def progress(message: str) -> None:
            status.update(f"Seeding the demo community: {message}")

        async def work(session: AsyncSession) -> DemoSummary:
            return await seed_demo(session, if_empty=if_empty, progress=progress)

        summary = run_in_session(work)
    console.print(summary.describe(), highlight=False)
    if not summary.skipped:
        console.print(
            "Demo people cannot sign in; the first account you sign up becomes the admin."
        )


@app.command()
def chat(
    handle: str,
    user: Annotated[str | None, typer.Option(help="As whom (default: the first admin).")] = None,
) -> None:
    """Chat with a character in the terminal (/regen for another reply, /quit to leave)."""
    from personae.cli_chat import run_chat

    asyncio.run(run_chat(get_settings(), handle, user, console))


def main() -> None:
    """Entry point of the `personae` script."""
    app()
