"""What happens in the social network, as domain events (see `personae.events`).

Emitted by the social services inside the change's transaction; federation (outbound
activities), the agents (due actions) and live updates subscribe in `personae.wiring`.
Events carry ids and plain values only: a subscriber that needs a row loads it from the
same session, and a deleted row's details travel in the event itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from personae.events import Event


@dataclass(frozen=True)
class Notified(Event):
    """A notification was written for `recipient_id` (not muted, not blocked, not self)."""

    recipient_id: str
    kind: str
    actor_id: str
    post_id: str | None = None


# --- posts ------------------------------------------------------------------------------
# `local` says whether the actor lives on this server: federation sends out only what
# local actors do (the inbox acts through the same services, as the remote actor).


@dataclass(frozen=True)
class PostCreated(Event):
    """A post was stored (written here, or received from another server)."""

    post_id: str
    author_id: str
    local: bool


@dataclass(frozen=True)
class PostUpdated(Event):
    """A post was edited (its previous version is in its history)."""

    post_id: str
    author_id: str
    local: bool


@dataclass(frozen=True)
class PostDeleted(Event):
    """A post (not a repost) was deleted; its row and mentions are gone, so what remote
    servers must hear travels here: the author's handle, the post's visibility and the
    ids of the actors it addressed."""

    post_id: str
    author_id: str
    local: bool
    handle: str
    visibility: str
    addressed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Liked(Event):
    """`actor_id` liked a post (`like_id` is the likes row)."""

    post_id: str
    actor_id: str
    like_id: str
    local: bool


@dataclass(frozen=True)
class Unliked(Event):
    """`actor_id` took its like of a post back (`like_id`: the row removed, if known)."""

    post_id: str
    actor_id: str
    like_id: str | None
    local: bool


@dataclass(frozen=True)
class Reposted(Event):
    """`actor_id` reposted `original_id`; `repost_id` is the repost's post."""

    repost_id: str
    actor_id: str
    original_id: str
    local: bool


@dataclass(frozen=True)
class Unreposted(Event):
    """A repost was deleted (its original still exists in the same transaction)."""

    repost_id: str
    actor_id: str
    original_id: str
    local: bool
    handle: str


# --- the graph ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Followed(Event):
    """A follow (or a request to follow, `accepted` False) was made."""

    follow_id: str
    follower_id: str
    followee_id: str
    accepted: bool
    follower_local: bool
    followee_local: bool


@dataclass(frozen=True)
class FollowAccepted(Event):
    """A follow was accepted (at once, on request, or again: a remote Follow resent);
    `uri` is the id of a remote follower's Follow activity."""

    follow_id: str
    follower_id: str
    followee_id: str
    uri: str | None
    follower_local: bool
    followee_local: bool


@dataclass(frozen=True)
class FollowRejected(Event):
    """The followee turned a follower (or a request) away."""

    follow_id: str
    follower_id: str
    followee_id: str
    uri: str | None
    follower_local: bool
    followee_local: bool


@dataclass(frozen=True)
class Unfollowed(Event):
    """The follower stopped following (or withdrew its request)."""

    follow_id: str
    follower_id: str
    followee_id: str
    uri: str | None
    follower_local: bool
    followee_local: bool


@dataclass(frozen=True)
class Blocked(Event):
    """`blocker_id` blocked `blocked_id` (`block_id` is the blocks row)."""

    block_id: str
    blocker_id: str
    blocked_id: str
    blocker_local: bool
    blocked_local: bool


@dataclass(frozen=True)
class Unblocked(Event):
    """A block was lifted (`block_id`: the row removed)."""

    block_id: str
    blocker_id: str
    blocked_id: str
    blocker_local: bool
    blocked_local: bool


# --- profiles -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileChanged(Event):
    """An actor's profile (name, bio, fields, images, lock) changed."""

    actor_id: str
    local: bool
