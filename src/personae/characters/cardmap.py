"""Between a normalised V3 card and our rows, losing nothing on the way back.

Each known field goes to its column when its value has the column's type; anything else
(unknown keys, unexpected types, nulls) goes to an `extra` mapping that wins on export.
"""

from __future__ import annotations

from typing import Any

from personae.characters.models import Character, Lorebook, LorebookEntry

# Card data key -> expected Python type of its column.
CHARACTER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "nickname": str,
    "description": str,
    "personality": str,
    "scenario": str,
    "first_mes": str,
    "alternate_greetings": list,
    "group_only_greetings": list,
    "mes_example": str,
    "system_prompt": str,
    "post_history_instructions": str,
    "creator_notes": str,
    "creator": str,
    "character_version": str,
    "tags": list,
    "extensions": dict,
}
SHORT_FIELDS = {"name": 200, "nickname": 200, "creator": 200, "character_version": 100}
BOOK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "scan_depth": int,
    "token_budget": int,
    "recursive_scanning": bool,
    "extensions": dict,
}
ENTRY_FIELDS: dict[str, type | tuple[type, ...]] = {
    "keys": list,
    "secondary_keys": list,
    "content": str,
    "name": str,
    "comment": str,
    "enabled": bool,
    "constant": bool,
    "selective": bool,
    "case_sensitive": bool,
    "use_regex": bool,
    "insertion_order": int,
    "priority": int,
    "position": str,
    "extensions": dict,
}
ENTRY_POSITIONS = ("before_char", "after_char")
_ABSENT = "__absent__"


def _fits(value: Any, expected: type | tuple[type, ...], limit: int | None = None) -> bool:
    if isinstance(value, bool) and expected is int:
        return False
    if not isinstance(value, expected):
        return False
    return not (limit is not None and isinstance(value, str) and len(value) > limit)


def _split(
    source: dict[str, Any],
    fields: dict[str, type | tuple[type, ...]],
    limits: dict[str, int] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Values that fit their columns, and everything else (to keep verbatim)."""
    columns: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in source.items():
        expected = fields.get(key)
        if expected is not None and _fits(value, expected, (limits or {}).get(key)):
            columns[key] = value
        else:
            extra[key] = value
    absent = [k for k in fields if k not in source]
    if absent:
        extra[_ABSENT] = absent
    return columns, extra


def _join(columns: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in columns.items() if k not in extra.get(_ABSENT, [])}
    out.update({k: v for k, v in extra.items() if k != _ABSENT})
    return out


def character_columns(card: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column values for a character, and its `card_extra` (top-level and data leftovers)."""
    data = dict(card.get("data") or {})
    book = data.pop("character_book", None)
    columns, data_extra = _split(data, CHARACTER_FIELDS, SHORT_FIELDS)
    if "character_book" in card.get("data", {}) and not isinstance(book, dict):
        data_extra["character_book"] = book  # an explicit null is part of the card too
    if "name" not in columns:
        # A name that does not fit (too long) is kept whole in extra; the column gets a cut.
        columns["name"] = str(data.get("name") or "Unnamed")[:200]
    top_extra = {k: v for k, v in card.items() if k not in ("data",)}
    return columns, {"top": top_extra, "data": data_extra}


def book_columns(book: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[Any]]:
    """Column values for a lorebook, its extra, and its raw entries."""
    raw = dict(book)
    entries = raw.pop("entries", []) or []
    columns, extra = _split(raw, BOOK_FIELDS)
    return columns, extra, list(entries)


def entry_columns(entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], int | None]:
    """Column values for an entry, its extra, and its card-level id."""
    raw = dict(entry)
    card_id = raw.pop("id", None)
    columns, extra = _split(raw, ENTRY_FIELDS)
    for key in ("keys", "secondary_keys"):
        if key in columns and not all(isinstance(k, str) for k in columns[key]):
            extra[key] = columns.pop(key)
    if "position" in columns and columns["position"] not in ENTRY_POSITIONS:
        extra["position"] = columns.pop("position")
    if isinstance(card_id, int) and not isinstance(card_id, bool):
        return columns, extra, card_id
    if card_id is not None:
        extra["id"] = card_id
    else:
        extra.setdefault(_ABSENT, []).append("id")
    return columns, extra, None


def card_from_rows(
    character: Character,
    book: Lorebook | None,
    entries: list[LorebookEntry],
) -> dict[str, Any]:
    """The V3 card document for a character (its primary lorebook as character_book)."""
    columns = {key: getattr(character, key) for key in CHARACTER_FIELDS}
    card_extra = character.card_extra or {}
    data = _join(columns, dict(card_extra.get("data") or {}))
    if book is not None:
        book_cols = {key: getattr(book, key) for key in BOOK_FIELDS}
        book_doc = _join(book_cols, dict(book.extra or {}))
        book_doc["entries"] = [_entry_doc(e) for e in entries]
        data["character_book"] = book_doc
    top = dict(card_extra.get("top") or {})
    top.setdefault("spec", "chara_card_v3")
    top.setdefault("spec_version", "3.0")
    return {**top, "data": data}


def _entry_doc(entry: LorebookEntry) -> dict[str, Any]:
    columns = {key: getattr(entry, key) for key in ENTRY_FIELDS}
    extra = dict(entry.extra or {})
    if entry.card_entry_id is not None:
        columns["id"] = entry.card_entry_id
    return _join(columns, extra)
