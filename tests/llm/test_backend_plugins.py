"""Backends are plugins found by entry point (group `personae.backends`), built-ins included."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import httpx
import pytest
from tests.conftest import make_settings, migrated_engine, sign_up, wipe
from tests.llm.plugin_backend import ParrotBackend

from personae.app import create_app
from personae.config import BackendSettings
from personae.llm import registry as backends
from personae.llm.base import BackendError
from personae.llm.embedded import EmbeddedBackend
from personae.llm.fake import FakeBackend, from_settings
from personae.llm.openai_compat import OpenAICompatBackend
from personae.llm.registry import GROUP, BackendRegistry, backend_kinds, build_backend

PARROT = EntryPoint(name="parrot", value="tests.llm.plugin_backend:ParrotBackend", group=GROUP)


@pytest.fixture
def parrot_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed plugins plus the parrot, as if its package were installed."""
    installed = list(entry_points(group=GROUP))

    def with_parrot(*, group: str) -> list[EntryPoint]:
        assert group == GROUP
        return [*installed, PARROT]

    monkeypatch.setattr(backends, "entry_points", with_parrot)


def test_the_built_in_backends_register_by_entry_point() -> None:
    kinds = backend_kinds()
    assert {"embedded", "openai", "fake"} <= set(kinds)
    assert kinds["embedded"].load() is EmbeddedBackend
    assert kinds["openai"].load() is OpenAICompatBackend
    assert kinds["fake"].load() is from_settings
    fake = build_backend("f", BackendSettings(kind="fake", context_window=2048))
    assert isinstance(fake, FakeBackend) and fake.capabilities.context_window == 2048


def test_without_entry_points_not_even_a_built_in_kind_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backends, "entry_points", lambda *, group: [])
    with pytest.raises(BackendError) as caught:
        build_backend("local", BackendSettings(kind="embedded"))
    assert "'embedded'" in caught.value.message and "none" in caught.value.message


def test_an_unknown_kind_names_the_installed_ones() -> None:
    with pytest.raises(BackendError) as caught:
        build_backend("gpu", BackendSettings(kind="vllm-native"))
    message = caught.value.message
    assert "'gpu'" in message and "'vllm-native'" in message
    assert "embedded, fake, openai" in message
    assert "PERSONAE_BACKENDS__gpu__KIND" in message


def test_a_plugin_that_builds_no_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = EntryPoint(name="odd", value="builtins:slice", group=GROUP)
    monkeypatch.setattr(backends, "entry_points", lambda *, group: [odd])
    with pytest.raises(TypeError, match=r"not a personae\.llm\.Backend"):
        build_backend("odd", BackendSettings(kind="odd"))


async def test_a_plugin_backend_is_configured_and_chats(
    parrot_installed: None, tmp_root: Path
) -> None:
    settings = BackendSettings(kind="parrot", options={"greeting": "Ahoy"})
    registry = BackendRegistry.from_settings(
        make_settings(tmp_root, "sqlite+aiosqlite://", backends={"pet": settings})
    )
    parrot = registry.get("pet")
    assert isinstance(parrot, ParrotBackend)
    assert (parrot.name, parrot.greeting) == ("pet", "Ahoy")
    await registry.aclose()

    # The whole way: settings name the kind, the app builds the plugin, a character uses it.
    url, engine = await migrated_engine("sqlite", tmp_root)
    await wipe(engine)
    app = create_app(
        make_settings(tmp_root, url, backends={"pet": settings}, default_backend="pet"),
        migrate=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = await sign_up(client, "captain")
            r = await client.post(
                "/api/v1/characters",
                headers=headers,
                json={"name": "Polly", "handle": "polly", "backend": "pet"},
            )
            assert r.status_code == 201, r.text
            r = await client.post(
                "/api/v1/conversations", headers=headers, json={"character": "polly"}
            )
            assert r.status_code == 201, r.text
            r = await client.post(
                f"/api/v1/conversations/{r.json()['id']}/messages",
                headers=headers,
                json={"content": "pieces of eight", "stream": False},
            )
            assert r.status_code == 200, r.text
            assert "Ahoy! pieces of eight" in r.text
