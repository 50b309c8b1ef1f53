"""Remote posts: a Note (or Article, or Question) from another server stored as a post.

Everything in the note is checked and bounded before it is used: its id is on the
sender's server and it is the sender's, the HTML is sanitised, text fields have limits.
Decisions worth knowing:

- a post is stored only when someone here may want it: a local actor it mentions or
  addresses, a local post it answers, or a local follower of its author; anything else
  (a public post sent to the shared inbox of a server nobody here follows it from) is
  dropped (`Unwanted`: its sender is not stored either, unless it was known already);
- a reply to a post we do not have is kept as a reply (`is_reply`, so it stays out of
  the timelines that skip replies) without a parent: we do not fetch the parent;
- `summary` is the content warning (cut at 500 characters), the first `contentMap` key
  that is a language tag is the language, and `to`/`cc` give the visibility as
  Mastodon maps it (Public in `to`: public; in `cc`: unlisted; the author's followers:
  followers; otherwise direct).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from typing import Any

from sqlalchemy import exists, select

from personae.errors import Forbidden, NotFound
from personae.federation.activities import (
    BadActivity,
    Inbound,
    Unwanted,
    find_post,
    is_local,
    local_handle,
)
from personae.federation.html import sanitize, to_text
from personae.federation.models import RemoteActor
from personae.federation.remote import BadActor, check_uri, host_of, id_of
from personae.social.access import actor_visible, get_visible_post
from personae.social.models import Actor, Follow, Post
from personae.social.post_store import insert_post, update_post
from personae.social.posts import LANGUAGE_RE, MAX_CW_CHARS
from personae.social.text import MAX_TAG_LENGTH

NOTE_TYPES = ("Note", "Article", "Question")
PUBLIC = frozenset({"https://www.w3.org/ns/activitystreams#Public", "as:Public", "Public"})
MAX_CONTENT_CHARS = 100_000
MAX_ADDRESSEES = 200  # to + cc entries read
MAX_TAG_ENTRIES = 100  # `tag` entries read
MAX_MENTIONS = 50
MAX_HASHTAGS = 30
MAX_ATTACHMENTS = 8
MAX_LANGUAGE = 16
_HASHTAG = re.compile(r"\w*[^\W\d_]\w*")


@dataclass(frozen=True)
class ParsedNote:
    """The parts of a note we keep, checked and bounded."""

    uri: str
    url: str | None
    content_html: str
    text: str
    content_warning: str
    language: str
    visibility: str
    in_reply_to: str | None
    # Mention hrefs, then every to/cc entry: who the note is addressed to.
    addressees: tuple[str, ...]
    mentions: tuple[str, ...]
    tags: tuple[str, ...]


def _list(value: Any, limit: int) -> list[Any]:
    items = value if isinstance(value, list) else [] if value is None else [value]
    return items[:limit]


def _uri_or_none(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("href") or value.get("id")
    try:
        return check_uri(value, "a link")
    except BadActor:
        return None


def _audience(note: dict[str, Any]) -> tuple[list[str], list[str]]:
    to = [v for v in _list(note.get("to"), MAX_ADDRESSEES) if isinstance(v, str)]
    cc = [v for v in _list(note.get("cc"), MAX_ADDRESSEES) if isinstance(v, str)]
    return to, cc


def visibility_of(to: list[str], cc: list[str], followers_url: str) -> str:
    """public, unlisted, followers or direct, from a note's addressing."""
    if PUBLIC.intersection(to):
        return "public"
    if PUBLIC.intersection(cc):
        return "unlisted"
    if followers_url and followers_url in to + cc:
        return "followers"
    return "direct"


def _content(note: dict[str, Any]) -> tuple[str, str]:
    """(HTML content, language) from `content` and `contentMap`."""
    content = note.get("content")
    content_map = note.get("contentMap")
    language = ""
    if isinstance(content_map, dict):
        for key, value in content_map.items():
            if len(key) <= MAX_LANGUAGE and LANGUAGE_RE.match(key):
                language = key
                if not isinstance(content, str) and isinstance(value, str):
                    content = value
                break
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise BadActivity("the note's content must be a string")
    if len(content) > MAX_CONTENT_CHARS:
        raise BadActivity(f"the note's content is over {MAX_CONTENT_CHARS} characters")
    if note.get("type") == "Article" and isinstance(note.get("name"), str):
        content = f"<p><strong>{escape(note['name'][:200])}</strong></p>{content}"
    return content, language


def _attachments(note: dict[str, Any]) -> str:
    """Links to a note's attachments (images and the like are not copied here)."""
    links = []
    for item in _list(note.get("attachment"), MAX_ATTACHMENTS):
        if not isinstance(item, dict):
            continue
        url = _uri_or_none(item.get("url") or item.get("href"))
        if url is None:
            continue
        name = item.get("name") if isinstance(item.get("name"), str) else ""
        label = escape((name or url)[:200])
        links.append(f'<p><a href="{escape(url)}">{label}</a></p>')
    return "".join(links)


def check_note(note: dict[str, Any], actor_uri: str) -> tuple[str, str, str]:
    """The cheap checks of a note from `actor_uri`: (id, HTML content, language), or 422."""
    try:
        uri = id_of(note, "the note's id")
        authors = [id_of(a, "the note's author") for a in _list(note.get("attributedTo"), 5)]
    except BadActor as exc:
        raise BadActivity(exc.message) from exc
    if host_of(uri) != host_of(actor_uri):
        raise BadActivity("the note is on another server than its author")
    if authors != [actor_uri]:
        raise BadActivity("the note is not attributed to the activity's actor")
    content, language = _content(note)
    return uri, content, language


def parse_note(note: dict[str, Any], actor_uri: str, followers_url: str) -> ParsedNote:
    """Check a note from `actor_uri`; BadActivity (422) for anything that does not add up."""
    uri, content, language = check_note(note, actor_uri)
    html = sanitize(content + _attachments(note))
    summary = note.get("summary")
    warning = to_text(summary)[:MAX_CW_CHARS] if isinstance(summary, str) else ""
    to, cc = _audience(note)
    mentions: list[str] = []
    tags: list[str] = []
    for tag in _list(note.get("tag"), MAX_TAG_ENTRIES):
        if not isinstance(tag, dict):
            continue
        if tag.get("type") == "Mention":
            href = _uri_or_none(tag.get("href"))
            if href is not None and href not in mentions:
                mentions.append(href)
        elif tag.get("type") == "Hashtag" and isinstance(tag.get("name"), str):
            name = tag["name"].lstrip("#").lower()
            if len(name) <= MAX_TAG_LENGTH and _HASHTAG.fullmatch(name) and name not in tags:
                tags.append(name)
    reply = note.get("inReplyTo")
    return ParsedNote(
        uri=uri,
        url=_uri_or_none(note.get("url")),
        content_html=html,
        text=to_text(html),
        content_warning=warning,
        language=language,
        visibility=visibility_of(to, cc, followers_url),
        in_reply_to=_uri_or_none(reply) if reply else None,
        addressees=tuple(dict.fromkeys([*mentions, *to, *cc]))[: MAX_MENTIONS * 2],
        mentions=tuple(mentions[:MAX_MENTIONS]),
        tags=tuple(tags[:MAX_HASHTAGS]),
    )


def _parse(ctx: Inbound) -> ParsedNote:
    note = ctx.activity.object
    assert isinstance(note, dict)
    return parse_note(note, ctx.actor_uri, ctx.remote.followers_url)


async def _addressed(ctx: Inbound, parsed: ParsedNote) -> tuple[list[Actor], list[str]]:
    """(local actors the note addresses that may see the sender, remote actors' ids)."""
    handles = {h for h in (local_handle(ctx.urls, u) for u in parsed.addressees) if h}
    local: list[Actor] = []
    if handles:
        local = list(
            await ctx.session.scalars(
                select(Actor)
                .where(Actor.handle.in_(handles), Actor.domain.is_(None))
                .where(actor_visible(ctx.viewer))
                .order_by(Actor.id)
            )
        )
    others = [u for u in parsed.addressees if not is_local(ctx.urls, u)]
    remote: list[str] = []
    if others:
        remote = [
            actor_id
            for actor_id in await ctx.session.scalars(
                select(RemoteActor.actor_id).where(RemoteActor.uri.in_(others))
            )
            if actor_id not in ctx.viewer.blocked and actor_id != ctx.actor.id
        ]
    return local, remote


async def _parent(ctx: Inbound, uri: str | None) -> Post | None:
    """The post replied to, if we have it and the sender may see it."""
    if uri is None:
        return None
    found = await find_post(ctx.session, ctx.urls, uri)
    if found is None:
        return None
    try:
        return await get_visible_post(ctx.session, ctx.viewer, found.id)
    except NotFound:
        return None  # not the sender's to see: the reply is kept unthreaded


async def _wanted(ctx: Inbound, local: list[Actor], parent: Post | None) -> bool:
    """Whether anyone here may want the post (see the module's docstring)."""
    if local:
        return True
    if parent is not None and parent.uri is None:
        return True  # it answers one of ours
    followed = await ctx.session.scalar(
        select(
            exists()
            .where(Follow.followee_id == ctx.actor.id, Follow.state == "accepted")
            .where(Follow.follower_id == Actor.id, Actor.domain.is_(None))
        )
    )
    return bool(followed)


async def create_note(ctx: Inbound) -> None:
    """Store a remote post once, with its mentions, tags, counters and notifications."""
    session, author = ctx.session, ctx.actor
    parsed = _parse(ctx)
    if await session.scalar(select(Post.id).where(Post.uri == parsed.uri)) is not None:
        return  # the same note again (another Create of it): stored once
    local, remote = await _addressed(ctx, parsed)
    parent = await _parent(ctx, parsed.in_reply_to)
    if not await _wanted(ctx, local, parent):
        raise Unwanted("nobody here follows, is addressed by or is answered by the post")
    await insert_post(
        session,
        author,
        text=parsed.text,
        content_html=parsed.content_html,
        content_warning=parsed.content_warning,
        language=parsed.language,
        visibility=parsed.visibility,
        parent=parent,
        is_reply=parsed.in_reply_to is not None,
        addressed=[*(a.id for a in local), *remote],
        mentioned=[a.id for a in local],
        tags=parsed.tags,
        blocked=ctx.viewer.blocked,
        uri=parsed.uri,
        url=parsed.url,
    )  # None: the same note, stored by a concurrent delivery


async def update_note(ctx: Inbound) -> None:
    """An edit of the sender's post: the old version goes to its history."""
    session, author = ctx.session, ctx.actor
    parsed = _parse(ctx)
    post = await session.scalar(select(Post).where(Post.uri == parsed.uri))
    if post is None:
        # Never stored (nobody here wanted it): an edit does not make it wanted.
        raise Unwanted("an edit of a post we do not have")
    if post.author_id != author.id:
        raise Forbidden("only a post's author can edit it")
    local, remote = await _addressed(ctx, parsed)
    await update_post(
        session,
        post,
        text=parsed.text,
        content_html=parsed.content_html,
        content_warning=parsed.content_warning,
        language=parsed.language,
        addressed=[*(a.id for a in local), *remote],
        mentioned=[a.id for a in local],
        tags=parsed.tags,
        local=False,
    )
