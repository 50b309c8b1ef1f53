"""Prompt assembly: stable part first (for the prefix cache), history trimmed to fit.

Layout, chosen so that consecutive turns share the longest possible prefix:

1. system: system prompt, character definition, constant lore, persona, example dialogues
   (changes only when the character or persona is edited);
2. the visible history, oldest first, ending with the new user turn;
3. system (only when needed): keyword-triggered lore and post-history instructions.

Triggered lore sits after the history, not before it as SillyTavern puts it, because lore
that changes from turn to turn in front of the history would invalidate the whole cached
history every time a different entry fires.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from personae.chat.lore import DEFAULT_SCAN_DEPTH, DEFAULT_TOKEN_BUDGET, LoreEntry, activate
from personae.chat.macros import MacroContext, hidden_keys, render
from personae.errors import DomainError
from personae.llm.base import ChatMessage

DEFAULT_SYSTEM_PROMPT = (
    "You are {{char}}. Write {{char}}'s next reply in this conversation with {{user}}. "
    "Stay in character, keep replies short and vivid, and never speak for {{user}}."
)
# Trimmed history starts at a multiple of this many messages, so the cut point (and with
# it the cached prefix) stays put for several turns instead of moving every turn.
TRIM_STEP = 6
SAFETY_MARGIN = 16
PER_MESSAGE_OVERHEAD = 8


class ContextOverflow(DomainError):
    """Even the definition and the newest turn do not fit the model's context window."""

    status_code = 422
    code = "context_overflow"


@dataclass(frozen=True)
class CharacterDefinition:
    """The character fields a prompt uses."""

    name: str
    description: str = ""
    personality: str = ""
    scenario: str = ""
    mes_example: str = ""
    system_prompt: str = ""
    post_history_instructions: str = ""


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


def format_examples(mes_example: str, ctx: MacroContext) -> str:
    """Example dialogues: `<START>` separates blocks, as in SillyTavern cards."""
    text = render(mes_example, ctx).strip()
    if not text:
        return ""
    blocks = [b.strip() for b in re.split(r"<START>", text, flags=re.IGNORECASE) if b.strip()]
    return f"Examples of how {ctx.char} talks:\n" + "\n---\n".join(blocks)


def stable_system(
    definition: CharacterDefinition,
    persona_name: str,
    persona_description: str,
    constant_lore: Sequence[LoreEntry],
    ctx: MacroContext,
) -> str:
    """The part of the prompt that only changes when the character or persona changes."""
    default = render(DEFAULT_SYSTEM_PROMPT, ctx)
    if definition.system_prompt.strip():
        head_ctx = MacroContext(ctx.char, ctx.user, default, ctx.seed, ctx.now, ctx.extra)
        head = render(definition.system_prompt, head_ctx)
    else:
        head = default
    parts = [head.strip()]
    parts += [render(e.content, ctx) for e in constant_lore if e.position == "before_char"]
    if definition.description.strip():
        parts.append(render(definition.description, ctx))
    if definition.personality.strip():
        parts.append(f"{ctx.char}'s personality: {render(definition.personality, ctx)}")
    if definition.scenario.strip():
        parts.append(f"Scenario: {render(definition.scenario, ctx)}")
    parts += [render(e.content, ctx) for e in constant_lore if e.position != "before_char"]
    if persona_description.strip():
        parts.append(f"About {persona_name}: {render(persona_description, ctx)}")
    examples = format_examples(definition.mes_example, ctx)
    if examples:
        parts.append(examples)
    return "\n\n".join(p.strip() for p in parts if p.strip())


def estimate_tokens(text: str) -> int:
    """A quick estimate for lore budgets (about 3.5 characters a token)."""
    return math.ceil(len(text) / 3.5)


async def fit_history(
    history: Sequence[Turn],
    budget: int,
    count: Callable[[Sequence[ChatMessage]], Awaitable[int]],
) -> int:
    """Index of the first history message to keep so the rest fits `budget` tokens."""
    messages: list[ChatMessage] = [
        {"role": "user" if t.role == "user" else "assistant", "content": t.content}
        for t in history
    ]
    # Byte-level BPE never makes more tokens than UTF-8 bytes, so this bound is safe and
    # saves counting (a tokenizer call per message) until the chat gets long.
    upper = sum(len(m["content"].encode()) + PER_MESSAGE_OVERHEAD for m in messages)
    if upper <= budget:
        return 0
    sizes = [await count([m]) for m in messages]
    total = sum(sizes)
    first = 0
    while total > budget and first < len(sizes) - 1:
        total -= sizes[first]
        first += 1
    if total > budget:
        raise ContextOverflow(
            "the newest message alone does not fit the model's context window; "
            "shorten it or choose a backend with a larger context"
        )
    stepped = math.ceil(first / TRIM_STEP) * TRIM_STEP
    return min(stepped, len(messages) - 1)


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
    recent = [t.content for t in history[-lore_settings.scan_depth :]]
    recent += [k for t in history[-lore_settings.scan_depth :] for k in hidden_keys(t.content)]
    triggered = activate(
        keyed, recent, estimate_tokens, lore_settings.token_budget, lore_settings.recursive
    )
    tail_parts = [render(e.content, ctx) for e in triggered]
    if definition.post_history_instructions.strip():
        phi_ctx = MacroContext(ctx.char, ctx.user, "", ctx.seed, ctx.now, ctx.extra)
        tail_parts.append(render(definition.post_history_instructions, phi_ctx))
    tail_text = "\n\n".join(p.strip() for p in tail_parts if p.strip())

    fixed: list[ChatMessage] = [{"role": "system", "content": system_text}]
    if tail_text:
        fixed.append({"role": "system", "content": tail_text})
    fixed_tokens = await count(fixed)
    budget = context_window - reply_tokens - fixed_tokens - SAFETY_MARGIN
    if budget <= 0:
        raise ContextOverflow(
            "the character definition leaves no room for the chat in this model's context "
            "window; shorten the definition or choose a backend with a larger context"
        )
    first = await fit_history(history, budget, count) if history else 0
    kept = history[first:]
    messages: list[ChatMessage] = [fixed[0]]
    for turn in kept:
        role = "user" if turn.role == "user" else "assistant"
        # History is stored as shown (greetings were rendered when the chat opened), so it is
        # not re-rendered: a re-rolled {{random}} would change the cached prefix every turn.
        messages.append({"role": role, "content": turn.content})
    if tail_text:
        messages.append({"role": "system", "content": tail_text})
    return AssembledPrompt(
        messages=messages,
        history_kept=len(kept),
        history_total=len(history),
        lore_ids=[e.id for e in triggered] + [e.id for e in constant],
    )
