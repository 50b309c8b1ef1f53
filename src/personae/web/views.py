"""Plain view data for templates (never ORM objects, which must not lazy-load while rendering)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters import service as characters
from personae.characters.models import Character

HOME_CHARACTERS = 100


@dataclass(frozen=True)
class Viewer:
    """The signed-in person as pages show them."""

    username: str
    display_name: str
    is_admin: bool = False

    @classmethod
    def of(cls, account: Account) -> Viewer:
        """The view of an account."""
        return cls(account.username, account.display_name or account.username, account.is_admin)


@dataclass(frozen=True)
class CharacterCard:
    """A character in the home page list."""

    handle: str
    name: str
    description: str
    is_ai: bool
    has_avatar: bool
    mine: bool
    visibility: str

    @classmethod
    def of(cls, character: Character, account: Account) -> CharacterCard:
        """The view of a character for one viewer."""
        return cls(
            handle=character.handle,
            name=character.name,
            description=character.description,
            is_ai=character.is_ai,
            has_avatar=bool(character.avatar_mime),
            mine=character.owner_id == account.id,
            visibility=character.visibility,
        )


async def character_cards(session: AsyncSession, account: Account) -> list[CharacterCard]:
    """The viewer's characters and public ones, newest first."""
    rows = await characters.list_characters(session, account, limit=HOME_CHARACTERS)
    rows.sort(key=lambda c: c.created_at, reverse=True)
    return [CharacterCard.of(c, account) for c in rows]
