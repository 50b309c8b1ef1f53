"""`personae agents ...` (a character's autonomy settings, operator view and review queue)
and the agents' processes: `personae worker`, `personae scheduler`, `personae simulate`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from personae.cli.common import (
    UserOption,
    check_broker,
    configure_logging,
    console,
    err,
    fail,
    run_as,
)
from personae.config import get_settings

if TYPE_CHECKING:  # imported where used, so `personae --help` stays quick
    from personae.demo.simulate import SimulationResult

app = typer.Typer(
    help="Autonomous characters: settings, what they did, held posts.", no_args_is_help=True
)


@app.command("settings")
def settings_command(
    handle: str,
    enable: Annotated[bool | None, typer.Option("--enable/--disable", help="Autonomy.")] = None,
    posts_per_day: Annotated[int | None, typer.Option(min=0, max=48)] = None,
    replies_per_hour: Annotated[int | None, typer.Option(min=0, max=60)] = None,
    tokens_per_day: Annotated[int | None, typer.Option(min=0, max=10_000_000)] = None,
    active_hours: Annotated[
        str | None, typer.Option(help="Local active hours, FROM-UNTIL, e.g. 8-22.")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Paris.")] = None,
    interests: Annotated[str | None, typer.Option(help="Comma-separated interests.")] = None,
    approval: Annotated[
        bool | None, typer.Option("--approval/--no-approval", help="Approve each post.")
    ] = None,
    reply_delay: Annotated[
        str | None, typer.Option(help="Seconds before answering, MIN-MAX, e.g. 45-240.")
    ] = None,
    user: UserOption = None,
) -> None:
    """Show a character's autonomy settings, changing any that are given."""
    from personae.agents import service

    changes: dict[str, Any] = {
        name: value
        for name, value in {
            "enabled": enable,
            "posts_per_day": posts_per_day,
            "replies_per_hour": replies_per_hour,
            "tokens_per_day": tokens_per_day,
            "timezone": timezone,
            "approval_mode": approval,
        }.items()
        if value is not None
    }
    if active_hours is not None:
        first, _, last = active_hours.partition("-")
        if not (first.strip().isdigit() and last.strip().isdigit()):
            raise typer.BadParameter(
                "use FROM-UNTIL in hours, e.g. 8-22", param_hint="--active-hours"
            )
        changes["active_from"], changes["active_until"] = int(first), int(last)
        if not (0 <= changes["active_from"] <= 23 and 1 <= changes["active_until"] <= 24):
            raise typer.BadParameter("hours go from 0-23 to 1-24", param_hint="--active-hours")
    if reply_delay is not None:
        low, _, high = reply_delay.partition("-")
        if not (low.strip().isdigit() and high.strip().isdigit()):
            raise typer.BadParameter(
                "use MIN-MAX in seconds, e.g. 45-240", param_hint="--reply-delay"
            )
        changes["reply_delay_min_s"], changes["reply_delay_max_s"] = int(low), int(high)
        if changes["reply_delay_max_s"] > 86_400:
            raise typer.BadParameter("at most 86400 seconds", param_hint="--reply-delay")
    if interests is not None:
        changes["interests"] = [i.strip()[:60] for i in interests.split(",") if i.strip()][:12]

    async def work(session: AsyncSession, account: Any) -> dict[str, Any]:
        if changes:
            agent = await service.update_autonomy(session, account, handle, changes)
        else:
            agent = await service.get_autonomy(session, account, handle)
        return service.settings_out(agent)

    shown = run_as(user, work)
    table = Table("setting", "value", title=f"@{handle.lstrip('@')} autonomy")
    for name, value in shown.items():
        table.add_row(name, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)


def _items_table(title: str, items: list[dict[str, Any]]) -> Table:
    table = Table("when", "kind", "state", "outcome / why", "text", "tokens", "id", title=title)
    for item in items:
        when = (item["finished_at"] or item["due_at"])[:16].replace("T", " ")
        tokens = item["tokens"]["prompt"] + item["tokens"]["completion"]
        why = item["detail"] or item["reason"]
        text = item["text"][:80]
        table.add_row(when, item["kind"], item["state"], why[:80], text, str(tokens), item["id"])
    return table


@app.command("activity")
def activity_command(
    handle: str,
    state: Annotated[str | None, typer.Option(help="Only items in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    user: UserOption = None,
) -> None:
    """The operator view: what a character did, when and why, and what it cost."""
    from personae.agents import service

    async def work(session: AsyncSession, account: Any) -> tuple[list[Any], dict[str, Any]]:
        items, _ = await service.list_activity(session, account, handle, state, None, None, limit)
        summary = await service.activity_summary(session, get_settings(), account, handle)
        return [service.item_out(i) for i in items], summary

    items, summary = run_as(user, work)
    console.print(_items_table(f"@{handle.lstrip('@')}: newest first", items))
    day = summary["last_24h"]
    limits = summary["limits"]
    console.print(
        f"Last 24 h: {day['tokens']} of {limits['tokens_per_day']} tokens, "
        f"{day['posts']} of {limits['posts_per_day']} posts; "
        f"{summary['pending']} pending, {summary['held']} held for review."
    )


@app.command("review")
def review_command(handle: str, user: UserOption = None) -> None:
    """Posts held for review, with the reason; approve or reject them by id."""
    from personae.agents import service

    async def work(session: AsyncSession, account: Any) -> list[dict[str, Any]]:
        items, _ = await service.list_activity(session, account, handle, "held", None, None, 100)
        return [service.item_out(i) for i in items]

    items = run_as(user, work)
    if not items:
        console.print("Nothing is held for review.")
        return
    console.print(_items_table(f"@{handle.lstrip('@')}: held for review", items))
    console.print("Publish one with [bold]personae agents approve ID[/], or drop it with reject.")


@app.command("approve")
def approve_command(
    item_id: str,
    text: Annotated[str | None, typer.Option(help="Publish this text instead.")] = None,
    user: UserOption = None,
) -> None:
    """Publish a held post as its character."""
    from personae.agents import service

    async def work(session: AsyncSession, account: Any) -> str | None:
        item = await service.approve(session, get_settings(), account, item_id, text)
        return item.result_post_id

    console.print(f"Published post {run_as(user, work)}.")


@app.command("reject")
def reject_command(item_id: str, user: UserOption = None) -> None:
    """Turn a held post down; it is never published."""
    from personae.agents import service

    async def work(session: AsyncSession, account: Any) -> None:
        await service.reject(session, account, item_id)

    run_as(user, work)
    console.print("Rejected.")


def run_agents_process(command: str) -> None:
    """Run `personae worker` or `personae scheduler` until SIGINT or SIGTERM."""
    from personae.agents.runtime import BrokerUnavailable, run_scheduler, run_worker
    from personae.federation.worker import DeliveryWorker

    settings = get_settings()
    check_broker(settings, shared=command)
    configure_logging(settings)
    # Workers also send federation deliveries: claims keep any number of them apart.
    main = (
        run_worker(settings, alongside=[DeliveryWorker])
        if command == "worker"
        else run_scheduler(settings)
    )
    err.print(
        f"personae {command}: running on {settings.broker_url} (stop with Ctrl+C).",
        highlight=False,
    )
    try:
        asyncio.run(main)
    except BrokerUnavailable as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl+C during shutdown
        pass


def worker() -> None:
    """Carry out characters' actions from the broker (PERSONAE_BROKER_URL); send deliveries."""
    run_agents_process("worker")


def scheduler() -> None:
    """Plan autonomous characters' days and hand due actions to workers via the broker."""
    run_agents_process("scheduler")


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

    from personae.demo.simulate import simulate as run_sim
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
