"""Server-sent events: the wire format and the streaming response, for every stream.

Chat replies (typed service events) and the web feed's live timelines both stream
through here, so the headers and the framing are the same everywhere.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

from fastapi.sse import EventSourceResponse, format_sse_event

from personae.chat.events import ChatEvent, event_name

# Proxies must neither cache a stream nor buffer it (nginx honours X-Accel-Buffering).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(
    *,
    event: str | None = None,
    data: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
) -> bytes:
    """One server-sent event (or a comment line) in wire format."""
    return format_sse_event(event=event, data_str=data, id=id, retry=retry, comment=comment)


def stream(body: AsyncIterator[bytes]) -> EventSourceResponse:
    """A response streaming already framed events, never cached or buffered on the way."""
    return EventSourceResponse(body, headers=SSE_HEADERS)


def encode(event: ChatEvent) -> bytes:
    """One chat event in SSE wire format, its fields as JSON data."""
    payload = json.dumps(dataclasses.asdict(event), ensure_ascii=False)
    return frame(event=event_name(event), data=payload)


def sse_response(events: AsyncIterator[ChatEvent]) -> EventSourceResponse:
    """A streaming response for chat events."""

    async def body() -> AsyncIterator[bytes]:
        async for event in events:
            yield encode(event)

    return stream(body())
