"""What scenes tell others: live updates, announced once the change is committed.

`SceneLive` travels through `personae.events` like any domain event; `personae.wiring`
hands it to the hub after commit (`events.after_commit`), so a watcher never sees a
message, a member or a setting that was rolled back. Tokens of a reply being written are
not domain events: the conductor gives them to the hub directly, as they come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from personae.events import Event

# The names of the live events (the SSE event names of GET /scenes/{id}/events).
MESSAGE = "message"  # a saved message that was not streamed (a person's, an edit)
START = "start"  # a character begins a reply: {participant_id, name, reason}
TOKEN = "token"  # noqa: S105 - an event name: {participant_id, text}
DONE = "done"  # a reply is saved: {message}
ERROR = "error"  # {code, message, participant_id?}
MEMBERS = "members"  # {members}
NEXT = "next"  # who speaks next (NextOut)
AUTO = "auto"  # auto-mode (AutoOut)
SCENE = "scene"  # the scene's settings changed, or it is gone ({deleted: true})
NAMES = (MESSAGE, START, TOKEN, DONE, ERROR, MEMBERS, NEXT, AUTO, SCENE)


@dataclass(frozen=True)
class SceneLive(Event):
    """Something every viewer of a scene should see at once (plain JSON values only)."""

    scene_id: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
