"""Posts as ActivityStreams Notes, and the Create activities that publish them.

`note_for` is pure (the post and what it refers to, already loaded); `notes_for` loads
that context for many posts in a few queries, for the outbox and single-note fetches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.federation.urls import Urls
from personae.social.models import Actor, Post, PostMention, PostTag

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Posts a remote server may fetch by id and that the outbox lists; followers-only and
# direct posts only ever travel by (signed) delivery to their audience.
FETCHABLE = ("public", "unlisted")


def iso(moment: datetime) -> str:
    """An ActivityStreams timestamp: UTC, whole seconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def absolute_links(html: str, urls: Urls) -> str:
    """Make the site-relative links post rendering emits (`/@x`, `/tags/y`) absolute.

    Safe as a plain replace: user text is HTML-escaped, so `href="/` can only come from
    anchors our own renderer wrote.
    """
    return html.replace('href="/', f'href="{urls.base}/')


@dataclass(frozen=True)
class NoteContext:
    """What a Note needs besides its post: author, mentioned actors, hashtags, parent."""

    author: Actor
    mentioned: Sequence[Actor] = ()
    tags: Sequence[str] = ()
    # The post replied to, as (post id, its author's handle), when it still exists.
    in_reply_to: tuple[str, str] | None = None
    quote_of: tuple[str, str] | None = None


def addressing(
    visibility: str, followers: str, addressed: Sequence[str]
) -> tuple[list[str], list[str]]:
    """`to` and `cc` of a post by its visibility, as Mastodon maps them."""
    people = list(addressed)
    if visibility == "public":
        return [PUBLIC], [followers, *people]
    if visibility == "unlisted":
        return [followers], [PUBLIC, *people]
    if visibility == "followers":
        return [followers], people
    return people, []  # direct: the addressed actors only


def note_for(post: Post, context: NoteContext, urls: Urls) -> dict[str, Any]:
    """The Note of a post (no `@context`: the caller wraps it)."""
    author = context.author
    mentioned = [a for a in context.mentioned if a.id != author.id]
    actor_id = urls.actor(author.handle)
    to, cc = addressing(
        post.visibility, urls.followers(author.handle), [urls.actor(a.handle) for a in mentioned]
    )
    content = absolute_links(post.content_html, urls)
    tags: list[dict[str, str]] = [
        {"type": "Mention", "href": urls.actor(a.handle), "name": f"@{urls.acct(a.handle)}"}
        for a in mentioned
    ]
    tags += [{"type": "Hashtag", "href": urls.tag(t), "name": f"#{t}"} for t in context.tags]
    note: dict[str, Any] = {
        "id": urls.note(author.handle, post.id),
        "type": "Note",
        "attributedTo": actor_id,
        "url": urls.post_page(author.handle, post.id),
        "published": iso(post.created_at),
        "to": to,
        "cc": cc,
        "inReplyTo": urls.note(context.in_reply_to[1], context.in_reply_to[0])
        if context.in_reply_to
        else None,
        "sensitive": bool(post.content_warning),
        "summary": post.content_warning or None,
        "content": content,
        "tag": tags,
        "attachment": [],
    }
    if post.language:
        note["contentMap"] = {post.language: content}
    if post.edited_at is not None:
        note["updated"] = iso(post.edited_at)
    if context.quote_of:
        # Misskey's and Fedibird's spelling; Mastodon 4.4+ reads `quote`/`quoteUri` too.
        quoted = urls.note(context.quote_of[1], context.quote_of[0])
        note["quoteUrl"] = quoted
        note["_misskey_quote"] = quoted
    return note


def create_for(post: Post, context: NoteContext, urls: Urls) -> dict[str, Any]:
    """The Create activity that published a post (the Note inside, same audience)."""
    note = note_for(post, context, urls)
    return {
        "id": urls.note_activity(context.author.handle, post.id),
        "type": "Create",
        "actor": note["attributedTo"],
        "published": note["published"],
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


async def note_contexts(session: AsyncSession, posts: Sequence[Post]) -> dict[str, NoteContext]:
    """The context of each post (by post id), loaded in four queries however many posts."""
    if not posts:
        return {}
    post_ids = [p.id for p in posts]
    mentions: dict[str, list[str]] = {}
    for post_id, actor_id in await session.execute(
        select(PostMention.post_id, PostMention.actor_id).where(PostMention.post_id.in_(post_ids))
    ):
        mentions.setdefault(post_id, []).append(actor_id)
    tags: dict[str, list[str]] = {}
    for tag, post_id in await session.execute(
        select(PostTag.tag, PostTag.post_id)
        .where(PostTag.post_id.in_(post_ids))
        .order_by(PostTag.tag)
    ):
        tags.setdefault(post_id, []).append(tag)
    refs = {p.in_reply_to_id for p in posts if p.in_reply_to_id}
    refs |= {p.quote_of_id for p in posts if p.quote_of_id}
    ref_authors: dict[str, str] = {}
    if refs:
        ref_authors = {
            post_id: author_id
            for post_id, author_id in await session.execute(
                select(Post.id, Post.author_id).where(Post.id.in_(refs))
            )
        }
    actor_ids = {p.author_id for p in posts} | set(ref_authors.values())
    for ids in mentions.values():
        actor_ids |= set(ids)
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}

    def ref(post_id: str | None) -> tuple[str, str] | None:
        author = actors.get(ref_authors.get(post_id or "", ""))
        return (post_id, author.handle) if post_id and author else None

    return {
        p.id: NoteContext(
            author=actors[p.author_id],
            mentioned=sorted(
                (actors[a] for a in mentions.get(p.id, []) if a in actors), key=lambda a: a.handle
            ),
            tags=tags.get(p.id, []),
            in_reply_to=ref(p.in_reply_to_id),
            quote_of=ref(p.quote_of_id),
        )
        for p in posts
    }


async def creates_for(
    session: AsyncSession, posts: Sequence[Post], urls: Urls
) -> list[dict[str, Any]]:
    """The Create activities of several posts, in the order given."""
    contexts = await note_contexts(session, posts)
    return [create_for(p, contexts[p.id], urls) for p in posts]
