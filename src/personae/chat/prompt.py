"""Prompt assembly: stable part first (for the prefix cache), history trimmed to fit.

Layout, chosen so that consecutive turns share the longest possible prefix:

1. system: system prompt, character definition, constant lore, persona, example dialogues
   (changes only when the character or persona is edited);
2. the visible history, oldest first, ending with the new user turn; keyword-triggered
   lore is inserted as a system note just before the user turn that first triggered it,
   and stays there on later turns;
3. system (only when the card has them): post-history instructions.

SillyTavern puts triggered lore in front of the history; lore that changes from turn to
turn there would invalidate the whole cached history whenever a different entry fires.
Anchoring each entry to the turn that triggered it makes the insertions a function of the
history up to that turn, so an earlier prompt is always a prefix of the next one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from personae.characters.prompting import (
    CharacterDefinition,
    MacroContext,
    hidden_keys,
    render,
    stable_system,
)
from personae.chat.lore import DEFAULT_SCAN_DEPTH, DEFAULT_TOKEN_BUDGET, LoreEntry, activate
from personae.errors import DomainError
from personae.llm.base import ChatMessage, estimate_tokens

SAFETY_MARGIN = 16
PER_MESSAGE_OVERHEAD = 8


class ContextOverflow(DomainError):
    """Even the definition and the newest turn do not fit the model's context window."""

    status_code = 422
    code = "context_overflow"


@dataclass(frozen=True)
class Turn:
    """One visible message of the history."""

    role: str  # "user" | "assistant"
    content: str


@dataclass(frozen=True)
class LoreSettings:
    """Book-level activation settings (the strictest of the attached books)."""

    scan_depth: int = DEFAULT_SCAN_DEPTH
    token_budget: int = DEFAULT_TOKEN_BUDGET
    recursive: bool = False


@dataclass(frozen=True)
class AssembledPrompt:
    """Messages for the backend and what went into them."""

    messages: list[ChatMessage]
    history_kept: int
    history_total: int
    lore_ids: list[str]


def lore_insertions(
    history: Sequence[Turn],
    keyed: Sequence[LoreEntry],
    settings: LoreSettings,
    ctx: MacroContext,
) -> dict[int, list[LoreEntry]]:
    """Lore by history index: entries a user turn triggers that no earlier turn did."""
    if not keyed:
        return {}
    seen: set[str] = set()
    notes: dict[int, list[LoreEntry]] = {}
    for index, turn in enumerate(history):
        if turn.role != "user":
            continue
        window = history[max(0, index - settings.scan_depth + 1) : index + 1]
        texts = [t.content for t in window]
        texts += [key for t in window for key in hidden_keys(t.content)]
        triggered = activate(
            keyed, texts, estimate_tokens, settings.token_budget, settings.recursive
        )
        new = [e for e in triggered if e.id not in seen]
        seen.update(e.id for e in new)
        if new:
            notes[index] = new
    return notes


def window_messages(
    history: Sequence[Turn], notes: dict[int, list[LoreEntry]], ctx: MacroContext
) -> list[list[ChatMessage]]:
    """Per history turn, the messages it contributes (its lore note, then itself)."""
    blocks: list[list[ChatMessage]] = []
    for index, turn in enumerate(history):
        block: list[ChatMessage] = []
        note = "\n\n".join(render(e.content, ctx).strip() for e in notes.get(index, []))
        if note.strip():
            block.append({"role": "system", "content": note})
        # History is stored as shown (greetings were rendered when the chat opened), so it
        # is not re-rendered: a re-rolled {{random}} would change the cached prefix.
        block.append(
            {"role": "user" if turn.role == "user" else "assistant", "content": turn.content}
        )
        blocks.append(block)
    return blocks


def _byte_bound(blocks: Sequence[Sequence[ChatMessage]]) -> int:
    # Byte-level BPE never makes more tokens than UTF-8 bytes, so this bound is safe and
    # saves a tokenizer call per message until the chat gets long.
    return sum(len(m["content"].encode()) + PER_MESSAGE_OVERHEAD for b in blocks for m in b)


async def _sizes(
    blocks: Sequence[Sequence[ChatMessage]],
    count: Callable[[Sequence[ChatMessage]], Awaitable[int]],
) -> list[int]:
    """Tokens each block adds to a prompt.

    Each block is counted after a one-character system message, then that message's own
    count is taken off: the template's fixed cost cancels exactly, and the long real
    system message is not re-hashed once per block.
    """
    anchor: ChatMessage = {"role": "system", "content": "."}
    base = await count([anchor])
    # Counts are cached per text by the backend; new texts are tokenized concurrently.
    totals = await asyncio.gather(*(count([anchor, *block]) for block in blocks))
    return [total - base for total in totals]


def chunk_starts(sizes: Sequence[int], chunk: int) -> list[int]:
    """Where history chunks of about `chunk` tokens begin, counted from the first message.

    Chunks are measured from the start of the chat, so they never move as it grows: the
    window's start jumps a whole chunk at a time and then stays put for many turns.
    """
    starts, total = [0], 0
    for index, size in enumerate(sizes):
        total += size
        if total >= chunk * len(starts):
            starts.append(index + 1)
    return starts


async def fit_window(
    history: Sequence[Turn],
    keyed: Sequence[LoreEntry],
    settings: LoreSettings,
    ctx: MacroContext,
    budget: int,
    count: Callable[[Sequence[ChatMessage]], Awaitable[int]],
) -> tuple[int, list[list[ChatMessage]], dict[int, list[LoreEntry]]]:
    """The first history index to keep, its messages and lore, fitting `budget` tokens.

    When the whole history does not fit, the window starts at the first chunk boundary
    (chunks of half the budget) from which the rest fits, so trimming happens about once
    every half-budget of chat instead of every turn, and the cached prefix survives.
    """
    notes = lore_insertions(history, keyed, settings, ctx)
    blocks = window_messages(history, notes, ctx)
    if _byte_bound(blocks) <= budget:
        return 0, blocks, notes
    sizes = await _sizes(blocks, count)
    if sum(sizes) <= budget:
        return 0, blocks, notes
    suffix = [0] * (len(sizes) + 1)
    for index in range(len(sizes) - 1, -1, -1):
        suffix[index] = suffix[index + 1] + sizes[index]
    finest = next(i for i in range(len(sizes) + 1) if suffix[i] <= budget)
    if finest >= len(history):
        raise ContextOverflow(
            "the newest message alone does not fit the model's context window; "
            "shorten it or choose a backend with a larger context"
        )
    starts = chunk_starts(sizes, max(1, budget // 2))
    # Chunk starts first (stable), then the finest cut as a last resort.
    candidates = [b for b in starts if finest <= b < len(history)] + [finest]
    for first in candidates:
        kept = history[first:]
        kept_notes = lore_insertions(kept, keyed, settings, ctx)
        kept_blocks = window_messages(kept, kept_notes, ctx)
        if sum(await _sizes(kept_blocks, count)) <= budget:
            return first, kept_blocks, kept_notes
    raise ContextOverflow(
        "the newest messages do not fit the model's context window; "
        "shorten them or choose a backend with a larger context"
    )


async def assemble(
    definition: CharacterDefinition,
    persona_name: str,
    persona_description: str,
    history: Sequence[Turn],
    lore: Sequence[LoreEntry],
    lore_settings: LoreSettings,
    ctx: MacroContext,
    context_window: int,
    reply_tokens: int,
    count: Callable[[Sequence[ChatMessage]], Awaitable[int]],
    extra_system: str = "",
) -> AssembledPrompt:
    """Build the backend messages for the next reply (`extra_system`: a caller's own
    instructions, e.g. the system messages of an OpenAI-compatible request)."""
    constant = [e for e in lore if e.constant and e.enabled]
    keyed = [e for e in lore if not e.constant]
    system_text = stable_system(definition, persona_name, persona_description, constant, ctx)
    if extra_system.strip():
        system_text = f"{system_text}\n\n{extra_system.strip()}"
    tail_text = ""
    if definition.post_history_instructions.strip():
        phi_ctx = MacroContext(ctx.char, ctx.user, "", ctx.seed, ctx.now, ctx.extra)
        tail_text = render(definition.post_history_instructions, phi_ctx).strip()
    fixed: list[ChatMessage] = [{"role": "system", "content": system_text}]
    if tail_text:
        fixed.append({"role": "system", "content": tail_text})
    budget = context_window - reply_tokens - await count(fixed) - SAFETY_MARGIN
    if budget <= 0:
        raise ContextOverflow(
            "the character definition leaves no room for the chat in this model's context "
            "window; shorten the definition or choose a backend with a larger context"
        )
    first, blocks, notes = (
        await fit_window(history, keyed, lore_settings, ctx, budget, count)
        if history
        else (0, [], {})
    )
    messages: list[ChatMessage] = [fixed[0]]
    for block in blocks:
        messages.extend(block)
    if tail_text:
        messages.append({"role": "system", "content": tail_text})
    kept = history[first:]
    lore_ids = [e.id for e in constant] + [e.id for new in notes.values() for e in new]
    return AssembledPrompt(
        messages=messages,
        history_kept=len(kept),
        history_total=len(history),
        lore_ids=lore_ids,
    )
