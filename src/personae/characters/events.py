"""What happens to characters, as domain events (see `personae.events`)."""

from __future__ import annotations

from dataclasses import dataclass

from personae.events import Event


@dataclass(frozen=True)
class CharacterDeleted(Event):
    """A character is being deleted (emitted before its row goes, in the same transaction)."""

    character_id: str
    owner_id: str


@dataclass(frozen=True)
class HandleChanging(Event):
    """A character's handle is about to change; a subscriber that cannot allow it raises
    (federation: other servers know the actor by an id built from its handle)."""

    character_id: str
    old_handle: str
    new_handle: str
