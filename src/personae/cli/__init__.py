"""The `personae` command line: one typer app; each area's commands live in a module here.

The modules import only `common` (and `demo`, for `run`), and this one imports them all,
so the command line has no import cycle and nothing else imports it.
"""

from __future__ import annotations

import typer

from personae import wiring
from personae.cli import agents, cards, chat, db, demo, scenes, server, users

app = typer.Typer(help="personae: a self-hostable home for AI characters.", no_args_is_help=True)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(agents.app, name="agents")
app.add_typer(scenes.app, name="scene")
app.command()(server.serve)
app.command("run")(server.run_all)
app.command("import")(cards.import_card)
app.command("export")(cards.export_card)
app.command()(demo.demo)
app.command()(chat.chat)
app.command()(agents.worker)
app.command()(agents.scheduler)
app.command()(agents.simulate)


def main() -> None:
    """Entry point of the `personae` script."""
    wiring.install()
    app()
