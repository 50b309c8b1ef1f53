"""The fake backend and the registry: pure logic, no model."""

from __future__ import annotations

import asyncio

import pytest

from personae.config import BackendSettings, settings_from
from personae.llm import BackendRegistry
from personae.llm.base import (
    BackendError,
    ChatMessage,
    DoneEvent,
    GenerationParams,
    TokenEvent,
    estimate_message_tokens,
    estimate_tokens,
)
from personae.llm.embedded import EmbeddedBackend
from personae.llm.fake import FakeBackend, fake_reply
from personae.llm.openai_compat import OpenAICompatBackend

ASK: list[ChatMessage] = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "What is the tide doing?"},
]


async def test_fake_echoes_the_last_user_message_word_by_word() -> None:
    fake = FakeBackend()
    events = [e async for e in fake.stream(ASK, GenerationParams())]
    tokens = [e.text for e in events if isinstance(e, TokenEvent)]
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert tokens == ["You ", "said: ", "What ", "is ", "the ", "tide ", "doing?"]
    assert done.text == fake_reply(ASK) == "You said: What is the tide doing?"
    assert done.usage.completion_tokens == 7
    assert done.usage.prompt_tokens == await fake.count_message_tokens(ASK) == 3 + 6 + 9
    assert done.backend == "fake" and done.model == "fake-model"


async def test_fake_replays_enqueued_replies_and_errors_in_order() -> None:
    fake = FakeBackend()
    fake.enqueue("first reply", BackendError("timeout", "too slow"))
    fake.enqueue("third")
    assert (await fake.complete(ASK, GenerationParams())).text == "first reply"
    with pytest.raises(BackendError) as caught:
        await fake.complete(ASK, GenerationParams())
    assert caught.value.kind == "timeout"
    assert (await fake.complete(ASK, GenerationParams())).text == "third"
    assert (await fake.complete(ASK, GenerationParams())).text == fake_reply(ASK)
    assert len(fake.calls) == 4
    assert fake.calls[0].messages == ASK and fake.calls[0].messages is not ASK


async def test_fake_respects_max_tokens() -> None:
    fake = FakeBackend()
    fake.enqueue("one two three four")
    done = await fake.complete(ASK, GenerationParams(max_tokens=2))
    assert done.text == "one two " and done.finish_reason == "length"


async def test_fake_delay_per_token_and_cancellation() -> None:
    fake = FakeBackend(token_delay_s=0.05)
    fake.enqueue("a b c d e f g h i j")

    async def consume() -> list[str]:
        return [
            e.text async for e in fake.stream(ASK, GenerationParams()) if isinstance(e, TokenEvent)
        ]

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_fake_counts_words() -> None:
    fake = FakeBackend()
    assert await fake.count_tokens("three little words") == 3
    assert fake.capabilities.token_count


async def test_estimates() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcdefg") == 2
    assert estimate_message_tokens([]) == 3
    assert estimate_message_tokens(ASK) == 3 + (4 + 3) + (4 + 7)


def test_backend_error_carries_kind_message_and_backend() -> None:
    error = BackendError("rate_limited", "Wait a minute.", "remote")
    assert (error.kind, error.message, error.backend) == (
        "rate_limited",
        "Wait a minute.",
        "remote",
    )
    assert "rate_limited" in str(error) and "remote" in str(error)


async def test_registry_from_settings_builds_one_backend_per_entry() -> None:
    settings = settings_from(
        backends={
            "local": BackendSettings(kind="embedded"),
            "big": BackendSettings(kind="openai", base_url="http://gpu:8000/v1", model="llama"),
            "test": BackendSettings(kind="fake"),
        },
        default_backend="big",
    )
    registry = BackendRegistry.from_settings(settings)
    assert registry.names() == ["local", "big", "test"]
    assert isinstance(registry.get("local"), EmbeddedBackend)
    assert isinstance(registry.get(None), OpenAICompatBackend)
    assert registry.get(None) is registry.get("big")
    assert registry.get("big").model == "llama"
    assert isinstance(registry.get("test"), FakeBackend)
    assert registry.get("local").name == "local"
    await registry.aclose()


async def test_registry_unknown_name_lists_the_available_ones() -> None:
    registry = BackendRegistry.from_settings(settings_from())
    with pytest.raises(BackendError) as caught:
        registry.get("nope")
    assert caught.value.kind == "bad_request"
    assert "'nope'" in caught.value.message and "embedded" in caught.value.message


async def test_registry_missing_default_is_a_clear_error() -> None:
    registry = BackendRegistry.from_settings(settings_from(default_backend="gone"))
    with pytest.raises(BackendError) as caught:
        registry.get(None)
    assert "default backend" in caught.value.message


async def test_registry_register_and_close_all() -> None:
    registry = BackendRegistry()
    first, second = FakeBackend("a"), FakeBackend("b")
    registry.register("a", first)
    registry.register("b", second)
    assert registry.get(None) is first
    await registry.aclose()
    assert first.closed and second.closed


async def test_building_the_registry_loads_nothing() -> None:
    registry = BackendRegistry.from_settings(settings_from())
    backend = registry.get("embedded")
    assert isinstance(backend, EmbeddedBackend)
    assert backend._loaded is None
    await registry.aclose()


def test_importing_the_backends_does_not_load_llama_cpp() -> None:
    import subprocess
    import sys

    code = (
        "import sys, personae.llm, personae.llm.embedded, personae.llm.registry;"
        "assert 'xllamacpp' not in sys.modules, 'imported at import time'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
