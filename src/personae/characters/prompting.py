"""Character prompting: a character's definition, its macros, its stable system message and
its sampling parameters, shared by chat and the autonomous agents.

Macros ({{char}}, {{user}}, {{original}} and the Character Card V3 ones) are written here
rather than taken from a library because no maintained Python package implements the card
macro set; the grammar is small.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from hashlib import sha256
from typing import Any, Protocol

from personae.characters.models import Character
from personae.llm.base import GenerationParams, Samplers

DEFAULT_SYSTEM_PROMPT = (
    "You are {{char}}. Write {{char}}'s next reply in this conversation with {{user}}. "
    "Stay in character, keep replies short and vivid, and never speak for {{user}}."
)

# --------------------------------------------------------------------------- macros

_MACRO = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_DICE = re.compile(r"^(\d{0,3})d(\d{1,6})$", re.IGNORECASE)
MAX_MACRO_OUTPUT = 200_000


@dataclass
class MacroContext:
    """What macros can refer to; `seed` makes {{pick}} stable within one conversation."""

    char: str
    user: str
    original: str = ""
    seed: str = ""
    now: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _choices(arg: str) -> list[str]:
    # V3 allows both "a,b,c" and "a::b::c"; "::" wins so commas can appear inside options.
    if "::" in arg:
        return arg.split("::")
    return [c.strip() for c in arg.split(",")]


def _roll(arg: str, rng: random.Random) -> str:
    match = _DICE.match(arg.strip())
    if arg.strip().isdigit():
        sides, count = int(arg.strip()), 1
    elif match:
        count = int(match.group(1) or 1)
        sides = int(match.group(2))
    else:
        return ""
    if sides < 1 or count < 1:
        return ""
    return str(sum(rng.randint(1, sides) for _ in range(min(count, 100))))


def render(text: str, ctx: MacroContext) -> str:
    """Replace every macro in `text`; unknown macros are left as written."""
    if "{{" not in text:
        return text
    now = ctx.now or datetime.now()
    picks = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal picks
        body = match.group(1)
        key = body.strip()
        lower = key.lower()
        if lower == "char":
            return ctx.char
        if lower == "user":
            return ctx.user
        if lower == "original":
            return ctx.original
        if key.startswith("//") or lower.startswith("comment:"):
            return ""
        if lower.startswith("hidden_key:"):
            return ""
        if lower == "newline":
            return "\n"
        if lower == "time":
            return now.strftime("%H:%M")
        if lower == "date":
            return now.strftime("%B %d, %Y")
        if lower == "weekday":
            return now.strftime("%A")
        if lower == "isotime":
            return now.strftime("%H:%M:%S")
        if lower == "isodate":
            return now.strftime("%Y-%m-%d")
        name, sep, arg = key.partition(":")
        name = name.strip().lower()
        if arg.startswith(":"):  # the "::" form: {{random::a::b}}
            arg = arg[1:]
        if sep and name == "random":
            return random.SystemRandom().choice(_choices(arg))
        if sep and name == "pick":
            # Stable per conversation and position, so a re-render gives the same prompt
            # (and the model's prefix cache keeps hitting).
            picks += 1
            digest = sha256(f"{ctx.seed}:{picks}:{arg}".encode()).digest()
            return random.Random(digest).choice(_choices(arg))
        if sep and name == "roll":
            return _roll(arg, random.Random(sha256(f"{ctx.seed}:{arg}".encode()).digest()))
        if sep and name == "reverse":
            return arg[::-1]
        if lower in ctx.extra:
            return ctx.extra[lower]
        return match.group(0)

    return _MACRO.sub(replace, text)[:MAX_MACRO_OUTPUT]


def hidden_keys(text: str) -> list[str]:
    """Words in {{hidden_key:...}} macros: scanned for lorebook keys, never shown."""
    return [
        m.group(1).split(":", 1)[1]
        for m in _MACRO.finditer(text)
        if m.group(1).strip().lower().startswith("hidden_key:")
    ]


def macro_context(character: Character, user_name: str, seed: str) -> MacroContext:
    """Macro values for one conversation, or one audience: `seed` keeps {{pick}} stable
    within it ({{char}} prefers the card's nickname, as V3 says)."""
    return MacroContext(char=character.nickname or character.name, user=user_name, seed=seed)


# --------------------------------------------------------------------------- definition


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


def definition_of(character: Character) -> CharacterDefinition:
    """The prompt-relevant fields of a character."""
    return CharacterDefinition(
        name=character.name,
        description=character.description,
        personality=character.personality,
        scenario=character.scenario,
        mes_example=character.mes_example,
        system_prompt=character.system_prompt,
        post_history_instructions=character.post_history_instructions,
    )


class PlacedLore(Protocol):
    """What the system message needs of a constant lore entry: its text and where it goes."""

    @property
    def content(self) -> str: ...

    @property
    def position(self) -> str: ...


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
    constant_lore: Sequence[PlacedLore],
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


# --------------------------------------------------------------------------- sampling


def generation_params(
    character: Character,
    max_tokens: int,
    *,
    own_length: bool = True,
    json_schema: dict[str, Any] | None = None,
) -> GenerationParams:
    """Sampling settings: the character's own (temperature, top_p, seed, the samplers of
    `Samplers`), else the backend's.

    The length is the character's own `max_tokens` when it has one and `own_length` is
    set (a chat reply), else `max_tokens` (an autonomous post, whose length the caller
    fixes).
    """
    sampling = character.sampling or {}
    if own_length and sampling.get("max_tokens"):
        max_tokens = int(sampling["max_tokens"])
    params = GenerationParams(max_tokens=max_tokens, json_schema=json_schema)
    if sampling.get("temperature") is not None:
        params.temperature = float(sampling["temperature"])
    if sampling.get("top_p") is not None:
        params.top_p = float(sampling["top_p"])
    if sampling.get("seed") is not None:
        params.seed = int(sampling["seed"])
    # Stored values were validated on the way in; anything else (an older key) is skipped.
    own = {f.name: sampling[f.name] for f in fields(Samplers) if sampling.get(f.name) is not None}
    params.samplers = Samplers(**own)
    return params
