"""What each kind of action does: read, decide, write, and what it leaves to publish.

A handler never writes the network itself. It reads what it needs, asks the model,
passes moderation, and returns a `Result`; the engine then records the result and
applies its `apply` step (publish, like, follow) in one transaction guarded by the
claim, so a retry or a second worker can never publish twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.agents import prompts
from personae.agents.guards import ai_streak, follows, has_engaged, limit_reached, max_ai_turns
from personae.agents.models import AgendaItem, AgentSettings
from personae.characters.models import Character
from personae.characters.prompting import generation_params
from personae.config import Settings
from personae.db import new_id
from personae.errors import DomainError
from personae.llm.base import Backend, ChatMessage, DoneEvent, GenerationParams, Usage
from personae.llm.registry import BackendRegistry
from personae.memory.importance import model_importance
from personae.memory.stream import PUBLIC, recall
from personae.moderation.rules import loops, repeats
from personae.moderation.service import moderate, recent_post_texts
from personae.social import graph, posts, timelines
from personae.social import text as post_text
from personae.social.access import Viewer, blocks_and_mutes, get_visible_post
from personae.social.actors import actors_by_handles
from personae.social.models import Actor, Like, Post

FEED_FOR_POST = 3
FEED_FOR_BROWSE = 5
EARLIER_IN_THREAD = 3
MEMORIES_FOR_POST = 4
MEMORIES_FOR_REPLY = 4

Apply = Callable[[AsyncSession], Awaitable[None]]


class Skip(Exception):
    """The action is not taken, for a reason the operator view shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class NewMemory:
    """A memory the action writes when (and only when) its result is recorded."""

    kind: str
    text: str
    about_actor_id: str | None = None
    source_id: str | None = None
    importance: int | None = None
    scored_by: str = "heuristic"
    source: str = "feed"


@dataclass
class Result:
    """What an action did and why; recorded on its agenda item."""

    outcome: str = "nothing"
    detail: str = ""
    output_text: str = ""
    post_id: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    memories_used: list[str] = field(default_factory=list)
    memories: list[NewMemory] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    backend: str = ""
    model: str = ""
    apply: Apply | None = None
    # The limit to check again when recording (post, reply, answer_dm): None for others.
    limit_kind: str | None = None


@dataclass
class Action:
    """One claimed agenda item with everything its handler needs."""

    settings: Settings
    backends: BackendRegistry
    session: AsyncSession
    item: AgendaItem
    character: Character
    agent: AgentSettings
    actor: Actor
    viewer: Viewer
    backend: Backend
    now: datetime
    result: Result = field(default_factory=Result)

    def spend(self, usage: Usage) -> None:
        """Count tokens a model call cost against this action."""
        self.result.prompt_tokens += usage.prompt_tokens
        self.result.completion_tokens += usage.completion_tokens

    def allowed(self, what: str) -> bool:
        """Whether the creator allows this kind of action."""
        return what in (self.agent.allowed_actions or [])

    async def generate(self, messages: list[ChatMessage], params: GenerationParams) -> DoneEvent:
        """One model call, counted; BackendError propagates to the engine's retry."""
        done = await self.backend.complete(messages, params)
        self.spend(done.usage)
        self.result.backend, self.result.model = done.backend, done.model
        return done

    async def remember(
        self,
        kind: str,
        text: str,
        about: str | None = None,
        source_id: str | None = None,
        private: bool = False,
    ) -> None:
        """Queue a memory, its importance scored by the model when the instance asks for it.

        `private` (from a direct or followers-only post) keeps it for dealings with that
        person only, as memories of a private chat are.
        """
        memory = NewMemory(kind, text, about, source_id, source="private" if private else "feed")
        # The model rates what it was told or saw; its own words ("I posted ...") get the
        # heuristic, which halves the calls an action makes.
        if self.settings.agents_model_importance and kind not in ("said", "did"):
            persona = prompts.system_message(self.character)
            score, usage = await model_importance(self.backend, text, persona)
            self.spend(usage)
            if score is not None:
                memory.importance, memory.scored_by = score, "model"
        self.result.memories.append(memory)


def _params(
    action: Action, max_tokens: int, json_schema: dict[str, Any] | None = None
) -> GenerationParams:
    # The character's sampling, at a length the action fixes (a post is short, whatever
    # the character's chat replies are).
    return generation_params(
        action.character, max_tokens, own_length=False, json_schema=json_schema
    )


async def _feed(action: Action, limit: int) -> list[tuple[Post, Actor]]:
    """Recent posts with text in the character's home timeline, not its own."""
    page = await timelines.home(action.session, action.viewer, limit=limit * 3)
    # Public and unlisted only: what it read in a direct or followers-only post must never
    # end up in a post everyone can read.
    posts_read = [
        p
        for p in page.items
        if p.text and p.author_id != action.actor.id and p.visibility in ("public", "unlisted")
    ]
    posts_read = posts_read[:limit]
    ids = {p.author_id for p in posts_read}
    authors = {
        a.id: a for a in await action.session.scalars(select(Actor).where(Actor.id.in_(ids)))
    }
    return [(p, authors[p.author_id]) for p in posts_read if p.author_id in authors]


def _cleaned(action: Action, done: DoneEvent) -> str:
    """The generated text, ready to moderate."""
    return prompts.clean_output(
        done.text,
        action.character.name,
        action.actor.handle,
        action.settings.moderation_max_chars,
        cut_off=done.finish_reason == "length",
    )


REDRAFT_NUDGE = (
    "That says again what you posted before. Write something new instead, in your own "
    "voice: a different thought, under 280 characters."
)
LOOP_NUDGE = (
    "That says the same thing over and over. Write it again, saying each thing only once, "
    "in your own voice: under 280 characters."
)
# Drafts after the first: each warmer than the last, since at a low temperature a small
# model told not to repeat itself often still does.
REDRAFT_TEMPERATURES = (1.0, 1.2)


async def _redrafted(
    action: Action, messages: list[ChatMessage], params: GenerationParams, text: str
) -> str:
    """The draft, or a new one while it loops or repeats one of the character's recent posts.

    Moderation would hold either. Told what it did, the model writes again, warmer, at
    most twice more; what the last draft says is moderated as usual (and held if it still
    loops).
    """
    if not text:
        return text
    recent = await recent_post_texts(
        action.session, action.actor.id, action.settings.moderation_repeat_window
    )
    for attempt, temperature in enumerate(REDRAFT_TEMPERATURES):
        verdict = loops(text)
        if verdict.allowed:
            verdict = await asyncio.to_thread(repeats, text, recent)
        if verdict.allowed:
            return text
        action.result.inputs["redrafted"] = verdict.reason
        nudge = LOOP_NUDGE if verdict.rule == "loop" else REDRAFT_NUDGE
        again: list[ChatMessage] = [
            *messages,
            {"role": "assistant", "content": text},
            {"role": "user", "content": nudge},
        ]
        warmer = dataclasses.replace(
            params,
            temperature=max(params.temperature, temperature),
            # Seeded by the item, so the same action redrafts the same way.
            seed=zlib.crc32(f"{action.item.id}:{attempt}".encode()),
        )
        text = _cleaned(action, await action.generate(again, warmer))
        if not text:
            return text
    return text


def _texts(memories: list[Any]) -> list[str]:
    return [m.text for m in memories]


async def _publish(
    action: Action,
    text: str,
    visibility: str = "public",
    in_reply_to_id: str | None = None,
    addressee: str | None = None,
    content_warning: str = "",
) -> None:
    """Moderate the text, then hold it for review or leave its publication to the engine."""
    result = action.result
    text = await _unaddressed(action, text, in_reply_to_id)
    if visibility == "direct":
        text = _only_addressing(text, addressee)
    result.output_text = text
    if not text:
        raise Skip("the model wrote nothing usable")
    verdict, usage = await moderate(
        action.session, action.settings, action.backends, author_id=action.actor.id, text=text
    )
    action.spend(usage)
    if not verdict.allowed:
        result.outcome, result.detail = "held", f"moderation ({verdict.rule}): {verdict.reason}"
        result.limit_kind = action.item.kind  # held posts count against the limits too
        return
    result.limit_kind = action.item.kind
    if action.agent.approval_mode:
        result.outcome = "held"
        result.detail = "approval mode: its creator approves each autonomous post"
        return
    post_id = new_id()
    viewer = action.viewer

    async def publish(session: AsyncSession) -> None:
        await posts.create_post(
            session,
            await current(session, viewer),
            text,
            content_warning=content_warning,
            visibility=visibility,
            in_reply_to_id=in_reply_to_id,
            post_id=post_id,
        )

    result.outcome, result.post_id, result.apply = "published", post_id, publish


async def current(session: AsyncSession, viewer: Viewer) -> Viewer:
    """The viewer with its blocks and mutes as they are now, not as when the action began:
    a block made while the model was writing still stops the action."""
    blocked, muted = await blocks_and_mutes(session, viewer.require_actor())
    return dataclasses.replace(viewer, blocked=blocked, muted=muted)


def _only_addressing(text: str, handle: str | None) -> str:
    """A direct answer names only its recipient: any other @handle would add a reader."""
    keep = (handle or "").lower()
    return _MENTION.sub(lambda m: m.group(0) if m.group(1).lower() == keep else m.group(1), text)


_MENTION = re.compile(r"(?<![\w@/])@([A-Za-z0-9_]{2,30})(?![\w@])")


async def _unaddressed(action: Action, text: str, in_reply_to_id: str | None) -> str:
    """The text with @ taken off mentions of people who never engaged with the character
    (it acts on nobody who did not engage with it first; a name alone notifies no one)."""
    handles = post_text.parse(text).mentions
    if not handles:
        return text
    targets = await actors_by_handles(action.session, handles)
    replying_to = action.item.trigger_actor_id if in_reply_to_id else None
    silenced = {
        handle
        for handle, target in targets.items()
        if target.kind == "person"
        and target.id != replying_to
        and not await has_engaged(action.session, target.id, action.actor.id)
    }
    if not silenced:
        return text
    action.result.inputs["unmentioned"] = sorted(silenced)
    pattern = re.compile(
        r"(?<![\w@/])@(" + "|".join(map(re.escape, silenced)) + r")(?![\w@])", re.I
    )
    return pattern.sub(r"\1", text)


async def write_post(action: Action) -> None:
    """A new post from its persona, interests, memories and what it read in its feed."""
    if not action.allowed("post"):
        raise Skip("its creator does not allow it to post")
    limit = await limit_reached(action.session, action.settings, action.agent, "post", action.now)
    if limit:
        raise Skip(limit)
    feed = await _feed(action, FEED_FOR_POST)
    interests = [str(i) for i in action.agent.interests or []]
    query = " ".join([*interests, *(p.text for p, _ in feed)])
    memories = await recall(
        action.session, action.character.id, query, limit=MEMORIES_FOR_POST, touch=False
    )
    shown = [(a.handle, p.text) for p, a in feed]
    topic = prompts.post_topic(interests, shown, action.item.id)
    messages = prompts.post_messages(
        action.character, topic, interests, action.agent.posting_style, _texts(memories), shown
    )
    action.result.inputs = {"prompt": messages[-1]["content"], "feed": [p.id for p, _ in feed]}
    action.result.memories_used = [m.id for m in memories]
    params = _params(action, action.settings.agents_post_max_tokens)
    text = _cleaned(action, await action.generate(messages, params))
    text = await _redrafted(action, messages, params, text)
    await _publish(action, text)
    if action.result.outcome == "published":
        await action.remember("said", f"I posted: {text}", source_id=action.result.post_id)


async def _reply_target(action: Action) -> tuple[Post, Actor]:
    """The post to answer and its author, after every rule that could forbid answering."""
    item = action.item
    if item.trigger_post_id is None or item.trigger_actor_id is None:
        raise Skip("nothing to answer")
    if item.trigger_actor_id in action.viewer.blocked:
        raise Skip("a block stands between it and the author")
    try:
        post = await get_visible_post(action.session, action.viewer, item.trigger_post_id)
    except DomainError as exc:
        raise Skip("the post is gone or no longer visible to it") from exc
    author = await action.session.get(Actor, post.author_id)
    if author is None or author.id == action.actor.id:
        raise Skip("nothing to answer")
    policy = action.agent.reply_policy
    if policy == "nobody":
        raise Skip("its reply policy is to answer nobody")
    if policy == "followers" and not await follows(action.session, author.id, action.actor.id):
        raise Skip(f"its reply policy answers only followers, and @{author.handle} is not one")
    if not await has_engaged(action.session, author.id, action.actor.id):
        raise Skip(f"@{author.handle} never engaged with it")
    if author.kind == "person" and not author.accept_ai_replies:
        raise Skip(f"@{author.handle} does not accept replies from AIs")
    cap = await max_ai_turns(action.session, action.settings)
    if await ai_streak(action.session, post, cap) >= cap:
        raise Skip(f"thread-loop guard: already {cap} AI posts in a row in this thread")
    return post, author


async def _earlier(action: Action, post: Post) -> list[tuple[str, str]]:
    """A few visible posts before `post` in its thread, oldest first."""
    earlier: list[Post] = []
    parent_id = post.in_reply_to_id
    while parent_id and len(earlier) < EARLIER_IN_THREAD:
        try:
            parent = await get_visible_post(action.session, action.viewer, parent_id)
        except DomainError:
            break
        earlier.append(parent)
        parent_id = parent.in_reply_to_id
    ids = {p.author_id for p in earlier}
    rows = await action.session.scalars(select(Actor).where(Actor.id.in_(ids)))
    handles = {a.id: a.handle for a in rows}
    return [(handles.get(p.author_id, "someone"), p.text) for p in reversed(earlier)]


async def write_reply(action: Action) -> None:
    """Answer a mention, a reply or a direct message in character."""
    direct = action.item.kind == "answer_dm"
    if not action.allowed("answer_dm" if direct else "reply"):
        raise Skip(
            f"its creator does not allow it to {'answer direct messages' if direct else 'reply'}"
        )
    limit = await limit_reached(
        action.session, action.settings, action.agent, action.item.kind, action.now
    )
    if limit:
        raise Skip(limit)
    post, author = await _reply_target(action)
    earlier = await _earlier(action, post)
    # Only a direct answer (which nobody but the author reads) may recall what the author
    # said in private; a public or followers-only reply recalls public memories only.
    memories = await recall(
        action.session,
        action.character.id,
        post.text,
        audience=author.id if post.visibility == "direct" else PUBLIC,
        about_actor_id=author.id,
        limit=MEMORIES_FOR_REPLY,
        touch=False,
    )
    messages = prompts.reply_messages(
        action.character, author.handle, post.text, earlier, _texts(memories), direct
    )
    # The operator view shows the prompt, but never what someone said in a private chat
    # with the character: those memories appear there only as a placeholder.
    shown = [m.text if m.source != "chat" else "(a memory of a private chat)" for m in memories]
    shown_prompt = prompts.reply_messages(
        action.character, author.handle, post.text, earlier, shown, direct
    )[-1]["content"]
    action.result.inputs = {
        "prompt": shown_prompt,
        "trigger_post": post.id,
        "trigger_author": author.handle,
    }
    action.result.memories_used = [m.id for m in memories]
    params = _params(action, action.settings.agents_post_max_tokens)
    text = _cleaned(action, await action.generate(messages, params))
    text = await _redrafted(action, messages, params, text)
    if text and f"@{author.handle}".lower() not in text.lower():
        text = f"@{author.handle} {text}"  # as people do, so the thread reads right anywhere
    told = "sent me a direct message" if direct else "said to me in the feed"
    private = post.visibility in ("direct", "followers")
    await action.remember(
        "told", f"@{author.handle} {told}: {post.text}", author.id, post.id, private
    )
    # A reply keeps the warning of what it answers (as Mastodon's composer does), so the
    # thread stays behind it here and on every server it reaches.
    await _publish(action, text, post.visibility, post.id, author.handle, post.content_warning)
    if action.result.outcome == "published":
        said = f"I answered @{author.handle}: {text}"
        await action.remember("said", said, author.id, action.result.post_id, private)


async def follow_back(action: Action) -> None:
    """Follow back a new follower."""
    if not action.allowed("follow_back"):
        raise Skip("its creator does not allow it to follow back")
    follower_id = action.item.trigger_actor_id
    if follower_id is None or follower_id in action.viewer.blocked:
        raise Skip("a block stands between it and the follower")
    follower = await action.session.get(Actor, follower_id)
    if follower is None or not await follows(action.session, follower_id, action.actor.id):
        raise Skip("they no longer follow it")
    if await follows(action.session, action.actor.id, follower_id):
        action.result.outcome, action.result.detail = "nothing", "it already follows them"
        return
    handle, viewer = follower.handle, action.viewer

    async def apply(session: AsyncSession) -> None:
        await graph.follow(session, await current(session, viewer), handle)

    action.result.outcome, action.result.apply = "followed", apply
    action.result.inputs = {"follower": handle}
    action.result.memories.append(
        NewMemory("did", f"@{handle} followed me, and I followed back.", follower_id)
    )


def _parse_choice(text: str, actions: list[str], count: int) -> tuple[str, int] | None:
    try:
        data = json.loads(text)
    except ValueError:
        match = re.search(r"\{.*\}", text, re.DOTALL)
        if not match:
            return None
        try:
            data = json.loads(match.group(0))
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    what, number = data.get("action"), data.get("post")
    if what not in actions or not isinstance(number, int) or not 1 <= number <= count:
        return None
    return what, number


async def browse(action: Action) -> None:
    """Read the feed, then let the model choose: like, repost, or nothing."""
    choices = [a for a in ("like", "repost") if action.allowed(a)]
    if not choices:
        raise Skip("its creator allows neither likes nor reposts")
    liked = set(
        await action.session.scalars(
            select(Like.post_id)
            .where(Like.actor_id == action.actor.id)
            .union(
                select(Post.repost_of_id).where(
                    Post.author_id == action.actor.id, Post.repost_of_id.is_not(None)
                )
            )
        )
    )  # posts it already liked or reposted
    candidates: list[tuple[Post, Actor]] = []
    for post, author in await _feed(action, FEED_FOR_BROWSE):
        if post.id in liked or author.id in action.viewer.blocked:
            continue
        if author.kind == "person" and not await has_engaged(
            action.session, author.id, action.actor.id
        ):
            continue  # no acting on people who never engaged with it
        candidates.append((post, author))
    if not candidates:
        action.result.outcome, action.result.detail = "nothing", "nothing new in its feed"
        return
    options = [*choices, "nothing"]
    shown = [(a.handle, p.text) for p, a in candidates]
    messages = prompts.choice_messages(action.character, shown, options)
    action.result.inputs = {
        "prompt": messages[-1]["content"],
        "feed": [p.id for p, _ in candidates],
    }
    schema = prompts.choice_schema(options, len(candidates))
    done = await action.generate(messages, _params(action, 24, schema))
    choice = _parse_choice(done.text, options, len(candidates))
    if choice is None:
        action.result.outcome = "nothing"
        action.result.detail = f"the model's choice was not usable: {done.text[:120]!r}"
        return
    what, number = choice
    post, author = candidates[number - 1]
    action.result.inputs["choice"] = {"action": what, "post": post.id}
    if what == "nothing":
        action.result.outcome, action.result.detail = "nothing", "it chose to do nothing"
        return
    viewer, target = action.viewer, post.id

    async def apply(session: AsyncSession) -> None:
        now_viewer = await current(session, viewer)
        if what == "like":
            await posts.like(session, now_viewer, target)
        else:
            await posts.repost(session, now_viewer, target)

    action.result.outcome = "liked" if what == "like" else "reposted"
    action.result.apply = apply
    action.result.memories.append(
        NewMemory(
            "did",
            f"I {action.result.outcome} @{author.handle}'s post: {post.text[:200]}",
            author.id,
            post.id,
        )
    )


HANDLERS: dict[str, Callable[[Action], Awaitable[None]]] = {
    "post": write_post,
    "reply": write_reply,
    "answer_dm": write_reply,
    "follow_back": follow_back,
    "browse": browse,
}
