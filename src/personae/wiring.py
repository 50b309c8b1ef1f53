"""Who hears which domain event: every subscriber, registered once per process.

Called at start by whatever runs personae's services (the app, the CLI, a worker), so
the packages that react to events (federation, the agents, live updates) plug in here
instead of being called by the packages that emit them (see `personae.events`).
"""

from __future__ import annotations

from personae import events
from personae.agents import guards, triggers
from personae.characters.events import CharacterDeleted, HandleChanging
from personae.chat import participants as chat_participants
from personae.federation import subscribers as federation
from personae.scenes import hub as scenes_hub
from personae.scenes.events import SceneLive
from personae.social.events import (
    Blocked,
    FollowAccepted,
    Followed,
    FollowRejected,
    Liked,
    Notified,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ProfileChanged,
    Reposted,
    Unblocked,
    Unfollowed,
    Unliked,
    Unreposted,
)

WIRED = "personae"


def install() -> None:
    """Register every package's subscribers (idempotent)."""
    if WIRED in events.registry.installed:
        return
    events.registry.installed.add(WIRED)
    # An autonomous character answers what happens to it: a due action, same transaction.
    events.subscribe(Notified, triggers.on_notified)
    # Who chatted with a character engaged with it: its autonomous answers may reach them.
    guards.count_as_engagement(chat_participants.chatted_with)
    # A deleted character's one-to-one chats go with it, same transaction.
    events.subscribe(CharacterDeleted, chat_participants.on_character_deleted)
    # What local actors do goes out to remote servers: outbox rows, same transaction.
    events.subscribe(PostCreated, federation.post_created)
    events.subscribe(PostUpdated, federation.post_updated)
    events.subscribe(PostDeleted, federation.post_deleted)
    events.subscribe(Liked, federation.liked)
    events.subscribe(Unliked, federation.unliked)
    events.subscribe(Reposted, federation.reposted)
    events.subscribe(Unreposted, federation.unreposted)
    events.subscribe(Followed, federation.followed)
    events.subscribe(FollowAccepted, federation.follow_accepted)
    events.subscribe(FollowRejected, federation.follow_rejected)
    events.subscribe(Unfollowed, federation.unfollowed)
    events.subscribe(Blocked, federation.blocked)
    events.subscribe(Unblocked, federation.unblocked)
    events.subscribe(ProfileChanged, federation.profile_changed)
    # Other servers know an actor by its handle: federation may refuse a new one.
    events.subscribe(HandleChanging, federation.handle_changing)
    # What happens in a scene reaches everyone watching it, once it is committed.
    events.after_commit(SceneLive, scenes_hub.on_scene_live)
