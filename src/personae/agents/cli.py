"""`personae agents ...`: a character's autonomy settings, operator view and review queue."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

agents_app = typer.Typer(
    help="Autonomous characters: settings, what they did, held posts.", no_args_is_help=True
)
console = Console()
UserOption = Annotated[str | None, typer.Option(help="As whom (default: the first admin).")]


def _in_session(user: str | None, work: Any) -> Any:
    # Imported late: personae.cli registers this module, so a top-level import would loop.
    from personae.cli import resolve_user, run_in_session

    async def wrapped(session: AsyncSession) -> Any:
        account = await resolve_user(session, user)
        return await work(session, account)

    return run_in_session(wrapped)


@agents_app.command("settings")
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

    shown = _in_session(user, work)
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


@agents_app.command("activity")
def activity_command(
    handle: str,
    state: Annotated[str | None, typer.Option(help="Only items in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    user: UserOption = None,
) -> None:
    """The operator view: what a character did, when and why, and what it cost."""
    from personae.agents import service
    from personae.config import get_settings

    async def work(session: AsyncSession, account: Any) -> tuple[list[Any], dict[str, Any]]:
        items, _ = await service.list_activity(session, account, handle, state, None, None, limit)
        summary = await service.activity_summary(session, get_settings(), account, handle)
        return [service.item_out(i) for i in items], summary

    items, summary = _in_session(user, work)
    console.print(_items_table(f"@{handle.lstrip('@')}: newest first", items))
    day = summary["last_24h"]
    limits = summary["limits"]
    console.print(
        f"Last 24 h: {day['tokens']} of {limits['tokens_per_day']} tokens, "
        f"{day['posts']} of {limits['posts_per_day']} posts; "
        f"{summary['pending']} pending, {summary['held']} held for review."
    )


@agents_app.command("review")
def review_command(handle: str, user: UserOption = None) -> None:
    """Posts held for review, with the reason; approve or reject them by id."""
    from personae.agents import service

    async def work(session: AsyncSession, account: Any) -> list[dict[str, Any]]:
        items, _ = await service.list_activity(session, account, handle, "held", None, None, 100)
        return [service.item_out(i) for i in items]

    items = _in_session(user, work)
    if not items:
        console.print("Nothing is held for review.")
        return
    console.print(_items_table(f"@{handle.lstrip('@')}: held for review", items))
    console.print("Publish one with [bold]personae agents approve ID[/], or drop it with reject.")


@agents_app.command("approve")
def approve_command(
    item_id: str,
    text: Annotated[str | None, typer.Option(help="Publish this text instead.")] = None,
    user: UserOption = None,
) -> None:
    """Publish a held post as its character."""
    from personae.agents import service
    from personae.config import get_settings

    async def work(session: AsyncSession, account: Any) -> str | None:
        item = await service.approve(session, get_settings(), account, item_id, text)
        return item.result_post_id

    console.print(f"Published post {_in_session(user, work)}.")


@agents_app.command("reject")
def reject_command(item_id: str, user: UserOption = None) -> None:
    """Turn a held post down; it is never published."""
    from personae.agents import service

    async def work(session: AsyncSession, account: Any) -> None:
        await service.reject(session, account, item_id)

    _in_session(user, work)
    console.print("Rejected.")
