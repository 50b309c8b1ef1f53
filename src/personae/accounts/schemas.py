"""The JSON shapes of the accounts API: accounts, tokens, personas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from personae.accounts.models import Account, AuthToken, Persona


class AccountOut(BaseModel):
    """An account as the API shows it (never its password hash)."""

    id: str
    username: str
    display_name: str
    is_admin: bool
    created_at: str  # ISO 8601

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        """The API form of an account."""
        return cls(
            id=account.id,
            username=account.username,
            display_name=account.display_name,
            is_admin=account.is_admin,
            created_at=account.created_at.isoformat(),
        )


class LoginOut(BaseModel):
    """A new bearer token and whose it is."""

    token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme's name, not a secret
    account: AccountOut


class TokenOut(BaseModel):
    """A browser session or API token (never the token itself)."""

    id: str
    kind: str
    name: str
    created_at: str
    last_used_at: str | None
    expires_at: str
    current: bool

    @classmethod
    def of(cls, token: AuthToken, current_id: str | None = None) -> TokenOut:
        """The API form of a token; `current` marks the one the request came with."""
        return cls(
            id=token.id,
            kind=token.kind,
            name=token.name,
            created_at=token.created_at.isoformat(),
            last_used_at=token.last_used_at.isoformat() if token.last_used_at else None,
            expires_at=token.expires_at.isoformat(),
            current=token.id == current_id,
        )


class PersonaOut(BaseModel):
    """A persona: who the person is in chats."""

    id: str
    name: str
    description: str
    is_default: bool

    @classmethod
    def of(cls, persona: Persona) -> PersonaOut:
        """The API form of a persona."""
        return cls(
            id=persona.id,
            name=persona.name,
            description=persona.description,
            is_default=persona.is_default,
        )
