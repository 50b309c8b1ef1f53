"""A scene prompt for one speaker: presence-aware, and laid out so speakers share the cache.

Layout (every part before the last is the same whoever speaks, so the backend's prefix
cache, llama.cpp's slot cache or vLLM's prefix cache, carries over from one speaker to the
next and only the speaker's own part and the newest messages are evaluated again):

1. system: the scene frame: title, scenario, the cast with PUBLIC descriptions only, the
   scene lorebook's constant entries (changes only when the scene or its members change);
2. the history the speaker was present for, oldest first, each message as `Name: text`
   (people as `user`, characters as `assistant`, whoever speaks; roles that depended on
   the speaker would make the history differ from one speaker to the next), "X joined" /
   "X left" notices as system lines, and the scene lorebook's keyword entries anchored to
   the person's message that first triggered them (as in chat/prompt.py);
3. system: the speaker's own part: its system prompt and definition, example dialogues,
   its own lorebook, its memories, its post-history instructions, and the instruction to
   write only its own next message. Nobody else's definition is ever in a prompt.

Messages from while the speaker was away are left out entirely, so it cannot know them.
When the history does not fit the context window it is cut at chunk boundaries that do not
depend on the speaker (see `fit_history`), so all speakers keep the same window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from personae.characters.prompting import (
    CharacterDefinition,
    MacroContext,
    format_examples,
    render,
)
from personae.chat.lore import LoreEntry, activate
from personae.chat.prompt import (
    PER_MESSAGE_OVERHEAD,
    SAFETY_MARGIN,
    ContextOverflow,
    LoreSettings,
    Turn,
    chunk_starts,
    lore_insertions,
)
from personae.llm.base import ChatMessage, estimate_tokens
from personae.scenes.bleed import stop_sequences
from personae.scenes.turns import A_PERSON

Count = Callable[[Sequence[ChatMessage]], Awaitable[int]]

# A public description is a line in the cast list, not a second definition.
PUBLIC_DESCRIPTION_CHARS = 400
DEFAULT_LORE_SETTINGS = LoreSettings()
# Token counts are requested this many blocks at a time (concurrently), newest first.
COUNT_BATCH = 32
_ANCHOR: ChatMessage = {"role": "system", "content": "."}
REASONING_TAGS = (("<think>", "</think>"), ("<thinking>", "</thinking>"))


@dataclass(frozen=True)
class CastMember:
    """A participant as every other participant may know them."""

    participant_id: str
    name: str
    is_person: bool
    # Public only (a profile's bio or tagline): never a card's description, personality,
    # system prompt or anything else of its hidden definition.
    description: str = ""


@dataclass(frozen=True)
class SceneLine:
    """One visible message of the scene, oldest first."""

    participant_id: str
    name: str
    is_person: bool
    text: str
    at: datetime


@dataclass(frozen=True)
class Notice:
    """Someone joined or left the scene at `at`."""

    name: str
    joined: bool
    at: datetime


@dataclass(frozen=True)
class Presence:
    """One interval the speaker was in the scene (left_at None: still there)."""

    joined_at: datetime
    left_at: datetime | None = None

    def covers_message(self, at: datetime) -> bool:
        """Whether a message sent at `at` was said while present."""
        at = _aware(at)
        return _aware(self.joined_at) <= at and (self.left_at is None or at < _aware(self.left_at))

    def covers_notice(self, at: datetime) -> bool:
        """Whether a join/leave at `at` was seen (its own join and leave included)."""
        at = _aware(at)
        return _aware(self.joined_at) <= at and (self.left_at is None or at <= _aware(self.left_at))


def _aware(value: datetime) -> datetime:
    # Storage gives aware UTC times; a naive one (a test, a caller's own clock) is read as
    # UTC rather than failing the comparison.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SceneSpeaker:
    """The character about to speak: its own definition and when it was present."""

    participant_id: str
    definition: CharacterDefinition
    presence: Sequence[Presence]
    name: str = ""  # the name the scene shows (a nickname); the definition's name if empty


@dataclass(frozen=True)
class ScenePrompt:
    """Messages for the backend, the stop sequences that keep the reply in one voice, and
    what went in."""

    messages: list[ChatMessage]
    stop: list[str]
    history_kept: int = 0  # visible items (messages and notices) in the prompt
    history_total: int = 0  # visible items the speaker was present for
    lore_ids: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- pieces


def strip_reasoning(text: str) -> str:
    """Text without `<think>...</think>` blocks: a character's reasoning is its own."""
    for open_tag, close_tag in REASONING_TAGS:
        if open_tag not in text:
            continue
        out: list[str] = []
        position = 0
        while True:
            start = text.find(open_tag, position)
            if start < 0:
                out.append(text[position:])
                break
            out.append(text[position:start])
            end = text.find(close_tag, start)
            if end < 0:  # unclosed: everything after it is reasoning
                break
            position = end + len(close_tag)
        text = "".join(out)
    return text.strip()


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text[: limit * 2].split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def visible_items(
    history: Sequence[SceneLine],
    notices: Sequence[Notice],
    presence: Sequence[Presence] | None,
) -> list[SceneLine | Notice]:
    """Messages and notices from while the speaker was present (None: all), in time order."""
    seen = sorted(notices, key=lambda n: _aware(n.at))
    if presence is None:
        lines = list(history)
    else:
        # The intervals' bounds once, not once per message (a scene has hundreds).
        spans = [(_aware(p.joined_at), p.left_at and _aware(p.left_at)) for p in presence]

        def kept(at: datetime, notice: bool) -> bool:
            at = _aware(at)
            return any(
                start <= at and (end is None or at < end or (notice and at == end))
                for start, end in spans
            )

        lines = [line for line in history if kept(line.at, False)]
        seen = [n for n in seen if kept(n.at, True)]
    items: list[SceneLine | Notice] = []
    index = 0
    for line in lines:  # history keeps its own (tree) order; notices go in by time
        while index < len(seen) and _aware(seen[index].at) <= _aware(line.at):
            items.append(seen[index])
            index += 1
        items.append(line)
    items.extend(seen[index:])
    return items


def _as_turn(item: SceneLine | Notice) -> Turn:
    # Only people's messages trigger lore, as only the person's turns do in chat.
    if isinstance(item, Notice):
        return Turn("system", "")
    return Turn("user" if item.is_person else "assistant", strip_reasoning(item.text))


def _item_message(item: SceneLine | Notice) -> ChatMessage:
    if isinstance(item, Notice):
        verb = "joined" if item.joined else "left"
        return {"role": "system", "content": f"{item.name} {verb} the scene."}
    text = f"{item.name}: {strip_reasoning(item.text)}"
    return {"role": "user" if item.is_person else "assistant", "content": text}


def history_blocks(
    items: Sequence[SceneLine | Notice],
    keyed: Sequence[LoreEntry],
    settings: LoreSettings,
    ctx: MacroContext,
) -> tuple[list[list[ChatMessage]], dict[int, list[LoreEntry]]]:
    """Per visible item, the messages it adds (its lore note first), and the lore by item."""
    notes = lore_insertions([_as_turn(i) for i in items], keyed, settings, ctx) if keyed else {}
    blocks: list[list[ChatMessage]] = []
    for index, item in enumerate(items):
        block: list[ChatMessage] = []
        note = "\n\n".join(render(e.content, ctx).strip() for e in notes.get(index, []))
        if note.strip():
            block.append({"role": "system", "content": note})
        block.append(_item_message(item))
        blocks.append(block)
    return blocks, notes


def scene_frame(
    title: str,
    scenario: str,
    cast: Sequence[CastMember],
    constant_lore: Sequence[LoreEntry],
    ctx: MacroContext,
) -> str:
    """The shared system message: the same for every speaker of the scene."""
    head = "This is a group scene"
    head += f": {_one_line(title, 200)}." if title.strip() else "."
    head += (
        " Several characters and people take turns; each message starts with the name of"
        " whoever says it."
    )
    parts = [head]
    if scenario.strip():
        parts.append(f"Scenario: {render(scenario, ctx).strip()}")
    if cast:
        lines = []
        for member in cast:
            kind = "a person" if member.is_person else "a character"
            line = f"- {_one_line(member.name, 100)} ({kind})"
            if member.description.strip():
                line += f": {_one_line(member.description, PUBLIC_DESCRIPTION_CHARS)}"
            lines.append(line)
        parts.append("Taking part:\n" + "\n".join(lines))
    parts += [render(e.content, ctx).strip() for e in constant_lore]
    return "\n\n".join(p for p in parts if p.strip())


def speaker_part(
    speaker: SceneSpeaker,
    others: Sequence[str],
    *,
    scene_has_scenario: bool,
    memories: Sequence[str],
    own_lore: Sequence[LoreEntry],
    ctx: MacroContext,
) -> str:
    """The speaker's own system message, last in the prompt: nobody else ever sees it."""
    definition = speaker.definition
    name = ctx.char
    parts = [f"You are {name}, one of the characters in this scene."]
    if definition.system_prompt.strip():
        parts.append(render(definition.system_prompt, ctx))
    parts += [render(e.content, ctx) for e in own_lore if e.position == "before_char"]
    if definition.description.strip():
        parts.append(render(definition.description, ctx))
    if definition.personality.strip():
        parts.append(f"{name}'s personality: {render(definition.personality, ctx)}")
    # A scene's scenario replaces the card's own, as a group scenario does in SillyTavern.
    if definition.scenario.strip() and not scene_has_scenario:
        parts.append(f"{name}'s situation: {render(definition.scenario, ctx)}")
    parts += [render(e.content, ctx) for e in own_lore if e.position != "before_char"]
    examples = format_examples(definition.mes_example, ctx)
    if examples:
        parts.append(examples)
    if memories:
        lines = "\n".join(f"- {_one_line(m, 500)}" for m in memories if m.strip())
        if lines:
            parts.append(f"What {name} remembers:\n{lines}")
    if definition.post_history_instructions.strip():
        parts.append(render(definition.post_history_instructions, ctx))
    who = ", ".join(others) if others else "anyone else"
    parts.append(
        f"Write only {name}'s next message in the scene, in {name}'s own voice. Never write"
        f" lines for {who}."
    )
    return "\n\n".join(p.strip() for p in parts if p.strip())


# --------------------------------------------------------------------------- fitting


async def _block_size(block: Sequence[ChatMessage], count: Count, base: int) -> int:
    # As chat/prompt.py does: the block after a one-character system message, minus that
    # message's own count, so the template's fixed cost cancels.
    return await count([_ANCHOR, *block]) - base


def _proxy_sizes(blocks: Sequence[Sequence[ChatMessage]]) -> list[int]:
    """Cheap, deterministic stand-ins for token counts (UTF-8 bytes / 4), to place chunks."""
    return [
        sum(len(m["content"].encode()) // 4 + PER_MESSAGE_OVERHEAD for m in block)
        for block in blocks
    ]


def _byte_bound(blocks: Sequence[Sequence[ChatMessage]]) -> int:
    # Byte-level BPE never makes more tokens than UTF-8 bytes (chat/prompt.py relies on it).
    return sum(len(m["content"].encode()) + PER_MESSAGE_OVERHEAD for b in blocks for m in b)


async def _finest_start(blocks: Sequence[Sequence[ChatMessage]], budget: int, count: Count) -> int:
    """The first block from which the rest fits `budget`, counting from the newest back.

    Only the blocks that can fit are counted (a window's worth, not the whole scene), a
    batch at a time so the backend's tokenizer sees concurrent requests for new texts.
    """
    base = await count([_ANCHOR])
    total = 0
    end = len(blocks)
    while end > 0:
        start = max(0, end - COUNT_BATCH)
        sizes = await asyncio.gather(*(_block_size(b, count, base) for b in blocks[start:end]))
        for offset in range(len(sizes) - 1, -1, -1):
            total += sizes[offset]
            if total > budget:
                return start + offset + 1
        end = start
    return 0


async def fit_history(
    items: Sequence[SceneLine | Notice],
    keyed: Sequence[LoreEntry],
    settings: LoreSettings,
    ctx: MacroContext,
    budget: int,
    chunk: int,
    count: Count,
) -> tuple[int, list[list[ChatMessage]], dict[int, list[LoreEntry]]]:
    """The first item to keep, the kept blocks and their lore, within `budget` tokens.

    The window starts at a chunk boundary, so it moves once per chunk of conversation
    rather than every message (and the cached prefix survives in between). Boundaries are
    placed from the start of the scene by a byte-based stand-in for token counts: they
    depend only on the history, never on the speaker (`chunk` must not either; the caller
    derives it from the shared part), so every speaker gets the same window. Exact counts
    decide only how far back the window may reach.
    """
    blocks, notes = history_blocks(items, keyed, settings, ctx)
    if _byte_bound(blocks) <= budget:
        return 0, blocks, notes
    finest = await _finest_start(blocks, budget, count)
    if finest == 0:
        return 0, blocks, notes
    if finest >= len(items):
        raise ContextOverflow(
            "the newest message alone does not fit the model's context window; "
            "shorten it or choose a backend with a larger context"
        )
    starts = chunk_starts(_proxy_sizes(blocks), max(1, chunk))
    candidates = [b for b in starts if finest <= b < len(items)] + [finest]
    for first in candidates:
        if not keyed:  # no lore to re-anchor: the blocks carry over as they are
            return first, blocks[first:], {}
        kept_blocks, kept_notes = history_blocks(items[first:], keyed, settings, ctx)
        if await _finest_start(kept_blocks, budget, count) == 0:
            return first, kept_blocks, kept_notes
    raise ContextOverflow(
        "the newest messages do not fit the model's context window; "
        "shorten them or choose a backend with a larger context"
    )


def _own_lore_triggered(
    own_keyed: Sequence[LoreEntry],
    items: Sequence[SceneLine | Notice],
    settings: LoreSettings,
) -> list[LoreEntry]:
    if not own_keyed:
        return []
    recent = [strip_reasoning(i.text) for i in items if isinstance(i, SceneLine)]
    recent = recent[-settings.scan_depth :] if settings.scan_depth > 0 else []
    return activate(own_keyed, recent, estimate_tokens, settings.token_budget, settings.recursive)


# --------------------------------------------------------------------------- assembly


async def _fit(
    frame: ChatMessage,
    items: Sequence[SceneLine | Notice],
    tail: Sequence[ChatMessage],
    keyed: Sequence[LoreEntry],
    lore_settings: LoreSettings,
    ctx: MacroContext,
    context_window: int,
    reply_tokens: int,
    count: Count,
) -> tuple[list[ChatMessage], int, dict[int, list[LoreEntry]]]:
    """Frame, the history that fits, tail; the first item kept and the lore by item."""
    frame_tokens = await count([frame])
    shared = context_window - reply_tokens - frame_tokens - SAFETY_MARGIN
    budget = shared - (await count([frame, *tail]) - frame_tokens)
    if budget <= 0:
        raise ContextOverflow(
            "the scene and the character's definition leave no room for the conversation in "
            "this model's context window; shorten them or choose a backend with a larger "
            "context"
        )
    first, blocks, notes = (
        await fit_history(items, keyed, lore_settings, ctx, budget, shared // 2, count)
        if items
        else (0, [], {})
    )
    messages: list[ChatMessage] = [frame]
    for block in blocks:
        messages.extend(block)
    messages.extend(tail)
    return messages, first, notes


async def assemble_scene_prompt(
    title: str,
    scenario: str,
    speaker: SceneSpeaker,
    cast: Sequence[CastMember],
    history: Sequence[SceneLine],
    notices: Sequence[Notice] = (),
    *,
    context_window: int,
    reply_tokens: int,
    count: Count,
    memories: Sequence[str] = (),
    scene_lore: Sequence[LoreEntry] = (),
    own_lore: Sequence[LoreEntry] = (),
    lore_settings: LoreSettings = DEFAULT_LORE_SETTINGS,
    seed: str = "",
    now: datetime | None = None,
    prefill: bool = False,
) -> ScenePrompt:
    """Build the messages for `speaker`'s next message: shared frame, the history it was
    present for, its own part last; with the stop sequences for everyone else.

    `prefill` ends the prompt with an assistant message holding only `Name:`, which
    llama.cpp (and other servers that prefill) continue: the model writes in the speaker's
    voice from its first token, instead of often opening with someone else's label (a
    reply then cleaned to nothing), and no label has to be held back while streaming.
    Servers that do not prefill read it as an earlier turn; the cleaning copes with that.
    Off by default so that the speaker's part stays the last message for callers that look
    for it there; docs/scenes.md has what it changes on the bundled model.
    """
    name = " ".join((speaker.name or speaker.definition.name).split()) or "Character"
    people = [c.name for c in cast if c.is_person]
    others = [c.name for c in cast if c.participant_id != speaker.participant_id]
    # {{user}} in a scene is its people; the shared frame renders {{char}} as the speaker
    # only because there is no other sensible value (a scenario that uses it is per speaker).
    ctx = MacroContext(char=name, user=" and ".join(people) or "everyone", seed=seed, now=now)
    scene_constant = [e for e in scene_lore if e.constant and e.enabled]
    scene_keyed = [e for e in scene_lore if not e.constant]
    own_constant = [e for e in own_lore if e.constant and e.enabled]
    own_keyed = [e for e in own_lore if not e.constant]

    frame: ChatMessage = {
        "role": "system",
        "content": scene_frame(title, scenario, cast, scene_constant, ctx),
    }
    items = visible_items(history, notices, speaker.presence)
    triggered_own = _own_lore_triggered(own_keyed, items, lore_settings)
    tail: list[ChatMessage] = [
        {
            "role": "system",
            "content": speaker_part(
                speaker,
                others,
                scene_has_scenario=bool(scenario.strip()),
                memories=memories,
                own_lore=[*own_constant, *triggered_own],
                ctx=ctx,
            ),
        }
    ]
    if prefill:
        tail.append({"role": "assistant", "content": f"{name}:"})
    messages, first, notes = await _fit(
        frame, items, tail, scene_keyed, lore_settings, ctx, context_window, reply_tokens, count
    )
    lore_ids = [e.id for e in scene_constant]
    lore_ids += [e.id for new in notes.values() for e in new]
    lore_ids += [e.id for e in [*own_constant, *triggered_own]]
    return ScenePrompt(
        messages=messages,
        stop=stop_sequences(name, others),
        history_kept=len(items) - first,
        history_total=len(items),
        lore_ids=lore_ids,
    )


def director_part(labels: Sequence[str]) -> str:
    """The director's instruction, last in its prompt (the schema constrains the answer)."""
    names = ", ".join(labels) if labels else "nobody"
    return (
        "You direct this scene; you are not one of its characters. Decide who should speak"
        f' next: one of {names}, or "{A_PERSON}" when the people should answer. Answer with'
        " JSON only: the speaker, and in a few words why it is their turn."
    )


async def assemble_director_prompt(
    title: str,
    scenario: str,
    cast: Sequence[CastMember],
    history: Sequence[SceneLine],
    notices: Sequence[Notice] = (),
    *,
    labels: Sequence[str],
    context_window: int,
    reply_tokens: int,
    count: Count,
    scene_lore: Sequence[LoreEntry] = (),
    lore_settings: LoreSettings = DEFAULT_LORE_SETTINGS,
    seed: str = "",
    now: datetime | None = None,
) -> ScenePrompt:
    """The director's prompt: the same frame and history as the speakers' (so its call hits
    the cache too), the whole history, then its instruction; `labels` are the schema's
    names (`turns.director_labels`). Send it with `turns.director_schema` and read the
    answer with `turns.parse_director`."""
    people = [c.name for c in cast if c.is_person]
    ctx = MacroContext(
        char="the narrator", user=" and ".join(people) or "everyone", seed=seed, now=now
    )
    scene_constant = [e for e in scene_lore if e.constant and e.enabled]
    frame: ChatMessage = {
        "role": "system",
        "content": scene_frame(title, scenario, cast, scene_constant, ctx),
    }
    items = visible_items(history, notices, None)
    tail: list[ChatMessage] = [{"role": "system", "content": director_part(labels)}]
    keyed = [e for e in scene_lore if not e.constant]
    messages, first, notes = await _fit(
        frame, items, tail, keyed, lore_settings, ctx, context_window, reply_tokens, count
    )
    lore_ids = [e.id for e in scene_constant] + [e.id for n in notes.values() for e in n]
    return ScenePrompt(messages, [], len(items) - first, len(items), lore_ids)
