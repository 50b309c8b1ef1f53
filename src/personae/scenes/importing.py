"""Importing a SillyTavern group as a scene: LOGIC's parser reads the file, this stores it.

Members are SillyTavern card file names ("Seraphina.png"); each is matched to a character
the importer may chat with, by handle or by name (their own characters first), and the
ones nothing matched are reported, not guessed. Talkativeness comes from the group file
when it carries a map, else from the matched card's `extensions.talkativeness`, as
SillyTavern keeps it there.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.characters.models import Character
from personae.chat.access import blocked_for, chattable
from personae.chat.models import CHARACTER
from personae.errors import Invalid
from personae.scenes import views
from personae.scenes.access import SceneAccess
from personae.scenes.schemas import ImportOut
from personae.scenes.service import create_scene
from personae.scenes.sillytavern import card_talkativeness, member_name, parse_group


async def _match(
    session: AsyncSession, account: Account, blocked: frozenset[str], name: str
) -> Character | None:
    """The character a member name stands for: by handle, else by name; own ones first."""
    wanted = name.strip()
    if not wanted:
        return None
    slug = wanted.lower().replace(" ", "_")
    rows = await session.scalars(
        select(Character)
        .where(
            or_(Character.handle == slug, func.lower(Character.name) == wanted.lower()),
            chattable(account, blocked),
        )
        .order_by((Character.owner_id == account.id).desc(), Character.id)
        .limit(5)
    )
    found = list(rows)
    exact = [c for c in found if c.handle == slug]
    best = exact or found
    return best[0] if best else None


async def import_group(
    session: AsyncSession, account: Account, data: bytes, persona_id: str | None = None
) -> ImportOut:
    """A new scene from a SillyTavern group file; the answer names unmatched members."""
    group = parse_group(data)
    matched: list[tuple[str, Character]] = []
    missing: list[str] = []
    blocked = await blocked_for(session, account)
    for member in group.members:
        name = member_name(member)
        character = await _match(session, account, blocked, name)
        if character is None or any(c.id == character.id for _, c in matched):
            missing.append(name)
            continue
        matched.append((member, character))
    if not matched:
        names = ", ".join(missing[:10])
        raise Invalid(
            f"none of the group's characters is here ({names}); import their cards first",
            "no_members",
        )
    scene_data = await create_scene(
        session,
        account,
        group.name,
        scenario=group.scenario,
        mode=group.mode,
        allow_self=group.allow_self,
        characters=[c.handle for _, c in matched],
        persona_id=persona_id,
    )
    by_character = {p.character_id: p for p in scene_data.participants if p.kind == CHARACTER}
    for member, character in matched:
        participant = by_character[character.id]
        if member in group.talkativeness:
            participant.talkativeness = group.talkativeness_of(member)
        else:
            participant.talkativeness = card_talkativeness(character.extensions)
        participant.muted = member in group.disabled_members
    if group.auto_mode_delay_s is not None:
        scene_data.scene.auto_delay_s = group.auto_mode_delay_s
    await session.flush()
    me = scene_data.person_of(account.id)
    access = SceneAccess(scene_data, account, "owner", me)
    return ImportOut(scene=views.scene_out(access, []), missing=missing)
