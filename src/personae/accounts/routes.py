"""Accounts API: sign up, log in, tokens, personas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from personae.accounts import service, signin
from personae.accounts.schemas import AccountOut, LoginOut, PersonaOut, TokenOut
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


@router.post("/accounts", status_code=201)
async def sign_up(body: SignUp, db: DB, state: State, request: Request) -> AccountOut:
    """Create an account (the first one becomes the admin); a few per client address."""
    account = await signin.sign_up(
        db,
        state.sessions,
        body.username,
        body.password,
        body.display_name,
        client_address(request),
        signin.SignInLimits.from_settings(state.settings),
    )
    return AccountOut.of(account)


@router.post("/auth/token")
async def log_in(
    body: Login, db: DB, state: State, request: Request, response: Response
) -> LoginOut:
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
    account = await signin.log_in(
        db, state.sessions, body.username, body.password, client_address(request), limits
    )
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
    return LoginOut(token=token, account=AccountOut.of(account))


@router.post("/auth/logout", status_code=204)
async def log_out(account: CurrentAccount, db: DB, request: Request, response: Response) -> None:
    """Forget the token or session used for this request."""
    token = request_token(request)
    if token:
        await service.revoke_token(db, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/auth/tokens")
async def tokens(account: CurrentAccount, db: DB, request: Request) -> list[TokenOut]:
    """The caller's live browser sessions and API tokens (the one in use is `current`)."""
    current = await service.token_id(db, request_token(request))
    return [TokenOut.of(t, current) for t in await service.list_tokens(db, account)]


@router.delete("/auth/tokens/{token_id}", status_code=204)
async def revoke(token_id: str, account: CurrentAccount, db: DB) -> None:
    """End one of the caller's sessions or API tokens (anyone else's is a 404)."""
    await service.revoke_token_id(db, account, token_id)


@router.get("/me")
async def me(account: CurrentAccount) -> AccountOut:
    """The signed-in account."""
    return AccountOut.of(account)


@router.get("/personas")
async def personas(account: CurrentAccount, db: DB) -> list[PersonaOut]:
    """The caller's personas."""
    return [PersonaOut.of(p) for p in await service.list_personas(db, account)]


@router.post("/personas", status_code=201)
async def create_persona(body: PersonaIn, account: CurrentAccount, db: DB) -> PersonaOut:
    """Add a persona."""
    persona = await service.create_persona(
        db, account, body.name, body.description, body.is_default
    )
    return PersonaOut.of(persona)


@router.patch("/personas/{persona_id}")
async def update_persona(
    persona_id: str, body: PersonaPatch, account: CurrentAccount, db: DB
) -> PersonaOut:
    """Change a persona."""
    persona = await service.update_persona(
        db, account, persona_id, body.name, body.description, body.is_default
    )
    return PersonaOut.of(persona)


@router.delete("/personas/{persona_id}", status_code=204)
async def delete_persona(persona_id: str, account: CurrentAccount, db: DB) -> None:
    """Delete a persona."""
    await service.delete_persona(db, account, persona_id)
