"""What the running app holds: settings, database, backends, reply runner."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from personae.chat.generation import ReplyRunner
from personae.config import Settings
from personae.llm.registry import BackendRegistry


@dataclass
class AppState:
    """Process-wide objects, created in the app's lifespan (never at import)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    backends: BackendRegistry
    replies: ReplyRunner
