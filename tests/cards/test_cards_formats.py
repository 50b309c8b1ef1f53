"""Upgrades, leniency, CHARX assets, avatars, and world-info field mapping."""

from __future__ import annotations

import copy
import io
import json
import struct
import zipfile
import zlib

import pytest
from PIL import Image

from personae.cards import CardAsset, export_card, parse_card, parse_world_info, to_v2
from tests.cards.cardkit import (
    SIG,
    card_png,
    chunk,
    pillow_png,
    pixels,
    text_chunks,
    v3,
    v3_json,
    zip_bytes,
)


def test_v1_flat_card_is_upgraded() -> None:
    doc = {
        "name": "Ada",
        "description": "An engine.",
        "personality": "precise",
        "scenario": "1843",
        "first_mes": "Hello.",
        "mes_example": "<START>",
        "creatorcomment": "notes",
        "avatar": "none",
    }
    parsed = parse_card(json.dumps(doc).encode(), filename="ada.json")
    data = parsed.card["data"]
    assert parsed.source_spec == "v1" and parsed.source_format == "json"
    assert data["name"] == "Ada" and data["scenario"] == "1843"
    assert data["creator_notes"] == "notes"
    assert data["alternate_greetings"] == [] and data["character_book"] is None
    assert parsed.card["avatar"] == "none" and "name" not in parsed.card


def test_v2_card_is_upgraded_and_unknown_keys_kept() -> None:
    doc = {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "x_top": {"a": [1, 2]},
        "data": {
            "name": "Bo",
            "x_data": True,
            "extensions": {"x_ext": {"deep": [None]}},
            "character_book": {
                "x_book": 1,
                "entries": [{"keys": ["k"], "content": "c", "x_entry": "keep"}],
            },
        },
    }
    card = parse_card(json.dumps(doc).encode()).card
    assert card["x_top"] == {"a": [1, 2]}
    assert card["data"]["x_data"] is True
    assert card["data"]["extensions"] == {"x_ext": {"deep": [None]}}
    book = card["data"]["character_book"]
    assert book["x_book"] == 1 and book["entries"][0]["x_entry"] == "keep"
    assert book["entries"][0]["insertion_order"] == 100 and book["entries"][0]["enabled"]


def test_sloppy_fields_are_tolerated() -> None:
    card = parse_card(
        v3_json(
            description=None,
            tags=None,
            character_version=1.5,
            creator=None,
            extensions=None,
            character_book={"entries": [{"keys": ["a"], "enabled": 1, "position": None}]},
        )
    ).card["data"]
    assert card["description"] == "" and card["tags"] == [] and card["creator"] == ""
    assert card["character_version"] == "1.5" and card["extensions"] == {}
    entry = card["character_book"]["entries"][0]
    assert entry["enabled"] is True and entry["position"] == "before_char"


def test_png_card_with_both_chunks_prefers_ccv3() -> None:
    png = card_png(v3(name="FromV3"), "ccv3", card_png({"name": "FromV1"}, "chara"))
    assert parse_card(png).card["data"]["name"] == "FromV3"


def test_json_export_is_utf8_v3() -> None:
    out = export_card(v3(name="Zoë 🌙", character_book=None), "json")
    assert "Zoë 🌙".encode() in out
    doc = json.loads(out)
    assert doc["spec"] == "chara_card_v3" and "character_book" not in doc["data"]
    assert "creation_date" not in doc["data"]


def test_png_export_without_avatar_uses_placeholder() -> None:
    out = export_card(v3(), "png")
    size, _, _ = pixels(out)
    assert size == (400, 600)
    assert {"chara", "ccv3"} <= set(text_chunks(out))


def test_png_export_converts_a_jpeg_avatar() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 5), (10, 200, 10)).save(buffer, "JPEG")
    parsed = parse_card(export_card(v3(), "png", avatar=buffer.getvalue()))
    assert pixels(parsed.avatar or b"")[0] == (8, 5)


def test_png_export_replaces_old_card_chunks_on_the_avatar() -> None:
    old = card_png(v3(name="Old"), "chara")
    out = export_card(v3(name="New"), "png", avatar=old)
    assert parse_card(out).card["data"]["name"] == "New"
    assert parse_card(out).avatar == pillow_png()


def test_charx_with_assets_round_trips() -> None:
    icon = pillow_png((4, 4), (1, 2, 3))
    happy = pillow_png((2, 2), (9, 9, 9))
    song = b"ID3\x03fake-mp3"
    assets = [
        {
            "type": "icon",
            "uri": "embeded://assets/icon/images/face.png",
            "name": "main",
            "ext": "png",
        },
        {
            "type": "emotion",
            "uri": "embeded://assets/emotion/images/happy.png",
            "name": "happy",
            "ext": "png",
        },
        {
            "type": "x-risu-asset",
            "uri": "embeded://assets/other/audio/song.mp3",
            "name": "song",
            "ext": "mp3",
            "x_k": 1,
        },
        {"type": "background", "uri": "https://example.com/bg.png", "name": "bg", "ext": "png"},
        {
            "type": "emotion",
            "uri": "embeded://assets/emotion/images/missing.png",
            "name": "sad",
            "ext": "png",
        },
    ]
    archive = zip_bytes(
        {
            "card.json": v3_json(assets=assets),
            "assets/icon/images/face.png": icon,
            "assets/emotion/images/happy.png": happy,
            "assets/other/audio/song.mp3": song,
            "x_meta/1.json": b"{}",
        }
    )
    parsed = parse_card(archive, filename="ada.charx")
    assert parsed.source_format == "charx" and parsed.avatar == icon
    descriptors = parsed.card["data"]["assets"]
    assert descriptors[0]["uri"] == "ccdefault:"  # the avatar travels beside the card
    assert descriptors[2]["x_k"] == 1 and descriptors[4]["uri"].endswith("missing.png")
    assert parsed.assets == [
        CardAsset("emotion", "happy", "png", happy),
        CardAsset("x-risu-asset", "song", "mp3", song),
    ]
    for fmt in ("charx", "png", "json"):
        again = parse_card(export_card(parsed.card, fmt, parsed.avatar, parsed.assets))
        assert again.card == parsed.card
    again = parse_card(export_card(parsed.card, "charx", parsed.avatar, parsed.assets))
    assert again.assets == parsed.assets and again.avatar == icon


def test_charx_export_adds_descriptors_for_new_assets() -> None:
    extra = CardAsset("emotion", "joy/../x", "png", pillow_png())
    out = export_card(v3(), "charx", avatar=pillow_png(), assets=[extra])
    names = zipfile.ZipFile(io.BytesIO(out)).namelist()
    assert names == [
        "card.json",
        "assets/icon/images/main.png",
        "assets/emotion/images/joy_.._x.png",
    ]
    parsed = parse_card(out)
    assert parsed.assets == [extra]
    assert parsed.card["data"]["assets"][1]["uri"] == "embeded://assets/emotion/images/joy_.._x.png"


def test_charx_avatar_without_icon_descriptor_survives() -> None:
    card = parse_card(v3_json(assets=[])).card
    out = export_card(card, "charx", avatar=pillow_png())
    again = parse_card(out)
    assert again.card == card and again.avatar == pillow_png()


def test_to_v2_is_a_copy() -> None:
    card = v3(extensions={"k": [1]})
    v2 = to_v2(card)
    v2["data"]["extensions"]["k"].append(2)
    assert card["data"]["extensions"] == {"k": [1]}


def test_world_info_fields_are_mapped() -> None:
    wi = {
        "entries": {
            "7": {
                "uid": 7,
                "key": ["dragon", "/wyrm/i"],
                "keysecondary": ["fire"],
                "comment": "Dragons",
                "content": "They sleep.",
                "constant": True,
                "selective": True,
                "order": 42,
                "position": 4,
                "disable": True,
                "caseSensitive": None,
                "useRegex": True,
                "excludeRecursion": True,
                "depth": 2,
                "probability": 80,
                "extensions": {"x_mine": 1},
            },
            "8": {"key": "a, b", "content": "old style", "position": 1},
        },
        "originalData": {"entries": []},
    }
    book = parse_world_info(json.dumps(wi).encode())
    first, second = book["entries"]
    assert first["keys"] == ["dragon", "/wyrm/i"] and first["secondary_keys"] == ["fire"]
    assert first["id"] == 7 and first["insertion_order"] == 42
    assert first["enabled"] is False and first["constant"] and first["selective"]
    assert first["use_regex"] is True and first["case_sensitive"] is False
    assert first["extensions"] == {
        "x_mine": 1,
        "exclude_recursion": True,
        "depth": 2,
        "probability": 80,
        "position": 4,
        "case_sensitive": None,
    }
    assert second["keys"] == ["a", "b"] and second["id"] == 8
    assert second["position"] == "after_char"
    assert "originalData" not in book


def test_world_info_accepts_a_character_book() -> None:
    book = {"name": "Lore", "entries": [{"keys": ["x"], "content": "y", "use_regex": True}]}
    parsed = parse_world_info(json.dumps(book).encode())
    assert parsed["name"] == "Lore" and parsed["entries"][0]["use_regex"] is True


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("size", [(1, 1), (7, 3), (33, 17)])
def test_png_avatars_of_every_mode_are_kept_byte_for_byte(mode: str, size: tuple[int, int]) -> None:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    avatar = buffer.getvalue()
    assert parse_card(export_card(v3(), "png", avatar=avatar)).avatar == avatar


def test_interlaced_png_is_sized_correctly() -> None:
    width, height = 13, 9
    raw = b""
    adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2)]
    for x0, y0, dx, dy in [*adam7, (0, 1, 1, 2)]:
        pass_w, pass_h = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
        if pass_w and pass_h:
            raw += (b"\0" + bytes([x0 * 20, y0 * 20, 100]) * pass_w) * pass_h
    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 1)
    png = SIG + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    assert parse_card(export_card(v3(), "png", avatar=png)).avatar == png


@pytest.mark.parametrize(("mode", "fmt"), [("CMYK", "JPEG"), ("RGBA", "WEBP"), ("P", "GIF")])
def test_other_avatar_formats_become_png(mode: str, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (5, 4)).save(buffer, fmt)
    avatar = parse_card(export_card(v3(), "png", avatar=buffer.getvalue())).avatar or b""
    assert avatar.startswith(SIG) and pixels(avatar)[0] == (5, 4)


def test_export_does_not_mutate_its_input() -> None:
    card = parse_card(v3_json(character_book={"entries": [{"keys": ["a"]}]})).card
    before = copy.deepcopy(card)
    for fmt in ("png", "json", "charx"):
        export_card(card, fmt, avatar=pillow_png(), assets=[CardAsset("x", "y", "bin", b"1")])
    assert card == before
