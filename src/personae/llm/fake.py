"""A deterministic backend for tests: queued replies or an echo, streamed word by word."""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from personae.config import BackendSettings
from personae.llm.base import (
    Backend,
    BackendError,
    Capabilities,
    ChatMessage,
    DoneEvent,
    GenerationParams,
    StreamEvent,
    TokenEvent,
    Usage,
)

# A "token" is a word with the whitespace after it, so joining tokens gives the text back.
_WORD = re.compile(r"\s*\S+\s*")


@dataclass(frozen=True)
class FakeCall:
    """One request the fake backend received."""

    messages: list[ChatMessage]
    params: GenerationParams


def fake_reply(messages: Sequence[ChatMessage]) -> str:
    """The default reply: derived from the last user message, the same every time."""
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return f"You said: {last}" if last.strip() else "Hello!"


class FakeBackend(Backend):
    """Replies from `enqueue()`d texts or errors, else an echo; records every call."""

    def __init__(
        self,
        name: str = "fake",
        *,
        model: str = "fake-model",
        token_delay_s: float = 0.0,
        context_window: int = 8192,
    ) -> None:
        self.name = name
        self.model = model
        self.token_delay_s = token_delay_s
        self.capabilities = Capabilities(
            streaming=True,
            token_count=True,
            json_schema=False,
            context_window=context_window,
            prefix_cache=False,
        )
        self.calls: list[FakeCall] = []
        self._queue: deque[str | BackendError] = deque()
        self.closed = False

    def enqueue(self, *replies: str | BackendError) -> None:
        """Queue replies (or errors to raise) for the next calls, in order."""
        self._queue.extend(replies)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Stream the next queued reply (or the echo) word by word."""
        started = time.perf_counter()
        self.calls.append(
            FakeCall([ChatMessage(role=m["role"], content=m["content"]) for m in messages], params)
        )
        reply = self._queue.popleft() if self._queue else fake_reply(messages)
        if isinstance(reply, BackendError):
            raise reply
        words = _WORD.findall(reply)
        finish_reason = "stop"
        if len(words) > params.max_tokens:
            words, finish_reason = words[: params.max_tokens], "length"
        ttft_ms: float | None = None
        for word in words:
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            if ttft_ms is None:
                ttft_ms = (time.perf_counter() - started) * 1000
            yield TokenEvent(word)
        yield DoneEvent(
            text="".join(words),
            finish_reason=finish_reason,
            usage=Usage(
                prompt_tokens=await self.count_message_tokens(messages),
                completion_tokens=len(words),
            ),
            backend=self.name,
            model=self.model,
            ttft_ms=ttft_ms,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    async def count_tokens(self, text: str) -> int:
        """Whitespace-separated words."""
        return len(text.split())

    async def count_message_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Words plus 4 per message and 3 for the reply's opening, like a chat template."""
        return 3 + sum(4 + len(m["content"].split()) for m in messages)

    async def aclose(self) -> None:
        """Mark the backend closed (tests check this)."""
        self.closed = True


def from_settings(name: str, settings: BackendSettings) -> FakeBackend:
    """A fake backend configured like any other (the `fake` kind's plugin entry point)."""
    return FakeBackend(name, context_window=settings.context_window)
