"""Model backends: one small interface (`Backend`), its events and the registry of them."""

from personae.llm.base import (
    Backend,
    BackendError,
    Capabilities,
    ChatMessage,
    DoneEvent,
    GenerationParams,
    Role,
    StreamEvent,
    TokenEvent,
    Usage,
)
from personae.llm.registry import BackendRegistry

__all__ = [
    "Backend",
    "BackendError",
    "BackendRegistry",
    "Capabilities",
    "ChatMessage",
    "DoneEvent",
    "GenerationParams",
    "Role",
    "StreamEvent",
    "TokenEvent",
    "Usage",
]
