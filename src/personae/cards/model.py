"""The normalised V3 card: dataclasses, upgrade from V1/V2, and downgrade to V2."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

from personae.cards.book import book_for_export, normalize_book
from personae.cards.errors import CardError
from personae.cards.fields import (
    check_len,
    get_number,
    get_object,
    get_str,
    get_str_list,
    join,
    too_many,
    wrong_type,
)
from personae.cards.jsonio import check_tree, dump_json
from personae.cards.limits import DEFAULT_LIMITS, CardLimits
from personae.cards.paths import check_path, embedded_path

SourceFormat = Literal["png", "json", "charx"]
SourceSpec = Literal["v1", "v2", "v3"]

V3_SPEC, V3_VERSION = "chara_card_v3", "3.0"
V2_SPEC, V2_VERSION = "chara_card_v2", "2.0"
V1_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example")
LONG_TEXT_FIELDS = (
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "system_prompt",
    "post_history_instructions",
    "creator_notes",
)
V3_ONLY_FIELDS = (
    "assets",
    "nickname",
    "creator_notes_multilingual",
    "source",
    "group_only_greetings",
    "creation_date",
    "modification_date",
)
OPTIONAL_DATA_FIELDS = ("character_book", "creation_date", "modification_date")
# What a V3 card without `assets` means, per the spec: the container's own image is the icon.
DEFAULT_ASSETS: tuple[dict[str, str], ...] = (
    {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"},
)
# SillyTavern copies some data fields to the top level; such a copy that still equals its
# source adds nothing and would only go stale, so it is dropped (a differing one is kept).
_MIRRORS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in V1_FIELDS},
    "creatorcomment": ("creator_notes",),
    "tags": ("tags",),
    "talkativeness": ("extensions", "talkativeness"),
    "fav": ("extensions", "fav"),
}
_MISSING = object()


@dataclass
class CardAsset:
    """One binary asset of a card, e.g. type "icon", name "main", ext "png"."""

    type: str
    name: str
    ext: str
    data: bytes = field(repr=False)


@dataclass
class ParsedCard:
    """An imported card: the normalised V3 document plus its images."""

    card: dict[str, Any]
    source_format: SourceFormat
    source_spec: SourceSpec
    avatar: bytes | None = field(default=None, repr=False)
    assets: list[CardAsset] = field(default_factory=list)


def _assets(data: dict[str, Any], prefix: str, limits: CardLimits) -> list[dict[str, Any]]:
    value = data.get("assets")
    path = join(prefix, "assets")
    if value is None:
        return [dict(item) for item in DEFAULT_ASSETS]
    if not isinstance(value, list):
        raise wrong_type(path, "an array of asset objects", value)
    if len(value) > limits.max_assets:
        raise too_many(path, len(value), limits.max_assets)
    out = []
    for i, item in enumerate(value):
        item_path = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise wrong_type(item_path, "an object", item)
        for key in ("type", "uri"):
            if item.get(key) is None:
                raise CardError(
                    "missing_field",
                    f"{item_path}.{key} is missing; every asset needs a type and a uri.",
                )
        uri = get_str(item, "uri", item_path, limits.max_asset_bytes * 2)
        if not uri.startswith("data:"):
            check_len(uri, f"{item_path}.uri", limits.max_uri_chars)
        path_in_archive = embedded_path(uri)
        if path_in_archive is not None:
            check_path(path_in_archive, f"{item_path}.uri path")
        asset = {
            "type": get_str(item, "type", item_path, limits.max_short_chars),
            "uri": uri,
            "name": get_str(item, "name", item_path, limits.max_short_chars),
            "ext": get_str(item, "ext", item_path, limits.max_short_chars),
        }
        asset.update((k, v) for k, v in item.items() if k not in asset)
        out.append(asset)
    return out


def _multilingual(data: dict[str, Any], prefix: str, limits: CardLimits) -> dict[str, Any]:
    value = get_object(data, "creator_notes_multilingual", prefix)
    path = join(prefix, "creator_notes_multilingual")
    for lang, text in value.items():
        if not isinstance(text, str):
            raise wrong_type(f"{path}.{lang}", "a string", text)
        check_len(lang, f"{path} language code", limits.max_short_chars)
        check_len(text, f"{path}.{lang}", limits.max_text_chars)
    return value


def _name(data: dict[str, Any], prefix: str, limits: CardLimits) -> str:
    path = join(prefix, "name")
    if data.get("name") is None:
        raise CardError("missing_field", f"{path} is missing; every character needs a name.")
    name = get_str(data, "name", prefix, limits.max_short_chars)
    if not name.strip():
        raise CardError("missing_field", f"{path} is empty; every character needs a name.")
    return name


def normalize_data(data: dict[str, Any], prefix: str, limits: CardLimits) -> dict[str, Any]:
    """The V3 `data` object with every field present and typed; unknown keys kept."""
    short, long_ = limits.max_short_chars, limits.max_text_chars
    text = {key: get_str(data, key, prefix, long_) for key in LONG_TEXT_FIELDS}
    book = data.get("character_book")
    out: dict[str, Any] = {
        "name": _name(data, prefix, limits),
        "description": text["description"],
        "tags": get_str_list(data, "tags", prefix, limits.max_tags, short),
        "creator": get_str(data, "creator", prefix, short),
        "character_version": get_str(data, "character_version", prefix, short, allow_number=True),
        "mes_example": text["mes_example"],
        "extensions": get_object(data, "extensions", prefix),
        "system_prompt": text["system_prompt"],
        "post_history_instructions": text["post_history_instructions"],
        "first_mes": text["first_mes"],
        "alternate_greetings": get_str_list(
            data, "alternate_greetings", prefix, limits.max_greetings, long_
        ),
        "personality": text["personality"],
        "scenario": text["scenario"],
        "creator_notes": text["creator_notes"],
        "character_book": (
            None if book is None else normalize_book(book, join(prefix, "character_book"), limits)
        ),
        "assets": _assets(data, prefix, limits),
        "nickname": get_str(data, "nickname", prefix, short),
        "creator_notes_multilingual": _multilingual(data, prefix, limits),
        "source": get_str_list(data, "source", prefix, limits.max_sources, limits.max_uri_chars),
        "group_only_greetings": get_str_list(
            data, "group_only_greetings", prefix, limits.max_greetings, long_
        ),
        "creation_date": get_number(data, "creation_date", prefix, None),
        "modification_date": get_number(data, "modification_date", prefix, None),
    }
    out.update((k, v) for k, v in data.items() if k not in out)
    return out


def _lookup(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _top_level(doc: dict[str, Any], data: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"spec": V3_SPEC, "spec_version": V3_VERSION, "data": data}
    for key, value in doc.items():
        if key in skip or key in out:
            continue
        mirror = _MIRRORS.get(key)
        if mirror is not None and _lookup(data, mirror) == value:
            continue
        out[key] = value
    return out


def _detect(doc: dict[str, Any]) -> SourceSpec:
    spec = doc.get("spec")
    if spec is None:
        # No spec: V1 (flat), unless a `data` object says it is a V2 card without its label.
        data = doc.get("data")
        if data is not None and not isinstance(data, dict):
            raise wrong_type("data", "an object", data)
        return "v1" if data is None else "v2"
    if not isinstance(spec, str):
        raise wrong_type("spec", "a string", spec)
    if spec == V3_SPEC:
        return "v3"
    if spec == V2_SPEC:
        return "v2"
    raise CardError(
        "unsupported_spec",
        f"spec is {spec[:80]!r}; we read chara_card_v2 and chara_card_v3 (and flat V1 cards).",
    )


def normalize_card(doc: Any, limits: CardLimits) -> tuple[dict[str, Any], SourceSpec]:
    """Validate a V1/V2/V3 card document and upgrade it to a complete V3 document."""
    if not isinstance(doc, dict):
        raise wrong_type("The card", "a JSON object", doc)
    check_tree(doc, limits, "The card")
    spec = _detect(doc)
    if spec == "v1":
        if doc.get("name") is None and "entries" in doc:
            raise CardError(
                "missing_field",
                "name is missing: this looks like a lorebook (world info) file, not a "
                "character card. Import it as a lorebook instead.",
            )
        # V1 is flat; SillyTavern's V1 also has creatorcomment and tags beside the fields.
        flat = {key: doc[key] for key in V1_FIELDS if key in doc}
        if "creatorcomment" in doc:
            flat["creator_notes"] = doc["creatorcomment"]
        if "tags" in doc:
            flat["tags"] = doc["tags"]
        data = normalize_data(flat, "", limits)
        skip = (*V1_FIELDS, "creatorcomment", "tags", "spec", "spec_version")
        return _check_size(_top_level(doc, data, skip), limits), spec
    raw = doc.get("data")
    if raw is None:
        raise CardError(
            "missing_field",
            f"data is missing; a {doc.get('spec') or 'V2/V3'} card keeps its fields in a "
            "'data' object. Export the card again from its app.",
        )
    if not isinstance(raw, dict):
        raise wrong_type("data", "an object", raw)
    data = normalize_data(raw, "data", limits)
    return _check_size(_top_level(doc, data, ("spec", "spec_version", "data")), limits), spec


def _check_size(card: dict[str, Any], limits: CardLimits) -> dict[str, Any]:
    # Defaults make a card larger; checking the completed form guarantees that whatever we
    # accept (or write) is read back by us without passing the JSON limit.
    size = len(dump_json(card_for_export(card)))
    if size > limits.max_json_bytes:
        raise CardError(
            "too_large",
            f"The card is {size:,} bytes of JSON once completed with default fields; the "
            f"limit is {limits.max_json_bytes:,}. Remove some content (long lorebooks, "
            "embedded data) and try again.",
        )
    return card


def card_for_export(card: dict[str, Any]) -> dict[str, Any]:
    """A normalised V3 card as written to files: unset optional fields left out."""
    data = {k: v for k, v in card["data"].items() if not (k in OPTIONAL_DATA_FIELDS and v is None)}
    if data.get("character_book") is not None:
        data["character_book"] = book_for_export(data["character_book"])
    return {**card, "data": data}


def v2_from_normalized(card: dict[str, Any]) -> dict[str, Any]:
    """The V2 downgrade of an already normalised V3 card (shares nested objects)."""
    data3 = card_for_export(card)["data"]
    data = {k: v for k, v in data3.items() if k not in V3_ONLY_FIELDS}
    top = {k: v for k, v in card.items() if k not in ("spec", "spec_version", "data")}
    # Flat V1 copies at the top too, as SillyTavern writes them, for V1-only readers.
    top.update((key, data[key]) for key in V1_FIELDS)
    return {**top, "spec": V2_SPEC, "spec_version": V2_VERSION, "data": data}


def to_v2(card: dict[str, Any], limits: CardLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Downgrade a card (any spec) to a Character Card V2 document for older apps."""
    normalized, _ = normalize_card(card, limits)
    return copy.deepcopy(v2_from_normalized(normalized))
