"""Imports every table so the metadata is complete (for Alembic and tests)."""

from personae.accounts.models import Account, AuthToken, Persona
from personae.characters.models import (
    Character,
    CharacterAsset,
    CharacterLorebook,
    Lorebook,
    LorebookEntry,
)
from personae.chat.models import Conversation, Message
from personae.db import Base

metadata = Base.metadata

__all__ = [
    "Account",
    "AuthToken",
    "Character",
    "CharacterAsset",
    "CharacterLorebook",
    "Conversation",
    "Lorebook",
    "LorebookEntry",
    "Message",
    "Persona",
    "metadata",
]
