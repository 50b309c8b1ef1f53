"""Exact token counts from a llama.cpp-style server (`/tokenize`, `/apply-template`).

Prompt assembly counts the same messages every turn, so counts are cached per
text (LRU, keyed by a digest so long texts are not kept alive). A message list
is counted as the sum of its cached content counts plus the chat template's
overhead, measured once per server by rendering a few probe conversations.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from personae.llm.base import ChatMessage, Role

_PROBE = "x"


class TokenizerUnavailable(Exception):
    """The server has no usable `/tokenize` or `/apply-template` endpoint."""


@dataclass(frozen=True)
class TemplateShape:
    """What a chat template adds around message contents, in tokens."""

    base: int  # once per prompt: the generation prompt ("<|im_start|>assistant\n")
    per_message: dict[Role, int]  # per message: role markers and separators
    default_system: int  # added when the conversation does not open with a system message


class TokenCounter:
    """Counts tokens through a llama.cpp-style HTTP server, caching per text."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        root_url: str,
        headers: dict[str, str] | None = None,
        cache_size: int = 8192,
    ) -> None:
        self._client = client
        self._root = root_url.rstrip("/")
        self._headers = headers or {}
        self._cache: OrderedDict[bytes, int] = OrderedDict()
        self._cache_size = cache_size
        self._shape: TemplateShape | None = None

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(self._root + path, json=payload, headers=self._headers)
        if response.status_code in (404, 405, 501):
            raise TokenizerUnavailable(f"{self._root}{path} answered {response.status_code}")
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise TokenizerUnavailable(f"{self._root}{path} did not answer a JSON object")
        return data

    async def _tokenize(self, text: str) -> int:
        data = await self._post("/tokenize", {"content": text})
        tokens = data.get("tokens")
        if not isinstance(tokens, list):
            raise TokenizerUnavailable(f"{self._root}/tokenize answered without tokens")
        return len(tokens)

    async def count(self, text: str) -> int:
        """Tokens in `text` (no BOS/special tokens added), cached."""
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        count = await self._tokenize(text)
        self._cache[key] = count
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return count

    async def count_prompt(self, messages: Sequence[ChatMessage]) -> int:
        """Exact prompt tokens: render the chat template, then tokenize (not cached)."""
        data = await self._post(
            "/apply-template",
            {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]},
        )
        prompt = data.get("prompt")
        if not isinstance(prompt, str):
            raise TokenizerUnavailable(f"{self._root}/apply-template answered without a prompt")
        return await self._tokenize(prompt)

    async def shape(self) -> TemplateShape:
        """Measure the template's overhead once, from a few tiny conversations."""
        if self._shape is not None:
            return self._shape
        system: ChatMessage = {"role": "system", "content": _PROBE}
        user: ChatMessage = {"role": "user", "content": _PROBE}
        assistant: ChatMessage = {"role": "assistant", "content": _PROBE}
        probe = await self.count(_PROBE)
        only_system = await self.count_prompt([system])
        system_user = await self.count_prompt([system, user])
        # An assistant message is probed before a user turn: as the last message
        # llama.cpp would treat it as a prefill to continue, without separators.
        with_assistant = await self.count_prompt([system, assistant, user])
        only_user = await self.count_prompt([user])
        per_user = system_user - only_system - probe
        per_assistant = with_assistant - system_user - probe
        # ChatML-like templates wrap every role the same way; the system role
        # cannot be measured apart from the base, so it borrows the user's.
        base = only_system - probe - per_user
        default_system = only_user - (base + per_user + probe)
        self._shape = TemplateShape(
            base=max(base, 0),
            per_message={"system": per_user, "user": per_user, "assistant": per_assistant},
            default_system=max(default_system, 0),
        )
        return self._shape

    async def count_messages(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens for `messages` from cached per-text counts plus template overhead."""
        shape = await self.shape()
        total = shape.base
        if not messages or messages[0]["role"] != "system":
            total += shape.default_system
        for message in messages:
            total += shape.per_message[message["role"]] + await self.count(message["content"])
        return total
