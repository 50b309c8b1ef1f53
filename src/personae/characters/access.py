"""Who may see and who may change a character (used by every characters module and chat)."""

from __future__ import annotations

from personae.accounts.models import Account
from personae.characters.models import Character


def can_see(character: Character, account: Account | None) -> bool:
    """Public and unlisted characters are visible to anyone; private ones to their owner."""
    if character.visibility in ("public", "unlisted"):
        return True
    return account is not None and (account.id == character.owner_id or account.is_admin)


def can_edit(character: Character, account: Account | None) -> bool:
    """Only the owner (or an admin) changes a character."""
    return account is not None and (account.id == character.owner_id or account.is_admin)
