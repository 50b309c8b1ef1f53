"""A backend for any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, OpenAI...).

It speaks the wire format with httpx rather than the `openai` SDK: httpx is
already a dependency, and retrying only before the first token, honouring
Retry-After and mapping errors to our kinds needs the raw responses anyway.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from personae.config import BackendSettings
from personae.llm.base import (
    Backend,
    BackendError,
    Capabilities,
    ChatMessage,
    GenerationParams,
    Samplers,
    StreamEvent,
    TokenEvent,
    estimate_message_tokens,
    estimate_tokens,
)
from personae.llm.tokens import TokenCounter, TokenizerUnavailable
from personae.llm.wire import (
    ChunkReader,
    chat_request,
    effective_params,
    error_from_body,
    setting_prefix,
)

# 429 and server errors are worth another try; 501 (not implemented) is not.
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: seconds, or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


async def _sse_payloads(response: httpx.Response) -> AsyncIterator[str]:
    """The `data:` payloads of a server-sent-event stream, one per event."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield "\n".join(data)


class OpenAICompatBackend(Backend):
    """Chat completions from an OpenAI-compatible HTTP server."""

    def __init__(
        self,
        name: str,
        settings: BackendSettings,
        *,
        retry_base_s: float = 0.5,
        retry_max_s: float = 30.0,
    ) -> None:
        self.name = name
        self._settings = settings
        self._prefix = setting_prefix(name)
        self._base_url = settings.base_url.rstrip("/")
        # llama.cpp-style servers serve /tokenize beside /v1, not under it.
        self._root_url = self._base_url.removesuffix("/v1")
        self.model = settings.model
        self.capabilities = Capabilities(
            streaming=True,
            token_count=False,  # becomes True once the server's /tokenize answers
            json_schema=True,
            context_window=settings.context_window,
            prefix_cache=False,
        )
        # A remote server knows its model better than we do: only what the admin set.
        self.sampler_dialect = settings.samplers or "openai"
        if settings.sampler_defaults is not None:
            self.sampler_defaults = Samplers(
                **settings.sampler_defaults.model_dump(exclude={"seed"})
            )
            self.seed_default = settings.sampler_defaults.seed
        self._retry_base_s = retry_base_s
        self._retry_max_s = retry_max_s
        self._client: httpx.AsyncClient | None = None
        self._counter: TokenCounter | None = None
        self._tokenizer_ok: bool | None = None  # None: not tried yet

    def _headers(self) -> dict[str, str]:
        key = self._settings.api_key.get_secret_value()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Created on first use so it binds to the loop that uses it.
            self._client = httpx.AsyncClient(timeout=self._settings.timeout_s)
        return self._client

    def _where(self) -> str:
        return f"the model server at {self._base_url}"

    def _backoff(self, attempt: int) -> float:
        # Exponential with full jitter, so many clients do not retry in lockstep.
        return random.uniform(0, min(self._retry_max_s, self._retry_base_s * 2**attempt))

    def _timeout_error(self) -> BackendError:
        return BackendError(
            "timeout",
            f"{self._where()} did not answer within {self._settings.timeout_s:g} s; check that "
            f"it is running or raise {self._prefix}TIMEOUT_S.",
            self.name,
        )

    def _unreachable_error(self, exc: Exception, tries: int) -> BackendError:
        return BackendError(
            "unavailable",
            f"Could not reach {self._where()} after {tries} tries ({exc!r}); check that it "
            f"is running and that {self._prefix}BASE_URL is right.",
            self.name,
        )

    async def _open(self, body: dict[str, Any]) -> httpx.Response:
        """Send the request, retrying before any token: 429, 5xx and connection errors."""
        if not self._base_url:
            raise BackendError(
                "unavailable", f"No server configured; set {self._prefix}BASE_URL.", self.name
            )
        client = self._http()
        url = self._base_url + "/chat/completions"
        attempt = 0
        while True:
            try:
                request = client.build_request("POST", url, json=body, headers=self._headers())
                response = await client.send(request, stream=True)
            except httpx.ConnectTimeout as exc:
                if attempt >= self._settings.max_retries:
                    raise self._timeout_error() from exc
                delay = self._backoff(attempt)
            except httpx.TimeoutException as exc:
                # The server took the request but is slow: another try would only add load.
                raise self._timeout_error() from exc
            except httpx.TransportError as exc:
                if attempt >= self._settings.max_retries:
                    raise self._unreachable_error(exc, attempt + 1) from exc
                delay = self._backoff(attempt)
            else:
                if response.status_code == 200:
                    return response
                await response.aread()
                await response.aclose()
                try:
                    error_body: Any = response.json()
                except ValueError:
                    error_body = response.text[:500]
                error = error_from_body(
                    error_body, response.status_code, self.name, self._where(), self._prefix
                )
                if (
                    response.status_code not in _RETRY_STATUSES
                    or attempt >= self._settings.max_retries
                ):
                    if attempt:
                        error.message += f" (after {attempt + 1} tries)"
                    raise error
                asked = retry_after_seconds(response.headers.get("retry-after"))
                if asked is not None and asked > self._retry_max_s:
                    error.message += f" The server asks to wait {asked:.0f} s before retrying."
                    raise error
                delay = asked if asked is not None else self._backoff(attempt)
            attempt += 1
            await asyncio.sleep(delay)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream a reply from the server; retried only before the first token."""
        started = time.perf_counter()
        params = effective_params(params, self.sampler_defaults, self.seed_default)
        body = chat_request(
            messages, params, model=self.model or None, stream=True, dialect=self.sampler_dialect
        )
        response = await self._open(body)
        reader = ChunkReader(self.name, self.model, started)
        ended = False
        try:
            async for payload in _sse_payloads(response):
                if payload.strip() == "[DONE]":
                    ended = True
                    break
                try:
                    chunk = json.loads(payload)
                except ValueError:
                    continue  # keep-alive comments and other noise
                if not isinstance(chunk, dict):
                    continue
                if "error" in chunk:
                    raise error_from_body(chunk, None, self.name, self._where(), self._prefix)
                text = reader.feed(chunk)
                if text:
                    yield TokenEvent(text)
        except httpx.TimeoutException as exc:
            raise self._timeout_error() from exc
        except httpx.TransportError as exc:
            raise BackendError(
                "unavailable",
                f"The connection to {self._where()} broke after {len(reader.parts)} pieces of "
                f"the reply ({exc!r}); try again.",
                self.name,
            ) from exc
        finally:
            # Closing the response closes the connection, which stops the server's work.
            await response.aclose()
        if not ended and not reader.finish_reason:
            # Without HTTP framing (no length, no chunking) a dropped connection looks
            # like a normal end; a reply with neither [DONE] nor a finish reason was cut.
            raise BackendError(
                "unavailable",
                f"The reply from {self._where()} stopped after {len(reader.parts)} pieces "
                "without finishing; try again.",
                self.name,
            )
        yield reader.done()

    async def _token_counter(self) -> TokenCounter | None:
        if self._tokenizer_ok is False or not self._root_url:
            return None
        if self._counter is None:
            self._counter = TokenCounter(self._http(), self._root_url, self._headers())
        return self._counter

    def _tokenizer_failed(self, exc: Exception) -> None:
        if isinstance(exc, TokenizerUnavailable | httpx.HTTPStatusError):
            self._tokenizer_ok = False  # remember: this server has no llama.cpp tokenizer
        # Transport errors may pass; estimate this time and try again next time.

    def _tokenizer_worked(self) -> None:
        if not self._tokenizer_ok:
            self._tokenizer_ok = True
            self.capabilities = Capabilities(
                streaming=True,
                token_count=True,
                json_schema=True,
                context_window=self._settings.context_window,
                prefix_cache=False,
            )

    async def count_tokens(self, text: str) -> int:
        """Exact via the server's /tokenize when it has one, else an estimate."""
        counter = await self._token_counter()
        if counter is not None:
            try:
                count = await counter.count(text)
            except (httpx.HTTPError, TokenizerUnavailable, ValueError) as exc:
                self._tokenizer_failed(exc)
            else:
                self._tokenizer_worked()
                return count
        return estimate_tokens(text)

    async def count_message_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens under the server's chat template when it can say, else an estimate."""
        counter = await self._token_counter()
        if counter is not None:
            try:
                count = await counter.count_messages(messages)
            except (httpx.HTTPError, TokenizerUnavailable, ValueError) as exc:
                self._tokenizer_failed(exc)
            else:
                self._tokenizer_worked()
                return count
        return estimate_message_tokens(messages)

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._counter = None
