"""Property: any V3 card survives export to PNG, JSON and CHARX and re-import unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personae.cards import CardAsset, export_card, parse_card
from tests.cards.cardkit import pillow_png

# Any text a card may hold: every character but NUL, which cards refuse (and lone
# surrogates, which are not Unicode text and which st.text never makes).
chars = st.characters(codec="utf-8", exclude_characters="\x00")
text = st.text(chars, max_size=40)
short = st.text(chars, max_size=12)
name = st.text(chars, min_size=1, max_size=30).filter(str.strip)
numbers = st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
leaves = st.none() | st.booleans() | numbers | text
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short, inner, max_size=3),
    max_leaves=8,
)
# "x_" keeps generated unknown keys apart from every field name of the spec.
unknown = st.dictionaries(short.map(lambda k: "x_" + k), json_values, max_size=3)
extensions = st.dictionaries(short, json_values, max_size=3)


def with_unknown(known: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda k, u: {**u, **k}, known, unknown)


entries = with_unknown(
    st.fixed_dictionaries(
        {"keys": st.lists(short, max_size=4), "content": text, "extensions": extensions},
        optional={
            "enabled": st.booleans(),
            "insertion_order": numbers,
            "case_sensitive": st.booleans(),
            "use_regex": st.booleans(),
            "constant": st.booleans(),
            "name": short,
            "priority": st.integers(0, 100),
            "id": st.integers(0, 10**6) | short,
            "comment": text,
            "selective": st.booleans(),
            "secondary_keys": st.lists(short, max_size=3),
            "position": st.sampled_from(["before_char", "after_char"]),
        },
    )
)
books = with_unknown(
    st.fixed_dictionaries(
        {"entries": st.lists(entries, max_size=4)},
        optional={
            "name": short,
            "description": text,
            "scan_depth": st.integers(0, 50),
            "token_budget": st.integers(0, 10_000),
            "recursive_scanning": st.booleans(),
            "extensions": extensions,
        },
    )
)
asset_refs = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["icon", "background", "emotion", "x-custom"]),
        "uri": st.sampled_from(["ccdefault:", "https://example.com/a.png", "embeded://x/y.png"]),
        "name": short,
        "ext": st.sampled_from(["png", "webp", ""]),
    }
)
data = with_unknown(
    st.fixed_dictionaries(
        {"name": name},
        optional={
            **{f: text for f in ("description", "personality", "scenario", "first_mes")},
            **{f: text for f in ("mes_example", "system_prompt", "creator_notes")},
            "post_history_instructions": text,
            "tags": st.lists(short, max_size=5),
            "creator": short,
            "character_version": short,
            "extensions": extensions,
            "alternate_greetings": st.lists(text, max_size=3),
            "group_only_greetings": st.lists(text, max_size=2),
            "character_book": books,
            "assets": st.lists(asset_refs, max_size=3),
            "nickname": short,
            "creator_notes_multilingual": st.dictionaries(short, text, max_size=2),
            "source": st.lists(short, max_size=2),
            "creation_date": st.integers(0, 2**33),
            "modification_date": st.integers(0, 2**33),
        },
    )
)
cards = st.builds(
    lambda d, top: {**top, "spec": "chara_card_v3", "spec_version": "3.0", "data": d},
    data,
    unknown,
)
new_assets = st.lists(
    st.builds(
        CardAsset,
        type=st.sampled_from(["emotion", "background", "x-custom"]),
        name=short,
        ext=st.sampled_from(["png", "mp3", "bin"]),
        data=st.binary(max_size=64),
    ),
    max_size=3,
)
AVATAR = pillow_png((5, 7), (40, 50, 60))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=cards, has_avatar=st.booleans(), extra=new_assets)
def test_v3_cards_round_trip_through_every_format(
    doc: dict[str, Any], has_avatar: bool, extra: list[CardAsset]
) -> None:
    parsed = parse_card(json.dumps(doc, ensure_ascii=False).encode())
    assert parsed.source_spec == "v3"
    # Nothing the generator put in is lost by normalisation.
    for key, value in doc["data"].items():
        if key.startswith("x_") or key not in ("character_book", "assets"):
            assert parsed.card["data"][key] == value or value is None
    for key, value in doc.items():
        if key.startswith("x_"):
            assert parsed.card[key] == value
    avatar = AVATAR if has_avatar else None
    # Through CHARX first, so the card also carries binary assets.
    start = parse_card(export_card(parsed.card, "charx", avatar, extra))
    assert start.avatar == avatar
    assert start.assets == extra
    for fmt in ("png", "json", "charx"):
        again = parse_card(export_card(start.card, fmt, start.avatar, start.assets))
        assert again.card == start.card, fmt
        if fmt == "charx":
            assert again.assets == start.assets and again.avatar == start.avatar
        if fmt == "png" and avatar is not None:
            assert again.avatar == avatar
