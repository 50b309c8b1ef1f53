"""The JSON shapes of the memories API."""

from __future__ import annotations

from pydantic import BaseModel


class RememberingCharacter(BaseModel):
    """The character that holds a memory."""

    handle: str
    display_name: str


class RememberedOut(BaseModel):
    """A memory about the caller."""

    id: str
    character: RememberingCharacter
    kind: str
    text: str
    importance: int
    source: str
    at: str  # ISO 8601, as written by `datetime.isoformat`


class RememberedPage(BaseModel):
    """A page of memories about the caller, newest first."""

    items: list[RememberedOut]
    next_cursor: str | None


class Forgotten(BaseModel):
    """How many memories a character forgot."""

    deleted: int
