"""Typed field readers: each validates one card field and names it when it is wrong."""

from __future__ import annotations

import math
from typing import Any

from personae.cards.errors import CardError

_HINT = "Fix it in the app that made the card (or edit the file) and try again."
Number = int | float


def join(prefix: str, key: str) -> str:
    """A field path such as `data.character_book.entries[2].keys`."""
    return f"{prefix}.{key}" if prefix else key


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def wrong_type(path: str, expected: str, value: Any) -> CardError:
    """The error for a field of the wrong type."""
    return CardError("wrong_type", f"{path} must be {expected}, not {json_type(value)}. {_HINT}")


def too_many(path: str, count: int, limit: int) -> CardError:
    """The error for a list with more items than a limit allows."""
    return CardError(
        "too_many_entries",
        f"{path} has {count:,} items; the limit is {limit:,}. Remove some and try again.",
    )


def check_len(text: str, path: str, max_chars: int) -> str:
    """Return `text` if it fits in `max_chars`, else raise field_too_long naming `path`."""
    if len(text) > max_chars:
        raise CardError(
            "field_too_long",
            f"{path} is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Shorten it and try again.",
        )
    return text


def is_number(value: Any) -> bool:
    """True for a finite JSON number (booleans are not numbers)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def get_str(
    obj: dict[str, Any], key: str, prefix: str, max_chars: int, *, allow_number: bool = False
) -> str:
    """A string field; missing or null is "" (real cards often leave optional text out)."""
    value = obj.get(key)
    path = join(prefix, key)
    if value is None:
        return ""
    if isinstance(value, str):
        return check_len(value, path, max_chars)
    if allow_number and is_number(value):
        # e.g. "character_version": 1.2 -- sloppy but unambiguous.
        return check_len(str(value), path, max_chars)
    raise wrong_type(path, "a string", value)


def get_str_list(
    obj: dict[str, Any], key: str, prefix: str, max_items: int, max_chars: int
) -> list[str]:
    """A list of strings; missing or null is []."""
    value = obj.get(key)
    path = join(prefix, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise wrong_type(path, "an array of strings", value)
    if len(value) > max_items:
        raise too_many(path, len(value), max_items)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise wrong_type(f"{path}[{i}]", "a string", item)
        check_len(item, f"{path}[{i}]", max_chars)
    return list(value)


def get_bool(obj: dict[str, Any], key: str, prefix: str, default: bool) -> bool:
    """A boolean; missing or null is `default`, and 0/1 are accepted as false/true."""
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise wrong_type(join(prefix, key), "true or false", value)


def get_number(obj: dict[str, Any], key: str, prefix: str, default: Number | None) -> Number | None:
    """A finite number; missing or null is `default`."""
    value = obj.get(key)
    if value is None:
        return default
    if is_number(value):
        return value  # type: ignore[no-any-return]
    raise wrong_type(join(prefix, key), "a number", value)


def get_object(obj: dict[str, Any], key: str, prefix: str) -> dict[str, Any]:
    """An object kept verbatim (e.g. `extensions`); missing or null is {}."""
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise wrong_type(join(prefix, key), "an object", value)
    return value
