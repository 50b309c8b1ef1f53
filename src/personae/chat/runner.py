"""Running replies: each in an asyncio task of its own that writes events to a queue.

The HTTP layer only reads the queue. A client that leaves the stream (a phone losing its
connection, a closed tab) does not end the reply: the task carries on and saves it, so it
is there on the next visit. A reply is stopped only when asked (the Stop button, `POST
.../stop`): its generation task is cancelled, which closes the backend's stream (llama.cpp
drops the request and frees its slot; a remote's HTTP response is closed), and what was
written so far is saved, marked with finish_reason "stopped".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae.chat.events import ChatEvent, ReplyDone, ReplyError, ReplyStarted, ReplyToken
from personae.chat.generation import ReplyPlan, save_reply
from personae.errors import NotFound
from personae.llm.base import BackendError, DoneEvent, TokenEvent, Usage

log = logging.getLogger(__name__)
_DONE = object()
STOPPED = "stopped"
# How long a stop waits for the reply to end and be saved before it answers anyway.
STOP_WAIT_S = 5.0


@dataclass
class Running:
    """A reply being generated: its tasks, the text so far, and whether it was stopped."""

    plan: ReplyPlan
    started: float
    parts: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    stopped: bool = False
    # Set once the backend has let go of the generation (its stream is closed: llama.cpp's
    # slot is free, a remote's response closed), then once the last event is queued (saved).
    released: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    generation: asyncio.Task[DoneEvent | None] | None = None

    def stop(self) -> None:
        """Cancel the generation (at once, without waiting); the runner saves the partial."""
        if self.stopped:
            return
        self.stopped = True
        if self.generation is not None:
            self.generation.cancel()


@dataclass(frozen=True)
class StopResult:
    """What a stop did: whether a reply ran, when the backend let go, when it was saved."""

    stopped: bool
    released_ms: float
    saved_ms: float


class ReplyRunner:
    """Runs replies in tasks of their own and keeps them until they finish."""

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, list[Running]] = {}  # by conversation id

    def start(self, plan: ReplyPlan) -> tuple[Running, asyncio.Queue[ChatEvent | object]]:
        """Begin generating; events arrive on the returned queue, then a sentinel."""
        queue: asyncio.Queue[ChatEvent | object] = asyncio.Queue()
        running = Running(plan, time.perf_counter())
        self._running.setdefault(plan.conversation_id, []).append(running)
        task = asyncio.create_task(self._run(running, queue))
        running.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return running, queue

    async def stream(self, plan: ReplyPlan) -> AsyncIterator[ChatEvent]:
        """Start a reply and yield its events; leaving early lets the reply finish and save."""
        _, queue = self.start(plan)
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            assert isinstance(item, ReplyStarted | ReplyToken | ReplyDone | ReplyError)
            yield item

    def is_running(self, conversation_id: str) -> bool:
        """Whether a reply of this conversation is being generated now."""
        return bool(self._running.get(conversation_id))

    async def stop(self, conversation_id: str, wait_s: float = STOP_WAIT_S) -> StopResult:
        """Stop the conversation's replies; answer once they are ended and saved."""
        started = time.perf_counter()
        found = list(self._running.get(conversation_id, []))
        for running in found:
            running.stop()
        released_ms = saved_ms = 0.0
        for event in ("released", "ended"):
            waits = [asyncio.ensure_future(getattr(r, event).wait()) for r in found]
            if waits:
                _, pending = await asyncio.wait(waits, timeout=wait_s)
                for waiting in pending:
                    waiting.cancel()
            elapsed = (time.perf_counter() - started) * 1000
            if event == "released":
                released_ms = elapsed
            else:
                saved_ms = elapsed
        return StopResult(bool(found), round(released_ms, 1), round(saved_ms, 1))

    async def _generate(
        self, running: Running, queue: asyncio.Queue[ChatEvent | object]
    ) -> DoneEvent | None:
        plan = running.plan
        done: DoneEvent | None = None
        async for event in plan.backend.stream(plan.messages, plan.params):
            if isinstance(event, TokenEvent):
                if event.text:
                    if running.first_token_at is None:
                        running.first_token_at = time.perf_counter()
                    running.parts.append(event.text)
                    queue.put_nowait(ReplyToken(event.text))
            else:
                done = event
        return done

    async def _partial(self, running: Running) -> DoneEvent:
        """What a stopped reply wrote so far, as if the backend had ended there."""
        plan = running.plan
        text = "".join(running.parts)
        tokens = 0
        if text:
            with contextlib.suppress(BackendError):
                tokens = await plan.backend.count_tokens(text)
        now = time.perf_counter()
        first = running.first_token_at
        return DoneEvent(
            text=text,
            finish_reason=STOPPED,
            usage=Usage(completion_tokens=tokens),
            backend=plan.backend.name,
            model=plan.backend.model,
            ttft_ms=(first - running.started) * 1000 if first is not None else None,
            duration_ms=(now - running.started) * 1000,
        )

    async def _run(self, running: Running, queue: asyncio.Queue[ChatEvent | object]) -> None:
        plan = running.plan
        queue.put_nowait(ReplyStarted(plan.conversation_id, plan.user_message_id, plan.parent_id))
        try:
            generation = asyncio.create_task(self._generate(running, queue))
            running.generation = generation
            if running.stopped:  # stopped before the task existed
                generation.cancel()
            try:
                done = await generation
                running.released.set()
            except asyncio.CancelledError:
                running.released.set()
                current = asyncio.current_task()
                if not running.stopped or (current is not None and current.cancelling()):
                    raise  # the runner itself is being cancelled (shutdown)
                done = await self._partial(running)
            if done is None or (not done.text.strip() and plan.continue_id is None):
                if running.stopped:
                    queue.put_nowait(ReplyError(STOPPED, "Stopped before the reply began."))
                else:
                    queue.put_nowait(
                        ReplyError("empty_reply", "The model returned an empty reply; try again.")
                    )
                return
            saved = await save_reply(self.factory, plan, done)
            usage = {
                "prompt_tokens": done.usage.prompt_tokens,
                "completion_tokens": done.usage.completion_tokens,
                "cached_tokens": done.usage.cached_tokens,
                "ttft_ms": done.ttft_ms,
                "duration_ms": done.duration_ms,
            }
            queue.put_nowait(ReplyDone(saved, usage))
            self._forget(running)
            # Count the reply's tokens now, off the request path: the next turn's prompt
            # fitting then finds it in the backend's cache instead of tokenizing it.
            with contextlib.suppress(BackendError):
                await plan.backend.count_message_tokens(
                    [{"role": "assistant", "content": saved["content"]}]
                )
        except BackendError as exc:
            queue.put_nowait(ReplyError(f"backend_{exc.kind}", exc.message))
        except NotFound as exc:
            queue.put_nowait(ReplyError(exc.code, exc.message))
        except asyncio.CancelledError:
            raise
        except Exception:  # the stream must end with an event, whatever broke
            log.exception("reply generation failed")
            queue.put_nowait(ReplyError("internal", "Generating the reply failed unexpectedly."))
        finally:
            queue.put_nowait(_DONE)
            self._forget(running)

    def _forget(self, running: Running) -> None:
        """The reply has ended (its last event is queued): stops no longer wait for it."""
        running.released.set()
        running.ended.set()
        found = self._running.get(running.plan.conversation_id, [])
        if running in found:
            found.remove(running)
        if not found:
            self._running.pop(running.plan.conversation_id, None)

    async def drain(self, grace_s: float = 30.0) -> None:
        """Wait for running replies to finish (server shutdown), then cancel stragglers."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
