"""An OpenAI-compatible endpoint where each character the caller may use is a model.

`model` is `character:<handle>`; the request's user/assistant messages are the history, its
system messages are added to the character's own instructions. Nothing is stored.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from personae.accounts.service import default_persona
from personae.characters.prompting import generation_params
from personae.characters.service import get_character, list_characters
from personae.chat.access import blocked_for, require_chat
from personae.chat.generation import build_prompt
from personae.chat.prompt import Turn
from personae.deps import DB, CurrentAccount, State
from personae.errors import Invalid, NotFound
from personae.instance.limits import with_overrides
from personae.llm.base import BACKEND_STATUS, BackendError, DoneEvent, TokenEvent
from personae.openai_compat.schemas import (
    AssistantMessage,
    ChatCompletion,
    Choice,
    ModelList,
    ModelOut,
    UsageOut,
)

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
PREFIX = "character:"


class ChatMessageIn(BaseModel):
    """One message of an OpenAI chat request (text content only)."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[str, StringConstraints(max_length=100_000)] | list[dict[str, Any]]

    def text(self) -> str:
        """The message's text; content parts other than text are refused."""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise Invalid("only text content parts are supported", "unsupported_content")
            parts.append(part["text"])
        return "".join(parts)


class StreamOptions(BaseModel):
    """OpenAI stream options."""

    include_usage: bool = False


MAX_SCHEMA_CHARS = 32_000  # a JSON schema becomes a grammar; keep it a reply's size


class JsonSchemaFormat(BaseModel):
    """OpenAI's `response_format.json_schema`: the schema the reply must follow."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    name: Annotated[str, StringConstraints(max_length=64)] = "response"
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    """OpenAI's `response_format`: plain text, any JSON object, or JSON following a schema."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    def schema_for_backend(self) -> dict[str, Any] | None:
        """The JSON schema to constrain the reply with, or None for free text."""
        if self.type == "text":
            return None
        if self.type == "json_object":
            return {"type": "object"}
        if self.json_schema is None or not self.json_schema.schema_:
            raise Invalid(
                "response_format.json_schema.schema is required for type json_schema",
                "bad_response_format",
            )
        schema = self.json_schema.schema_
        if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
            raise Invalid(
                f"response_format's schema is over {MAX_SCHEMA_CHARS} characters",
                "bad_response_format",
            )
        return schema


class ChatCompletionIn(BaseModel):
    """The subset of the OpenAI chat completion request we honour."""

    model_config = ConfigDict(extra="ignore")
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    messages: Annotated[list[ChatMessageIn], Field(min_length=1, max_length=1000)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32_768)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | Annotated[list[str], Field(max_length=8)] | None = None
    seed: int | None = None
    response_format: ResponseFormat | None = None


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status
    )


@router.get("/models")
async def models(account: CurrentAccount, db: DB) -> ModelList:
    """Characters the caller may chat with, as models."""
    rows = await list_characters(db, account, limit=200)
    blocked = await blocked_for(db, account)
    rows = [c for c in rows if c.owner_id == account.id or c.id not in blocked]
    return ModelList(
        data=[
            ModelOut(id=f"{PREFIX}{c.handle}", created=int(c.created_at.timestamp())) for c in rows
        ]
    )


@router.post(
    "/chat/completions",
    response_model=None,
    responses={
        200: {
            "model": ChatCompletion,
            "description": "The completion; with `stream`, text/event-stream chunks instead.",
        }
    },
)
async def chat_completions(
    body: ChatCompletionIn, account: CurrentAccount, db: DB, state: State
) -> JSONResponse | StreamingResponse | ChatCompletion:
    """Chat with a character in the OpenAI format, streamed or not."""
    if not body.model.startswith(PREFIX):
        return _error(
            404, f"unknown model {body.model!r}; use 'character:<handle>'", "model_not_found"
        )
    try:
        character = await get_character(db, account, body.model[len(PREFIX) :])
        # As in /api/v1: a block between the caller and its operator hides the character.
        await require_chat(db, account, character)
    except NotFound:
        return _error(404, f"the model {body.model!r} does not exist", "model_not_found")
    turns = [Turn(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise Invalid("the last message must come from the user", "last_message_not_user")
    extra = "\n\n".join(m.text() for m in body.messages if m.role in ("system", "developer"))
    backend = state.backends.get(character.backend)
    params = generation_params(character, state.settings.reply_max_tokens)
    if body.max_completion_tokens or body.max_tokens:
        params.max_tokens = int(body.max_completion_tokens or body.max_tokens or 0)
    # What one caller may make the model write is the instance's to decide, not the client's.
    cap = (await with_overrides(db, state.settings)).chat_max_tokens
    params.max_tokens = min(params.max_tokens, cap)
    if body.response_format is not None:
        params.json_schema = body.response_format.schema_for_backend()
    if body.temperature is not None:
        params.temperature = body.temperature
    if body.top_p is not None:
        params.top_p = body.top_p
    if body.stop:
        params.stop = [body.stop] if isinstance(body.stop, str) else list(body.stop)
    params.seed = body.seed
    persona = await default_persona(db, account)
    prompt = await build_prompt(
        db,
        character,
        persona.name,
        persona.description,
        turns,
        backend,
        params.max_tokens,
        f"openai:{account.id}:{character.id}",
        extra,
    )
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    model = body.model
    if not body.stream:
        try:
            done = await backend.complete(prompt.messages, params)
        except BackendError as exc:
            return _error(BACKEND_STATUS.get(exc.kind, 502), exc.message, exc.kind)
        return ChatCompletion(
            id=completion_id,
            created=created,
            model=model,
            choices=[
                Choice(
                    message=AssistantMessage(content=done.text), finish_reason=done.finish_reason
                )
            ],
            usage=UsageOut.of(done),
        )
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()

    async def events() -> AsyncIterator[bytes]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for event in backend.stream(prompt.messages, params):
                if isinstance(event, TokenEvent) and event.text:
                    yield chunk({"content": event.text})
                elif isinstance(event, DoneEvent):
                    yield chunk({}, event.finish_reason)
                    if include_usage:
                        payload = {
                            "id": completion_id,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "choices": [],
                            "usage": UsageOut.of(event).model_dump(),
                        }
                        yield f"data: {json.dumps(payload)}\n\n".encode()
        except BackendError as exc:
            error = {"error": {"message": exc.message, "type": "server_error", "code": exc.kind}}
            yield f"data: {json.dumps(error)}\n\n".encode()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")
