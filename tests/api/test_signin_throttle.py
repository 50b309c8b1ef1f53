"""Log-in and sign-up throttles (kept in the database) and password hashing off the loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import func, select

from personae.accounts import passwords
from personae.accounts.models import Account, AuthThrottle
from personae.app import create_app
from personae.llm.registry import BackendRegistry
from tests.conftest import make_settings, migrated_engine, wipe
from tests.web.test_pages import SAME

PASSWORD = "correct horse"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
AppFactory = Callable[..., Any]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what most of these tests are about."""
    monkeypatch.setattr("personae.accounts.service._hasher", FAST)


@pytest.fixture
def throttled_app(db_kind: str, tmp_root: Path, registry: BackendRegistry) -> Callable[..., Any]:
    """Start an app on a clean database with the given settings (small limits)."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[FastAPI]:
        url, engine = await migrated_engine(db_kind, tmp_root)
        await wipe(engine)
        app = create_app(make_settings(tmp_root, url, **settings), backends=registry, migrate=False)
        async with app.router.lifespan_context(app):
            yield app

    return start


def client_from(app: FastAPI, address: str) -> httpx.AsyncClient:
    """An in-process client whose requests come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


async def sign_up(client: httpx.AsyncClient, username: str) -> httpx.Response:
    return await client.post("/api/v1/accounts", json={"username": username, "password": PASSWORD})


def assert_throttled(r: httpx.Response, window_s: int) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(r.headers["Retry-After"]) <= window_s


async def test_wrong_passwords_throttle_that_account_from_that_address_only(
    throttled_app: AppFactory, db_kind: str
) -> None:
    async with (
        throttled_app(login_failures_per_account_address=3, login_window_s=600) as app,
        client_from(app, "203.0.113.7") as attacker,
        client_from(app, "198.51.100.20") as owner,
    ):
        assert (await sign_up(owner, "victim")).status_code == 201
        for _ in range(3):
            assert (await log_in(attacker, "victim", "wrong guess 1")).status_code == 401
        assert_throttled(await log_in(attacker, "victim", "wrong guess 2"), 600)
        # The right password is refused too while the throttle holds ...
        assert_throttled(await log_in(attacker, "victim", PASSWORD), 600)
        # ... but only there: the owner, elsewhere, signs in as usual.
        r = await log_in(owner, "victim", PASSWORD)
        assert r.status_code == 200, r.text
        # Usernames are counted as typed into the form: case does not escape the count.
        assert_throttled(await log_in(attacker, "VICTIM", PASSWORD), 600)


async def test_a_success_clears_its_own_count_but_not_the_addresss_failures_elsewhere(
    throttled_app: AppFactory, db_kind: str
) -> None:
    limits = {"login_failures_per_address": 4, "login_failures_per_account_address": 3}
    async with (
        throttled_app(**limits) as app,
        client_from(app, "192.0.2.1") as here,
        client_from(app, "192.0.2.2") as there,
    ):
        for name in ("ann", "ben", "cat", "dan", "eve", "me"):
            assert (await sign_up(there, name)).status_code == 201
        # Two typos on one's own account, then the right password: the slate is clean.
        for _ in range(2):
            assert (await log_in(here, "me", "typo typo")).status_code == 401
        assert (await log_in(here, "me", PASSWORD)).status_code == 200
        assert (await log_in(here, "me", "typo typo")).status_code == 401
        assert (await log_in(here, "me", PASSWORD)).status_code == 200
        # Spraying other accounts from here: three failures ...
        for name in ("ann", "ben", "cat"):
            assert (await log_in(here, name, "Summer2024!")).status_code == 401
        # ... a success on one's own account does not wipe them (only its own typos,
        # each taken back by the success that followed them) ...
        assert (await log_in(here, "me", PASSWORD)).status_code == 200
        assert (await log_in(here, "dan", "Summer2024!")).status_code == 401
        # ... so a fifth try from this address is one too many, for any account.
        assert_throttled(await log_in(here, "eve", "Summer2024!"), 900)
        assert_throttled(await log_in(here, "me", PASSWORD), 900)
        assert (await log_in(there, "eve", PASSWORD)).status_code == 200


async def test_guessing_spread_over_addresses_spares_the_owners_known_address(
    throttled_app: AppFactory, db_kind: str
) -> None:
    limits = {"login_failures_per_account": 3, "login_failures_per_account_address": 50}
    async with throttled_app(**limits) as app:
        async with client_from(app, "2001:db8:1::5") as owner:
            assert (await sign_up(owner, "target")).status_code == 201
            assert (await log_in(owner, "target", PASSWORD)).status_code == 200
        for n in range(3):
            async with client_from(app, f"203.0.113.{10 + n}") as bot:
                assert (await log_in(bot, "target", "password1")).status_code == 401
        async with client_from(app, "203.0.113.99") as newcomer:
            assert_throttled(await log_in(newcomer, "target", PASSWORD), 900)
        # The owner's address (the same IPv6 /64) signed in before: it is not locked out.
        async with client_from(app, "2001:db8:1::77") as owner_again:
            assert (await log_in(owner_again, "target", PASSWORD)).status_code == 200


async def test_counts_are_shared_by_every_app_on_the_database(
    throttled_app: AppFactory, db_kind: str, tmp_root: Path, registry: BackendRegistry
) -> None:
    """Two apps (as two processes would) on one database see one count."""
    async with throttled_app(login_failures_per_account_address=2) as first:
        url = first.state.personae.settings.effective_database_url
        second = create_app(
            make_settings(tmp_root, url, login_failures_per_account_address=2),
            backends=registry,
            migrate=False,
        )
        async with (
            second.router.lifespan_context(second),
            client_from(first, "203.0.113.5") as a,
            client_from(second, "203.0.113.5") as b,
        ):
            assert (await sign_up(a, "shared")).status_code == 201
            assert (await log_in(a, "shared", "nope nope")).status_code == 401
            assert (await log_in(b, "shared", "nope nope")).status_code == 401
            assert_throttled(await log_in(a, "shared", PASSWORD), 900)
            assert_throttled(await log_in(b, "shared", PASSWORD), 900)
        async with first.state.personae.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(AuthThrottle))


async def test_sign_ups_per_address_are_limited_and_refusals_do_not_count(
    throttled_app: AppFactory, db_kind: str
) -> None:
    async with throttled_app(signups_per_address=2, signup_window_s=3600) as app:
        async with (
            client_from(app, "198.51.100.1") as here,
            client_from(app, "198.51.100.2") as there,
        ):
            r = await here.post(
                "/api/v1/accounts", json={"username": "weak", "password": "password1"}
            )
            assert r.status_code == 422  # refused: does not use up the address's sign-ups
            assert (await sign_up(here, "one")).status_code == 201
            assert (await sign_up(here, "two")).status_code == 201
            r = await sign_up(here, "three")
            assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_signups"
            assert 1 <= int(r.headers["Retry-After"]) <= 3600
            assert (await sign_up(there, "three")).status_code == 201
        async with app.state.personae.sessions() as session:
            names = set(await session.scalars(select(Account.username)))
        assert names == {"one", "two", "three"}


async def test_web_forms_are_throttled_like_the_api(
    throttled_app: AppFactory, db_kind: str
) -> None:
    limits = {"login_failures_per_account_address": 2, "signups_per_address": 1}
    async with throttled_app(**limits) as app, client_from(app, "192.0.2.50") as browser:
        form = {"username": "webby", "password": PASSWORD}
        assert (await browser.post("/signup", data=form, headers=SAME)).status_code == 303
        browser.cookies.clear()
        r = await browser.post("/signup", data={**form, "username": "webby2"}, headers=SAME)
        assert r.status_code == 429 and "Retry-After" in r.headers
        assert "too many accounts" in r.text
        wrong = {"username": "webby", "password": "not it at all"}
        for _ in range(2):
            assert (await browser.post("/login", data=wrong, headers=SAME)).status_code == 401
        r = await browser.post("/login", data=form, headers=SAME)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert "too many failed sign-ins" in r.text and "personae_session" not in r.cookies


class SlowHasher:
    """A hasher that takes `delay` seconds per hash or check, as argon2 does on a busy
    machine; it blocks whatever thread it runs on."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.inner = FAST

    def hash(self, password: str) -> str:
        time.sleep(self.delay)
        return self.inner.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        time.sleep(self.delay)
        return self.inner.verify(password_hash, password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return False


async def timed(work: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = await work
    return response, time.perf_counter() - start


async def test_slow_password_hashing_does_not_hold_up_other_requests(
    throttled_app: AppFactory, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with throttled_app() as app:
        async with client_from(app, "192.0.2.9") as client:
            assert (await sign_up(client, "patient")).status_code == 201
            token = (await log_in(client, "patient", PASSWORD)).json()["token"]
            me = {"Authorization": f"Bearer {token}"}
            monkeypatch.setattr("personae.accounts.service._hasher", SlowHasher(0.5))
            logins = [
                asyncio.create_task(timed(log_in(client, "patient", f"guess number {n}")))
                for n in range(4)
            ]
            await asyncio.sleep(0.05)  # the log-ins are hashing now
            r, elapsed = await timed(client.get("/api/v1/me", headers=me))
            assert r.status_code == 200
            done = await asyncio.gather(*logins)
        assert all(resp.status_code == 401 for resp, _ in done)
        slowest = max(seconds for _, seconds in done)
        # Four half-second checks on two threads take a second; the cheap request did not
        # wait for any of them (on the event loop it would have waited for all four).
        assert slowest >= 0.9
        assert elapsed < 0.4, f"GET /me took {elapsed:.2f}s while log-ins were hashing"


async def test_a_flood_of_log_ins_is_turned_away_instead_of_queued(
    throttled_app: AppFactory, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with throttled_app(password_hash_threads=1, password_hash_queue=1) as app:
        try:
            async with client_from(app, "192.0.2.10") as client:
                assert (await sign_up(client, "busy")).status_code == 201
                monkeypatch.setattr("personae.accounts.service._hasher", SlowHasher(0.4))
                results = await asyncio.gather(
                    *(log_in(client, "busy", f"guess {n} guess") for n in range(4))
                )
                statuses = sorted(r.status_code for r in results)
                assert statuses == [401, 401, 503, 503], statuses
                refused = next(r for r in results if r.status_code == 503)
                assert refused.headers["Retry-After"] == "1"
                assert refused.json()["error"]["code"] == "busy"
                # Turned-away attempts were never checked, so they do not count as failures.
                monkeypatch.setattr("personae.accounts.service._hasher", FAST)
                assert (await log_in(client, "busy", PASSWORD)).status_code == 200
        finally:
            passwords.POOL.configure(2, 32)
