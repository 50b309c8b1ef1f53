"""Posts as the cards of every page show them (timelines, threads, profiles, streams)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from personae.social.access import Viewer as SocialViewer
from personae.social.actors import with_avatar
from personae.social.models import Post
from personae.social.views import render_posts


def me_of(viewer: SocialViewer) -> dict[str, Any] | None:
    """What post cards need to know about the viewer (who they are, what they answer for)."""
    if viewer.actor is None:
        return None
    return {"handle": viewer.actor.handle, "ids": list(viewer.identities)}


def _authors(cards: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every author summary in rendered posts, embedded reposts and quotes included."""
    found: list[dict[str, Any]] = []
    for card in cards:
        if card.get("author"):
            found.append(card["author"])
        for inner in (card.get("repost_of"), card.get("quote")):
            if inner:
                found += _authors([inner])
    return found


async def mark_avatars(session: AsyncSession, cards: Sequence[dict[str, Any]]) -> None:
    """Set `has_avatar` on every author, so cards show an image only where there is one."""
    authors = _authors(cards)
    pictured = await with_avatar(session, {a["id"] for a in authors})
    for author in authors:
        author["has_avatar"] = author["id"] in pictured


async def cards(
    session: AsyncSession, viewer: SocialViewer, posts: list[Post]
) -> list[dict[str, Any]]:
    """Posts as the cards show them: the API's form, plus whether each author has an avatar."""
    rendered = await render_posts(session, viewer, posts)
    await mark_avatars(session, rendered)
    return rendered


def original_id(card: dict[str, Any]) -> str:
    """The post a card is about: the original of a repost, else the card's own post."""
    inner = card.get("repost_of")
    return str(inner["id"]) if inner and inner.get("id") else str(card["id"])


def one_card_per_post(rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards newest first with each post once: a repost and its original (or two reposts
    of one post) on the same page keep only the newest card, which says who reposted."""
    seen: set[str] = set()
    kept = []
    for card in rendered:
        key = original_id(card)
        if key not in seen:
            seen.add(key)
            kept.append(card)
    return kept
