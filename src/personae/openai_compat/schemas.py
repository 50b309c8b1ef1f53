"""The JSON shapes of the OpenAI-compatible endpoint, as OpenAI's clients expect them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from personae.llm.base import DoneEvent


class ModelOut(BaseModel):
    """A character the caller may chat with, as a model."""

    id: str  # character:<handle>
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "personae"


class ModelList(BaseModel):
    """The models the caller may use."""

    object: Literal["list"] = "list"
    data: list[ModelOut]


class PromptTokensDetails(BaseModel):
    """How much of the prompt the backend reused from its cache."""

    cached_tokens: int


class UsageOut(BaseModel):
    """What a completion cost, in tokens."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails

    @classmethod
    def of(cls, done: DoneEvent) -> UsageOut:
        """The usage of a finished generation."""
        usage = done.usage
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.prompt_tokens + usage.completion_tokens,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
        )


class AssistantMessage(BaseModel):
    """The character's reply."""

    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    """The one reply of a non-streamed completion."""

    index: int = 0
    message: AssistantMessage
    finish_reason: str


class ChatCompletion(BaseModel):
    """A non-streamed chat completion."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: UsageOut
