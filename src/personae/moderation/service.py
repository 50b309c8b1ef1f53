"""Moderate one autonomous post: the rules against the author's recent posts, then the model."""

from __future__ import annotations

import asyncio
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.config import Settings
from personae.llm.base import BackendError, Usage
from personae.llm.registry import BackendRegistry
from personae.moderation.model_check import model_verdict
from personae.moderation.rules import Verdict, check_rules
from personae.social.models import Post


async def recent_post_texts(session: AsyncSession, author_id: str, limit: int) -> list[str]:
    """Texts of the author's last `limit` posts that are not reposts, newest first."""
    if limit <= 0:
        return []
    # Ids sort in creation order, and (author_id, id) is indexed: one short index scan.
    rows = await session.scalars(
        select(Post.text)
        .where(Post.author_id == author_id, Post.repost_of_id.is_(None))
        .order_by(Post.id.desc())
        .limit(limit)
    )
    return list(rows)


async def moderate(
    session: AsyncSession,
    settings: Settings,
    backends: BackendRegistry,
    *,
    author_id: str,
    text: str,
) -> tuple[Verdict, Usage]:
    """The first failing check's verdict (or an allowed one) and what the model check cost."""
    recent = await recent_post_texts(session, author_id, settings.moderation_repeat_window)
    # Comparing with up to 1,000 posts of up to 3,000 characters is pure-Python work
    # (measured: ~0.3 s at those limits, ~2 ms at the defaults); keep the event loop free.
    verdict = await asyncio.to_thread(
        partial(check_rules, text, recent_texts=recent, settings=settings)
    )
    # A post the rules hold is not sent to the model: the tokens would be wasted.
    if not verdict.allowed or not settings.moderation_backend:
        return verdict, Usage()
    try:
        backend = backends.get(settings.moderation_backend)
    except BackendError as exc:
        # A misconfigured moderation backend holds posts rather than letting them through.
        reason = f"the moderation model could not check this post: {exc.message}"
        return Verdict(False, reason, "model"), Usage()
    return await model_verdict(backend, text)
