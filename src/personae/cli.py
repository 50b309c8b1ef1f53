"""The `personae` command line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae import wiring
from personae.agents.cli import agents_app
from personae.config import Settings, get_settings

if TYPE_CHECKING:  # imported where used, so `personae --help` stays quick
    from personae.agents.simulate import SimulationResult

app = typer.Typer(help="personae: a self-hostable home for AI characters.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
users_app = typer.Typer(help="Account commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(agents_app, name="agents")
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


def start_server(host: str | None, port: int | None, agents: bool) -> None:
    """Run the web server and the federation delivery worker in the foreground (with
    `agents`: also the scheduler and a worker)."""
    import uvicorn

    from personae.accounts.service import count_admins
    from personae.app import create_app

    settings = get_settings()
    if host:
        settings.host = host
    if port is not None:
        settings.port = port
    if agents:
        check_broker(settings)
        configure_logging(settings)
    admins = run_in_session(count_admins)
    url = settings.effective_base_url
    console.print(f"personae is starting at [bold]{url}[/]  (data: {settings.data_dir})")
    if admins == 0:
        console.print(
            "No admin yet: open the page and sign up (the first account becomes the admin),"
            " or run [bold]personae users create NAME[/]."
        )
    uvicorn.run(
        # Deliveries always run here: claims keep this loop and any `personae worker`
        # from sending one delivery twice.
        create_app(settings, agents=agents, delivery=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=30,
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Start the web server and federation deliveries, no agents (migrates first); see `run`."""
    start_server(host, port, agents=False)


@app.command("run")
def run_all(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    demo: Annotated[
        bool, typer.Option(help="Seed the demo community when the instance is empty.")
    ] = True,
) -> None:
    """Run everything in one process: migrate, seed the demo if empty, serve, deliver, agents."""
    if demo:
        seed_demo_community(if_empty=True)
    start_server(host, port, agents=True)


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


def seed_demo_community(if_empty: bool) -> None:
    """Seed the demo community (migrating first), showing progress; prints what it did."""
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
def demo(
    if_empty: Annotated[
        bool, typer.Option(help="Do nothing if the instance already has accounts or posts.")
    ] = False,
) -> None:
    """Seed a demo community: people, characters, follows and posts (migrates first)."""
    seed_demo_community(if_empty)


@app.command()
def chat(
    handle: str,
    user: Annotated[str | None, typer.Option(help="As whom (default: the first admin).")] = None,
) -> None:
    """Chat with a character in the terminal (/regen for another reply, /quit to leave)."""
    from personae.cli_chat import run_chat

    asyncio.run(run_chat(get_settings(), handle, user, console))


# ----------------------------------------------------------------------------- agents


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


def run_agents_process(command: str) -> None:
    """Run `personae worker` or `personae scheduler` until SIGINT or SIGTERM."""
    from personae.agents.runtime import BrokerUnavailable, run_scheduler, run_worker

    settings = get_settings()
    check_broker(settings, shared=command)
    configure_logging(settings)
    main = run_worker if command == "worker" else run_scheduler
    err.print(
        f"personae {command}: running on {settings.broker_url} (stop with Ctrl+C).",
        highlight=False,
    )
    try:
        asyncio.run(main(settings))
    except BrokerUnavailable as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        pass


@app.command()
def worker() -> None:
    """Carry out characters' actions from the broker (PERSONAE_BROKER_URL); send deliveries."""
    run_agents_process("worker")


@app.command()
def scheduler() -> None:
    """Plan autonomous characters' days and hand due actions to workers via the broker."""
    run_agents_process("scheduler")


@app.command()
def simulate(
    characters: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many characters act on their own.")
    ] = 6,
    hours: Annotated[
        float, typer.Option(min=0.01, max=24 * 365, help="Simulated hours to run.")
    ] = 24.0,
    backend: Annotated[
        str | None, typer.Option(help="Model backend (default: PERSONAE_DEFAULT_BACKEND).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the characters' names and interests.")] = 0,
    database_url: Annotated[
        str | None,
        typer.Option(help="Run on this database instead of a throwaway SQLite file."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Actions at once (default: the backend's slots)."),
    ] = None,
) -> None:
    """Simulate a community of autonomous characters over simulated hours; prints a summary."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from personae.agents.simulate import simulate as run_sim
    from personae.errors import DomainError
    from personae.llm.base import BackendError

    settings = get_settings()
    where = database_url or "a throwaway SQLite database"
    console.print(
        f"Simulating {characters} characters for {hours:g} hours on {where}.", highlight=False
    )
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[sim_h]:.1f}/{task.fields[hours]:g} h"),
        TextColumn("{task.fields[actions]} actions"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("simulated time", total=1.0, sim_h=0.0, hours=hours, actions=0)

        def progress(fraction: float, actions: int) -> None:
            bar.update(task, completed=fraction, sim_h=fraction * hours, actions=actions)

        try:
            result = asyncio.run(
                run_sim(
                    settings,
                    characters,
                    hours,
                    backend=backend,
                    seed=seed,
                    database_url=database_url,
                    concurrency=concurrency,
                    progress=progress,
                )
            )
        except BackendError as exc:
            fail(f"{exc.message}")
            raise  # unreachable: fail exits
        except DomainError as exc:
            fail(exc.message)
            raise
    render_simulation(result)


def render_simulation(result: SimulationResult) -> None:
    """Print a simulation's summary: actions by kind and outcome, reasons, tokens, speed."""
    from rich.table import Table

    table = Table(title="Actions by kind and outcome")
    table.add_column("kind")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for (kind, outcome), count in sorted(result.outcomes.items()):
        table.add_row(kind, outcome, str(count))
    console.print(table)
    for title, reasons in (("Skipped, by reason", result.skipped), ("Failed", result.failed)):
        if not reasons:
            continue
        listing = Table(title=title)
        listing.add_column("reason")
        listing.add_column("count", justify="right")
        for reason, count in reasons.most_common(15):
            listing.add_row(reason, str(count))
        console.print(listing)
    totals = Table(title="Totals", show_header=False)
    totals.add_column("what")
    totals.add_column("value", justify="right")
    rows = (
        ("characters", str(result.characters)),
        ("simulated hours", f"{result.hours:g}"),
        ("backend", result.backend),
        ("concurrency", str(result.concurrency)),
        ("actions carried out", str(result.actions)),
        ("published", str(result.published)),
        ("errors", str(result.errors)),
        ("tokens in / out", f"{result.prompt_tokens} / {result.completion_tokens}"),
        ("wall seconds", f"{result.wall_s:.1f}"),
        ("actions per second", f"{result.actions_per_s:.2f}"),
        ("output tokens per second", f"{result.output_tokens_per_s:.1f}"),
    )
    for what, value in rows:
        totals.add_row(what, value)
    console.print(totals)


def main() -> None:
    """Entry point of the `personae` script."""
    wiring.install()
    app()
