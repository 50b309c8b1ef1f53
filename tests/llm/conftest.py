"""Fixtures for the backend tests: the real embedded model (loaded once) and a scripted server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from llm_scripted_server import ScriptedServer, scripted_server

from personae.config import BackendSettings
from personae.llm.embedded import EmbeddedBackend
from personae.llm.openai_compat import OpenAICompatBackend


@pytest_asyncio.fixture(scope="session")
async def embedded() -> AsyncIterator[EmbeddedBackend]:
    """The bundled model, loaded once for these tests.

    Its own copy (n_ctx differs from the default, and the configuration keys the
    cache), so that generations other tests leave running cannot occupy the
    slots whose state these tests check. One thread: steady on a busy machine.
    """
    settings = BackendSettings(kind="embedded", n_parallel=4, n_ctx=4096, n_threads=1)
    backend = EmbeddedBackend("embedded", settings)
    await backend.load()
    yield backend
    await backend.aclose()


@pytest_asyncio.fixture(scope="session")
async def remote(embedded: EmbeddedBackend) -> AsyncIterator[OpenAICompatBackend]:
    """An OpenAI-compatible backend talking to the embedded model's own HTTP server."""
    settings = BackendSettings(
        kind="openai",
        base_url=await embedded.base_url(),
        api_key=await embedded.api_key(),
        model="smollm2",
        timeout_s=30,
    )
    backend = OpenAICompatBackend("remote", settings)
    yield backend
    await backend.aclose()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    """A scripted server on a free port; it answers 404 to anything but chat."""
    with scripted_server() as server:
        yield server
