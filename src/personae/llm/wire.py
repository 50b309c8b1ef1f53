"""The OpenAI chat-completions wire format, shared by the embedded and remote backends.

Both xllamacpp (in process) and OpenAI-compatible servers (over HTTP) take the
same request body and produce the same chunk dicts, so building requests,
reading chunks and mapping error bodies lives here once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from personae.llm.base import (
    BackendError,
    ChatMessage,
    DoneEvent,
    ErrorKind,
    GenerationParams,
    SamplerDialect,
    Samplers,
    Usage,
)

# Phrases servers use when a prompt does not fit: llama.cpp ("exceeds the
# available context size", type exceed_context_size_error), OpenAI
# (code context_length_exceeded), vLLM ("maximum context length"), SGLang
# ("longer than the model's context length").
_CONTEXT_OVERFLOW = re.compile(
    r"context[ _](length|size|window)|maximum context|exceed_context_size|too many tokens",
    re.IGNORECASE,
)


# Each dialect's samplers and the names its servers give them in a request body.
# OpenAI documents only the two penalties; vLLM adds min_p, top_k and its
# repetition_penalty; llama.cpp's server takes them all under its own names.
_OPENAI = {"frequency_penalty": "frequency_penalty", "presence_penalty": "presence_penalty"}
_VLLM = {**_OPENAI, "min_p": "min_p", "top_k": "top_k", "repeat_penalty": "repetition_penalty"}
_LLAMACPP = {
    **_OPENAI,
    "min_p": "min_p",
    "top_k": "top_k",
    "repeat_penalty": "repeat_penalty",
    "dry_multiplier": "dry_multiplier",
    "dry_base": "dry_base",
    "dry_allowed_length": "dry_allowed_length",
}
DIALECT_FIELDS: dict[SamplerDialect, dict[str, str]] = {
    "openai": _OPENAI,
    "vllm": _VLLM,
    "llamacpp": _LLAMACPP,
}


def effective_params(
    params: GenerationParams, defaults: Samplers, seed: int | None = None
) -> GenerationParams:
    """`params` with a backend's sampler defaults (and seed) filling what it leaves unset.

    Structured outputs (verdicts, scores) keep only their own settings: their keys and
    braces repeat by design, and penalties against repetition would only bend them.
    """
    if params.json_schema is not None:
        return params
    return replace(
        params,
        samplers=params.samplers.over(defaults),
        seed=params.seed if params.seed is not None else seed,
    )


def chat_request(
    messages: Sequence[ChatMessage],
    params: GenerationParams,
    *,
    model: str | None = None,
    stream: bool = True,
    dialect: SamplerDialect = "openai",
) -> dict[str, Any]:
    """Build a /v1/chat/completions request body with the samplers `dialect` accepts."""
    body: dict[str, Any] = {
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "stream": stream,
    }
    if model:
        body["model"] = model
    if stream:
        body["stream_options"] = {"include_usage": True}
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    names = DIALECT_FIELDS[dialect]
    for sampler, value in params.samplers.as_dict().items():
        if sampler in names:
            body[names[sampler]] = value
    if params.json_schema is not None:
        # The OpenAI form; llama.cpp also accepts a bare "json_schema" field but
        # remote servers (vLLM, OpenAI) only know this one.
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": params.json_schema, "strict": True},
        }
    return body


def is_context_overflow(message: str, error_type: str = "", code: str = "") -> bool:
    """Whether an error body describes a prompt that does not fit the context."""
    return any(_CONTEXT_OVERFLOW.search(s) for s in (message, error_type, code) if s)


def error_from_body(
    body: Any, status: int | None, backend: str, where: str, setting_prefix: str
) -> BackendError:
    """Map an OpenAI-style error body (or status alone) to a BackendError with advice."""
    err = body.get("error", body) if isinstance(body, dict) else {}
    if not isinstance(err, dict):
        err = {"message": str(err)}
    message = str(err.get("message") or body or "no details")
    error_type = str(err.get("type") or "")
    code_value = err.get("code")
    code = str(code_value) if isinstance(code_value, str) else ""
    if status is None and isinstance(code_value, int):
        status = code_value
    if is_context_overflow(message, error_type, code):
        n_prompt, n_ctx = err.get("n_prompt_tokens"), err.get("n_ctx")
        size = f" ({n_prompt} tokens for a context of {n_ctx})" if n_prompt and n_ctx else ""
        return BackendError(
            "context_overflow",
            f"The prompt is too long for {where}{size}: {message}. "
            "Shorten the conversation history or use a model with a larger context.",
            backend,
        )
    kind: ErrorKind
    if status == 429:
        kind, advice = "rate_limited", "wait a moment, or raise the server's rate limit"
    elif status in (401, 403):
        kind, advice = "unavailable", f"check {setting_prefix}API_KEY"
    elif status == 404:
        kind, advice = "unavailable", f"check {setting_prefix}BASE_URL and {setting_prefix}MODEL"
    elif status is not None and 400 <= status < 500:
        kind, advice = "bad_request", "the request was refused; check the generation settings"
    elif status in (502, 503, 504):
        kind, advice = "unavailable", "check that the model server is running and healthy"
    else:
        kind, advice = "internal", "see the model server's log"
    shown = f"HTTP {status}" if status else "an error"
    return BackendError(kind, f"{where} answered {shown}: {message}; {advice}.", backend)


class ChunkReader:
    """Accumulates streamed chat-completion chunks into text, usage and timing."""

    def __init__(self, backend: str, model: str, started: float) -> None:
        self.backend = backend
        self.model = model
        self.started = started
        self.parts: list[str] = []
        self.finish_reason = ""
        self.usage: Usage | None = None
        self.timings: dict[str, Any] | None = None
        self.ttft_ms: float | None = None
        self.pieces = 0

    def feed(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; return the new text it carries ("" when none)."""
        if chunk.get("model") and not self.model:
            self.model = str(chunk["model"])
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = usage_from(usage)
        timings = chunk.get("timings")
        if isinstance(timings, dict):
            self.timings = timings
        text = ""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or choice.get("message") or {}
            content = delta.get("content")
            if isinstance(content, str):
                text += content
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if text:
            if self.ttft_ms is None:
                self.ttft_ms = (time.perf_counter() - self.started) * 1000
            self.parts.append(text)
            self.pieces += 1
        return text

    def done(self) -> DoneEvent:
        """The final event; usage falls back to counted pieces when the server sent none."""
        usage = self.usage or Usage(completion_tokens=self.pieces)
        return DoneEvent(
            text="".join(self.parts),
            finish_reason=self.finish_reason or "stop",
            usage=usage,
            backend=self.backend,
            model=self.model,
            ttft_ms=self.ttft_ms,
            duration_ms=(time.perf_counter() - self.started) * 1000,
        )


def usage_from(usage: dict[str, Any]) -> Usage:
    """Read an OpenAI usage object, including prompt_tokens_details.cached_tokens."""
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
    )


def setting_prefix(name: str) -> str:
    """The environment-variable prefix for one backend's settings."""
    return f"PERSONAE_BACKENDS__{name}__"
