"""Hostile and broken inputs: each must raise CardError with the expected code."""

from __future__ import annotations

import base64
import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from personae.cards import (
    DEFAULT_LIMITS,
    ERROR_CODES,
    CardError,
    CardLimits,
    export_card,
    parse_card,
    parse_world_info,
)
from tests.cards.cardkit import (
    SIG,
    b64,
    card_png,
    chunk,
    ihdr,
    pillow_png,
    raw_png,
    text_chunk,
    v3,
    v3_json,
    zip_bytes,
)

MiB = 1024 * 1024
SMALL = CardLimits(max_file_bytes=4096, max_json_bytes=2048, max_book_entries=3, max_greetings=2)
GOOD_ROW = zlib.compress(b"\0" + b"\x10\x20\x30")  # one 1x1 RGB row: filter byte + pixel


@dataclass(frozen=True)
class Bad:
    code: str
    make: Callable[[], bytes]
    limits: CardLimits = DEFAULT_LIMITS
    filename: str | None = None


def png_with(*extra: bytes) -> bytes:
    return raw_png(1, 1, GOOD_ROW, extra)


def bad_crc() -> bytes:
    png = bytearray(card_png(v3()))
    png[8 + 8 + 13] ^= 0xFF  # first byte of the IHDR chunk's CRC
    return bytes(png)


def zip_bomb_ratio() -> bytes:
    return zip_bytes({"card.json": v3_json(), "assets/other/other/pad.bin": b"\0" * (30 * MiB)})


def lying_zip() -> bytes:
    """A member whose headers declare 1,000 bytes but whose data inflates to 5 MiB."""
    data = bytearray(zip_bytes({"card.json": v3_json(description=" " * (5 * MiB))}))
    # Uncompressed-size field of the local header (offset 22) and central directory (24).
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(sig) + offset
        data[at : at + 4] = struct.pack("<I", 1000)
    return bytes(data)


def deep_json(depth: int) -> bytes:
    return (
        b'{"spec":"chara_card_v3","data":{"name":"x","extensions":'
        + b"[" * depth
        + b"]" * depth
        + b"}}"
    )


CASES: dict[str, Bad] = {
    # -- format sniffing
    "empty_file": Bad("unsupported_format", lambda: b""),
    "random_bytes": Bad("unsupported_format", lambda: b"\x00\x01garbage\x02" * 10),
    "jpeg_image": Bad("unsupported_format", lambda: b"\xff\xd8\xff\xe0" + b"\0" * 64),
    "named_png_not_png": Bad("not_an_image", lambda: b"hello there", filename="card.png"),
    "named_charx_not_zip": Bad("corrupt_archive", lambda: b"hello there", filename="a.charx"),
    "oversized_file": Bad("too_large", lambda: v3_json(description="x" * 5000), SMALL),
    # -- PNG structure
    "png_no_card_chunk": Bad("no_card_chunk", lambda: pillow_png()),
    "png_other_text_only": Bad("no_card_chunk", lambda: png_with(text_chunk("Comment", b"hi"))),
    "png_truncated": Bad("corrupt_image", lambda: card_png(v3())[:-30]),
    "png_bad_crc": Bad("corrupt_image", bad_crc),
    "png_huge_ihdr": Bad(
        "decompression_bomb",
        lambda: SIG + ihdr(100_000, 100_000) + chunk(b"IDAT", GOOD_ROW) + chunk(b"IEND", b""),
    ),
    "png_zlib_bomb_idat": Bad(
        "decompression_bomb", lambda: raw_png(1, 1, zlib.compress(b"\0" * (20 * MiB), 9))
    ),
    "png_idat_not_zlib": Bad("corrupt_image", lambda: raw_png(1, 1, b"definitely not zlib")),
    "png_idat_short": Bad("corrupt_image", lambda: raw_png(4, 4, zlib.compress(b"\0\0"))),
    "png_bad_ihdr_depth": Bad(
        "corrupt_image",
        lambda: SIG + ihdr(1, 1, depth=3) + chunk(b"IDAT", GOOD_ROW) + chunk(b"IEND", b""),
    ),
    "png_ztxt_bomb": Bad(
        "decompression_bomb",
        lambda: png_with(chunk(b"zTXt", b"chara\0\0" + zlib.compress(b"A" * (20 * MiB), 9))),
    ),
    "png_too_many_chunks": Bad(
        "too_many_chunks",
        lambda: png_with(*[text_chunk(f"k{i}", b"v") for i in range(20)]),
        CardLimits(max_png_chunks=10),
    ),
    "png_bad_base64": Bad("bad_base64", lambda: png_with(text_chunk("ccv3", b"@@not*base64@@"))),
    "png_base64_not_json": Bad(
        "bad_json", lambda: png_with(text_chunk("chara", base64.b64encode(b"name: Ada")))
    ),
    "png_json_not_object": Bad("wrong_type", lambda: card_png(["not", "a", "card"])),
    "png_ccv3_wins_and_is_bad": Bad(
        "bad_base64",
        lambda: png_with(text_chunk("chara", b64(v3())), text_chunk("ccv3", b"%%%")),
    ),
    # -- JSON text
    "json_syntax": Bad("bad_json", lambda: b'{"name": "Ada",}'),
    "json_nan": Bad("bad_json", lambda: b'{"name": "Ada", "data2": NaN}'),
    "json_infinity": Bad("bad_json", lambda: b'{"name": "Ada", "x": -Infinity}'),
    "json_list": Bad("wrong_type", lambda: b'[{"name": "Ada"}]'),
    "json_latin1": Bad("bad_encoding", lambda: '{"name": "Zoë"}'.encode("latin-1")),
    "json_utf16": Bad("bad_encoding", lambda: '{"name": "Ada"}'.encode("utf-16")),
    "json_lone_surrogate": Bad("bad_encoding", lambda: b'{"name": "A\\ud800da"}'),
    "json_too_deep": Bad("too_deep", lambda: deep_json(80)),
    "json_recursion_bomb": Bad("too_deep", lambda: deep_json(200_000)),
    "json_over_json_limit": Bad(
        "too_large", lambda: v3_json(description="x" * 3000), CardLimits(max_json_bytes=2048)
    ),
    # -- card structure and types
    "v1_missing_name": Bad("missing_field", lambda: b'{"description": "no name"}'),
    "empty_name": Bad("missing_field", lambda: v3_json(name="   ")),
    "world_info_as_card": Bad("missing_field", lambda: b'{"entries": {}}'),
    "v3_without_data": Bad("missing_field", lambda: b'{"spec": "chara_card_v3"}'),
    "v2_data_string": Bad("wrong_type", lambda: b'{"spec": "chara_card_v2", "data": "Ada"}'),
    "unknown_spec": Bad("unsupported_spec", lambda: b'{"spec": "chara_card_v9", "data": {}}'),
    "spec_not_string": Bad("wrong_type", lambda: b'{"spec": 3, "data": {"name": "x"}}'),
    "name_number": Bad("wrong_type", lambda: v3_json(name=42)),
    "tags_string": Bad("wrong_type", lambda: v3_json(tags="fantasy, elf")),
    "tags_number_item": Bad("wrong_type", lambda: v3_json(tags=["ok", 7])),
    "greeting_not_string": Bad("wrong_type", lambda: v3_json(alternate_greetings=[{"a": 1}])),
    "extensions_list": Bad("wrong_type", lambda: v3_json(extensions=[])),
    "version_list": Bad("wrong_type", lambda: v3_json(character_version=[1, 2])),
    "assets_object": Bad("wrong_type", lambda: v3_json(assets={"icon": "x"})),
    "asset_without_uri": Bad("missing_field", lambda: v3_json(assets=[{"type": "icon"}])),
    "book_entries_object": Bad("wrong_type", lambda: v3_json(character_book={"entries": {}})),
    "entry_key_number": Bad(
        "wrong_type", lambda: v3_json(character_book={"entries": [{"keys": ["a", 1]}]})
    ),
    "entry_bad_position": Bad(
        "bad_value", lambda: v3_json(character_book={"entries": [{"position": "middle"}]})
    ),
    "entry_order_string": Bad(
        "wrong_type", lambda: v3_json(character_book={"entries": [{"insertion_order": "1"}]})
    ),
    # -- field limits
    "description_too_long": Bad("field_too_long", lambda: v3_json(description="x" * 100_001)),
    "name_too_long": Bad("field_too_long", lambda: v3_json(name="N" * 201)),
    "too_many_tags": Bad("too_many_entries", lambda: v3_json(tags=["t"] * 101)),
    "too_many_greetings": Bad(
        "too_many_entries", lambda: v3_json(alternate_greetings=["hi"] * 3), SMALL
    ),
    "too_many_entries": Bad(
        "too_many_entries", lambda: v3_json(character_book={"entries": [{}] * 4}), SMALL
    ),
    "too_many_keys": Bad(
        "too_many_entries", lambda: v3_json(character_book={"entries": [{"keys": ["k"] * 201}]})
    ),
    "too_large_once_completed": Bad(
        "too_large",
        # Under the JSON limit as sent, over it once every entry gets its default fields.
        lambda: v3_json(character_book={"entries": [{}] * 12}),
        CardLimits(max_json_bytes=2500),
    ),
    # -- CHARX
    "charx_corrupt": Bad("corrupt_archive", lambda: b"PK\x03\x04" + b"\0" * 100),
    "charx_no_card_json": Bad("missing_card_json", lambda: zip_bytes({"readme.txt": b"hi"})),
    "charx_card_json_bad": Bad("bad_json", lambda: zip_bytes({"card.json": b"{nope"})),
    "charx_dotdot_member": Bad(
        "path_traversal", lambda: zip_bytes({"card.json": v3_json(), "../evil.sh": b"x"})
    ),
    "charx_absolute_member": Bad(
        "path_traversal", lambda: zip_bytes({"card.json": v3_json(), "/etc/cron.d/x": b"x"})
    ),
    "charx_backslash_member": Bad(
        "path_traversal", lambda: zip_bytes({"card.json": v3_json(), "assets\\..\\x": b"x"})
    ),
    "charx_drive_letter_member": Bad(
        "path_traversal", lambda: zip_bytes({"card.json": v3_json(), "C:/windows/x": b"x"})
    ),
    "charx_uri_traversal": Bad(
        "path_traversal",
        lambda: zip_bytes(
            {"card.json": v3_json(assets=[{"type": "icon", "uri": "embeded://../../x.png"}])}
        ),
    ),
    "json_uri_absolute": Bad(
        "path_traversal", lambda: v3_json(assets=[{"type": "icon", "uri": "embeded:///etc/x"}])
    ),
    "charx_zip_bomb_ratio": Bad("zip_bomb", zip_bomb_ratio),
    "charx_total_too_big": Bad(
        "zip_bomb",
        lambda: zip_bytes({"card.json": v3_json(), "a.bin": b"\x01" * 3000}, zipfile.ZIP_STORED),
        CardLimits(max_charx_total_bytes=2000),
    ),
    "charx_lying_header": Bad("corrupt_archive", lying_zip),
    "charx_too_many_members": Bad(
        "too_many_entries",
        lambda: zip_bytes({"card.json": v3_json(), **{f"m{i}": b"" for i in range(10)}}),
        CardLimits(max_charx_members=5),
    ),
    "charx_asset_too_big": Bad(
        "too_large",
        lambda: zip_bytes(
            {
                "card.json": v3_json(assets=[{"type": "x", "uri": "embeded://a.bin"}]),
                "a.bin": b"\x02" * 5000,
            }
        ),
        CardLimits(max_asset_bytes=4000),
    ),
    "charx_icon_pixel_bomb": Bad(
        "decompression_bomb",
        lambda: zip_bytes(
            {
                "card.json": v3_json(assets=[{"type": "icon", "uri": "embeded://i.png"}]),
                "i.png": SIG + ihdr(60_000, 60_000) + chunk(b"IEND", b""),
            }
        ),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_card_is_rejected_with_its_code(name: str) -> None:
    case = CASES[name]
    with pytest.raises(CardError) as caught:
        parse_card(case.make(), filename=case.filename, limits=case.limits)
    assert caught.value.code == case.code, str(caught.value)
    assert caught.value.code in ERROR_CODES
    assert len(str(caught.value)) > 20  # a sentence, not just a code


def test_there_are_at_least_thirty_distinct_bad_cards() -> None:
    assert len(CASES) >= 30
    assert len({case.code for case in CASES.values()}) >= 15


def test_messages_name_the_field_and_the_limit() -> None:
    with pytest.raises(CardError) as caught:
        parse_card(v3_json(character_book={"entries": [{}, {"keys": ["a", 1]}]}))
    assert "data.character_book.entries[1].keys[1]" in str(caught.value)
    with pytest.raises(CardError) as caught:
        parse_card(v3_json(description="x" * 100_001))
    assert "data.description" in str(caught.value) and "100,000" in str(caught.value)


def test_http_status_groups() -> None:
    assert CardError("too_large", "x").http_status == 413
    assert CardError("zip_bomb", "x").http_status == 413
    assert CardError("not_an_image", "x").http_status == 415
    assert CardError("wrong_type", "x").http_status == 422


def test_export_rejects_unknown_format_and_non_image_avatar() -> None:
    with pytest.raises(CardError) as caught:
        export_card(v3(), "gif")  # type: ignore[arg-type]
    assert caught.value.code == "unsupported_format"
    with pytest.raises(CardError) as caught:
        export_card(v3(), "png", avatar=b"not an image at all")
    assert caught.value.code == "not_an_image"
    with pytest.raises(CardError) as caught:
        export_card({"spec": "chara_card_v3", "data": {"name": 5}}, "json")
    assert caught.value.code == "wrong_type"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"[]", "wrong_type"),
        (b"{}", "missing_field"),
        (b'{"entries": 5}', "wrong_type"),
        (b'{"entries": {"0": "text"}}', "wrong_type"),
        (b'{"entries": {"0": {"key": ["a", 2]}}}', "wrong_type"),
        (b'{"entries": {"0": {"key": [], "order": "high"}}}', "wrong_type"),
        (b'{"entries": [{"keys": []}, {"keys": []}, {"keys": []}, {}]}', "too_many_entries"),
        (b"\xff\xfe{}", "bad_encoding"),
    ],
)
def test_bad_world_info(payload: bytes, code: str) -> None:
    with pytest.raises(CardError) as caught:
        parse_world_info(payload, limits=SMALL)
    assert caught.value.code == code


def test_huge_png_check_does_not_decode() -> None:
    """The IHDR check fires before any allocation; no pixel data is needed at all."""
    data = SIG + ihdr(2**31 - 1, 2**31 - 1) + chunk(b"IEND", b"")
    with pytest.raises(CardError) as caught:
        parse_card(data)
    assert caught.value.code == "decompression_bomb"
    assert "pixels" in str(caught.value)


def test_json_chunk_raw_without_base64_is_accepted() -> None:
    png = png_with(text_chunk("chara", json.dumps(v3()).encode()))
    assert parse_card(png).card["data"]["name"] == "Ada"
