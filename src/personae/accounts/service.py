"""Account operations: create, authenticate, tokens, personas.

Every argon2 hash and verification runs in the hashing pool (`passwords.POOL`), never on
the event loop; `_hasher` is looked up at each call so tests can swap in a cheaper one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from personae.accounts import names
from personae.accounts.models import Account, AuthToken, Persona
from personae.accounts.passwords import MAX_PASSWORD, POOL, check_new_password
from personae.db import transaction, utcnow
from personae.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized

USERNAME_RE = re.compile(r"^[a-z0-9_]{2,30}$")
# Stored for accounts nobody signs in to (demo people): argon2 rejects it as a hash.
UNUSABLE_PASSWORD_HASH = "!"  # noqa: S105 - a marker, not a secret
_hasher = PasswordHasher()
# `last_used_at` is written when it is older than this, so a busy token costs one write a
# minute, not one per request.
LAST_USED_EVERY = timedelta(minutes=1)


async def hash_password(password: str) -> str:
    """argon2 hash of a password, computed in the hashing pool."""
    hasher = _hasher
    return await POOL.run(lambda: hasher.hash(password))


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether a password matches its hash (in the hashing pool); False for a marker such
    as UNUSABLE_PASSWORD_HASH, after as long as a real check takes."""
    hasher = _hasher

    def check() -> bool:
        try:
            return hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:  # an account nobody signs in to: take as long anyway
            hasher.hash(password)
            return False

    return await POOL.run(check)


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token: tokens are random, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_username(username: str) -> str:
    """Lower-case and check a username; raise Invalid naming the rule."""
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise Invalid("username must be 2-30 characters of a-z, 0-9 and _", code="invalid_username")
    return name


async def count_accounts(session: AsyncSession) -> int:
    """How many accounts exist."""
    return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


async def count_admins(session: AsyncSession) -> int:
    """How many admins exist (an account created while there are none becomes one)."""
    query = select(func.count()).select_from(Account).where(Account.is_admin)
    return int(await session.scalar(query) or 0)


async def create_account(
    session: AsyncSession,
    username: str,
    password: str,
    display_name: str = "",
    is_admin: bool | None = None,
) -> Account:
    """Create an account, its actor and a default persona; the first one while no admin
    exists becomes the admin (demo accounts are never admins)."""
    name = normalise_username(username)
    check_new_password(password, name)
    if len(display_name) > 100:
        raise Invalid("display_name is longer than 100 characters", code="field_too_long")
    from personae.characters.models import Character  # handles share one namespace

    taken = await session.scalar(select(Account.id).where(Account.username == name))
    if taken or await session.scalar(select(Character.id).where(Character.handle == name)):
        raise Conflict(f"the username '{name}' is taken; choose another", code="username_taken")
    await names.check_handle(session, name)
    await names.check_display_name(
        session, display_name or name, kind="person", operator_id=None, own_handle=name
    )
    admin = is_admin if is_admin is not None else await count_admins(session) == 0
    account = Account(
        username=name,
        display_name=display_name or name,
        password_hash=await hash_password(password),
        is_admin=admin,
    )
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent sign-up took the name between check and insert
        # Not a savepoint: on SQLite one that opens the transaction commits on release.
        # Rolling back loses nothing else where this insert is the first write (a sign-up).
        await session.rollback()
        raise Conflict(
            f"the username '{name}' is taken; choose another", "username_taken"
        ) from None
    session.add(Persona(owner_id=account.id, name=account.display_name, is_default=True))
    from personae.social.actors import create_person_actor

    await create_person_actor(session, account)
    await session.flush()
    return account


async def authenticate(session: AsyncSession, username: str, password: str) -> Account:
    """Check a username and password; raise Unauthorized with one message for both failures."""
    account = await session.scalar(
        select(Account).where(Account.username == username.strip().lower())
    )
    if account is None or len(password) > MAX_PASSWORD:
        # Hash anyway so the answer takes as long as for a real account (no user probing).
        await hash_password(password[:MAX_PASSWORD])
        raise Unauthorized("wrong username or password")
    if not await verify_password(account.password_hash, password):
        raise Unauthorized("wrong username or password")
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(password)
        await session.flush()
    return account


def token_days(requested: int | None, default_days: int, max_days: int) -> int:
    """How long a new API token lives: the caller's choice up to the maximum, else the
    default (itself held to the maximum)."""
    if requested is None:
        return min(default_days, max_days)
    if not 1 <= requested <= max_days:
        raise Invalid(
            f"expires_in_days must be 1-{max_days} (this instance's longest token life)",
            code="invalid_expiry",
        )
    return requested


async def issue_token(
    session: AsyncSession, account: Account, kind: str, name: str = "", *, days: float
) -> str:
    """Create a session or API token that ends after `days` and return it (only its hash
    is stored); the account's expired tokens are swept out on the way."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    await session.execute(
        delete(AuthToken).where(AuthToken.account_id == account.id, AuthToken.expires_at <= now)
    )
    session.add(
        AuthToken(
            account_id=account.id,
            token_hash=hash_token(token),
            kind=kind,
            name=name.strip()[:100],
            expires_at=now + timedelta(days=days),
        )
    )
    await session.flush()
    return token


async def account_for_token(session: AsyncSession, token: str) -> Account | None:
    """The account a token belongs to, or None when unknown or expired; notes its use
    (at most once a minute) in a unit of work of its own, committed at once.

    Its own, because a request must not hold the database for it: on SQLite that write
    would keep every other writer waiting until the request ends (a generation may take
    minutes), and an error answer would roll it back.
    """
    if not token or len(token) > 200:
        return None
    found = (
        await session.execute(
            select(Account, AuthToken.id, AuthToken.expires_at, AuthToken.last_used_at)
            .join(AuthToken, AuthToken.account_id == Account.id)
            .where(AuthToken.token_hash == hash_token(token))
        )
    ).first()
    now = utcnow()
    if found is None or found[2] <= now:
        return None
    account: Account = found[0]
    if found[3] is None or found[3] < now - LAST_USED_EVERY:
        await _note_use(session, found[1], now)
    return account


async def _note_use(session: AsyncSession, token_id: str, now: datetime) -> None:
    # Conditional, so concurrent requests with one token write it once between them.
    statement = (
        update(AuthToken)
        .where(
            AuthToken.id == token_id,
            or_(AuthToken.last_used_at.is_(None), AuthToken.last_used_at < now - LAST_USED_EVERY),
        )
        .values(last_used_at=now)
    )
    if not isinstance(session.bind, AsyncEngine):
        # Bound to a connection whose transaction someone else owns: the write goes with it.
        await session.execute(statement)
        return
    async with transaction(async_sessionmaker(session.bind)) as own:
        await own.execute(statement)


async def revoke_token(session: AsyncSession, token: str) -> None:
    """Forget a token (log out)."""
    row = await session.scalar(select(AuthToken).where(AuthToken.token_hash == hash_token(token)))
    if row is not None:
        await session.delete(row)
        await session.flush()


async def list_tokens(session: AsyncSession, account: Account) -> list[AuthToken]:
    """The account's live sessions and API tokens, newest first."""
    rows = await session.scalars(
        select(AuthToken)
        .where(AuthToken.account_id == account.id, AuthToken.expires_at > utcnow())
        .order_by(AuthToken.id.desc())
    )
    return list(rows)


async def token_id(session: AsyncSession, token: str | None) -> str | None:
    """The id of the token a request came with (to mark "this one" in a list)."""
    if not token or len(token) > 200:
        return None
    found = await session.scalar(
        select(AuthToken.id).where(AuthToken.token_hash == hash_token(token))
    )
    return str(found) if found is not None else None


async def revoke_token_id(session: AsyncSession, account: Account, ident: str) -> None:
    """End one of the account's own sessions or tokens (anyone else's is a 404)."""
    row = await session.get(AuthToken, ident[:32])
    if row is None or row.account_id != account.id or row.expires_at <= utcnow():
        raise NotFound("no such session or token")
    await session.delete(row)
    await session.flush()


async def username_of(session: AsyncSession, account_id: str) -> str | None:
    """The username of an account, or None when there is no such account."""
    found = await session.scalar(select(Account.username).where(Account.id == account_id))
    return str(found) if found is not None else None


async def get_account_by_username(session: AsyncSession, username: str) -> Account:
    """Look an account up by username."""
    account = await session.scalar(
        select(Account).where(Account.username == username.strip().lower())
    )
    if account is None:
        raise NotFound(f"no account named '{username}'")
    return account


async def list_personas(session: AsyncSession, account: Account) -> list[Persona]:
    """The caller's personas, default first."""
    rows = await session.scalars(
        select(Persona)
        .where(Persona.owner_id == account.id)
        .order_by(Persona.is_default.desc(), Persona.created_at)
    )
    return list(rows)


async def get_persona(session: AsyncSession, account: Account, persona_id: str) -> Persona:
    """One of the caller's personas (404 for anyone else's)."""
    persona = await session.get(Persona, persona_id)
    if persona is None or persona.owner_id != account.id:
        raise NotFound("no such persona")
    return persona


async def default_persona(session: AsyncSession, account: Account) -> Persona:
    """The persona used when a conversation names none."""
    personas = await list_personas(session, account)
    if personas:
        return personas[0]
    persona = Persona(owner_id=account.id, name=account.display_name, is_default=True)
    session.add(persona)
    await session.flush()
    return persona


def _check_persona_fields(name: str, description: str) -> None:
    if not name.strip() or len(name) > 100:
        raise Invalid("persona name must be 1-100 characters", code="invalid_name")
    if len(description) > 10_000:
        raise Invalid("persona description is longer than 10000 characters", "field_too_long")


async def _check_persona_name(session: AsyncSession, account: Account, name: str) -> None:
    # A persona is who the person says they are in a chat: it may not pass for someone else.
    await names.check_display_name(
        session, name, kind="persona", operator_id=account.id, own_handle=account.username
    )


async def create_persona(
    session: AsyncSession,
    account: Account,
    name: str,
    description: str = "",
    is_default: bool = False,
) -> Persona:
    """Add a persona; making it default unsets the previous default."""
    _check_persona_fields(name, description)
    await _check_persona_name(session, account, name)
    if is_default:
        for p in await list_personas(session, account):
            p.is_default = False
    persona = Persona(
        owner_id=account.id, name=name.strip(), description=description, is_default=is_default
    )
    session.add(persona)
    await session.flush()
    return persona


async def update_persona(
    session: AsyncSession,
    account: Account,
    persona_id: str,
    name: str | None = None,
    description: str | None = None,
    is_default: bool | None = None,
) -> Persona:
    """Change a persona's fields."""
    persona = await get_persona(session, account, persona_id)
    _check_persona_fields(
        name if name is not None else persona.name,
        description if description is not None else persona.description,
    )
    if name is not None and name.strip() != persona.name:
        await _check_persona_name(session, account, name)
        persona.name = name.strip()
    elif name is not None:
        persona.name = name.strip()
    if description is not None:
        persona.description = description
    if is_default:
        for p in await list_personas(session, account):
            p.is_default = p.id == persona.id
    await session.flush()
    return persona


async def delete_persona(session: AsyncSession, account: Account, persona_id: str) -> None:
    """Delete a persona (conversations fall back to the default)."""
    persona = await get_persona(session, account, persona_id)
    await session.delete(persona)
    await session.flush()


async def change_password(
    session: AsyncSession,
    account: Account,
    current: str,
    new: str,
    keep_token: str | None = None,
) -> None:
    """Change the password after checking the current one; every other session and API
    token of the account ends (whoever held one may have known the old password)."""
    check_new_password(new, account.username, "new password")
    ok = len(current) <= MAX_PASSWORD and await verify_password(account.password_hash, current)
    if not ok:
        raise Forbidden("the current password is wrong", code="wrong_password")
    account.password_hash = await hash_password(new)
    ended = delete(AuthToken).where(AuthToken.account_id == account.id)
    if keep_token:
        ended = ended.where(AuthToken.token_hash != hash_token(keep_token))
    await session.execute(ended)
