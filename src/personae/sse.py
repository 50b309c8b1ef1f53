"""Turning typed service events into server-sent events (the only place that does)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

from fastapi.sse import EventSourceResponse, format_sse_event

from personae.chat.events import ChatEvent, event_name


def encode(event: ChatEvent) -> bytes:
    """One event in SSE wire format, its fields as JSON data."""
    payload = json.dumps(dataclasses.asdict(event), ensure_ascii=False)
    return format_sse_event(event=event_name(event), data_str=payload)


def sse_response(events: AsyncIterator[ChatEvent]) -> EventSourceResponse:
    """A streaming response for chat events."""

    async def body() -> AsyncIterator[bytes]:
        async for event in events:
            yield encode(event)

    return EventSourceResponse(
        body(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
