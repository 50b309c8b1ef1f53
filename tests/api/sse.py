"""Reading server-sent events in tests."""

from __future__ import annotations

import json
from typing import Any

import httpx


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs from an SSE body."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", []
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


async def stream_events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """POST and collect the SSE events of the answer (asserting it is a stream)."""
    async with client.stream("POST", url, headers=headers, json=body or {}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        text = (await response.aread()).decode()
    return parse_sse(text)
