"""Helpers for the scene tests: a fake backend that speaks as whoever it is asked to be,
characters and scenes through the API, and waiting for a scene's replies."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx
from fastapi import FastAPI

from personae.llm.base import ChatMessage, GenerationParams, StreamEvent
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.scenes.conductor import Conductor, conductor_of

SPEAKER_PREFIX = "You are "
DIRECTOR_PREFIX = "You direct this scene"


def speaker_of(messages: Sequence[ChatMessage]) -> str:
    """Whom a scene prompt asks to speak (its last system part, the speaker's own; a
    prefilled `Name:` may follow it)."""
    systems = [m["content"] for m in messages if m["role"] == "system"]
    last = systems[-1] if systems else ""
    if last.startswith(SPEAKER_PREFIX):
        return last[len(SPEAKER_PREFIX) :].split(",", 1)[0]
    return ""


class SceneFake(FakeBackend):
    """Answers as the speaker the prompt names: `Name: Hello from Name.`, optionally with a
    line in someone else's voice after it (`bleed`); the director's answers are queued."""

    def __init__(self, name: str = "scenefake", *, bleed: str = "") -> None:
        super().__init__(name, context_window=8192)
        self.bleed = bleed
        self.director: deque[str] = deque()

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """The speaker's line (or the director's queued answer), word by word."""
        last = messages[-1]["content"] if messages else ""
        if not self._queue:
            if last.startswith(DIRECTOR_PREFIX):
                answer = self.director.popleft() if self.director else '{"speaker": "a person"}'
                self.enqueue(answer)
            else:
                name = speaker_of(messages)
                text = f"{name}: Hello from {name}."
                if self.bleed:
                    text += f"\n{self.bleed}: I say what {name} wants."
                self.enqueue(text)
        async for event in super().stream(messages, params):
            yield event

    def prompts_of(self, name: str) -> list[str]:
        """Every prompt sent for `name`'s turns, as one text each."""
        return [
            "\n".join(m["content"] for m in call.messages)
            for call in self.calls
            if speaker_of(call.messages) == name
        ]


def install_fake(registry: BackendRegistry, name: str = "scenefake", **kw: Any) -> SceneFake:
    """A fresh SceneFake registered under `name` (replacing the last test's)."""
    backend = SceneFake(name, **kw)
    registry.register(name, backend)
    return backend


async def character(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **fields: Any
) -> dict[str, Any]:
    """A character of the caller's, on the scene fake backend unless told otherwise."""
    body = {
        "name": name,
        "description": f"{{{{char}}}} is {name}, with a hidden definition SECRET-{name}.",
        "backend": "scenefake",
        **fields,
    }
    r = await client.post("/api/v1/characters", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def scene(
    client: httpx.AsyncClient, headers: dict[str, str], handles: list[str], **fields: Any
) -> dict[str, Any]:
    """A new scene with these characters."""
    body = {"title": "The tavern", "scenario": "A rainy night.", "characters": handles, **fields}
    r = await client.post("/api/v1/scenes", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def join(
    client: httpx.AsyncClient,
    scene_id: str,
    owner: dict[str, str],
    person: dict[str, str],
    username: str,
) -> None:
    """Invite a person and have them accept."""
    r = await client.post(
        f"/api/v1/scenes/{scene_id}/members", headers=owner, json={"person": username}
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/api/v1/scenes/{scene_id}/invitation", headers=person, json={"accept": True}
    )
    assert r.status_code == 200, r.text


def conductor(app: FastAPI) -> Conductor:
    """The app's conductor."""
    return conductor_of(app.state.personae)


async def say(
    client: httpx.AsyncClient, app: FastAPI, scene_id: str, headers: dict[str, str], text: str
) -> dict[str, Any]:
    """Post a person's message and wait until every reply to it is saved."""
    r = await client.post(
        f"/api/v1/scenes/{scene_id}/messages", headers=headers, json={"content": text}
    )
    assert r.status_code == 201, r.text
    await conductor(app).idle(scene_id)
    return dict(r.json())


async def shown(
    client: httpx.AsyncClient, scene_id: str, headers: dict[str, str]
) -> dict[str, Any]:
    """The scene as the caller sees it."""
    r = await client.get(f"/api/v1/scenes/{scene_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def director_answer(speaker: str, reason: str = "their turn") -> str:
    """A director's JSON answer."""
    return json.dumps({"speaker": speaker, "reason": reason})
