"""Live fan-out: every event of a scene to every stream open on it, in this process.

One hub per process (`HUB`): the app, the CLI and tests share it, so a reply written for
one person's request reaches the streams of everyone else in the scene at once. Each
subscriber has a bounded queue; one that cannot keep up is dropped (its stream ends and the
page reconnects and re-reads the scene) rather than slowing the others or growing without
bound. With several web processes a scene's viewers must be served by the process running
its replies (docs/scenes.md, "Limits").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from personae.scenes.events import SceneLive

# Events a subscriber may have waiting before it counts as gone (a reply is ~300 tokens).
QUEUE_LIMIT = 2000
CLOSED: tuple[str, dict[str, Any]] = ("closed", {})


@dataclass(eq=False)  # compared (and hashed) by identity: each stream is its own
class Subscription:
    """One open stream on a scene: its queue, and the loop that reads it."""

    scene_id: str
    queue: asyncio.Queue[tuple[str, dict[str, Any]]]
    loop: asyncio.AbstractEventLoop
    closed: bool = False

    def put(self, item: tuple[str, dict[str, Any]]) -> None:
        """Queue an event on the subscriber's loop (any thread)."""
        if self.closed:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self._put(item)
        else:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: tuple[str, dict[str, Any]]) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.closed = True
            self.queue.put_nowait(CLOSED)  # the queue is unbounded: this always fits
            return
        self.queue.put_nowait(item)


@dataclass
class Hub:
    """Subscribers by scene."""

    subscribers: dict[str, set[Subscription]] = field(default_factory=dict)

    @contextlib.contextmanager
    def subscribe(self, scene_id: str) -> Iterator[Subscription]:
        """Receive the scene's events while the block runs."""
        sub = Subscription(scene_id, asyncio.Queue(), asyncio.get_running_loop())
        self.subscribers.setdefault(scene_id, set()).add(sub)
        try:
            yield sub
        finally:
            sub.closed = True
            found = self.subscribers.get(scene_id)
            if found is not None:
                found.discard(sub)
                if not found:
                    self.subscribers.pop(scene_id, None)

    def publish(self, scene_id: str, name: str, data: dict[str, Any]) -> None:
        """Send an event to everyone watching the scene now."""
        for sub in list(self.subscribers.get(scene_id, ())):
            sub.put((name, data))

    def close(self, scene_id: str) -> None:
        """End every stream on the scene (it was deleted)."""
        for sub in list(self.subscribers.get(scene_id, ())):
            sub.put(CLOSED)

    def watching(self, scene_id: str) -> int:
        """How many streams are open on the scene."""
        return len(self.subscribers.get(scene_id, ()))


HUB = Hub()


def on_scene_live(event: SceneLive) -> None:
    """After commit: hand a scene's live event to its streams (see `personae.wiring`)."""
    HUB.publish(event.scene_id, event.name, event.data)
