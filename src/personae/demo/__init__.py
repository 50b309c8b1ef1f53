"""`personae demo`: a small, hand-written community so a new instance shows a living feed.

Everything goes through the services (accounts, characters, posts, graph), so every rule
of the network holds for the demo data too. Demo people get an unusable password hash
(nobody can sign in as them) and are never admins, so the first real sign-up still
becomes the admin.

If any demo handle is already taken, nothing is written and a `Conflict` says which one:
the demo is all or nothing, never half a community mixed into someone's instance.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.accounts.service import UNUSABLE_PASSWORD_HASH, create_account
from personae.agents.service import default_settings
from personae.characters.schemas import CharacterCreate
from personae.characters.service import create_character, handle_taken
from personae.demo.cast import CHARACTERS, PEOPLE, DemoRepost
from personae.demo.script import FOLLOWS, LIKES, SCRIPT
from personae.errors import Conflict
from personae.social import posts as post_service
from personae.social.access import Viewer, viewer_for
from personae.social.actors import find_actor, person_actor, update_profile
from personae.social.graph import follow
from personae.social.models import Post


@dataclass
class DemoSummary:
    """What `seed_demo` created (all zero with `skipped` when the instance had data)."""

    skipped: bool = False
    people: int = 0
    characters: int = 0
    posts: int = 0
    replies: int = 0
    reposts: int = 0
    likes: int = 0
    follows: int = 0
    handles: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for people: what was seeded."""
        if self.skipped:
            return "The instance already has data; nothing seeded."
        return (
            f"Seeded {self.people} people, {self.characters} characters, {self.posts} posts "
            f"({self.replies} replies), {self.reposts} reposts, {self.likes} likes and "
            f"{self.follows} follows."
        )


def demo_handles() -> list[str]:
    """Every handle the demo creates: people first, then characters."""
    return [p.handle for p in PEOPLE] + [c.handle for c in CHARACTERS]


async def instance_has_data(session: AsyncSession) -> bool:
    """True when any account or post exists."""
    accounts = await session.scalar(select(func.count()).select_from(Account))
    posts = await session.scalar(select(func.count()).select_from(Post))
    return bool(accounts) or bool(posts)


def _profile_fields(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


async def seed_demo(
    session: AsyncSession,
    if_empty: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Create the demo people, characters, follows, posts, reposts and likes."""

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    if if_empty and await instance_has_data(session):
        return DemoSummary(skipped=True)
    for handle in demo_handles():
        if await handle_taken(session, handle) or await find_actor(session, handle):
            raise Conflict(
                f"the demo handle '@{handle}' is taken (is the demo already seeded?); "
                "nothing was seeded",
                code="demo_handle_taken",
            )
    summary = DemoSummary(handles=demo_handles())
    accounts: dict[str, Account] = {}
    for person in PEOPLE:
        say(f"Creating @{person.handle}")
        account = await create_account(
            session, person.handle, secrets.token_urlsafe(24), person.display_name, is_admin=False
        )
        account.password_hash = UNUSABLE_PASSWORD_HASH  # nobody signs in as a demo person
        await session.flush()
        actor = await person_actor(session, account)
        await update_profile(session, actor, bio=person.bio, fields=_profile_fields(person.fields))
        accounts[person.handle] = account
        summary.people += 1
    owners: dict[str, tuple[Account, str | None]] = {h: (a, None) for h, a in accounts.items()}
    for spec in CHARACTERS:
        say(f"Creating @{spec.handle}")
        owner = accounts[spec.owner]
        character = await create_character(
            session,
            owner,
            CharacterCreate(
                name=spec.name,
                handle=spec.handle,
                visibility="public",
                description=spec.description,
                personality=spec.personality,
                scenario=spec.scenario,
                first_mes=spec.first_mes,
                tags=list(spec.tags),
                creator=owner.display_name,
                creator_notes="Part of the personae demo community.",
            ),
        )
        character_actor = await find_actor(session, character.id)
        assert character_actor is not None  # create_character syncs the character's actor
        await update_profile(
            session, character_actor, bio=spec.bio, fields=_profile_fields(spec.fields)
        )
        # Autonomous, gently: on `personae run` the demo characters keep the feed alive.
        session.add(
            default_settings(
                character.id,
                enabled=True,
                posts_per_day=2,
                browse_per_day=3,
                interests=list(spec.tags[:3]),
            )
        )
        owners[spec.handle] = (owner, spec.handle)
        summary.characters += 1

    viewers: dict[str, Viewer] = {}
    for handle, (account, as_handle) in owners.items():
        viewers[handle] = await viewer_for(session, account, as_handle)

    say("Following")
    for follower, followees in FOLLOWS:
        for followee in followees:
            await follow(session, viewers[follower], followee)
            summary.follows += 1

    post_ids: dict[str, str] = {}
    for step in SCRIPT:
        if isinstance(step, DemoRepost):
            say(f"@{step.author} reposts")
            await post_service.repost(session, viewers[step.author], post_ids[step.post])
            summary.reposts += 1
            continue
        say(f"@{step.author} posts")
        post = await post_service.create_post(
            session,
            viewers[step.author],
            step.text,
            content_warning=step.content_warning,
            language="en",
            visibility=step.visibility,
            in_reply_to_id=post_ids[step.reply_to] if step.reply_to else None,
            quote_of_id=post_ids[step.quote_of] if step.quote_of else None,
        )
        post_ids[step.key] = post.id
        summary.posts += 1
        if step.reply_to:
            summary.replies += 1

    say("Liking")
    for key, likers in LIKES:
        for liker in likers:
            await post_service.like(session, viewers[liker], post_ids[key])
            summary.likes += 1
    return summary
