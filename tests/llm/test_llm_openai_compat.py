"""The OpenAI-compatible backend against real servers: the embedded model's and a scripted one."""

from __future__ import annotations

import email.utils
import socket
import time

import pytest
from llm_scripted_server import Reply, ScriptedServer

from personae.config import BackendSettings
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
from personae.llm.openai_compat import OpenAICompatBackend, retry_after_seconds

HELLO: list[ChatMessage] = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello."},
]
SHORT = GenerationParams(max_tokens=10, seed=1)


def backend_for(url: str, **overrides: object) -> OpenAICompatBackend:
    settings = BackendSettings(kind="openai", base_url=url, model="m", **overrides)
    return OpenAICompatBackend("remote", settings, retry_base_s=0.01)


async def test_streams_from_a_real_server(remote: OpenAICompatBackend) -> None:
    events = [e async for e in remote.stream(HELLO, SHORT)]
    *tokens, done = events
    assert tokens and all(isinstance(e, TokenEvent) for e in tokens)
    assert isinstance(done, DoneEvent)
    assert done.text == "".join(e.text for e in tokens if isinstance(e, TokenEvent))
    assert done.usage.prompt_tokens > 0 and 0 < done.usage.completion_tokens <= 10
    assert done.backend == "remote" and done.model == "smollm2"
    assert done.ttft_ms is not None


async def test_reports_cached_tokens(remote: OpenAICompatBackend) -> None:
    system: ChatMessage = {"role": "system", "content": "You guard the old stone bridge. " * 8}
    await remote.complete([system, {"role": "user", "content": "Hi"}], SHORT)
    second = await remote.complete([system, {"role": "user", "content": "Hey"}], SHORT)
    assert second.usage.cached_tokens > 40


async def test_counts_tokens_with_the_servers_tokenizer(
    remote: OpenAICompatBackend, embedded: EmbeddedBackend
) -> None:
    text = "Counting tokens exactly matters for fitting the context."
    assert await remote.count_tokens(text) == await embedded.count_tokens(text)
    assert remote.capabilities.token_count
    assert await remote.count_message_tokens(HELLO) == await embedded.count_message_tokens(HELLO)


async def test_context_overflow_from_a_real_server(remote: OpenAICompatBackend) -> None:
    with pytest.raises(BackendError) as caught:
        await remote.complete([{"role": "user", "content": "word " * 3000}], SHORT)
    assert caught.value.kind == "context_overflow"


async def test_wrong_api_key_is_unavailable(embedded: EmbeddedBackend) -> None:
    backend = backend_for(await embedded.base_url(), api_key="wrong")
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "unavailable" and "API_KEY" in caught.value.message
    await backend.aclose()


async def test_dead_port_is_unavailable_quickly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = backend_for(f"http://127.0.0.1:{port}/v1", max_retries=2)
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "unavailable"
    assert "3 tries" in caught.value.message
    assert time.monotonic() - started < 2
    # Counting still works without a server: it falls back to the estimate.
    assert await backend.count_tokens("four words right here") == estimate_tokens(
        "four words right here"
    )
    await backend.aclose()


async def test_no_base_url_is_unavailable() -> None:
    backend = backend_for("")
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "unavailable" and "BASE_URL" in caught.value.message


async def test_slow_server_times_out(scripted: ScriptedServer) -> None:
    scripted.script = [Reply(stream=["late"], delay_s=2)]
    backend = backend_for(scripted.url, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "timeout" and "TIMEOUT_S" in caught.value.message
    assert time.monotonic() - started < 1.5
    assert len(scripted.chat_requests) == 1  # a slow server is not retried
    await backend.aclose()


async def test_retries_503_then_succeeds(scripted: ScriptedServer) -> None:
    busy = Reply(status=503, body={"error": {"message": "loading model"}})
    scripted.script = [busy, busy, Reply(stream=["Hello", " there"])]
    backend = backend_for(scripted.url)
    done = await backend.complete(HELLO, SHORT)
    assert done.text == "Hello there" and done.finish_reason == "stop"
    assert done.usage.completion_tokens == 2
    assert len(scripted.chat_requests) == 3
    await backend.aclose()


async def test_retry_after_is_honoured(scripted: ScriptedServer) -> None:
    limited = Reply(
        status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "1"}
    )
    scripted.script = [limited, Reply(stream=["ok"])]
    backend = backend_for(scripted.url)
    done = await backend.complete(HELLO, SHORT)
    assert done.text == "ok"
    first, second = scripted.chat_requests
    assert second - first >= 0.95
    await backend.aclose()


async def test_rate_limited_after_the_retries(scripted: ScriptedServer) -> None:
    limited = Reply(
        status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "0"}
    )
    scripted.script = [limited] * 3
    backend = backend_for(scripted.url, max_retries=2)
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "rate_limited" and "3 tries" in caught.value.message
    assert len(scripted.chat_requests) == 3
    await backend.aclose()


async def test_a_long_retry_after_fails_at_once(scripted: ScriptedServer) -> None:
    scripted.script = [Reply(status=429, body={}, headers={"Retry-After": "3600"})]
    backend = backend_for(scripted.url)
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "rate_limited" and "3600" in caught.value.message
    await backend.aclose()


async def test_no_retry_once_tokens_were_streamed(scripted: ScriptedServer) -> None:
    scripted.script = [Reply(stream=["one", " two", " three"], cut_after=2), Reply(stream=["x"])]
    backend = backend_for(scripted.url)
    seen: list[str] = []
    with pytest.raises(BackendError) as caught:
        async for event in backend.stream(HELLO, SHORT):
            assert isinstance(event, TokenEvent)
            seen.append(event.text)
    assert caught.value.kind == "unavailable"
    assert seen == ["one", " two"]
    assert len(scripted.chat_requests) == 1
    await backend.aclose()


async def test_bad_request_is_not_retried(scripted: ScriptedServer) -> None:
    scripted.script = [Reply(status=400, body={"error": {"message": "unknown field"}})]
    backend = backend_for(scripted.url)
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "bad_request"
    assert len(scripted.chat_requests) == 1
    await backend.aclose()


async def test_openai_style_context_error(scripted: ScriptedServer) -> None:
    body = {
        "error": {
            "message": "This model's maximum context length is 4096 tokens.",
            "code": "context_length_exceeded",
        }
    }
    scripted.script = [Reply(status=400, body=body)]
    backend = backend_for(scripted.url)
    with pytest.raises(BackendError) as caught:
        await backend.complete(HELLO, SHORT)
    assert caught.value.kind == "context_overflow"
    await backend.aclose()


async def test_without_tokenize_it_estimates_and_remembers(scripted: ScriptedServer) -> None:
    backend = backend_for(scripted.url)
    assert await backend.count_tokens("some text here") == estimate_tokens("some text here")
    assert await backend.count_message_tokens(HELLO) == estimate_message_tokens(HELLO)
    assert await backend.count_tokens("more text") == estimate_tokens("more text")
    assert [path for path, _ in scripted.requests] == ["/tokenize"]
    assert not backend.capabilities.token_count
    await backend.aclose()


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("2") == 2
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after_seconds(later) or 0) <= 30
