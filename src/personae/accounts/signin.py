"""Sign-in and sign-up with throttles: what the JSON API and the web forms both call.

Log-in attempts are counted three ways in one window (`login_window_s`), as large
services do (see docs/security.md, "Accounts and sign-in"):

- per account *and* client address: the tight limit. It stops guessing one account's
  password from one place, and only there, so the owner elsewhere is never locked out by
  someone else's guesses;
- per client address over every account: stops one place spraying passwords over many
  accounts (credential stuffing);
- per account over every address: a loose limit against guessing spread over many
  addresses. Addresses the account signed in from lately are exempt from it, so an
  attack on an account does not lock its owner out.

Attempts are counted *before* the password is checked, in a unit of work of their own
committed at once (a flood of parallel guesses cannot all slip in before the first failure
is written, and a refused attempt stays counted though the request's own work is rolled
back), and a successful sign-in takes its own attempt back, so the counters hold failures.
It also takes back the failures before it on the same account from the same address (the
owner's typos), but not the address's failures on other accounts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.accounts import service, throttle
from personae.accounts.models import Account
from personae.config import Settings
from personae.db import transaction, utcnow
from personae.errors import DomainError, RateLimited, Unauthorized

# How long an address an account signed in from stays exempt from the per-account limit.
KNOWN_ADDRESS_DAYS = 30


@dataclass(frozen=True)
class SignInLimits:
    """The throttles' limits (from settings; tests pass their own)."""

    per_account_address: int = 10
    per_address: int = 50
    per_account: int = 200
    window_s: float = 900
    signups_per_address: int = 10
    signup_window_s: float = 3600

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        """The limits an instance is configured with."""
        return cls(
            per_account_address=settings.login_failures_per_account_address,
            per_address=settings.login_failures_per_address,
            per_account=settings.login_failures_per_account,
            window_s=settings.login_window_s,
            signups_per_address=settings.signups_per_address,
            signup_window_s=settings.signup_window_s,
        )


def _wait_words(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} minutes" if minutes > 1 else "a minute"


async def log_in(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    username: str,
    password: str,
    address: str | None,
    limits: SignInLimits,
) -> Account:
    """Check a username and password from a client address, within the throttles.

    Raises RateLimited (429, with the seconds to wait) while any limit is reached, before
    any password is checked, so a throttled guess learns nothing and costs no hash. The
    counts are written through `sessions` (committed whatever the answer); a successful
    sign-in's refunds go with `session`, the caller's unit of work.
    """
    name = username.strip().lower()
    network = throttle.client_network(address)
    pair = throttle.counter_key("login-account-address", name, network)
    per_address = throttle.counter_key("login-address", network)
    per_account = throttle.counter_key("login-account", name)
    known = throttle.counter_key("known-address", name, network)
    async with transaction(sessions) as counting:
        counts = {
            key: await throttle.hit(counting, key, limits.window_s)
            for key in (pair, per_address, per_account)
        }
        is_known = await throttle.peek(counting, known) is not None
        if secrets.randbelow(16) == 0:  # now and then, sweep out windows that are over
            await throttle.purge(counting)

    reached = [
        counts[pair].hits > limits.per_account_address,
        counts[per_address].hits > limits.per_address,
        counts[per_account].hits > limits.per_account and not is_known,
    ]
    if any(reached):
        now = utcnow()
        wait = max(
            count.seconds_left(now)
            for count, over in zip(counts.values(), reached, strict=True)
            if over
        )
        raise RateLimited(
            f"too many failed sign-ins; try again in {_wait_words(wait)}",
            retry_after_s=wait,
            code="too_many_attempts",
        )
    try:
        account = await service.authenticate(session, username, password)
    except Unauthorized:
        raise  # the attempt stays counted: it failed
    except DomainError:  # not checked at all (the hashing pool was full): not an attempt
        await _refund(sessions, pair, per_address, per_account)
        raise
    # This attempt and the failures before it on this account from this address were the
    # owner's own typos: they leave every count. Failures on other accounts stay counted.
    await throttle.refund(session, per_address, per_account, hits=counts[pair].hits)
    await throttle.clear(session, pair)
    await throttle.remember(session, known, KNOWN_ADDRESS_DAYS)
    return account


async def _refund(sessions: async_sessionmaker[AsyncSession], *keys: str) -> None:
    """Take back an attempt that did not count, in a unit of work of its own (the caller's
    is about to be rolled back; nothing of it holds the database: the refusal came before
    any write, or its write was already rolled back)."""
    async with transaction(sessions) as refunding:
        await throttle.refund(refunding, *keys)


async def sign_up(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    username: str,
    password: str,
    display_name: str,
    address: str | None,
    limits: SignInLimits,
) -> Account:
    """Create an account, at most `signups_per_address` per client address and window; a
    refused sign-up (a taken name, a weak password) does not count.

    Counted through `sessions` before the account is made (as log-ins are); the account
    is written with `session`, the caller's unit of work.
    """
    key = throttle.counter_key("signup-address", throttle.client_network(address))
    async with transaction(sessions) as counting:
        count = await throttle.hit(counting, key, limits.signup_window_s)
    if count.hits > limits.signups_per_address:
        wait = count.seconds_left(utcnow())
        raise RateLimited(
            f"too many accounts were made from your address; try again in {_wait_words(wait)}",
            retry_after_s=wait,
            code="too_many_signups",
        )
    try:
        return await service.create_account(session, username, password, display_name)
    except DomainError:
        await _refund(sessions, key)
        raise
