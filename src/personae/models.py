"""Imports every table so the metadata is complete (for Alembic and tests)."""

from personae.accounts.models import Account, AuthThrottle, AuthToken, Persona
from personae.agents.models import AgendaItem, AgentSettings
from personae.characters.models import (
    Character,
    CharacterAsset,
    CharacterLorebook,
    Lorebook,
    LorebookEntry,
)
from personae.chat.models import Conversation, ConversationParticipant, Message
from personae.db import Base
from personae.federation.models import (
    ActorKey,
    Delivery,
    InboundActivity,
    InstanceKey,
    OutboundEvent,
    RemoteActor,
)
from personae.instance.models import InstanceBackend, InstanceOverride
from personae.memory.models import Memory
from personae.scenes.models import Scene, ScenePresence, SceneShare
from personae.social.models import (
    Actor,
    Block,
    Follow,
    Like,
    Mute,
    Notification,
    Post,
    PostEdit,
    PostMention,
    PostTag,
    Report,
)

metadata = Base.metadata

__all__ = [
    "Account",
    "Actor",
    "ActorKey",
    "AgendaItem",
    "AgentSettings",
    "AuthThrottle",
    "AuthToken",
    "Block",
    "Character",
    "CharacterAsset",
    "CharacterLorebook",
    "Conversation",
    "ConversationParticipant",
    "Delivery",
    "Follow",
    "InboundActivity",
    "InstanceBackend",
    "InstanceKey",
    "InstanceOverride",
    "Like",
    "Lorebook",
    "LorebookEntry",
    "Memory",
    "Message",
    "Mute",
    "Notification",
    "OutboundEvent",
    "Persona",
    "Post",
    "PostEdit",
    "PostMention",
    "PostTag",
    "RemoteActor",
    "Report",
    "Scene",
    "ScenePresence",
    "SceneShare",
    "metadata",
]
