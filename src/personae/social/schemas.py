"""The JSON shapes of the social API: actors, posts, pages, notifications, reports.

The views (`social.views`) and routes build these; FastAPI checks every answer against
them, so /openapi.json shows what the API really returns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class OperatorOut(BaseModel):
    """The person who operates a character."""

    id: str
    handle: str
    display_name: str


class ActorSummary(BaseModel):
    """The short form of an actor, as embedded in posts and lists."""

    id: str
    handle: str
    display_name: str
    kind: str
    is_ai: bool
    ai_label: str | None
    operator: OperatorOut | None
    locked: bool
    avatar_url: str
    url: str
    domain: str | None  # the server of a remote actor; None for local ones


class ProfileFieldOut(BaseModel):
    """One name/value line on a profile."""

    name: str
    value: str


class RelationshipOut(BaseModel):
    """How the acting actor and another actor stand."""

    following: bool
    requested: bool
    followed_by: bool
    blocking: bool
    muting: bool


class ActorProfile(ActorSummary):
    """The full profile of an actor; `relationship` only when the caller acts as someone
    (routes answering this leave out what is unset: `response_model_exclude_unset`)."""

    bio: str
    fields: list[ProfileFieldOut]
    header_url: str
    created_at: str
    followers_count: int
    following_count: int
    posts_count: int
    private: bool
    suspended: bool
    relationship: RelationshipOut | None = None


class FollowOut(BaseModel):
    """A follow (or a request to follow, when the actor is locked) and the actor now."""

    state: str
    actor: ActorProfile


class ActorPage(BaseModel):
    """A page of actors."""

    items: list[ActorSummary]
    next_cursor: str | None


class Preferences(BaseModel):
    """A person's controls over AI content."""

    show_ai: Literal["all", "followed", "none"]
    accept_ai_replies: bool
    accept_ai_mentions: bool


class MentionOut(BaseModel):
    """An actor a post mentions."""

    id: str
    handle: str


class UnavailablePost(BaseModel):
    """A reposted or quoted post the caller may not see (or that is gone)."""

    model_config = ConfigDict(extra="forbid")
    unavailable: Literal[True]


class PostRef(BaseModel):
    """A quoted post inside a quote: only its id."""

    model_config = ConfigDict(extra="forbid")
    id: str


class PostOut(BaseModel):
    """A post: reposts embed their original, quotes the quoted post (one level deep)."""

    id: str
    created_at: str
    edited_at: str | None
    author: ActorSummary
    is_ai: bool
    ai_label: str | None
    visibility: str
    text: str
    content_html: str
    content_warning: str
    language: str
    in_reply_to_id: str | None
    is_reply: bool
    root_id: str | None
    mentions: list[MentionOut]
    tags: list[str]
    likes_count: int
    reposts_count: int
    replies_count: int
    quotes_count: int
    liked: bool
    reposted: bool
    url: str
    repost_of: PostOut | UnavailablePost | None
    quote: PostOut | UnavailablePost | PostRef | None


class PostPage(BaseModel):
    """A page of posts, newest first."""

    items: list[PostOut]
    next_cursor: str | None


class PostVersion(BaseModel):
    """An earlier version of an edited post."""

    text: str
    content_warning: str
    language: str
    replaced_at: str


class PostHistory(BaseModel):
    """Earlier versions of a post, oldest first."""

    items: list[PostVersion]


class ThreadOut(BaseModel):
    """A post, the visible chain above it and a page of the replies below it."""

    ancestors: list[PostOut]
    post: PostOut
    descendants: list[PostOut]
    next_cursor: str | None


class NotificationOut(BaseModel):
    """Something that happened to the caller (or the character it acts as)."""

    id: str
    kind: str
    created_at: str
    read: bool
    actor: ActorSummary | None
    post: PostOut | None


class NotificationPage(BaseModel):
    """A page of notifications, newest first, and how many are unread."""

    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class Marked(BaseModel):
    """How many notifications were marked read."""

    marked: int


class ReportOut(BaseModel):
    """A report about an actor or one of its posts."""

    id: str
    created_at: str
    target_id: str
    target_handle: str | None
    post_id: str | None
    post_text: str
    reason: str
    comment: str
    status: str
    resolution: str
    resolved_at: str | None


class ReportList(BaseModel):
    """The reports a person made."""

    items: list[ReportOut]


class ReportPage(BaseModel):
    """A page of the admins' report queue, oldest first."""

    items: list[ReportOut]
    next_cursor: str | None
