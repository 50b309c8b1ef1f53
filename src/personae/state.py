"""What the running app holds: settings, database, backends, reply runner, agents, delivery."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from personae.chat.runner import ReplyRunner
from personae.config import Settings
from personae.llm.registry import BackendRegistry

if TYPE_CHECKING:  # the runtime pulls in taskiq; only apps that run agents import it
    from personae.agents.runtime import AgentRuntime
    from personae.federation.worker import DeliveryWorker
    from personae.scenes.conductor import Conductor


@dataclass
class AppState:
    """Process-wide objects, created in the app's lifespan (never at import)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    backends: BackendRegistry
    replies: ReplyRunner
    # The autonomous characters' scheduler and worker, when this process runs them.
    agents: AgentRuntime | None = None
    # The federation delivery loop, when this process runs it (`personae serve` and `run`).
    delivery: DeliveryWorker | None = None
    # Scenes' replies and auto-mode (made on first use: `personae.scenes.conductor.conductor_of`).
    scenes: Conductor | None = None
