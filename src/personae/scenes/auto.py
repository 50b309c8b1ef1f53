"""Auto-mode's settings: who may turn it on or off, and its budgets (flush only).

The owner turns auto-mode on (it spends their backends' time) and sets its delay and
budgets; any member may turn it off or stop it. Turning it on starts a fresh turn budget;
the day's token budget carries on until the day (UTC, on `personae.clock`) ends.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from personae import events
from personae.accounts.models import Account
from personae.errors import Forbidden, Invalid
from personae.scenes import views
from personae.scenes.access import scene_for
from personae.scenes.events import AUTO, SceneLive
from personae.scenes.models import Scene
from personae.scenes.schemas import AutoOut

MAX_DELAY_S = 3600.0
MAX_TURNS = 500
MAX_TOKENS_PER_DAY = 10_000_000
STOPPED = "stopped"


async def set_auto(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    on: bool,
    *,
    delay_s: float | None = None,
    turn_budget: int | None = None,
    tokens_per_day: int | None = None,
    paused: str | None = None,
) -> Scene:
    """Turn auto-mode on (owner) or off (any member), with its delay and budgets."""
    access = await scene_for(session, account, scene_id, "member")
    if (on or delay_s is not None or turn_budget is not None or tokens_per_day is not None) and (
        not access.owner
    ):
        raise Forbidden("only the scene's owner can turn auto-mode on or change its budgets")
    scene = access.data.scene
    if delay_s is not None:
        if not 0 <= delay_s <= MAX_DELAY_S:
            raise Invalid(f"delay_s must be from 0 to {MAX_DELAY_S:g} seconds", "bad_number")
        scene.auto_delay_s = float(delay_s)
    if turn_budget is not None:
        if not 1 <= turn_budget <= MAX_TURNS:
            raise Invalid(f"turn_budget must be from 1 to {MAX_TURNS}", "bad_number")
        scene.auto_turn_budget = turn_budget
    if tokens_per_day is not None:
        if not 1 <= tokens_per_day <= MAX_TOKENS_PER_DAY:
            raise Invalid(f"tokens_per_day must be from 1 to {MAX_TOKENS_PER_DAY}", "bad_number")
        scene.auto_tokens_per_day = tokens_per_day
    if on:
        scene.auto_on = True
        scene.auto_turns_used = 0
        scene.auto_paused_reason = None
    else:
        scene.auto_on = False
        scene.auto_paused_reason = paused
    await session.flush()
    await announce_auto(session, scene, paused)
    return scene


async def announce_auto(session: AsyncSession, scene: Scene, paused: str | None = None) -> AutoOut:
    """Tell the scene's viewers (after commit) where auto-mode stands."""
    out = views.auto_out(scene, paused)
    await events.emit(session, SceneLive(scene.conversation_id, AUTO, out.model_dump()))
    return out
