"""Who may see what: one place that builds the visibility rules every read goes through.

Every list and lookup of posts (timelines, threads, search, notifications, single posts)
filters with `visible_posts`, so a rule added here holds for every interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    false,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.errors import Forbidden, NotFound, Unauthorized
from personae.social.actors import acting_actor_and_identities
from personae.social.models import Actor, Block, Follow, Mute, Post, PostMention


@dataclass(frozen=True)
class Viewer:
    """The caller as the network sees them.

    `actor` is who the request acts as (the person, or one of their characters via `as`);
    `identities` are the actors whose grants the viewer shares: for a person, every actor
    the account answers for (an operator sees what their characters may see); for a
    character, only itself. Blocks, mutes and the AI preference
    are the acting actor's.
    """

    account: Account | None = None
    actor: Actor | None = None
    identities: tuple[str, ...] = ()
    blocked: frozenset[str] = field(default_factory=frozenset)
    muted: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor_id(self) -> str | None:
        """The acting actor's id, or None for anonymous callers."""
        return self.actor.id if self.actor else None

    @property
    def show_ai(self) -> str:
        """The AI preference in force: a person's own; characters see everything."""
        if self.actor is None or self.actor.kind != "person":
            return "all"
        return self.actor.show_ai

    def require_actor(self) -> Actor:
        """The acting actor; anonymous callers cannot act."""
        if self.actor is None:
            raise Unauthorized("sign in first: send 'Authorization: Bearer <token>' or log in")
        return self.actor


ANONYMOUS = Viewer()


async def blocked_either_way(session: AsyncSession, actor: Actor) -> frozenset[str]:
    """Actors the given one blocks or is blocked by (see `blocks_and_mutes`)."""
    blocked, _ = await blocks_and_mutes(session, actor)
    return blocked


async def viewer_for(
    session: AsyncSession, account: Account | None, as_handle: str | None = None
) -> Viewer:
    """Build the viewer of a request (anonymous when there is no account)."""
    if account is None:
        if as_handle:
            raise Unauthorized("sign in to act as a character")
        return ANONYMOUS
    # Three queries in all (the token lookup was the first): this runs on every request.
    actor, identities = await acting_actor_and_identities(session, account, as_handle)
    if actor.kind == "character":
        # A character sees as itself: never what only its operator (or a sibling
        # character) was granted, such as the operator's direct messages.
        identities = (actor.id,)
    blocked, muted = await blocks_and_mutes(session, actor)
    return Viewer(account=account, actor=actor, identities=identities, blocked=blocked, muted=muted)


async def blocks_and_mutes(
    session: AsyncSession, actor: Actor
) -> tuple[frozenset[str], frozenset[str]]:
    """Blocks either way and mutes of an actor, in one round trip.

    A block between two people covers every actor either of them operates: blocking a
    person also blocks their characters, and their characters cannot reach the
    blocker's. (A block of one character stays with that character.) Person actors
    have their own id as operator, so "actors operated by the other side" finds the
    person and their characters, and nothing for a blocked character. Remote actors
    operate nothing: a person's block of one covers the person's characters too.
    """
    # A remote actor has no operator: it answers for itself.
    me, operator = actor.id, actor.operator_id or actor.id
    query = union_all(
        select(literal("b"), Block.blocked_id).where(Block.blocker_id == me),
        select(literal("b"), Block.blocker_id).where(Block.blocked_id == me),
        # Blocks between the operator and remote actors, which operate nothing and so
        # escape the operator-wide branches below.
        select(literal("b"), Block.blocked_id)
        .join(Actor, Actor.id == Block.blocked_id)
        .where(Block.blocker_id == operator, Actor.domain.is_not(None)),
        select(literal("b"), Block.blocker_id)
        .join(Actor, Actor.id == Block.blocker_id)
        .where(Block.blocked_id == operator, Actor.domain.is_not(None)),
        select(literal("b"), Actor.id).where(
            Actor.operator_id.in_(select(Block.blocked_id).where(Block.blocker_id == operator))
        ),
        select(literal("b"), Actor.id).where(
            Actor.operator_id.in_(select(Block.blocker_id).where(Block.blocked_id == operator))
        ),
        select(literal("m"), Mute.muted_id).where(Mute.muter_id == me),
    )
    blocked: set[str] = set()
    muted: set[str] = set()
    for kind, other in await session.execute(query):
        (blocked if kind == "b" else muted).add(other)
    blocked.discard(me)
    return frozenset(blocked), frozenset(muted)


def followees_of(actor_id: str) -> Select[str]:
    """Ids the actor follows (accepted follows only)."""
    return select(Follow.followee_id).where(
        Follow.follower_id == actor_id, Follow.state == "accepted"
    )


def inactive_actors() -> Select[str]:
    """Ids of actors nobody else may see: private characters and suspended actors."""
    return select(Actor.id).where(or_(Actor.hidden.is_(True), Actor.suspended.is_(True)))


def visible_posts(viewer: Viewer) -> ColumnElement[bool]:
    """The condition under which `viewer` may see a post (use it on every post query)."""
    p = Post
    # The grants are wrapped in CASE so SQLite's planner cannot pick the visibility OR
    # as its index path (it would read every public post); it filters the rows the
    # timeline's own index yields instead.
    active = and_(
        p.author_id.not_in(inactive_actors()), p.origin_author_id.not_in(inactive_actors())
    )
    conditions: list[ColumnElement[bool]] = []
    grants: list[ColumnElement[bool]] = [p.visibility.in_(("public", "unlisted"))]
    if viewer.identities:
        ids = list(viewer.identities)
        active = or_(p.author_id.in_(ids), active)
        grants += [
            p.author_id.in_(ids),
            and_(
                p.visibility == "followers",
                p.author_id.in_(
                    select(Follow.followee_id).where(
                        Follow.follower_id.in_(ids), Follow.state == "accepted"
                    )
                ),
            ),
            p.id.in_(select(PostMention.post_id).where(PostMention.actor_id.in_(ids))),
        ]
    conditions.append(active)
    conditions.append(case((or_(*grants), 1), else_=0) == 1)
    if viewer.blocked:
        blocked = list(viewer.blocked)
        conditions += [p.author_id.not_in(blocked), p.origin_author_id.not_in(blocked)]
    return and_(*conditions)


def timeline_filters(viewer: Viewer) -> ColumnElement[bool]:
    """What a viewer chose not to see in lists: muted actors and, by preference, AI posts."""
    p = Post
    conditions: list[ColumnElement[bool]] = [true()]
    if viewer.muted:
        muted = list(viewer.muted)
        conditions += [p.author_id.not_in(muted), p.origin_author_id.not_in(muted)]
    if viewer.show_ai == "none":
        conditions += [p.author_is_ai.is_(False), p.origin_is_ai.is_(False)]
    elif viewer.show_ai == "followed" and viewer.actor_id:
        followed = followees_of(viewer.actor_id)
        conditions += [
            or_(p.author_is_ai.is_(False), p.author_id.in_(followed)),
            or_(p.origin_is_ai.is_(False), p.origin_author_id.in_(followed)),
        ]
    return and_(*conditions)


def actor_visible(viewer: Viewer) -> ColumnElement[bool]:
    """The condition under which `viewer` may see an actor's profile."""
    conditions: list[ColumnElement[bool]] = [
        or_(and_(Actor.hidden.is_(False), Actor.suspended.is_(False)), false())
    ]
    if viewer.identities:
        conditions = [or_(conditions[0], Actor.id.in_(list(viewer.identities)))]
    if viewer.blocked:
        conditions.append(Actor.id.not_in(list(viewer.blocked)))
    return and_(*conditions)


async def get_visible_actor(session: AsyncSession, viewer: Viewer, handle: str) -> Actor:
    """An actor by handle (or id) if the viewer may see it; else 404."""
    ref = handle.strip().lstrip("@")
    if "\x00" in ref:  # PostgreSQL refuses NUL in text parameters; no handle has one
        raise NotFound("no such actor")
    actor = await session.scalar(
        select(Actor).where(
            or_(Actor.handle == ref.lower(), Actor.id == ref), actor_visible(viewer)
        )
    )
    if actor is None:
        raise NotFound(f"no actor '@{ref}'")
    return actor


async def get_visible_post(session: AsyncSession, viewer: Viewer, post_id: str) -> Post:
    """A post the viewer may see; anything else (missing, private, blocked) is a 404."""
    if "\x00" in post_id:  # PostgreSQL refuses NUL in text parameters; no id has one
        raise NotFound("no such post")
    post = await session.scalar(select(Post).where(Post.id == post_id, visible_posts(viewer)))
    if post is None:
        raise NotFound(f"no post '{post_id}'")
    return post


def check_ai_may_reply(author: Actor, target: Actor) -> None:
    """People may refuse replies from AI characters."""
    if author.is_ai and target.kind == "person" and not target.accept_ai_replies:
        raise Forbidden(
            f"@{target.handle} does not accept replies from AI characters", code="ai_refused"
        )


def check_ai_may_mention(author: Actor, target: Actor) -> None:
    """People may refuse mentions from AI characters."""
    if author.is_ai and target.kind == "person" and not target.accept_ai_mentions:
        raise Forbidden(
            f"@{target.handle} does not accept mentions from AI characters", code="ai_refused"
        )
