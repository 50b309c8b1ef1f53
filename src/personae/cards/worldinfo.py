"""SillyTavern world-info files (and bare character books) as V3 character books."""

from __future__ import annotations

from typing import Any

from personae.cards.book import normalize_book
from personae.cards.errors import CardError
from personae.cards.fields import (
    get_bool,
    get_number,
    get_object,
    get_str,
    join,
    too_many,
    wrong_type,
)
from personae.cards.jsonio import load_json
from personae.cards.limits import DEFAULT_LIMITS, CardLimits

# World-info entry fields that map onto V3 entry fields; every other field goes to the
# entry's `extensions`, under the snake_case name SillyTavern itself uses there.
_MAPPED = frozenset(
    {
        "uid",
        "key",
        "keysecondary",
        "comment",
        "content",
        "constant",
        "selective",
        "order",
        "position",
        "disable",
        "caseSensitive",
        "useRegex",
        "extensions",
    }
)
_RENAMES = {
    "excludeRecursion": "exclude_recursion",
    "preventRecursion": "prevent_recursion",
    "delayUntilRecursion": "delay_until_recursion",
    "displayIndex": "display_index",
    "matchWholeWords": "match_whole_words",
    "useGroupScoring": "use_group_scoring",
    "groupOverride": "group_override",
    "groupWeight": "group_weight",
    "scanDepth": "scan_depth",
    "automationId": "automation_id",
}
# The converted world-info file's own copy of the book it was made from; a stale duplicate.
_DROPPED_TOP = ("entries", "originalData")


def _keys(entry: dict[str, Any], key: str, prefix: str, limits: CardLimits) -> list[str]:
    value = entry.get(key)
    path = join(prefix, key)
    if value is None:
        return []
    if isinstance(value, str):
        # Very old world info kept keys as one comma-separated string.
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise wrong_type(path, "an array of strings", value)
    if len(value) > limits.max_keys_per_entry:
        raise too_many(path, len(value), limits.max_keys_per_entry)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise wrong_type(f"{path}[{i}]", "a string", item)
    return value


def _default_id(key: str | int) -> int | str:
    return int(key) if isinstance(key, str) and key.isdigit() else key


def _from_world_info(
    entry: dict[str, Any], key: str | int, prefix: str, limits: CardLimits
) -> dict[str, Any]:
    """One SillyTavern world-info entry as a (not yet normalised) V3 entry."""
    extensions = dict(get_object(entry, "extensions", prefix))
    for name, value in entry.items():
        if name not in _MAPPED:
            extensions[_RENAMES.get(name, name)] = value
    position = entry.get("position")
    if position is not None:
        extensions["position"] = position  # ST's exact slot (0-7); V3 only knows before/after
    case_sensitive = entry.get("caseSensitive")
    if "caseSensitive" in entry:
        extensions["case_sensitive"] = case_sensitive  # null there means "global setting"
    uid = entry.get("uid")
    if uid is not None and not isinstance(uid, (str, int)):
        raise wrong_type(join(prefix, "uid"), "a number", uid)
    return {
        "id": _default_id(key) if uid is None else uid,
        "keys": _keys(entry, "key", prefix, limits),
        "secondary_keys": _keys(entry, "keysecondary", prefix, limits),
        "comment": get_str(entry, "comment", prefix, limits.max_text_chars),
        "content": get_str(entry, "content", prefix, limits.max_text_chars),
        "constant": get_bool(entry, "constant", prefix, False),
        "selective": get_bool(entry, "selective", prefix, False),
        "insertion_order": get_number(entry, "order", prefix, 100),
        "enabled": not get_bool(entry, "disable", prefix, False),
        "position": "after_char" if position == 1 else "before_char",
        "case_sensitive": get_bool(entry, "caseSensitive", prefix, False),
        "use_regex": get_bool(entry, "useRegex", prefix, False),
        "extensions": extensions,
    }


def world_info_to_book(doc: Any, limits: CardLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """A V3 character book from a decoded world-info document or character book."""
    if not isinstance(doc, dict):
        raise wrong_type("The lorebook file", "a JSON object", doc)
    entries = doc.get("entries")
    if entries is None:
        raise CardError(
            "missing_field",
            "entries is missing; a lorebook file is an object with an 'entries' object "
            "(SillyTavern world info) or array (character book).",
        )
    if isinstance(entries, dict):
        items: list[tuple[str | int, Any]] = list(entries.items())
    elif isinstance(entries, list):
        items = list(enumerate(entries))
    else:
        raise wrong_type("entries", "an object or an array", entries)
    if len(items) > limits.max_book_entries:
        raise too_many("entries", len(items), limits.max_book_entries)
    converted = []
    for key, entry in items:
        prefix = f"entries.{key}" if isinstance(key, str) else f"entries[{key}]"
        if not isinstance(entry, dict):
            raise wrong_type(prefix, "an object", entry)
        if "keys" in entry or "key" not in entry:
            converted.append(entry)  # already a character-book entry
        else:
            converted.append(_from_world_info(entry, key, prefix, limits))
    book = {k: v for k, v in doc.items() if k not in _DROPPED_TOP}
    book["entries"] = converted
    return normalize_book(book, "", limits)


def parse_world_info(data: bytes, limits: CardLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Import a SillyTavern world-info JSON (or a V2/V3 character_book JSON) as a V3 book."""
    if len(data) > limits.max_file_bytes:
        raise CardError(
            "too_large",
            f"The lorebook file is {len(data):,} bytes; the limit is {limits.max_file_bytes:,}.",
        )
    return world_info_to_book(load_json(data, limits, "The lorebook file"), limits)
