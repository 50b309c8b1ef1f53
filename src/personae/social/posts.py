"""Posts: write, edit, delete, like and repost, with the network's rules applied."""

from __future__ import annotations

import re

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from personae import events
from personae.db import new_id
from personae.errors import Conflict, Forbidden, Invalid, NotFound
from personae.social import text as post_text
from personae.social.access import (
    Viewer,
    blocked_either_way,
    check_ai_may_mention,
    check_ai_may_reply,
    get_visible_post,
    visible_posts,
)
from personae.social.actors import actors_by_handles, require_can_publish, search_key
from personae.social.events import Liked, PostDeleted, Reposted, Unliked, Unreposted
from personae.social.models import POST_VISIBILITIES, Actor, Like, Post, PostEdit, PostMention
from personae.social.notifications import notify
from personae.social.post_store import insert_post, update_post
from personae.social.rows import insert_new

MAX_POST_CHARS = 3000
MAX_CW_CHARS = 500
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}$")
# From widest to narrowest audience: a reply may not reach further than its parent.
AUDIENCE_RANK = {v: i for i, v in enumerate(POST_VISIBILITIES)}


def _check_fields(text: str, content_warning: str, language: str, visibility: str) -> None:
    if not text.strip():
        raise Invalid("a post needs some text", code="empty_post")
    if "\x00" in text or "\x00" in content_warning:  # PostgreSQL cannot store NUL in text
        raise Invalid("text and content_warning cannot contain NUL characters", "bad_text")
    if len(text) > MAX_POST_CHARS:
        raise Invalid(
            f"the post is {len(text)} characters; the limit is {MAX_POST_CHARS}",
            code="post_too_long",
        )
    if len(content_warning) > MAX_CW_CHARS:
        raise Invalid(f"content_warning is over {MAX_CW_CHARS} characters", "field_too_long")
    if language and not LANGUAGE_RE.match(language):
        raise Invalid(f"language '{language[:20]}' is not a language tag like 'en' or 'pt-BR'")
    if visibility not in POST_VISIBILITIES:
        raise Invalid(f"visibility must be one of {', '.join(POST_VISIBILITIES)}", "bad_visibility")


async def _original(session: AsyncSession, viewer: Viewer, post_id: str) -> Post:
    """The visible post with that id, or the post it reposts (one acts on originals)."""
    post = await get_visible_post(session, viewer, post_id)
    if post.repost_of_id:
        post = await get_visible_post(session, viewer, post.repost_of_id)
    return post


async def _addressees(
    session: AsyncSession,
    viewer: Viewer,
    author: Actor,
    text: str,
    replying_to: str | None = None,
) -> tuple[dict[str, Actor], list[str]]:
    """Mentioned actors (blocked ones silently left out, AI refusals raised) and tags.

    Naming the author one replies to is part of the reply, which they already allowed.
    """
    parsed = post_text.parse(text)
    found = await actors_by_handles(session, parsed.mentions)
    reachable = {h: a for h, a in found.items() if a.id not in viewer.blocked}
    for target in reachable.values():
        if target.id != replying_to:
            check_ai_may_mention(author, target)
    return reachable, parsed.tags


def _render(text: str, mentioned: dict[str, Actor]) -> str:
    return post_text.render_html(text, {h: a.handle for h, a in mentioned.items()})


async def create_post(
    session: AsyncSession,
    viewer: Viewer,
    text: str,
    content_warning: str = "",
    language: str = "",
    visibility: str = "public",
    in_reply_to_id: str | None = None,
    quote_of_id: str | None = None,
    post_id: str | None = None,
) -> Post:
    """Publish a post as the viewer's acting actor; checks everything before writing.

    `post_id` lets a caller that records the post elsewhere in the same transaction (the
    agents' agenda) choose the id beforehand.
    """
    author = viewer.require_actor()
    require_can_publish(author)
    _check_fields(text, content_warning, language, visibility)
    parent: Post | None = None
    parent_author: Actor | None = None
    if in_reply_to_id:
        parent = await _original(session, viewer, in_reply_to_id)
        parent_author = await session.get(Actor, parent.author_id)
        assert parent_author is not None
        check_ai_may_reply(author, parent_author)
        if AUDIENCE_RANK[visibility] < AUDIENCE_RANK[parent.visibility]:
            raise Invalid(
                f"a reply to a {parent.visibility} post cannot be {visibility}; use "
                f"{parent.visibility} or narrower",
                code="reply_too_wide",
            )
    quoted: Post | None = None
    if quote_of_id:
        quoted = await _original(session, viewer, quote_of_id)
        if quoted.visibility not in ("public", "unlisted"):
            raise Invalid("only public and unlisted posts can be quoted", code="not_quotable")
        quoted_author = await session.get(Actor, quoted.author_id)
        assert quoted_author is not None
        check_ai_may_mention(author, quoted_author)  # a quote calls on its author too
    mentioned, tags = await _addressees(
        session, viewer, author, text, parent.author_id if parent else None
    )
    post = await insert_post(
        session,
        author,
        text=text,
        content_html=_render(text, mentioned),
        content_warning=content_warning,
        language=language,
        visibility=visibility,
        parent=parent,
        quoted=quoted,
        addressed=[a.id for a in mentioned.values()],
        mentioned=[a.id for a in mentioned.values()],
        tags=tags,
        blocked=viewer.blocked,
        post_id=post_id,
    )
    assert post is not None  # a local post has no uri to be stored twice under
    return post


def _require_own(viewer: Viewer, post: Post) -> None:
    if post.author_id not in viewer.identities:
        raise Forbidden("only the author (or the operator of a character) can change a post")


async def edit_post(
    session: AsyncSession,
    viewer: Viewer,
    post_id: str,
    text: str | None = None,
    content_warning: str | None = None,
    language: str | None = None,
) -> Post:
    """Edit one's own post, keeping the previous version in its history."""
    post = await get_visible_post(session, viewer, post_id)
    _require_own(viewer, post)
    if post.repost_of_id:
        raise Invalid("a repost has no text to edit", code="not_editable")
    new_text = post.text if text is None else text
    new_cw = post.content_warning if content_warning is None else content_warning
    new_language = post.language if language is None else language
    _check_fields(new_text, new_cw, new_language, post.visibility)
    author = await session.get(Actor, post.author_id)
    assert author is not None
    # Mentions are checked against the author's blocks, whoever of its operator edits.
    edit_viewer = Viewer(
        account=viewer.account,
        actor=author,
        identities=viewer.identities,
        blocked=await blocked_either_way(session, author),
    )
    mentioned, tags = await _addressees(
        session, edit_viewer, author, new_text, post.reply_to_author_id
    )
    ids = [a.id for a in mentioned.values()]
    return await update_post(
        session,
        post,
        text=new_text,
        content_html=_render(new_text, mentioned),
        content_warning=new_cw,
        language=new_language,
        addressed=ids,
        mentioned=ids,
        tags=tags,
        local=author.domain is None,
    )


async def visible_by_ids(session: AsyncSession, viewer: Viewer, ids: set[str]) -> list[Post]:
    """The posts among `ids` the viewer may see (others are left out, never an error)."""
    if not ids:
        return []
    return list(await session.scalars(select(Post).where(Post.id.in_(ids), visible_posts(viewer))))


async def post_history(session: AsyncSession, viewer: Viewer, post_id: str) -> list[PostEdit]:
    """Earlier versions of a visible post, oldest first."""
    post = await get_visible_post(session, viewer, post_id)
    rows = await session.scalars(
        select(PostEdit).where(PostEdit.post_id == post.id).order_by(PostEdit.id)
    )
    return list(rows)


async def delete_post(session: AsyncSession, viewer: Viewer, post_id: str) -> None:
    """Delete one's own post (admins may delete any); replies to it stay, detached."""
    post = await session.get(Post, post_id) if "\x00" not in post_id else None
    is_admin = viewer.account is not None and viewer.account.is_admin
    if post is None:
        raise NotFound(f"no post '{post_id}'")
    if not is_admin:
        post = await get_visible_post(session, viewer, post_id)
        _require_own(viewer, post)
    # A concurrent delete of the same post may win: then this one removes nothing and
    # still answers as it did (the post is gone, as asked).
    await remove_post(session, post)


async def _removed(
    session: AsyncSession, post: Post, author: Actor | None, addressed: list[str]
) -> None:
    """Tell the subscribers a post (or repost) is gone, with what they cannot read any more."""
    if author is None:
        return
    local = author.domain is None
    if post.repost_of_id:
        event: Unreposted | PostDeleted = Unreposted(
            post.id, author.id, post.repost_of_id, local, author.handle
        )
    else:
        event = PostDeleted(
            post.id, author.id, local, author.handle, post.visibility, tuple(sorted(addressed))
        )
    await events.emit(session, event)


async def remove_post(session: AsyncSession, post: Post) -> bool:
    """Delete a post and fix the counters it touched (no commit); False when it was gone.

    The DELETE comes first and the counters move only when it removed the row: two
    deletes of one post at once (a double click, an admin and the author) would
    otherwise each take one off its parent's replies, the original's reposts ...
    """
    # Read before the row goes: its mentions go with it (cascade).
    author = await session.get(Actor, post.author_id)
    addressed = list(
        await session.scalars(select(PostMention.actor_id).where(PostMention.post_id == post.id))
    )
    removed = await session.execute(delete(Post).where(Post.id == post.id))
    if not getattr(removed, "rowcount", 0):
        return False
    await _removed(session, post, author, addressed)
    if post.repost_of_id:
        await session.execute(
            update(Post)
            .where(Post.id == post.repost_of_id)
            .values(reposts_count=Post.reposts_count - 1)
        )
    else:
        await session.execute(
            update(Actor)
            .where(Actor.id == post.author_id)
            .values(posts_count=Actor.posts_count - 1)
        )
    if post.in_reply_to_id:
        await session.execute(
            update(Post)
            .where(Post.id == post.in_reply_to_id)
            .values(replies_count=Post.replies_count - 1)
        )
    if post.quote_of_id:
        await session.execute(
            update(Post)
            .where(Post.id == post.quote_of_id)
            .values(quotes_count=Post.quotes_count - 1)
        )
    return True


async def like(session: AsyncSession, viewer: Viewer, post_id: str) -> Post:
    """Like a visible post (idempotent, also when sent twice at once); likes of a repost
    go to the original."""
    actor = viewer.require_actor()
    require_can_publish(actor)
    post = await _original(session, viewer, post_id)
    like_id = new_id()
    fresh = await insert_new(
        session,
        Like,
        {"id": like_id, "post_id": post.id, "actor_id": actor.id},
        ("post_id", "actor_id"),
    )
    if fresh:  # only the request that added the like counts it and tells anyone
        await session.execute(
            update(Post).where(Post.id == post.id).values(likes_count=Post.likes_count + 1)
        )
        await notify(session, post.author_id, "like", actor.id, post.id)
        await events.emit(session, Liked(post.id, actor.id, like_id, actor.domain is None))
    await session.refresh(post)  # the count as it is now, whichever request added the like
    return post


async def unlike(session: AsyncSession, viewer: Viewer, post_id: str) -> Post:
    """Take a like back (idempotent)."""
    actor = viewer.require_actor()
    post = await _original(session, viewer, post_id)
    like_id = await session.scalar(
        select(Like.id).where(Like.post_id == post.id, Like.actor_id == actor.id)
    )
    result = await session.execute(
        delete(Like).where(Like.post_id == post.id, Like.actor_id == actor.id)
    )
    if getattr(result, "rowcount", 0):
        await session.execute(
            update(Post).where(Post.id == post.id).values(likes_count=Post.likes_count - 1)
        )
        await events.emit(session, Unliked(post.id, actor.id, like_id, actor.domain is None))
    await session.refresh(post)
    return post


def _mine(original_id: str, actor_id: str) -> Select[Post]:
    """The query for an actor's repost of a post."""
    return select(Post).where(Post.repost_of_id == original_id, Post.author_id == actor_id)


async def repost(session: AsyncSession, viewer: Viewer, post_id: str) -> Post:
    """Repost a public or unlisted post (idempotent, also when sent twice at once);
    returns the repost."""
    actor = viewer.require_actor()
    require_can_publish(actor)
    original = await _original(session, viewer, post_id)
    if original.visibility not in ("public", "unlisted"):
        raise Invalid("only public and unlisted posts can be reposted", code="not_repostable")
    existing = await session.scalar(_mine(original.id, actor.id))
    if existing is not None:
        return existing
    repost_id = new_id()
    values = {
        "id": repost_id,
        "author_id": actor.id,
        "visibility": original.visibility,
        "root_id": repost_id,
        "repost_of_id": original.id,
        "origin_author_id": original.author_id,
        "author_is_ai": actor.is_ai,
        "origin_is_ai": original.author_is_ai,
        "search_key": search_key(repost_id),
    }
    if not await insert_new(session, Post, values, ("repost_of_id", "author_id")):
        # A concurrent repost of the same post by the same actor won: it is done already.
        found = await session.scalar(_mine(original.id, actor.id))
        if found is None:  # ... and was undone again in between
            raise Conflict("the repost changed while this request ran; try again", "retry")
        return found
    await session.execute(
        update(Post).where(Post.id == original.id).values(reposts_count=Post.reposts_count + 1)
    )
    await notify(session, original.author_id, "repost", actor.id, original.id)
    await events.emit(
        session, Reposted(repost_id, actor.id, original.id, local=actor.domain is None)
    )
    shared = await session.get(Post, repost_id)
    assert shared is not None
    return shared


async def unrepost(session: AsyncSession, viewer: Viewer, post_id: str) -> Post:
    """Undo a repost of a post (idempotent); returns the original."""
    actor = viewer.require_actor()
    original = await _original(session, viewer, post_id)
    mine = await session.scalar(_mine(original.id, actor.id))
    if mine is not None:
        await remove_post(session, mine)  # counts only if this request removed it
    await session.refresh(original)
    return original
