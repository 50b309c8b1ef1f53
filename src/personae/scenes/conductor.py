"""The conductor: who speaks after a person's message, a tap or an auto tick, and the
generation of each reply, one at a time per scene.

A request saves what a person did (in its own transaction) and hands the conductor the
choices; the conductor plans each speaker's turn in a short transaction (`planning.py`),
streams the reply with no transaction open, filters it so no line in anyone else's voice
is ever shown or saved (`bleed.ReplyFilter`), saves it in a transaction of its own with
its reason, and tells every viewer through the hub. A client that leaves changes nothing:
the reply is saved whoever watches.

One chain per scene at a time: `claim` is synchronous, so two sends at once cannot both
pass it (the second gets 409 while the first one's replies are written). The claim lives
in this process (see docs/scenes.md, "Limits").

Auto-mode is a loop per scene: after `delay_s` the next character speaks, until the turn
budget or the day's token budget is spent (both counted in the database), pausing while a
person types and stopping at once on Stop. Time is `personae.clock`'s, so tests and
simulations can move it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from personae import clock
from personae.chat.service import all_messages, path_to
from personae.db import transaction
from personae.errors import Conflict, DomainError, Invalid, NotFound
from personae.llm.base import BackendError, DoneEvent, TokenEvent, Usage
from personae.llm.registry import BackendRegistry
from personae.scenes import turns, views
from personae.scenes.access import load_scene
from personae.scenes.bleed import ReplyFilter, clean_reply
from personae.scenes.events import AUTO, DONE, ERROR, NEXT, START, TOKEN
from personae.scenes.hub import HUB, Hub
from personae.scenes.messages import save_reply
from personae.scenes.models import Scene
from personae.scenes.planning import TurnPlan, plan_director, plan_turn
from personae.scenes.schemas import SceneMessageOut

if TYPE_CHECKING:  # the app's state names the conductor; only the type is needed here
    from personae.state import AppState

log = logging.getLogger(__name__)
STOPPED = "stopped"
# How long auto-mode waits after someone starts typing (each keystroke report renews it).
TYPING_PAUSE_S = 8.0
# Auto-mode re-checks the clock at least this often while it waits.
AUTO_TICK_S = 0.25
STOP_WAIT_S = 5.0
TYPING = "a person is typing"
WAITING = "waiting for a person"
TURNS_SPENT = "turn budget spent"
TOKENS_SPENT = "daily token budget spent"


@dataclass
class Writing:
    """The reply being written now (for streams that open in the middle of it)."""

    participant_id: str
    name: str
    reason: str
    text: str = ""


@dataclass
class SceneRun:
    """A chain of replies in one scene: the claim, the task, the reply being written."""

    scene_id: str
    task: asyncio.Task[None] | None = None
    generation: asyncio.Task[tuple[str, DoneEvent]] | None = None
    writing: Writing | None = None
    stopped: bool = False
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class Conductor:
    """Runs scenes' replies and auto-mode in tasks of their own, for one process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        backends: BackendRegistry,
        *,
        reply_max_tokens: int = 300,
        hub: Hub = HUB,
    ) -> None:
        self.sessions = sessions
        self.backends = backends
        self.reply_max_tokens = reply_max_tokens
        self.hub = hub
        self.typing_pause_s = TYPING_PAUSE_S
        self._runs: dict[str, SceneRun] = {}
        self._auto: dict[str, asyncio.Task[None]] = {}
        self._typing_until: dict[str, datetime] = {}
        self._pokes: dict[str, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ claims

    def busy(self, scene_id: str) -> bool:
        """Whether replies are being written in the scene now."""
        return scene_id in self._runs

    def claim(self, scene_id: str) -> SceneRun:
        """Reserve the scene for one chain of replies (409 while another runs)."""
        if scene_id in self._runs:
            raise Conflict(
                "a character is answering in this scene; wait for it or stop it", "scene_busy"
            )
        run = SceneRun(scene_id)
        self._runs[scene_id] = run
        return run

    def release(self, run: SceneRun) -> None:
        """Give the scene back (the chain ended, or the request that claimed it failed)."""
        if self._runs.get(run.scene_id) is run:
            del self._runs[run.scene_id]
        run.ended.set()

    def writing(self, scene_id: str) -> Writing | None:
        """The reply being written in the scene now, if any."""
        run = self._runs.get(scene_id)
        return run.writing if run is not None else None

    def _spawn(self, coro: object) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ chains

    def start(
        self,
        run: SceneRun,
        choices: Sequence[turns.Choice],
        *,
        director: bool = False,
        parent_id: str | None = None,
        swipe_of: str | None = None,
    ) -> None:
        """Generate the chosen speakers' replies in turn (the director first decides, when
        `director`); the claim is released at the end."""
        self._typing_until.pop(run.scene_id, None)
        run.task = self._spawn(self._chain(run, list(choices), director, parent_id, swipe_of))

    async def _chain(
        self,
        run: SceneRun,
        choices: list[turns.Choice],
        director: bool,
        parent_id: str | None,
        swipe_of: str | None,
    ) -> None:
        try:
            if director and not choices:
                choice = await self._direct(run.scene_id)
                if choice.participant_id is not None:
                    choices = [choice]
                else:
                    await self._publish_next(run.scene_id, choice)
            for index, choice in enumerate(choices):
                if run.stopped or choice.participant_id is None:
                    break
                saved = await self._speak(
                    run, choice, parent_id=parent_id if index == 0 else None, swipe_of=swipe_of
                )
                if saved is False:
                    break
            if not run.stopped:
                await self._publish_next(run.scene_id)
        except Exception:  # the chain must end and free the scene, whatever broke
            log.exception("scene chain failed")
            self.hub.publish(
                run.scene_id, ERROR, {"code": "internal", "message": "Writing replies failed."}
            )
        finally:
            self.release(run)
        self.wake_auto(run.scene_id)

    async def _speak(
        self,
        run: SceneRun,
        choice: turns.Choice,
        *,
        parent_id: str | None = None,
        swipe_of: str | None = None,
        auto: bool = False,
    ) -> bool | None:
        """One reply: plan, stream, clean, save. True: saved; None: skipped (the speaker
        cannot speak any more); False: failed (an error event was sent)."""
        assert choice.participant_id is not None
        scene_id = run.scene_id
        try:
            async with transaction(self.sessions) as session:
                plan = await plan_turn(
                    session,
                    self.backends,
                    scene_id,
                    choice.participant_id,
                    choice.reason,
                    reply_max_tokens=self.reply_max_tokens,
                    parent_id=parent_id,
                    auto=auto,
                    swipe_of=swipe_of,
                )
        except (Invalid, NotFound) as exc:
            if exc.code in ("not_present", "muted"):
                return None  # muted or gone since it was chosen: the others go on
            self._error(scene_id, exc.code, exc.message, choice.participant_id)
            return False
        except (DomainError, BackendError) as exc:
            self._fail(scene_id, exc, choice.participant_id)
            return False
        run.writing = Writing(plan.participant_id, plan.name, plan.reason)
        self.hub.publish(
            scene_id,
            START,
            {"participant_id": plan.participant_id, "name": plan.name, "reason": plan.reason},
        )
        try:
            text, done = await self._generate(run, plan)
        except BackendError as exc:
            run.writing = None
            self._fail(scene_id, exc, plan.participant_id)
            return False
        finally:
            run.writing = None
        if not text:
            code, message = (
                (STOPPED, "Stopped before the reply began.")
                if run.stopped
                else ("empty_reply", f"{plan.name} had nothing to say; try again.")
            )
            self._error(scene_id, code, message, plan.participant_id)
            return False
        async with transaction(self.sessions) as session:
            saved = await _save(session, plan, text, done)
        if saved is None:
            self._error(
                scene_id,
                "not_saved",
                f"{plan.name}'s reply was not kept: the scene changed while it was written.",
                plan.participant_id,
            )
            return None
        self.hub.publish(scene_id, DONE, {"message": saved.model_dump()})
        if auto:
            await self._publish_auto(scene_id)
        return True

    async def _generate(self, run: SceneRun, plan: TurnPlan) -> tuple[str, DoneEvent]:
        """Stream the reply through the filter; a stop keeps what was written."""
        replies = ReplyFilter(plan.name, plan.others)
        started = time.perf_counter()
        state: dict[str, float | None] = {"first": None}
        raw: list[str] = []

        def show(text: str) -> None:
            if text and run.writing is not None:
                run.writing.text += text
                self.hub.publish(
                    plan.scene_id, TOKEN, {"participant_id": plan.participant_id, "text": text}
                )

        async def generate() -> tuple[str, DoneEvent]:
            done: DoneEvent | None = None
            async with aclosing(plan.backend.stream(plan.messages, plan.params)) as events:
                async for event in events:
                    if isinstance(event, TokenEvent):
                        if state["first"] is None:
                            state["first"] = time.perf_counter()
                        raw.append(event.text)
                        show(replies.feed(event.text))
                        if replies.stopped:
                            break  # someone else's voice began: the backend stops here
                    else:
                        done = event
            show(replies.end())
            if done is None or replies.stopped:
                done = await self._partial(plan, raw, started, state["first"], "stop")
            return replies.text, done

        generation = asyncio.create_task(generate())
        run.generation = generation
        if run.stopped:
            generation.cancel()
        try:
            text, done = await generation
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not run.stopped or (current is not None and current.cancelling()):
                raise
            show(replies.end())
            text = replies.text
            done = await self._partial(plan, raw, started, state["first"], STOPPED)
        finally:
            run.generation = None
        # Once more on the whole text: the filter's rules, applied to what is saved.
        return clean_reply(text, plan.name, plan.others), done

    async def _partial(
        self,
        plan: TurnPlan,
        raw: list[str],
        started: float,
        first: float | None,
        finish_reason: str,
    ) -> DoneEvent:
        text = "".join(raw)
        tokens = 0
        if text:
            with contextlib.suppress(BackendError):
                tokens = await plan.backend.count_tokens(text)
        return DoneEvent(
            text=text,
            finish_reason=finish_reason,
            usage=Usage(completion_tokens=tokens),
            backend=plan.backend.name,
            model=plan.backend.model,
            ttft_ms=(first - started) * 1000 if first is not None else None,
            duration_ms=(time.perf_counter() - started) * 1000,
        )

    async def _direct(self, scene_id: str) -> turns.Choice:
        """Ask the director (a schema-constrained call) who speaks; never trust the answer."""
        try:
            async with transaction(self.sessions) as session:
                plan = await plan_director(session, self.backends, scene_id)
            if plan is None:
                return turns.Choice(None, "no character can speak")
            done = await plan.backend.complete(plan.messages, plan.params)
        except (DomainError, BackendError) as exc:
            log.info("the director failed in scene %s: %s", scene_id, exc)
            return turns.Choice(None, "the director could not decide; a person should speak")
        return turns.parse_director(done.text, plan.members, fallback=plan.fallback)

    def _error(self, scene_id: str, code: str, message: str, participant_id: str | None) -> None:
        self.hub.publish(
            scene_id, ERROR, {"code": code, "message": message, "participant_id": participant_id}
        )

    def _fail(self, scene_id: str, exc: Exception, participant_id: str | None) -> None:
        if isinstance(exc, BackendError):
            self._error(scene_id, f"backend_{exc.kind}", exc.message, participant_id)
        elif isinstance(exc, DomainError):
            self._error(scene_id, exc.code, exc.message, participant_id)

    async def _publish_next(self, scene_id: str, choice: turns.Choice | None = None) -> None:
        if not self.hub.watching(scene_id):
            return  # nobody to tell: spare the reads
        async with self.sessions() as session:
            data = await load_scene(session, scene_id)
            if data is None:
                return
            if choice is not None:
                out = views.next_out(data, choice)
            else:
                messages = await all_messages(session, scene_id)
                out = views.preview_next(data, path_to(messages, data.conversation.active_leaf_id))
        self.hub.publish(scene_id, NEXT, out.model_dump())

    async def _publish_auto(self, scene_id: str) -> None:
        if not self.hub.watching(scene_id):
            return
        async with self.sessions() as session:
            scene = await session.get(Scene, scene_id)
            if scene is None:
                return
            out = views.auto_out(scene, self.paused(scene_id))
        self.hub.publish(scene_id, AUTO, out.model_dump())

    # ------------------------------------------------------------------ stop, typing

    async def stop(self, scene_id: str, wait_s: float = STOP_WAIT_S) -> bool:
        """Stop the reply being written (what it wrote is kept) and the rest of its chain;
        auto-mode stops too (the caller turned it off in the database)."""
        self._poke(scene_id)
        run = self._runs.get(scene_id)
        if run is None:
            return False
        run.stopped = True
        if run.generation is not None:
            run.generation.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.ended.wait(), wait_s)
        return True

    def typing(self, scene_id: str) -> None:
        """A person is typing: auto-mode waits (each report renews the pause)."""
        self._typing_until[scene_id] = clock.now() + timedelta(seconds=self.typing_pause_s)
        self._poke(scene_id)

    def paused(self, scene_id: str) -> str | None:
        """Why auto-mode waits right now, when it is for a person typing."""
        until = self._typing_until.get(scene_id)
        if until is not None and clock.now() < until:
            return TYPING
        return None

    def _poke(self, scene_id: str) -> None:
        event = self._pokes.get(scene_id)
        if event is not None:
            event.set()

    async def _wait(self, scene_id: str, seconds: float) -> bool:
        """Sleep up to `seconds` of the domain's clock; True when poked (something changed)."""
        event = self._pokes.setdefault(scene_id, asyncio.Event())
        end = clock.now() + timedelta(seconds=max(0.0, seconds))
        while True:
            left = (end - clock.now()).total_seconds()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(left, AUTO_TICK_S))
            if event.is_set():
                event.clear()
                return True

    # ------------------------------------------------------------------ auto-mode

    def wake_auto(self, scene_id: str) -> None:
        """Run auto-mode for the scene if it is on (and not running already)."""
        task = self._auto.get(scene_id)
        if task is not None and not task.done():
            self._poke(scene_id)
            return
        self._auto[scene_id] = self._spawn(self._auto_loop(scene_id))

    async def _auto_loop(self, scene_id: str) -> None:
        try:
            await self._auto_steps(scene_id)
        except Exception:
            log.exception("auto-mode failed in scene %s", scene_id)
        finally:
            if self._auto.get(scene_id) is asyncio.current_task():
                del self._auto[scene_id]

    async def _auto_steps(self, scene_id: str) -> None:
        waited = False
        while True:
            async with self.sessions() as session:
                scene = await session.get(Scene, scene_id)
                if scene is None or not scene.auto_on:
                    return
                spent = _spent(scene)
                delay = scene.auto_delay_s
            if spent is not None:
                await self._auto_off(scene_id, spent)
                return
            until = self._typing_until.get(scene_id)
            if until is not None and clock.now() < until:
                await self._publish_auto(scene_id)
                await self._wait(scene_id, (until - clock.now()).total_seconds())
                continue
            if self.busy(scene_id):
                return  # the chain running now wakes auto-mode when it ends
            if not waited:
                waited = True
                if await self._wait(scene_id, delay):
                    waited = False  # something changed (stop, typing): look again
                continue
            waited = False
            run = self.claim(scene_id)
            try:
                choice = await self._auto_choice(scene_id)
                if choice.participant_id is None:
                    await self._auto_pause(scene_id, WAITING)
                    await self._publish_next(scene_id, choice)
                    return
                reason = f"auto: {choice.reason}"[:300]
                saved = await self._speak(
                    run, turns.Choice(choice.participant_id, reason), auto=True
                )
            finally:
                self.release(run)
            if not run.stopped:
                await self._publish_next(scene_id)
            if not saved:
                if saved is False:
                    await self._auto_off(scene_id, "the last reply failed")
                return

    async def _auto_choice(self, scene_id: str) -> turns.Choice:
        async with self.sessions() as session:
            data = await load_scene(session, scene_id)
            if data is None:
                return turns.Choice(None, "the scene is gone")
            messages = await all_messages(session, scene_id)
            path = path_to(messages, data.conversation.active_leaf_id)
            history = views.spoken(data, path)
            mode = data.scene.mode
            choice = turns.next_after_character(
                mode,
                views.turn_members(data),
                history,
                allow_self=data.scene.allow_self,
                seed=data.scene.seed,
                turn_index=len(history),
            )
        if mode == "director":
            return await self._direct(scene_id)
        return choice

    async def _auto_off(self, scene_id: str, reason: str) -> None:
        async with transaction(self.sessions) as session:
            scene = await session.get(Scene, scene_id)
            if scene is not None:
                scene.auto_on = False
                scene.auto_paused_reason = reason
        await self._publish_auto(scene_id)

    async def _auto_pause(self, scene_id: str, reason: str) -> None:
        async with transaction(self.sessions) as session:
            scene = await session.get(Scene, scene_id)
            if scene is not None:
                scene.auto_paused_reason = reason
        await self._publish_auto(scene_id)

    # ------------------------------------------------------------------ tests, shutdown

    async def idle(self, scene_id: str, timeout_s: float = 30.0) -> None:
        """Wait until the scene has no reply being written and no auto-mode running."""
        deadline = time.monotonic() + timeout_s
        while self.busy(scene_id) or scene_id in self._auto:
            if time.monotonic() > deadline:
                raise TimeoutError(f"scene {scene_id} is still busy")
            await asyncio.sleep(0.01)

    async def drain(self, grace_s: float = 30.0) -> None:
        """Let running replies finish (shutdown), stop auto-mode, cancel stragglers."""
        for task in list(self._auto.values()):
            task.cancel()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _spent(scene: Scene) -> str | None:
    """Why auto-mode must stop now, if a budget is spent."""
    if scene.auto_turns_used >= scene.auto_turn_budget:
        return TURNS_SPENT
    used = scene.auto_tokens_used if scene.auto_tokens_day == views.today() else 0
    if used >= scene.auto_tokens_per_day:
        return TOKENS_SPENT
    return None


async def _save(
    session: AsyncSession, plan: TurnPlan, text: str, done: DoneEvent
) -> SceneMessageOut | None:
    saved = await save_reply(session, plan, text, done)
    return saved[1] if saved is not None else None


def conductor_of(state: AppState) -> Conductor:
    """The process's conductor (made on first use, so every app and test has one)."""
    if state.scenes is None:
        state.scenes = Conductor(
            state.sessions, state.backends, reply_max_tokens=state.settings.reply_max_tokens
        )
    return state.scenes
