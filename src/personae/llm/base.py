"""The one small interface every model backend implements, and the events it yields.

A backend turns a list of chat messages into a stream of events: zero or more
`TokenEvent`s, then exactly one `DoneEvent`. Failures are `BackendError`s with a
`kind` the caller can act on and a message a person can act on.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypedDict

Role = Literal["system", "user", "assistant"]

ErrorKind = Literal[
    "unavailable", "timeout", "context_overflow", "bad_request", "rate_limited", "internal"
]

# Estimates used when a backend cannot tokenize: ~3.5 characters per token for
# English text, plus the chat template's wrapping (role markers, separators).
CHARS_PER_TOKEN = 3.5
MESSAGE_OVERHEAD_TOKENS = 4
REPLY_PRIMING_TOKENS = 3


class ChatMessage(TypedDict):
    """One message of a conversation as backends see it."""

    role: Role
    content: str


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so callers can choose without trying."""

    streaming: bool = True
    token_count: bool = False
    json_schema: bool = False
    context_window: int = 8192
    prefix_cache: bool = False


# Which samplers a server accepts (`chat_request` sends only those): "openai" the OpenAI
# API's own, "vllm" also min_p, top_k and repetition_penalty, "llamacpp" everything.
SamplerDialect = Literal["openai", "vllm", "llamacpp"]
SAMPLER_DIALECTS: tuple[SamplerDialect, ...] = ("openai", "vllm", "llamacpp")


@dataclass(frozen=True)
class Samplers:
    """Samplers beyond temperature and top_p; None leaves one to whoever comes next.

    A character's values win over its backend's defaults (`over`), which win over the
    server's own.
    """

    min_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    dry_multiplier: float | None = None
    dry_base: float | None = None
    dry_allowed_length: int | None = None

    def over(self, defaults: Samplers) -> Samplers:
        """These samplers, with `defaults` filling the ones left unset."""
        return Samplers(
            **{
                f.name: getattr(defaults, f.name)
                if getattr(self, f.name) is None
                else getattr(self, f.name)
                for f in fields(self)
            }
        )

    def as_dict(self) -> dict[str, float | int]:
        """The samplers that are set, by name."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}


@dataclass
class GenerationParams:
    """Sampling and output settings for one generation."""

    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    json_schema: dict[str, Any] | None = None
    samplers: Samplers = field(default_factory=Samplers)


@dataclass(frozen=True)
class Usage:
    """Token accounting reported by the backend (cached_tokens: prompt tokens reused)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class TokenEvent:
    """A piece of generated text."""

    text: str


@dataclass(frozen=True)
class DoneEvent:
    """The end of a generation: the whole text and what it cost."""

    text: str
    finish_reason: str
    usage: Usage
    backend: str
    model: str
    ttft_ms: float | None
    duration_ms: float


StreamEvent = TokenEvent | DoneEvent


# How each kind of backend failure answers over HTTP (one table for every route).
BACKEND_STATUS = {
    "unavailable": 503,
    "timeout": 504,
    "context_overflow": 422,
    "bad_request": 422,
    "rate_limited": 429,
    "internal": 502,
}


class BackendError(Exception):
    """A failure talking to a model backend; `kind` says what sort, `message` what to do."""

    def __init__(self, kind: ErrorKind, message: str, backend: str = "") -> None:
        super().__init__(f"[{backend or 'backend'}] {kind}: {message}")
        self.kind: ErrorKind = kind
        self.message = message
        self.backend = backend


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: characters / 3.5, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_message_tokens(messages: Sequence[ChatMessage]) -> int:
    """Estimate a prompt's size including per-message template overhead."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message["content"])
    return total


class Backend(ABC):
    """A model backend. Subclasses implement `stream`; the rest has sensible defaults."""

    name: str
    model: str
    capabilities: Capabilities
    # Which samplers the server accepts, and what this backend sends when a character
    # sets none (plugins that do not care keep these).
    sampler_dialect: SamplerDialect = "openai"
    sampler_defaults: Samplers = Samplers()
    seed_default: int | None = None

    @abstractmethod
    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Generate a reply: TokenEvents, then exactly one DoneEvent; raises BackendError.

        Implementations are async generators. Closing the generator early (the
        client went away) must stop or abandon the generation without leaking.
        """

    async def complete(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> DoneEvent:
        """Generate a whole reply without streaming it."""
        async with aclosing(self.stream(messages, params)) as events:
            async for event in events:
                if isinstance(event, DoneEvent):
                    return event
        raise BackendError("internal", "The backend ended without a final event.", self.name)

    async def count_tokens(self, text: str) -> int:
        """Tokens in `text`: exact when capabilities.token_count, else an estimate."""
        return estimate_tokens(text)

    async def count_message_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens for `messages`, including the chat template's overhead."""
        return estimate_message_tokens(messages)

    async def aclose(self) -> None:
        """Release connections and other resources held by this backend."""
        return None
