"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), the app, clients."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from personae import wiring
from personae.app import create_app
from personae.config import BackendSettings, Settings
from personae.db import make_engine
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.migrate import upgrade
from personae.models import metadata

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CARDS_DIR = SHARED / "fixtures" / "cards"
POSTGRES_URL = os.environ.get("PERSONAE_TEST_POSTGRES_URL", "")
PG_TEST_DB = f"personae_test_{os.getpid()}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests that take `db_kind` run on SQLite, and on PostgreSQL when it is configured."""
    if "db_kind" in metafunc.fixturenames:
        kinds = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
        metafunc.parametrize("db_kind", kinds, scope="session")


async def _fresh_postgres(url: str) -> str:
    """Create an empty database beside the configured one, named for this test run (so
    runs in parallel never share one); return its URL."""
    import asyncpg

    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {PG_TEST_DB}")
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + f"/{PG_TEST_DB}"


async def _drop_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)")
    finally:
        await conn.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop this run's PostgreSQL database, if it made one."""
    if "postgres" in _engines:
        import asyncio

        asyncio.run(_drop_postgres(POSTGRES_URL))


_engines: dict[str, tuple[str, AsyncEngine]] = {}


async def scratch_database(kind: str, tmp_root: Path, name: str) -> tuple[AsyncEngine, str]:
    """An empty database of its own named `name` (for tests that run the migrations from
    the start); drop it with `drop_scratch_database`."""
    if kind == "sqlite":
        path = tmp_root / f"scratch_{name}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
        return make_engine(url), url
    import asyncpg

    database = f"personae_{name}_{os.getpid()}"
    conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {database}")
    finally:
        await conn.close()
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}"
    return make_engine(url), url


async def drop_scratch_database(kind: str, name: str) -> None:
    """Drop what `scratch_database` made (PostgreSQL; a SQLite file goes with tmp_root)."""
    if kind == "sqlite":
        return
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS personae_{name}_{os.getpid()} WITH (FORCE)")
    finally:
        await conn.close()


async def migrated_engine(kind: str, tmp_root: Path) -> tuple[str, AsyncEngine]:
    """One migrated database per kind for the whole session."""
    if kind not in _engines:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_root / 'test.db'}"
        else:
            url = await _fresh_postgres(POSTGRES_URL)
        engine = make_engine(url)
        await upgrade(engine)
        _engines[kind] = (url, engine)
    return _engines[kind]


async def wipe(engine: AsyncEngine) -> None:
    """Empty every table (children first) so each test starts clean."""
    async with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(text(f'DELETE FROM "{table.name}"'))


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """Every domain event's subscribers, as the app, the CLI and the workers register them
    (tests that call services directly need them too)."""
    wiring.install()


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for this test session's files."""
    return tmp_path_factory.mktemp("personae")


@pytest.fixture(scope="session")
def fake_backend() -> FakeBackend:
    """A deterministic backend for logic tests."""
    return FakeBackend("fake", context_window=4096)


@pytest_asyncio.fixture(scope="session")
async def registry(fake_backend: FakeBackend) -> AsyncIterator[BackendRegistry]:
    """The real bundled model (default) plus the fake one, shared by every app in the session."""
    settings = Settings(
        backends={"embedded": BackendSettings(kind="embedded")}, default_backend="embedded"
    )
    reg = BackendRegistry.from_settings(settings)
    reg.register("fake", fake_backend)
    yield reg
    await reg.aclose()


@pytest.fixture(params=["sqlite"])
def db_kind_default(request: pytest.FixtureRequest) -> str:
    """SQLite for tests that don't ask for both databases."""
    return str(request.param)


def make_settings(tmp_root: Path, url: str, **extra: Any) -> Settings:
    """Settings for a test app on the given database."""
    return Settings(data_dir=tmp_root / "data", database_url=url, **extra)


@pytest_asyncio.fixture
async def app(
    request: pytest.FixtureRequest, tmp_root: Path, registry: BackendRegistry
) -> AsyncIterator[FastAPI]:
    """A started app on a clean database (PostgreSQL when the test is parametrised so)."""
    kind = request.getfixturevalue("db_kind") if "db_kind" in request.fixturenames else "sqlite"
    url, engine = await migrated_engine(kind, tmp_root)
    await wipe(engine)
    application = create_app(make_settings(tmp_root, url), backends=registry, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def sign_up(
    client: httpx.AsyncClient, username: str, password: str = "correct horse"
) -> dict[str, str]:
    """Create an account and return bearer auth headers for it."""
    r = await client.post("/api/v1/accounts", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest_asyncio.fixture
async def alice(client: httpx.AsyncClient) -> dict[str, str]:
    """Auth headers of a first account (an admin, being first)."""
    return await sign_up(client, "alice")


@pytest_asyncio.fixture
async def bob(client: httpx.AsyncClient, alice: dict[str, str]) -> dict[str, str]:
    """Auth headers of a second, ordinary account."""
    return await sign_up(client, "bob")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The app served by a real uvicorn on loopback, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server_factory(tmp_root: Path) -> Iterator[Any]:
    """Start a real server on a given database URL; stops it afterwards.

    The server runs its own event loop, so it builds its own backends (the loaded model
    itself is shared by the whole process).
    """
    servers: list[LiveServer] = []

    def start(url: str) -> LiveServer:
        application = create_app(make_settings(tmp_root, url), migrate=False)
        server = LiveServer(application).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()
