"""Real-world cards from ../shared/fixtures/cards: parse, export, re-import losslessly."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest

from personae.cards import CardError, export_card, parse_card, parse_world_info, to_v2
from tests.cards.cardkit import FIXTURES, pixels, text_chunks

PNG_CARDS = {
    "choral_Default-chan.png": "v3",
    "choral_Lemniscate_station_alpha.png": "v3",
    "default_Seraphina.png": "v2",
}
V3_DATA_FIELDS = {
    "name": str,
    "description": str,
    "tags": list,
    "creator": str,
    "character_version": str,
    "mes_example": str,
    "extensions": dict,
    "system_prompt": str,
    "post_history_instructions": str,
    "first_mes": str,
    "alternate_greetings": list,
    "personality": str,
    "scenario": str,
    "creator_notes": str,
    "assets": list,
    "nickname": str,
    "creator_notes_multilingual": dict,
    "source": list,
    "group_only_greetings": list,
}


def test_fixture_folder_is_beside_the_repo() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.png")) == sorted(PNG_CARDS)


@pytest.mark.parametrize("name", sorted(PNG_CARDS))
def test_fixture_png_parses_to_complete_v3(name: str) -> None:
    parsed = parse_card((FIXTURES / name).read_bytes(), filename=name)
    assert parsed.source_format == "png"
    assert parsed.source_spec == PNG_CARDS[name]
    card = parsed.card
    assert card["spec"] == "chara_card_v3" and card["spec_version"] == "3.0"
    for field, kind in V3_DATA_FIELDS.items():
        assert isinstance(card["data"][field], kind), field
    for field in ("character_book", "creation_date", "modification_date"):
        assert field in card["data"]
    assert parsed.avatar is not None and parsed.assets == []
    # The avatar is the same picture, without the card chunks.
    assert pixels(parsed.avatar) == pixels((FIXTURES / name).read_bytes())
    assert not {"chara", "ccv3"} & set(text_chunks(parsed.avatar))


@pytest.mark.parametrize("name", sorted(PNG_CARDS))
@pytest.mark.parametrize("fmt", ["png", "json", "charx"])
def test_fixture_round_trips(name: str, fmt: str) -> None:
    parsed = parse_card((FIXTURES / name).read_bytes())
    exported = export_card(parsed.card, fmt, parsed.avatar, parsed.assets)  # type: ignore[arg-type]
    again = parse_card(exported)
    assert again.card == parsed.card
    assert again.source_format == fmt and again.source_spec == "v3"
    if fmt == "json":
        assert again.avatar is None
    else:
        assert again.avatar is not None
        assert pixels(again.avatar) == pixels(parsed.avatar or b"")
    # And a second trip changes nothing either.
    assert parse_card(export_card(again.card, fmt, again.avatar)).card == parsed.card


def test_seraphina_v2_book_is_upgraded_and_keeps_extensions() -> None:
    card = parse_card((FIXTURES / "default_Seraphina.png").read_bytes()).card
    book = card["data"]["character_book"]
    assert book["name"] == "Eldoria" and len(book["entries"]) == 4
    entry = book["entries"][0]
    assert entry["keys"] == ["eldoria", "wood", "forest", "magical forest"]
    assert entry["use_regex"] is False and entry["case_sensitive"] is False
    assert entry["position"] == "before_char" and entry["id"] == 0
    assert entry["extensions"] == {"position": 0, "probability": None, "useProbability": False}
    assert card["data"]["extensions"]["world"] == "Eldoria"
    # SillyTavern's extra top-level keys survive; copies equal to data fields do not.
    assert card["chat"].startswith("Seraphina - 2023")
    assert "name" not in card and "talkativeness" not in card and "creatorcomment" not in card
    assert card["data"]["assets"] == [
        {"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}
    ]


def test_lemniscate_keeps_differing_top_level_copy() -> None:
    card = parse_card((FIXTURES / "choral_Lemniscate_station_alpha.png").read_bytes()).card
    # The top-level "tags" is [] while data.tags has ten: not a faithful copy, so kept.
    assert card["tags"] == [] and len(card["data"]["tags"]) == 10
    assert card["create_date"].startswith("2024-12-30")
    assert card["data"]["extensions"]["depth_prompt"] == {
        "prompt": "",
        "depth": 4,
        "role": "system",
    }


def test_png_export_writes_ccv3_and_v2_chara() -> None:
    parsed = parse_card((FIXTURES / "choral_Default-chan.png").read_bytes())
    chunks = text_chunks(export_card(parsed.card, "png", parsed.avatar))
    ccv3 = json.loads(base64.b64decode(chunks["ccv3"]))
    chara = json.loads(base64.b64decode(chunks["chara"]))
    assert ccv3["spec"] == "chara_card_v3" and "character_book" not in ccv3["data"]
    assert chara["spec"] == "chara_card_v2" and chara["spec_version"] == "2.0"
    assert chara["name"] == chara["data"]["name"] == "Default-chan"  # V1 readers too
    assert "assets" not in chara["data"] and "nickname" not in chara["data"]
    assert chara == to_v2(parsed.card)


def test_charx_export_layout() -> None:
    parsed = parse_card((FIXTURES / "default_Seraphina.png").read_bytes())
    archive = zipfile.ZipFile(io.BytesIO(export_card(parsed.card, "charx", parsed.avatar)))
    assert archive.namelist() == ["card.json", "assets/icon/images/main.png"]
    card = json.loads(archive.read("card.json"))
    assert card["data"]["assets"] == [
        {
            "type": "icon",
            "uri": "embeded://assets/icon/images/main.png",
            "name": "main",
            "ext": "png",
        }
    ]
    assert archive.read("assets/icon/images/main.png") == parsed.avatar


def test_eldoria_world_info() -> None:
    raw = json.loads((FIXTURES / "Eldoria.json").read_bytes())
    book = parse_world_info((FIXTURES / "Eldoria.json").read_bytes())
    assert len(book["entries"]) == len(raw["entries"]) == 4
    for entry, source in zip(book["entries"], raw["entries"].values(), strict=True):
        assert entry["keys"] == source["key"]
        assert entry["content"] == source["content"]
        assert entry["id"] == source["uid"]
        assert entry["insertion_order"] == source["order"]
        assert entry["enabled"] is (not source["disable"])
        assert entry["extensions"]["position"] == source["position"]
        assert entry["position"] == "before_char"
    # The same lore, as a V2 character_book, reads back the same.
    again = parse_world_info(json.dumps(book).encode())
    assert again == book


def test_world_info_file_is_not_a_card() -> None:
    with pytest.raises(CardError) as caught:
        parse_card((FIXTURES / "Eldoria.json").read_bytes(), filename="Eldoria.json")
    assert caught.value.code == "missing_field"
    assert "lorebook" in str(caught.value)
