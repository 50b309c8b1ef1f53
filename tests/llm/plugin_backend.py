"""A backend plugin as a third party would write one (loaded through a test entry point)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

from personae.config import BackendSettings
from personae.llm import (
    Backend,
    Capabilities,
    ChatMessage,
    DoneEvent,
    GenerationParams,
    StreamEvent,
    TokenEvent,
    Usage,
)


class ParrotBackend(Backend):
    """Repeats the last thing said, after a greeting taken from the backend's options."""

    def __init__(self, name: str, settings: BackendSettings) -> None:
        self.name = name
        self.model = "parrot-1"
        self.greeting = str(settings.options.get("greeting", "Squawk"))
        self.capabilities = Capabilities(context_window=settings.context_window)

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """The greeting, then the last user message, a word at a time."""
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        words = [f"{self.greeting}! ", *(f"{w} " for w in last.split())]
        for word in words:
            yield TokenEvent(word)
        yield DoneEvent(
            text="".join(words).strip(),
            finish_reason="stop",
            usage=Usage(prompt_tokens=await self.count_message_tokens(messages)),
            backend=self.name,
            model=self.model,
            ttft_ms=0.0,
            duration_ms=0.0,
        )
