"""Posts as ActivityStreams Notes, and the Create activities that publish them.

`note_for` is pure (the post and what it refers to, already loaded); `notes_for` loads
that context for many posts in a few queries, for the outbox and single-note fetches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.federation.models import RemoteActor
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
class RemoteRef:
    """What a Note needs of a remote actor it names: its id and its profile page."""

    uri: str
    url: str = ""


@dataclass(frozen=True)
class PostRef:
    """A post a Note refers to (its parent, the post it quotes)."""

    post_id: str
    author_handle: str
    # A remote post's own ActivityPub id; None for a post written here.
    uri: str | None = None

    def note_id(self, urls: Urls) -> str:
        """The referred post's Note id."""
        return self.uri or urls.note(self.author_handle, self.post_id)


@dataclass(frozen=True)
class NoteContext:
    """What a Note needs besides its post: author, mentioned actors, hashtags, parent."""

    author: Actor
    mentioned: Sequence[Actor] = ()
    tags: Sequence[str] = ()
    # The post replied to and the post quoted, when they still exist.
    in_reply_to: PostRef | None = None
    quote_of: PostRef | None = None
    # The remote actors among `mentioned`, by actor id.
    remote: Mapping[str, RemoteRef] = field(default_factory=dict)

    def actor_id(self, actor: Actor, urls: Urls) -> str:
        """The ActivityPub id of an actor the Note names (local or remote)."""
        ref = self.remote.get(actor.id)
        return ref.uri if ref else urls.actor(actor.handle)

    def acct(self, actor: Actor, urls: Urls) -> str:
        """`@user@domain` of an actor the Note names (a remote handle already is one)."""
        return f"@{actor.handle}" if actor.id in self.remote else f"@{urls.acct(actor.handle)}"


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


def _remote_profile_links(html: str, context: NoteContext, urls: Urls) -> str:
    """Point mention links of remote actors at their own profile pages, not our copy."""
    for actor in context.mentioned:
        ref = context.remote.get(actor.id)
        if ref is not None:
            html = html.replace(
                f'href="{urls.base}/@{actor.handle}"', f'href="{escape(ref.url or ref.uri)}"'
            )
    return html


def note_for(post: Post, context: NoteContext, urls: Urls) -> dict[str, Any]:
    """The Note of a post (no `@context`: the caller wraps it)."""
    author = context.author
    mentioned = [a for a in context.mentioned if a.id != author.id]
    actor_id = urls.actor(author.handle)
    to, cc = addressing(
        post.visibility,
        urls.followers(author.handle),
        [context.actor_id(a, urls) for a in mentioned],
    )
    content = _remote_profile_links(absolute_links(post.content_html, urls), context, urls)
    tags: list[dict[str, str]] = [
        {"type": "Mention", "href": context.actor_id(a, urls), "name": context.acct(a, urls)}
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
        "inReplyTo": context.in_reply_to.note_id(urls) if context.in_reply_to else None,
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
        # FEP-044f's `quote` (Mastodon 4.4+), and the older spellings of Misskey
        # (`_misskey_quote`, `quoteUrl`) and Fedibird (`quoteUri`); NOTE_CONTEXT defines all.
        quoted = context.quote_of.note_id(urls)
        note["quote"] = quoted
        note["quoteUrl"] = quoted
        note["quoteUri"] = quoted
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


def note_id(post: Post, author: Actor, urls: Urls) -> str:
    """A post's Note id: a remote post's own `uri`, or ours for a local one."""
    return post.uri or urls.note(author.handle, post.id)


async def note_contexts(session: AsyncSession, posts: Sequence[Post]) -> dict[str, NoteContext]:
    """The context of each post (by post id), loaded in five queries however many posts."""
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
    ref_posts: dict[str, Post] = {}
    if refs:
        ref_posts = {p.id: p for p in await session.scalars(select(Post).where(Post.id.in_(refs)))}
    actor_ids = {p.author_id for p in posts} | {p.author_id for p in ref_posts.values()}
    for ids in mentions.values():
        actor_ids |= set(ids)
    actors = {a.id: a for a in await session.scalars(select(Actor).where(Actor.id.in_(actor_ids)))}
    remote_ids = [a.id for a in actors.values() if a.domain is not None]
    remote: dict[str, RemoteRef] = {}
    if remote_ids:
        remote = {
            r.actor_id: RemoteRef(uri=r.uri, url=r.url)
            for r in await session.scalars(
                select(RemoteActor).where(RemoteActor.actor_id.in_(remote_ids))
            )
        }

    def ref(post_id: str | None) -> PostRef | None:
        found = ref_posts.get(post_id or "")
        author = actors.get(found.author_id) if found else None
        return PostRef(found.id, author.handle, found.uri) if found and author else None

    return {
        p.id: NoteContext(
            author=actors[p.author_id],
            mentioned=sorted(
                (actors[a] for a in mentions.get(p.id, []) if a in actors), key=lambda a: a.handle
            ),
            tags=tags.get(p.id, []),
            in_reply_to=ref(p.in_reply_to_id),
            quote_of=ref(p.quote_of_id),
            remote={a: r for a, r in remote.items() if a in mentions.get(p.id, [])},
        )
        for p in posts
    }


async def creates_for(
    session: AsyncSession, posts: Sequence[Post], urls: Urls
) -> list[dict[str, Any]]:
    """The Create activities of several posts, in the order given."""
    contexts = await note_contexts(session, posts)
    return [create_for(p, contexts[p.id], urls) for p in posts]
