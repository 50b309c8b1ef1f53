"""Character book (lorebook) normalisation to the V3 shape, keeping unknown keys."""

from __future__ import annotations

from typing import Any

from personae.cards.errors import CardError
from personae.cards.fields import (
    get_bool,
    get_number,
    get_object,
    get_str,
    get_str_list,
    join,
    too_many,
    wrong_type,
)
from personae.cards.limits import CardLimits

POSITIONS = ("before_char", "after_char")
BOOK_FIELDS = (
    "name",
    "description",
    "scan_depth",
    "token_budget",
    "recursive_scanning",
    "extensions",
    "entries",
)
ENTRY_FIELDS = (
    "keys",
    "content",
    "extensions",
    "enabled",
    "insertion_order",
    "case_sensitive",
    "use_regex",
    "constant",
    "name",
    "priority",
    "id",
    "comment",
    "selective",
    "secondary_keys",
    "position",
)
# Optional fields whose "absent" we store as None; exports leave them out again.
OPTIONAL_BOOK_FIELDS = ("scan_depth", "token_budget")
OPTIONAL_ENTRY_FIELDS = ("priority", "id")
# SillyTavern's default insertion order for new entries.
DEFAULT_ORDER = 100


def _position(entry: dict[str, Any], prefix: str) -> str:
    value = entry.get("position")
    path = join(prefix, "position")
    if value is None or value == "":
        return "before_char"
    if isinstance(value, str):
        if value in POSITIONS:
            return value
        raise CardError(
            "bad_value",
            f"{path} is {value!r}; it must be 'before_char' or 'after_char'. "
            "Fix the entry and try again.",
        )
    raise wrong_type(path, "'before_char' or 'after_char'", value)


def _entry_id(entry: dict[str, Any], prefix: str) -> int | float | str | None:
    value = entry.get("id")
    if value is None or isinstance(value, str):
        return value
    number = get_number(entry, "id", prefix, None)
    return number


def normalize_entry(entry: Any, prefix: str, limits: CardLimits) -> dict[str, Any]:
    """One lorebook entry with every V3 entry field present; unknown keys kept."""
    if not isinstance(entry, dict):
        raise wrong_type(prefix, "an object", entry)
    long_, key_ = limits.max_text_chars, limits.max_key_chars
    max_keys = limits.max_keys_per_entry
    out: dict[str, Any] = {
        "keys": get_str_list(entry, "keys", prefix, max_keys, key_),
        "content": get_str(entry, "content", prefix, long_),
        "extensions": get_object(entry, "extensions", prefix),
        "enabled": get_bool(entry, "enabled", prefix, True),
        "insertion_order": get_number(entry, "insertion_order", prefix, DEFAULT_ORDER),
        "case_sensitive": get_bool(entry, "case_sensitive", prefix, False),
        "use_regex": get_bool(entry, "use_regex", prefix, False),
        "constant": get_bool(entry, "constant", prefix, False),
        "name": get_str(entry, "name", prefix, key_),
        "priority": get_number(entry, "priority", prefix, None),
        "id": _entry_id(entry, prefix),
        "comment": get_str(entry, "comment", prefix, long_),
        "selective": get_bool(entry, "selective", prefix, False),
        "secondary_keys": get_str_list(entry, "secondary_keys", prefix, max_keys, key_),
        "position": _position(entry, prefix),
    }
    out.update((k, v) for k, v in entry.items() if k not in out)
    return out


def normalize_book(book: Any, prefix: str, limits: CardLimits) -> dict[str, Any]:
    """A character book with every V3 book field present; unknown keys kept."""
    if not isinstance(book, dict):
        raise wrong_type(prefix or "the lorebook", "an object", book)
    entries = book.get("entries")
    entries_path = join(prefix, "entries")
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise wrong_type(entries_path, "an array of entries", entries)
    if len(entries) > limits.max_book_entries:
        raise too_many(entries_path, len(entries), limits.max_book_entries)
    out: dict[str, Any] = {
        "name": get_str(book, "name", prefix, limits.max_key_chars),
        "description": get_str(book, "description", prefix, limits.max_text_chars),
        "scan_depth": get_number(book, "scan_depth", prefix, None),
        "token_budget": get_number(book, "token_budget", prefix, None),
        "recursive_scanning": get_bool(book, "recursive_scanning", prefix, False),
        "extensions": get_object(book, "extensions", prefix),
        "entries": [
            normalize_entry(entry, f"{entries_path}[{i}]", limits)
            for i, entry in enumerate(entries)
        ],
    }
    out.update((k, v) for k, v in book.items() if k not in out)
    return out


def book_for_export(book: dict[str, Any]) -> dict[str, Any]:
    """A normalised book as written to files: unset optional numbers left out."""
    out = {k: v for k, v in book.items() if not (k in OPTIONAL_BOOK_FIELDS and v is None)}
    out["entries"] = [
        {k: v for k, v in entry.items() if not (k in OPTIONAL_ENTRY_FIELDS and v is None)}
        for entry in book["entries"]
    ]
    return out
