"""`personae db ...`: the database's schema."""

from __future__ import annotations

import typer

from personae.cli.common import console
from personae.config import get_settings

app = typer.Typer(help="Database commands.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    from personae.migrate import run_upgrade

    settings = get_settings()
    with console.status("Migrating the database..."):
        run_upgrade(settings.effective_database_url)
    console.print("The database is up to date.")
