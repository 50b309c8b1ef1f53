"""Accounts API: sign up, log in, tokens, personas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from personae.accounts import service, signin
from personae.accounts.models import Account, AuthToken, Persona
from personae.deps import (
    DB,
    SESSION_COOKIE,
    CurrentAccount,
    State,
    client_address,
    request_token,
)
from personae.errors import Invalid

router = APIRouter(prefix="/api/v1", tags=["accounts"])

Username = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class SignUp(BaseModel):
    """A new account."""

    model_config = ConfigDict(extra="forbid")
    username: Username
    password: Password
    display_name: Annotated[str, StringConstraints(max_length=100)] = ""


class Login(BaseModel):
    """Credentials; `cookie` also sets the browser session cookie."""

    model_config = ConfigDict(extra="forbid")
    username: Username
    password: Password
    cookie: bool = False
    token_name: Annotated[str, StringConstraints(max_length=100)] = ""
    # API tokens only (a cookie session lasts `session_days`): 1 to `api_token_max_days`;
    # none means `api_token_days`.
    expires_in_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class PersonaIn(BaseModel):
    """A persona: who the person is in chats."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    description: Annotated[str, StringConstraints(max_length=10_000)] = ""
    is_default: bool = False


class PersonaPatch(BaseModel):
    """Changes to a persona."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    is_default: bool | None = None


def account_out(account: Account) -> dict[str, Any]:
    """The API representation of an account."""
    return {
        "id": account.id,
        "username": account.username,
        "display_name": account.display_name,
        "is_admin": account.is_admin,
        "created_at": account.created_at.isoformat(),
    }


def token_out(token: AuthToken, current_id: str | None = None) -> dict[str, Any]:
    """The API representation of a session or API token (never the token itself)."""
    return {
        "id": token.id,
        "kind": token.kind,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "expires_at": token.expires_at.isoformat(),
        "current": token.id == current_id,
    }


def persona_out(persona: Persona) -> dict[str, Any]:
    """The API representation of a persona."""
    return {
        "id": persona.id,
        "name": persona.name,
        "description": persona.description,
        "is_default": persona.is_default,
    }


@router.post("/accounts", status_code=201)
async def sign_up(body: SignUp, db: DB, state: State, request: Request) -> dict[str, Any]:
    """Create an account (the first one becomes the admin); a few per client address."""
    account = await signin.sign_up(
        db,
        body.username,
        body.password,
        body.display_name,
        client_address(request),
        signin.SignInLimits.from_settings(state.settings),
    )
    return account_out(account)


@router.post("/auth/token")
async def log_in(
    body: Login, db: DB, state: State, request: Request, response: Response
) -> dict[str, Any]:
    """Exchange a username and password for a bearer token (and optionally a cookie);
    429 with Retry-After after too many failures."""
    settings = state.settings
    if body.cookie and body.expires_in_days is not None:
        raise Invalid(
            "expires_in_days is for API tokens; a cookie session lasts session_days",
            code="invalid_expiry",
        )
    if body.cookie:
        days = settings.session_days
    else:  # checked before the password, so a bad request costs no attempt
        days = service.token_days(
            body.expires_in_days, settings.api_token_days, settings.api_token_max_days
        )
    limits = signin.SignInLimits.from_settings(settings)
    account = await signin.log_in(db, body.username, body.password, client_address(request), limits)
    kind = "session" if body.cookie else "api"
    token = await service.issue_token(db, account, kind, body.token_name, days=days)
    if body.cookie:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=state.settings.session_days * 86400,
            httponly=True,
            samesite="lax",
            secure=state.settings.effective_base_url.startswith("https"),
        )
    return {"token": token, "token_type": "bearer", "account": account_out(account)}


@router.post("/auth/logout", status_code=204)
async def log_out(account: CurrentAccount, db: DB, request: Request, response: Response) -> None:
    """Forget the token or session used for this request."""
    token = request_token(request)
    if token:
        await service.revoke_token(db, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/auth/tokens")
async def tokens(account: CurrentAccount, db: DB, request: Request) -> list[dict[str, Any]]:
    """The caller's live browser sessions and API tokens (the one in use is `current`)."""
    current = await service.token_id(db, request_token(request))
    return [token_out(t, current) for t in await service.list_tokens(db, account)]


@router.delete("/auth/tokens/{token_id}", status_code=204)
async def revoke(token_id: str, account: CurrentAccount, db: DB) -> None:
    """End one of the caller's sessions or API tokens (anyone else's is a 404)."""
    await service.revoke_token_id(db, account, token_id)


@router.get("/me")
async def me(account: CurrentAccount) -> dict[str, Any]:
    """The signed-in account."""
    return account_out(account)


@router.get("/personas")
async def personas(account: CurrentAccount, db: DB) -> list[dict[str, Any]]:
    """The caller's personas."""
    return [persona_out(p) for p in await service.list_personas(db, account)]


@router.post("/personas", status_code=201)
async def create_persona(body: PersonaIn, account: CurrentAccount, db: DB) -> dict[str, Any]:
    """Add a persona."""
    persona = await service.create_persona(
        db, account, body.name, body.description, body.is_default
    )
    return persona_out(persona)


@router.patch("/personas/{persona_id}")
async def update_persona(
    persona_id: str, body: PersonaPatch, account: CurrentAccount, db: DB
) -> dict[str, Any]:
    """Change a persona."""
    persona = await service.update_persona(
        db, account, persona_id, body.name, body.description, body.is_default
    )
    return persona_out(persona)


@router.delete("/personas/{persona_id}", status_code=204)
async def delete_persona(persona_id: str, account: CurrentAccount, db: DB) -> None:
    """Delete a persona."""
    await service.delete_persona(db, account, persona_id)
