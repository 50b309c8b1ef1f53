"""Reading a SillyTavern group (`data/<user>/groups/<id>.json`) into plain values.

The format, from SillyTavern's `src/endpoints/groups.js` (what `/api/groups/create` writes)
and `public/scripts/group-chats.js` (what the client reads): `id`, `name`, `members` (the
member characters' avatar file names, e.g. `"Seraphina.png"`), `disabled_members` (muted
ones, same names), `activation_strategy` (`group_activation_strategy`: NATURAL 0, LIST 1,
MANUAL 2, POOLED 3), `generation_mode` (SWAP 0, APPEND 1, APPEND_DISABLED 2),
`allow_self_responses`, `auto_mode_delay` (seconds), `chat_metadata` (its `scenario` is the
group's scenario override), `fav`, `avatar_url`, `chat_id`, `chats`, `hideMutedSprites`.
Talkativeness lives on each character card (`data.extensions.talkativeness`), not in the
group; a `talkativeness` map (member → 0..1) is read when an export carries one.

Only the fields a scene uses are read; everything is checked (size, depth, NUL, types,
counts) and a problem is an `Invalid` naming the field. Pure: bytes in, values out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from personae.errors import Invalid
from personae.scenes.turns import Mode

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_MEMBERS = 50
MAX_NAME_CHARS = 200
MAX_MEMBER_CHARS = 255
MAX_SCENARIO_CHARS = 20_000
DEFAULT_TALKATIVENESS = 0.5
# SillyTavern's group_activation_strategy values.
STRATEGIES: dict[int, Mode] = {0: "natural", 1: "list", 2: "manual", 3: "pooled"}
CARD_SUFFIXES = (".png", ".json", ".charx", ".webp")


@dataclass(frozen=True)
class StGroup:
    """A SillyTavern group, as a scene needs it."""

    name: str
    members: list[str]  # avatar file names as SillyTavern stores them ("Seraphina.png")
    disabled_members: list[str]  # muted members (a subset of `members`)
    mode: Mode
    allow_self: bool
    scenario: str = ""
    talkativeness: dict[str, float] = field(default_factory=dict)  # member → 0..1
    activation_strategy: int = 0
    generation_mode: int = 0
    auto_mode_delay_s: float | None = None

    def talkativeness_of(self, member: str) -> float:
        """The member's talkativeness from the group file, else the default 0.5."""
        return self.talkativeness.get(member, DEFAULT_TALKATIVENESS)


def member_name(member: str) -> str:
    """The card name a member entry stands for: its file name without the extension."""
    base = member.rsplit("/", 1)[-1]
    lowered = base.casefold()
    for suffix in CARD_SUFFIXES:
        if lowered.endswith(suffix):
            return base[: -len(suffix)].strip()
    return base.strip()


def _check_tree(value: object) -> None:
    """Reject nesting deeper than MAX_DEPTH and NUL in any string (keys included).

    Iterative, so a hostile file cannot exhaust the stack here either.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Invalid(f"the group file is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            if "\x00" in item:
                raise Invalid("the group file contains a NUL character")
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise Invalid("the group file contains a NUL character")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _text(data: dict[str, Any], key: str, limit: int, default: str = "") -> str:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise Invalid(f"{key} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise Invalid(f"{key} is longer than {limit} characters")
    return value


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{key} must be a list of character file names")
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise Invalid(f"{key} must be a list of character file names")
        if len(item) > MAX_MEMBER_CHARS:
            raise Invalid(f"an entry of {key} is longer than {MAX_MEMBER_CHARS} characters")
        if item.strip() not in names:  # SillyTavern never lists one twice; a file might
            names.append(item.strip())
    return names


def _integer(data: dict[str, Any], key: str, allowed: range) -> int:
    value = data.get(key, allowed.start)
    if value is None:
        return allowed.start
    # SillyTavern stores numbers, but reads them with Number(), so "1" is accepted too.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        values = ", ".join(str(v) for v in allowed)
        raise Invalid(f"{key} must be one of {values}")
    return value


def _fraction(value: object, where: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise Invalid(f"{where} must be a number from 0 to 1") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise Invalid(f"{where} must be a number from 0 to 1")
    if not 0 <= value <= 1:
        raise Invalid(f"{where} must be a number from 0 to 1")
    return float(value)


def _talkativeness(data: dict[str, Any], members: list[str]) -> dict[str, float]:
    value = data.get("talkativeness")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid("talkativeness must map members to numbers from 0 to 1")
    known = {m: m for m in members} | {member_name(m): m for m in members}
    out: dict[str, float] = {}
    for key, number in value.items():
        member = known.get(key)
        if member is None:
            continue  # a member the group no longer has
        out[member] = _fraction(number, f"talkativeness of {member_name(member)}")
    return out


def parse_group(data: bytes) -> StGroup:
    """Parse a SillyTavern group JSON file; raises `Invalid` naming what is wrong."""
    if len(data) > MAX_BYTES:
        raise Invalid(f"the group file is larger than {MAX_BYTES // 1_000_000} MB")
    if b"\x00" in data:
        raise Invalid("the group file contains a NUL character")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("the group file is not UTF-8 text") from None
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise Invalid(f"the group file is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise Invalid(f"the group file is not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise Invalid("the group file must be a JSON object")
    _check_tree(parsed)

    members = _names(parsed, "members")
    if not members:
        raise Invalid("members is empty: a group needs at least one character")
    if len(members) > MAX_MEMBERS:
        raise Invalid(f"members lists more than {MAX_MEMBERS} characters")
    disabled = [m for m in _names(parsed, "disabled_members") if m in members]
    strategy = _integer(parsed, "activation_strategy", range(0, 4))
    generation_mode = _integer(parsed, "generation_mode", range(0, 3))
    allow_self = parsed.get("allow_self_responses", False)
    if not isinstance(allow_self, bool):
        raise Invalid("allow_self_responses must be true or false")
    metadata = parsed.get("chat_metadata")
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise Invalid("chat_metadata must be an object")
    scenario = _text(metadata, "scenario", MAX_SCENARIO_CHARS)
    delay = parsed.get("auto_mode_delay")
    auto_delay: float | None = None
    if delay is not None:
        if (
            isinstance(delay, bool)
            or not isinstance(delay, (int, float))
            or not (0 <= delay <= 86_400)
        ):
            raise Invalid("auto_mode_delay must be a number of seconds")
        auto_delay = float(delay)
    name = _text(parsed, "name", MAX_NAME_CHARS) or "Imported group"
    return StGroup(
        name=name,
        members=members,
        disabled_members=disabled,
        mode=STRATEGIES[strategy],
        allow_self=allow_self,
        scenario=scenario,
        talkativeness=_talkativeness(parsed, members),
        activation_strategy=strategy,
        generation_mode=generation_mode,
        auto_mode_delay_s=auto_delay,
    )


def card_talkativeness(card_extensions: object) -> float:
    """A card's `extensions.talkativeness` (SillyTavern stores a string like "0.5"), or the
    default when missing or unreadable."""
    if not isinstance(card_extensions, dict) or "talkativeness" not in card_extensions:
        return DEFAULT_TALKATIVENESS
    try:
        return _fraction(card_extensions["talkativeness"], "talkativeness")
    except Invalid:
        return DEFAULT_TALKATIVENESS
