"""Search of actors and posts: SQLite FTS5 or PostgreSQL full-text, then the usual rules.

The full-text index only finds candidates; every result still passes `visible_posts`
(or `actor_visible`), so search never shows what the viewer may not see.
"""

from __future__ import annotations

import re

from sqlalchemy import Select, func, literal_column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from personae.errors import Invalid
from personae.social.access import Viewer, actor_visible, timeline_filters, visible_posts
from personae.social.models import Actor, Post
from personae.social.timelines import Page, check_cursor, clamp_limit

MAX_QUERY = 200
MAX_TERMS = 8
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def terms(query: str) -> list[str]:
    """The words of a search query (letters and digits), lower case, at most MAX_TERMS."""
    if len(query) > MAX_QUERY:
        raise Invalid(f"the search query is over {MAX_QUERY} characters", code="query_too_long")
    words = [w.lower() for w in _WORD.findall(query)]
    if not words:
        raise Invalid("the search query needs at least one letter or digit", code="empty_query")
    return words[:MAX_TERMS]


def _fts5_query(words: list[str]) -> str:
    # Each word quoted (so FTS5 operators in user input mean nothing) and prefix-matched.
    return " ".join(f'"{w}"*' for w in words)


def _tsquery(words: list[str]) -> str:
    # Words are letters and digits only, so they cannot inject tsquery syntax.
    return " & ".join(f"{w}:*" for w in words)


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _post_match(session: AsyncSession, words: list[str]) -> Select[Post]:
    if _is_sqlite(session):
        keys = text("SELECT rowid FROM post_fts WHERE post_fts MATCH :q").bindparams(
            q=_fts5_query(words)
        )
        return select(Post).where(Post.search_key.in_(keys.columns(literal_column("rowid"))))
    vector = func.to_tsvector(
        literal_column("'simple'"), Post.text + literal_column("' '") + Post.content_warning
    )
    query = func.to_tsquery(literal_column("'simple'"), _tsquery(words))
    return select(Post).where(vector.bool_op("@@")(query))


async def search_posts(
    session: AsyncSession,
    viewer: Viewer,
    query: str,
    cursor: str | None = None,
    limit: int = 20,
) -> Page:
    """Posts matching every word (as prefixes) that the viewer may see, newest first."""
    words = terms(query)
    limit = clamp_limit(limit)
    cursor = check_cursor(cursor)
    # Unlisted means "not in discovery": only its author's operator finds it by search.
    listed = Post.visibility != "unlisted"
    if viewer.identities:
        listed = or_(listed, Post.author_id.in_(list(viewer.identities)))
    statement = _post_match(session, words).where(
        Post.repost_of_id.is_(None), listed, visible_posts(viewer), timeline_filters(viewer)
    )
    if cursor:
        statement = statement.where(Post.id < cursor)
    rows = list(await session.scalars(statement.order_by(Post.id.desc()).limit(limit)))
    return Page(rows, rows[-1].id if len(rows) == limit else None)


async def search_actors(
    session: AsyncSession,
    viewer: Viewer,
    query: str,
    cursor: str | None = None,
    limit: int = 20,
) -> tuple[list[Actor], str | None]:
    """Discoverable actors whose handle, name or bio match, most followed first.

    The cursor is the last result's position (followers count and id), since the order
    is by popularity rather than by id.
    """
    words = terms(query)
    limit = clamp_limit(limit)
    if _is_sqlite(session):
        keys = text("SELECT rowid FROM actor_fts WHERE actor_fts MATCH :q").bindparams(
            q=_fts5_query(words)
        )
        match = Actor.search_key.in_(keys.columns(literal_column("rowid")))
    else:
        vector = func.to_tsvector(
            literal_column("'simple'"),
            Actor.handle
            + literal_column("' '")
            + Actor.display_name
            + literal_column("' '")
            + Actor.bio,
        )
        match = vector.bool_op("@@")(func.to_tsquery(literal_column("'simple'"), _tsquery(words)))
    handle_prefix = "".join(words)[:30]
    statement = select(Actor).where(
        or_(match, Actor.handle.startswith(handle_prefix, autoescape=True)),
        Actor.discoverable.is_(True),
        actor_visible(viewer),
    )
    if viewer.muted:
        statement = statement.where(Actor.id.not_in(list(viewer.muted)))
    if cursor:
        count_text, _, last_id = cursor.partition(":")
        # ASCII digits ("²".isdigit() is true too) in the column's range, then a hex id.
        if (
            not (count_text.isascii() and count_text.isdigit())
            or int(count_text) >= 2**31
            or len(last_id) != 32
            or any(c not in "0123456789abcdef" for c in last_id)
        ):
            raise Invalid("cursor must be a value returned as next_cursor", code="bad_cursor")
        last_count = int(count_text)
        statement = statement.where(
            or_(
                Actor.followers_count < last_count,
                (Actor.followers_count == last_count) & (Actor.id < last_id),
            )
        )
    rows = list(
        await session.scalars(
            statement.order_by(Actor.followers_count.desc(), Actor.id.desc()).limit(limit)
        )
    )
    next_cursor = f"{rows[-1].followers_count}:{rows[-1].id}" if len(rows) == limit else None
    return rows, next_cursor
