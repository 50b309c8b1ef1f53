"""`personae demo`: seed a demo community (also what `personae run` does on an empty one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from personae.cli.common import console, run_in_session

if TYPE_CHECKING:  # imported where used, so `personae --help` stays quick
    from personae.demo import DemoSummary


def seed_demo_community(if_empty: bool) -> None:
    """Seed the demo community (migrating first), showing progress; prints what it did."""
    from personae.demo import seed_demo

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


def demo(
    if_empty: Annotated[
        bool, typer.Option(help="Do nothing if the instance already has accounts or posts.")
    ] = False,
) -> None:
    """Seed a demo community: people, characters, follows and posts (migrates first)."""
    seed_demo_community(if_empty)
