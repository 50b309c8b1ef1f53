"""Who hears which domain event: every subscriber, registered once per process.

Called at start by whatever runs personae's services (the app, the CLI, a worker), so
the packages that react to events (federation, the agents, live updates) plug in here
instead of being called by the packages that emit them (see `personae.events`).
"""

from __future__ import annotations

from personae import events
from personae.agents import triggers
from personae.social.events import Notified

WIRED = "personae"


def install() -> None:
    """Register every package's subscribers (idempotent)."""
    if WIRED in events.registry.installed:
        return
    events.registry.installed.add(WIRED)
    # An autonomous character answers what happens to it: a due action, same transaction.
    events.subscribe(Notified, triggers.on_notified)
