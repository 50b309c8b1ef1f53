"""The one write path for posts: insert and edit, with everything that goes with them.

Local posting (`posts.create_post`, `posts.edit_post`), posts received from other servers
(`federation.inbound_posts`) and the agents' actions all write posts through here, so
mentions, tags, counters, notifications and the domain events are done in one place.
The callers check what their side needs (the network's rules for a local author, the
note's shape for a remote one) and own the transaction: nothing here commits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from personae import events
from personae.db import new_id, utcnow
from personae.social.actors import search_key
from personae.social.events import PostCreated, PostUpdated
from personae.social.models import Actor, Post, PostEdit, PostMention, PostTag
from personae.social.notifications import notify


async def _add(session: AsyncSession, post: Post) -> bool:
    """Insert the row; False when a remote post with the same uri got there first."""
    if post.uri is None:
        session.add(post)
        await session.flush()
        return True
    try:
        # A savepoint: the same note delivered twice at once loses only this insert,
        # not the caller's transaction.
        async with session.begin_nested():
            session.add(post)
    except IntegrityError:
        return False
    return True


async def insert_post(
    session: AsyncSession,
    author: Actor,
    *,
    text: str,
    content_html: str,
    content_warning: str = "",
    language: str = "",
    visibility: str = "public",
    parent: Post | None = None,
    is_reply: bool | None = None,
    quoted: Post | None = None,
    addressed: Iterable[str] = (),
    mentioned: Iterable[str] = (),
    tags: Iterable[str] = (),
    blocked: Collection[str] = (),
    post_id: str | None = None,
    uri: str | None = None,
    url: str | None = None,
) -> Post | None:
    """Store a post with its mentions, tags, counters and notifications, and tell the
    subscribers (`PostCreated`); None when the same remote post (`uri`) is stored already.

    `addressed` are the actors the post reaches besides its author (the parent's author
    is added unless `blocked`), `mentioned` those told of a mention.
    """
    post_id = post_id or new_id()
    post = Post(
        id=post_id,
        author_id=author.id,
        text=text,
        content_html=content_html,
        content_warning=content_warning,
        language=language,
        visibility=visibility,
        is_reply=parent is not None if is_reply is None else is_reply,
        in_reply_to_id=parent.id if parent else None,
        reply_to_author_id=parent.author_id if parent else None,
        root_id=parent.root_id if parent else post_id,
        quote_of_id=quoted.id if quoted else None,
        origin_author_id=author.id,
        author_is_ai=author.is_ai,
        origin_is_ai=author.is_ai,
        search_key=search_key(post_id),
        uri=uri,
        url=url,
    )
    if not await _add(session, post):
        return None
    reach = set(addressed)
    if parent is not None and parent.author_id not in blocked:
        reach.add(parent.author_id)  # the parent's author can always read a reply
    reach.discard(author.id)
    session.add_all(PostMention(post_id=post_id, actor_id=a) for a in sorted(reach))
    session.add_all(PostTag(tag=t, post_id=post_id) for t in tags)
    await session.execute(
        update(Actor).where(Actor.id == author.id).values(posts_count=Actor.posts_count + 1)
    )
    if parent is not None:
        await session.execute(
            update(Post).where(Post.id == parent.id).values(replies_count=Post.replies_count + 1)
        )
        # A remote author answering a remote post: its own server tells the parent's author.
        if uri is None or parent.uri is None:
            await notify(session, parent.author_id, "reply", author.id, post_id)
    if quoted is not None:
        await session.execute(
            update(Post).where(Post.id == quoted.id).values(quotes_count=Post.quotes_count + 1)
        )
        if visibility in ("public", "unlisted") or quoted.author_id in reach:
            await notify(session, quoted.author_id, "quote", author.id, post_id)
    for target in mentioned:
        if parent is None or target != parent.author_id:
            await notify(session, target, "mention", author.id, post_id)
    await events.emit(session, PostCreated(post_id, author.id, local=author.domain is None))
    return post


async def update_post(
    session: AsyncSession,
    post: Post,
    *,
    text: str,
    content_html: str,
    content_warning: str,
    language: str,
    addressed: Iterable[str] = (),
    mentioned: Iterable[str] = (),
    tags: Iterable[str] = (),
    local: bool,
) -> Post:
    """Edit a post: the old version goes to its history, newly addressed actors are added
    (those in `mentioned` told so), the tags replaced; tells the subscribers (`PostUpdated`)."""
    session.add(
        PostEdit(
            post_id=post.id,
            text=post.text,
            content_warning=post.content_warning,
            language=post.language,
        )
    )
    existing = set(
        await session.scalars(select(PostMention.actor_id).where(PostMention.post_id == post.id))
    )
    added: set[str] = set()
    for actor_id in addressed:
        if actor_id not in existing and actor_id != post.author_id and actor_id not in added:
            session.add(PostMention(post_id=post.id, actor_id=actor_id))
            added.add(actor_id)
    for target in mentioned:
        if target not in existing and target != post.author_id:
            await notify(session, target, "mention", post.author_id, post.id)
    await session.execute(delete(PostTag).where(PostTag.post_id == post.id))
    session.add_all(PostTag(tag=t, post_id=post.id) for t in tags)
    post.text = text
    post.content_html = content_html
    post.content_warning = content_warning
    post.language = language
    post.edited_at = utcnow()
    await events.emit(session, PostUpdated(post.id, post.author_id, local=local))
    return post
