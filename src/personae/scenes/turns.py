"""Who speaks in a scene: pure turn selection for every mode, with the reason recorded.

Nothing here touches the database or the clock: the conductor passes the members, the
visible history and the scene's seed, and gets back `Choice`s. Every random draw comes from
`random.Random` seeded with the scene's seed, the turn index and the member, so replaying a
scene makes the same choices (and a test can pin them).

Modes (docs/scenes.md, "Turn-taking"):

- natural: characters named in the last message (name or @handle) answer in order of
  mention, then every other member whose seeded roll is under its talkativeness; if nobody,
  one seeded random member. The author of the last message is left out unless the scene
  allows self-responses (after a person's message that excludes nobody).
- list: every member once, in position order.
- pooled: one random member of the pool, the members who have not spoken in the current
  round; a round ends when every member has spoken once, so each gets a turn before anyone
  repeats.
- manual: nobody until a person taps a character.
- director: the model picks (`director_schema`, `parse_director`).

Muted and absent members are never chosen, in any mode.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Mode = Literal["natural", "list", "pooled", "manual", "director"]
MODES: tuple[Mode, ...] = ("natural", "list", "pooled", "manual", "director")

# Mentions are looked for in this much of a message: enough for any real message, and a
# bound on the work a hostile 1 MB message can cause on the event loop.
MENTION_SCAN_CHARS = 8_000
# A director's answer longer than this is not a JSON object of two short fields.
DIRECTOR_MAX_CHARS = 4_000
DIRECTOR_REASON_CHARS = 200
A_PERSON = "a person"
# First words too common to mean a character ("The Narrator" is not mentioned by "the").
_WEAK_FIRST_WORDS = frozenset(
    {"the", "a", "an", "mr", "mrs", "ms", "dr", "sir", "lady", "lord", "miss", "old", "young"}
)
_FIRST_WORD_MIN = 3


@dataclass(frozen=True)
class Member:
    """A character member as turn-taking sees it."""

    participant_id: str
    name: str
    handle: str
    talkativeness: float  # 0..1
    muted: bool
    present: bool


@dataclass(frozen=True)
class SpokenTurn:
    """One visible message, oldest first."""

    participant_id: str
    is_person: bool
    text: str


@dataclass(frozen=True)
class Choice:
    """Who speaks (None: a person should) and why, in a short English reason."""

    participant_id: str | None
    reason: str


# --------------------------------------------------------------------------- helpers


def eligible(members: Sequence[Member]) -> list[Member]:
    """Members who may speak: present and not muted, in position order."""
    return [m for m in members if m.present and not m.muted]


def _talkativeness(member: Member) -> float:
    value = member.talkativeness
    if not isinstance(value, (int, float)) or math.isnan(value):
        return 0.5
    return min(1.0, max(0.0, float(value)))


def _roll(seed: str, turn_index: int, participant_id: str) -> float:
    # String seeds are hashed (SHA-512) by random.Random, so this is stable across runs,
    # processes and Python versions that keep seed version 2.
    return random.Random(f"{seed}:{turn_index}:{participant_id}").random()


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _find_word(haystack: str, needle: str, *, at_sign: bool = False) -> int:
    """First index of `needle` in `haystack` standing as a whole word, or -1.

    Plain `str.find` with boundary checks rather than a regex: no pattern is built from
    user text, and the work is linear in the (capped) text.
    """
    if not needle:
        return -1
    start = 0
    while True:
        index = haystack.find(needle, start)
        if index < 0:
            return -1
        end = index + len(needle)
        before_ok = index == 0 or not _is_word_char(haystack[index - 1])
        if at_sign:  # "@bob" in "mail@bob.example" is an address, not a mention
            before_ok = index == 0 or not (
                _is_word_char(haystack[index - 1]) or haystack[index - 1] == "@"
            )
        after_ok = end == len(haystack) or not _is_word_char(haystack[end])
        if before_ok and after_ok:
            return index
        start = index + 1


def _mention_forms(member: Member) -> list[tuple[str, bool]]:
    """The case-folded strings that mention a member, each with whether it is an @handle."""
    forms: list[tuple[str, bool]] = []
    name = " ".join(member.name.split()).casefold()
    if name:
        forms.append((name, False))
        words = name.split(" ")
        first = words[0].strip(".,")
        # "Seraphina" mentions "Seraphina Moonwhisper", as people write names.
        if len(words) > 1 and len(first) >= _FIRST_WORD_MIN and first not in _WEAK_FIRST_WORDS:
            forms.append((first, False))
    handle = member.handle.strip().lstrip("@").casefold()
    if handle:
        forms.append(("@" + handle, True))
    return forms


def mentioned(text: str, members: Sequence[Member]) -> list[Member]:
    """Members named in `text` (name, first name or @handle; whole words, any case), in order
    of first mention."""
    scan = text[:MENTION_SCAN_CHARS].casefold()
    found: list[tuple[int, int, Member]] = []
    for position, member in enumerate(members):
        hits = [
            _find_word(scan, form, at_sign=is_handle) for form, is_handle in _mention_forms(member)
        ]
        hits = [h for h in hits if h >= 0]
        if hits:
            found.append((min(hits), position, member))
    found.sort(key=lambda item: (item[0], item[1]))
    return [member for _, _, member in found]


def _last_character_speaker(history: Sequence[SpokenTurn]) -> str | None:
    """The author of the last message when it is a character (whom natural order skips)."""
    if history and not history[-1].is_person:
        return history[-1].participant_id
    return None


def pool(members: Sequence[Member], history: Sequence[SpokenTurn]) -> list[Member]:
    """Members who have not spoken in the current round (all of them when a round ends).

    A round ends when every member who may speak now has spoken once; rounds are counted
    from the start of the scene, so the pool is the same whoever asks and whenever.
    """
    able = eligible(members)
    ids = {m.participant_id for m in able}
    spoken: set[str] = set()
    for turn in history:
        if turn.is_person or turn.participant_id not in ids:
            continue
        spoken.add(turn.participant_id)
        if spoken >= ids:
            spoken = set()
    return [m for m in able if m.participant_id not in spoken]


def _seeded_pick(candidates: Sequence[Member], seed: str, turn_index: int, salt: str) -> Member:
    return random.Random(f"{seed}:{turn_index}:{salt}").choice(list(candidates))


def _random_fallback(
    able: Sequence[Member], seed: str, turn_index: int, reason: str
) -> Choice | None:
    # Members who would never roll (talkativeness 0) are picked only when no one else can be.
    chatty = [m for m in able if _talkativeness(m) > 0] or list(able)
    if not chatty:
        return None
    member = _seeded_pick(chatty, seed, turn_index, "random")
    return Choice(member.participant_id, reason)


# --------------------------------------------------------------------------- modes


def _natural(
    members: Sequence[Member],
    history: Sequence[SpokenTurn],
    *,
    allow_self: bool,
    seed: str,
    turn_index: int,
) -> list[Choice]:
    able = eligible(members)
    banned = None if allow_self else _last_character_speaker(history)
    able = [m for m in able if m.participant_id != banned]
    if not able:
        return []
    last_text = history[-1].text if history else ""
    choices = [Choice(m.participant_id, "mentioned") for m in mentioned(last_text, able)]
    chosen = {c.participant_id for c in choices}
    # Rolls in a seeded order, so who answers first among the rollers varies from turn to
    # turn but is the same on a replay.
    order = list(able)
    random.Random(f"{seed}:{turn_index}:order").shuffle(order)
    for member in order:
        if member.participant_id in chosen:
            continue
        roll = _roll(seed, turn_index, member.participant_id)
        chance = _talkativeness(member)
        if roll < chance:
            choices.append(Choice(member.participant_id, f"roll {roll:.2f} < {chance:.2f}"))
            chosen.add(member.participant_id)
    if not choices:
        fallback = _random_fallback(able, seed, turn_index, "random: nobody rolled")
        return [fallback] if fallback else []
    return choices


def _pooled(
    members: Sequence[Member],
    history: Sequence[SpokenTurn],
    *,
    allow_self: bool,
    seed: str,
    turn_index: int,
) -> Choice | None:
    candidates = pool(members, history)
    last = _last_character_speaker(history)
    if not allow_self and last is not None:
        # Nobody answers themselves, and a new round does not start with whoever ended
        # the last one.
        candidates = [m for m in candidates if m.participant_id != last]
    if not candidates:
        return None
    member = _seeded_pick(candidates, seed, turn_index, "pool")
    return Choice(member.participant_id, "pool")


def speakers_after_person(
    mode: Mode | str,
    members: Sequence[Member],
    history: Sequence[SpokenTurn],
    *,
    allow_self: bool,
    seed: str,
    turn_index: int,
) -> list[Choice]:
    """Who answers a person's message, in order (empty: manual and director modes, or no one
    can speak)."""
    if mode == "natural":
        return _natural(members, history, allow_self=allow_self, seed=seed, turn_index=turn_index)
    if mode == "list":
        return [Choice(m.participant_id, "list") for m in eligible(members)]
    if mode == "pooled":
        choice = _pooled(members, history, allow_self=allow_self, seed=seed, turn_index=turn_index)
        return [choice] if choice else []
    return []  # manual: people tap; director: the conductor asks the model


def next_after_character(
    mode: Mode | str,
    members: Sequence[Member],
    history: Sequence[SpokenTurn],
    *,
    allow_self: bool,
    seed: str,
    turn_index: int,
) -> Choice:
    """Who speaks next after a character spoke (auto-mode and the "next" preview); None:
    a person should (or must tap, or the director decides)."""
    able = eligible(members)
    if not able:
        return Choice(None, "no character can speak")
    last = _last_character_speaker(history)
    if mode == "natural":
        choices = _natural(
            members, history, allow_self=allow_self, seed=seed, turn_index=turn_index
        )
        if choices:
            return choices[0]
        return Choice(None, "a person should speak")
    if mode == "list":
        ids = [m.participant_id for m in able]
        if last in ids:
            following = ids[(ids.index(last) + 1) % len(ids)]
            if following == last and not allow_self:
                return Choice(None, "a person should speak")
            return Choice(following, "list")
        return Choice(ids[0], "list")
    if mode == "pooled":
        choice = _pooled(members, history, allow_self=allow_self, seed=seed, turn_index=turn_index)
        return choice or Choice(None, "a person should speak")
    if mode == "director":
        return Choice(None, "the director decides")
    return Choice(None, "manual: tap a character")


# --------------------------------------------------------------------------- director


def director_labels(members: Sequence[Member]) -> dict[str, Member]:
    """The name the director answers with, for each member who may speak.

    A name two members share (or one that reads like "a person") gets its @handle added,
    so every label names exactly one member.
    """
    able = eligible(members)
    counts: dict[str, int] = {}
    for member in able:
        key = member.name.strip().casefold()
        counts[key] = counts.get(key, 0) + 1
    labels: dict[str, Member] = {}
    for member in able:
        name = " ".join(member.name.split())
        key = name.casefold()
        if not name or counts[key] > 1 or key == A_PERSON:
            name = f"{name} (@{member.handle})".strip()
        labels[name] = member
    return labels


def director_schema(members: Sequence[Member]) -> dict[str, Any]:
    """A JSON schema for the director's call: a speaker (a present, unmuted character's
    name, or "a person") and a short reason."""
    return {
        "type": "object",
        "properties": {
            "speaker": {"type": "string", "enum": [*director_labels(members), A_PERSON]},
            "reason": {"type": "string", "maxLength": DIRECTOR_REASON_CHARS},
        },
        "required": ["speaker", "reason"],
        "additionalProperties": False,
    }


def _clean_reason(value: object) -> str:
    """The model's reason as one short line (control characters and newlines removed)."""
    if not isinstance(value, str):
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in value[: DIRECTOR_REASON_CHARS * 2])
    return " ".join(text.split())[:DIRECTOR_REASON_CHARS]


def _decode_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text`, or None (bad JSON, too deep, not an object)."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        # raw_decode: a small model often adds text after the object.
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _match_label(speaker: str, labels: dict[str, Member]) -> Member | None:
    """The member an answer names: its exact label, an @handle, a name only one member has,
    or a bare handle; None when unknown or ambiguous."""
    wanted = " ".join(speaker.split()).casefold()
    for label, member in labels.items():
        if label.casefold() == wanted:
            return member
    bare = wanted.lstrip("@")
    by_handle = [m for m in labels.values() if m.handle.casefold() == bare]
    if wanted.startswith("@"):
        return by_handle[0] if by_handle else None
    by_name = [m for m in labels.values() if " ".join(m.name.split()).casefold() == bare]
    if by_name:
        return by_name[0] if len(by_name) == 1 else None
    return by_handle[0] if by_handle else None


def parse_director(text: str, members: Sequence[Member], fallback: Choice | None = None) -> Choice:
    """The director's choice from its raw answer; never trusts it: anything but a present,
    unmuted character or "a person" gives `fallback` (default: a person should speak)."""

    def fall_back(why: str) -> Choice:
        if fallback is not None and (
            fallback.participant_id is None
            or any(m.participant_id == fallback.participant_id for m in eligible(members))
        ):
            return Choice(fallback.participant_id, f"director {why}; {fallback.reason}"[:300])
        return Choice(None, f"director {why}; a person should speak")

    if not isinstance(text, str) or len(text) > DIRECTOR_MAX_CHARS:
        return fall_back("answer unusable")
    data = _decode_object(text)
    if data is None:
        return fall_back("answer was not JSON")
    speaker = data.get("speaker")
    if not isinstance(speaker, str) or not speaker.strip():
        return fall_back("named nobody")
    reason = _clean_reason(data.get("reason"))
    if " ".join(speaker.split()).casefold() == A_PERSON:
        return Choice(None, f"director: {reason}" if reason else "director: a person")
    member = _match_label(speaker[:DIRECTOR_MAX_CHARS], director_labels(members))
    if member is None:
        return fall_back("named someone who cannot speak")
    return Choice(member.participant_id, f"director: {reason}" if reason else "director")
