"""What happens in the social network, as domain events (see `personae.events`).

Emitted by the social services inside the change's transaction; federation (outbound
activities), the agents (due actions) and live updates subscribe in `personae.wiring`.
Events carry ids and plain values only: a subscriber that needs a row loads it from the
same session, and a deleted row's details travel in the event itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from personae.events import Event


@dataclass(frozen=True)
class Notified(Event):
    """A notification was written for `recipient_id` (not muted, not blocked, not self)."""

    recipient_id: str
    kind: str
    actor_id: str
    post_id: str | None = None
