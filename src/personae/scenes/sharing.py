"""Sharing a scene: the owner publishes a range of it as a post linking to a read-only
transcript, with every character labelled AI.

A private or invite-only scene's range may hold only the owner's messages and the
characters': what another person said there was said to the scene, not to the network,
so such a range is refused (422, naming them). A public scene can be read by anyone
already, so any range of it may be shared. The post goes through the network's one write
path (`social.posts.create_post` → `social.post_store.insert_post`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.chat.models import CHARACTER, PERSON, Message
from personae.chat.service import all_messages, path_to, siblings_of
from personae.db import new_id
from personae.errors import Invalid, NotFound
from personae.scenes import views
from personae.scenes.access import NO_SCENE, SceneData, load_scene, scene_for
from personae.scenes.models import SceneShare
from personae.scenes.schemas import SharedOut, ShareOut
from personae.social.access import get_visible_post, viewer_for
from personae.social.posts import create_post

# How many speakers a post names before "and N more".
NAMED = 6


def share_path(scene_id: str, share_id: str) -> str:
    """Where a shared transcript is read (the web page; FACE serves it)."""
    return f"/scenes/{scene_id}/shared/{share_id}"


def _post_text(data: SceneData, messages: list[Message], intro: str, url: str) -> str:
    names: list[str] = []
    for message in messages:
        speaker = data.participant(message.participant_id)
        if speaker is None:
            continue
        name = data.name_of(speaker)
        label = f"{name} (AI)" if speaker.kind == CHARACTER else name
        if label not in names:
            names.append(label)
    cast = ", ".join(names[:NAMED])
    if len(names) > NAMED:
        cast += f" and {len(names) - NAMED} more"
    lines = [intro.strip()] if intro.strip() else []
    lines.append(f"A scene: {data.conversation.title}, with {cast}.")
    lines.append(url)
    return "\n\n".join(lines)


async def share_range(
    session: AsyncSession,
    account: Account,
    scene_id: str,
    *,
    from_message_id: str | None = None,
    to_message_id: str | None = None,
    text: str = "",
    base_url: str = "",
) -> ShareOut:
    """Publish messages of the shown branch (default: all of it) as a post (owner only)."""
    access = await scene_for(session, account, scene_id, "owner")
    data = access.data
    if "\x00" in text:
        raise Invalid("text must not contain NUL characters", "bad_text")
    messages = await all_messages(session, scene_id)
    path = path_to(messages, data.conversation.active_leaf_id)
    if not path:
        raise Invalid("the scene has no messages to share yet", "nothing_to_share")
    ids = [m.id for m in path]
    known = {m.id for m in messages}
    for given, field in ((from_message_id, "from_message_id"), (to_message_id, "to_message_id")):
        if given is not None and given not in known:
            raise NotFound(f"{field}: no such message in this scene")
        if given is not None and given not in ids:
            raise Invalid(f"{field}: that message is not on the branch shown", "not_shown")
    first = ids.index(from_message_id) if from_message_id else 0
    last = ids.index(to_message_id) if to_message_id else len(ids) - 1
    if first > last:
        raise Invalid("from_message_id comes after to_message_id", "bad_range")
    chosen = path[first : last + 1]
    if data.scene.visibility != "public":
        for message in chosen:
            speaker = data.participant(message.participant_id)
            if (
                speaker is not None
                and speaker.kind == PERSON
                and speaker.account_id != data.conversation.owner_id
            ):
                raise Invalid(
                    f"the range holds messages by {data.name_of(speaker)}; a private scene "
                    "can be shared only where it holds your messages and the characters'",
                    "others_messages",
                )
    share_id = new_id()
    url = base_url.rstrip("/") + share_path(scene_id, share_id)
    viewer = await viewer_for(session, account)
    post = await create_post(session, viewer, _post_text(data, chosen, text, url))
    session.add(
        SceneShare(
            id=share_id,
            conversation_id=scene_id,
            from_message_id=chosen[0].id,
            to_message_id=chosen[-1].id,
            post_id=post.id,
        )
    )
    await session.flush()
    return ShareOut(share_id=share_id, post_id=post.id, url=url)


async def shared_transcript(
    session: AsyncSession, account: Account | None, scene_id: str, share_id: str
) -> SharedOut:
    """A shared range, for whoever may see its post (404 for anyone else, or once the post
    is gone)."""
    share = await session.scalar(
        select(SceneShare).where(SceneShare.id == share_id, SceneShare.conversation_id == scene_id)
    )
    if share is None:
        raise NotFound("no such shared scene")
    viewer = await viewer_for(session, account)
    try:
        await get_visible_post(session, viewer, share.post_id)
    except NotFound:
        raise NotFound("no such shared scene") from None
    data = await load_scene(session, scene_id)
    if data is None:
        raise NotFound(NO_SCENE)
    messages = await all_messages(session, scene_id)
    by_id = {m.id: m for m in messages}
    # Up the tree from the last message to the first: the branch shown may have moved on
    # since, but a message's ancestors never change. A message deleted since ends it.
    chosen: list[Message] = []
    current = by_id.get(share.to_message_id)
    while current is not None:
        chosen.append(current)
        if current.id == share.from_message_id:
            break
        current = by_id.get(current.parent_id) if current.parent_id else None
    chosen.reverse()
    speakers = {m.participant_id for m in chosen}
    return SharedOut(
        id=share.id,
        scene_id=scene_id,
        title=data.conversation.title,
        owner=views.person_ref(data.accounts.get(data.conversation.owner_id)),
        post_id=share.post_id,
        created_at=share.created_at.isoformat(),
        # Readers of the post may not read the scene: avatars by their own addresses.
        members=[
            views.member_out(data, p, in_scene=False) for p in data.participants if p.id in speakers
        ],
        messages=[views.message_out(data, m, siblings_of(messages, m)) for m in chosen],
    )
