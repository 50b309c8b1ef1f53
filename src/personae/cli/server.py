"""`personae serve` and `personae run`: the web server, alone or with everything else."""

from __future__ import annotations

from typing import Annotated

import typer

from personae.cli.common import check_broker, configure_logging, console, run_in_session
from personae.cli.demo import seed_demo_community
from personae.config import get_settings

HostOption = Annotated[str | None, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on.")]


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


def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Start the web server and federation deliveries, no agents (migrates first); see `run`."""
    start_server(host, port, agents=False)


def run_all(
    host: HostOption = None,
    port: PortOption = None,
    demo: Annotated[
        bool, typer.Option(help="Seed the demo community when the instance is empty.")
    ] = True,
) -> None:
    """Run everything in one process: migrate, seed the demo if empty, serve, deliver, agents."""
    if demo:
        seed_demo_community(if_empty=True)
    start_server(host, port, agents=True)
