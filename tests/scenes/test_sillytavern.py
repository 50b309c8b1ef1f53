"""SillyTavern group import (scenes/sillytavern.py): the real format, limits, clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personae.errors import Invalid
from personae.scenes.sillytavern import (
    MAX_BYTES,
    MAX_MEMBERS,
    StGroup,
    card_talkativeness,
    member_name,
    parse_group,
)

# What SillyTavern's /api/groups/create writes (src/endpoints/groups.js), with a scenario
# override as group-chats.js keeps it in chat_metadata.
GROUP = {
    "id": "1718000000000",
    "name": "Tavern night",
    "members": ["Seraphina.png", "Bram the Smith.png", "Old Tom.png"],
    "avatar_url": "data:image/png;base64,AAAA",
    "allow_self_responses": True,
    "activation_strategy": 3,
    "generation_mode": 0,
    "disabled_members": ["Old Tom.png"],
    "chat_metadata": {"scenario": "A stormy night.", "note_prompt": ""},
    "fav": False,
    "chat_id": "Tavern night - 2024-6-10",
    "chats": ["Tavern night - 2024-6-10"],
    "auto_mode_delay": 5,
    "generation_mode_join_prefix": "",
    "generation_mode_join_suffix": "",
    "hideMutedSprites": False,
}


def parse(value: object) -> StGroup:
    return parse_group(json.dumps(value).encode())


def test_a_real_group_file() -> None:
    group = parse(GROUP)
    assert group.name == "Tavern night"
    assert group.members == ["Seraphina.png", "Bram the Smith.png", "Old Tom.png"]
    assert group.disabled_members == ["Old Tom.png"]
    assert group.mode == "pooled" and group.activation_strategy == 3
    assert group.allow_self is True
    assert group.scenario == "A stormy night."
    assert group.auto_mode_delay_s == 5.0
    assert group.talkativeness_of("Seraphina.png") == 0.5
    assert [member_name(m) for m in group.members] == ["Seraphina", "Bram the Smith", "Old Tom"]


@pytest.mark.parametrize(
    ("strategy", "mode"), [(0, "natural"), (1, "list"), (2, "manual"), (3, "pooled"), ("1", "list")]
)
def test_activation_strategies(strategy: object, mode: str) -> None:
    assert parse({**GROUP, "activation_strategy": strategy}).mode == mode


def test_defaults_for_an_old_or_minimal_file() -> None:
    group = parse({"members": ["A.png"]})
    assert group == StGroup(
        name="Imported group",
        members=["A.png"],
        disabled_members=[],
        mode="natural",
        allow_self=False,
    )


def test_talkativeness_map_and_card_values() -> None:
    group = parse(
        {**GROUP, "talkativeness": {"Seraphina": 0.9, "Old Tom.png": "0.1", "Gone.png": 1}}
    )
    assert group.talkativeness == {"Seraphina.png": 0.9, "Old Tom.png": 0.1}
    assert card_talkativeness({"talkativeness": "0.25"}) == 0.25
    assert card_talkativeness({"talkativeness": "loud"}) == 0.5
    assert card_talkativeness({}) == 0.5
    assert card_talkativeness(None) == 0.5


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({**GROUP, "members": []}, "members"),
        ({**GROUP, "members": "Seraphina.png"}, "members"),
        ({**GROUP, "members": [1]}, "members"),
        ({**GROUP, "members": [f"c{i}.png" for i in range(MAX_MEMBERS + 1)]}, "members"),
        ({**GROUP, "members": ["x" * 300]}, "members"),
        ({**GROUP, "disabled_members": {"a": 1}}, "disabled_members"),
        ({**GROUP, "activation_strategy": 7}, "activation_strategy"),
        ({**GROUP, "activation_strategy": True}, "activation_strategy"),
        ({**GROUP, "generation_mode": -1}, "generation_mode"),
        ({**GROUP, "allow_self_responses": "yes"}, "allow_self_responses"),
        ({**GROUP, "chat_metadata": []}, "chat_metadata"),
        ({**GROUP, "chat_metadata": {"scenario": 5}}, "scenario"),
        ({**GROUP, "name": ["x"]}, "name"),
        ({**GROUP, "name": "n" * 201}, "name"),
        ({**GROUP, "auto_mode_delay": -3}, "auto_mode_delay"),
        ({**GROUP, "talkativeness": {"Seraphina": 2}}, "talkativeness"),
        ({**GROUP, "talkativeness": [0.5]}, "talkativeness"),
        ([GROUP], "object"),
    ],
)
def test_bad_fields_are_named(value: object, field: str) -> None:
    with pytest.raises(Invalid, match=field):
        parse(value)


def test_attacker_inputs() -> None:
    with pytest.raises(Invalid, match="NUL"):
        parse_group(b'{"members": ["a\x00.png"]}')
    with pytest.raises(Invalid, match="NUL"):
        parse({**GROUP, "name": "a\u0000b"})
    with pytest.raises(Invalid, match="NUL"):
        parse({**GROUP, "chat_metadata": {"x\u0000": 1}})
    with pytest.raises(Invalid, match="nested deeper"):
        parse_group(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(Invalid, match="nested deeper"):
        nested: object = 1
        for _ in range(70):
            nested = {"x": nested}
        parse({**GROUP, "chat_metadata": nested})
    with pytest.raises(Invalid, match="larger than 1 MB"):
        parse_group(b" " * (MAX_BYTES + 1))
    with pytest.raises(Invalid, match="larger than 1 MB"):
        parse({**GROUP, "chat_metadata": {"scenario": "x" * MAX_BYTES}})
    with pytest.raises(Invalid, match="UTF-8"):
        parse_group(b'{"members": ["\xff"]}')
    with pytest.raises(Invalid, match="not valid JSON"):
        parse_group(b'{"members": [')
    assert parse_group(b"\xef\xbb\xbf" + json.dumps(GROUP).encode()).name == "Tavern night"


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=300)
    | st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: (
            st.lists(c, max_size=4) | st.dictionaries(st.sampled_from(list(GROUP)), c, max_size=6)
        ),
        max_leaves=30,
    ).map(lambda v: json.dumps(v).encode())
)
def test_any_input_parses_or_is_refused_with_invalid(data: bytes) -> None:
    try:
        group = parse_group(data)
    except Invalid as error:
        assert error.message
    else:
        assert 1 <= len(group.members) <= MAX_MEMBERS
        assert set(group.disabled_members) <= set(group.members)
