"""Generated requests for every operation in /openapi.json, against a real server: no 5xx.

Schemathesis makes valid and invalid requests from the published document (bodies,
parameters, headers) and sends them over HTTP to the app served by uvicorn on SQLite
and on PostgreSQL, signed in as an ordinary account that owns a character, a lorebook,
a post and a conversation, so that ids in paths sometimes exist. The number of examples
per operation is bounded (PERSONAE_FUZZ_EXAMPLES, default 6) and the run is
derandomized, so CI sees the same requests every time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from personae.app import create_app
from tests.conftest import POSTGRES_URL, LiveServer, make_settings

EXAMPLES = int(os.environ.get("PERSONAE_FUZZ_EXAMPLES", "6"))
# Operations that would end the run's own session; everything else is fair game.
SKIP = ["/api/v1/auth/logout", "/api/v1/auth/tokens/{token_id}"]

schema = schemathesis.openapi.from_dict(create_app().openapi()).exclude(path=SKIP)


@dataclass
class Target:
    """A served app and the headers of an account on it."""

    url: str
    headers: dict[str, str]


def _seed(url: str) -> dict[str, str]:
    """An account with a character, a lorebook, a post and a conversation."""
    with httpx.Client(base_url=url, timeout=60) as http:
        body = {"username": "fuzzer", "password": "correct horse"}
        assert http.post("/api/v1/accounts", json=body).status_code == 201
        token = http.post("/api/v1/auth/token", json=body).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        character = {"name": "Fuzz", "handle": "fuzz", "visibility": "public"}
        assert http.post("/api/v1/characters", headers=headers, json=character).is_success
        book = {"name": "b", "entries": [{"keys": ["k"], "content": "c"}]}
        assert http.post("/api/v1/lorebooks", headers=headers, json=book).is_success
        assert http.post("/api/v1/posts", headers=headers, json={"text": "hi @fuzz"}).is_success
        chat = {"character": "fuzz"}
        assert http.post("/api/v1/conversations", headers=headers, json=chat).is_success
    return headers


FUZZ_DB = f"personae_fuzz_{os.getpid()}"


def _postgres(*statements: str) -> None:
    """Run statements on the test server (in a thread: the test session owns this loop)."""

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The app on a fresh database of each kind, migrated at start like a real instance."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    if request.param == "postgres":
        if not POSTGRES_URL:
            pytest.skip("PERSONAE_TEST_POSTGRES_URL is not set")
        drop = f"DROP DATABASE IF EXISTS {FUZZ_DB} WITH (FORCE)"
        _postgres(drop, f"CREATE DATABASE {FUZZ_DB}")
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{FUZZ_DB}"
    else:
        url = f"sqlite+aiosqlite:///{root / 'fuzz.db'}"
    with LiveServer(create_app(make_settings(root, url))) as server:
        yield Target(server.url, _seed(server.url))
    if request.param == "postgres":
        _postgres(drop)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_makes_a_server_error(case: schemathesis.Case, target: Target) -> None:
    response = case.call(base_url=target.url, headers=target.headers, timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"{case.as_curl_command()}"
    )
