"""Card macros: {{char}}, {{user}}, {{original}} and the Character Card V3 ones.

Written here rather than taken from a library because no maintained Python package
implements the card macro set; the grammar is small.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256

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
