"""Turn selection (scenes/turns.py): pure, seeded, never choosing a muted or absent member."""

from __future__ import annotations

import itertools
import json
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from personae.scenes.turns import (
    A_PERSON,
    MENTION_SCAN_CHARS,
    Choice,
    Member,
    SpokenTurn,
    director_schema,
    mentioned,
    next_after_character,
    parse_director,
    pool,
    speakers_after_person,
)


def member(
    pid: str, name: str, t: float = 0.5, *, muted: bool = False, present: bool = True
) -> Member:
    return Member(pid, name, name.lower().replace(" ", "_"), t, muted, present)


ANN, BOB, CID, DOT = (
    member("a", "Ann"),
    member("b", "Bob"),
    member("c", "Cid"),
    member("d", "Dot"),
)
CAST = [ANN, BOB, CID, DOT]


def person(text: str) -> SpokenTurn:
    return SpokenTurn("p", True, text)


def said(pid: str, text: str = "...") -> SpokenTurn:
    return SpokenTurn(pid, False, text)


# --------------------------------------------------------------------------- strategies

names = st.sampled_from(["Ann", "Bob", "Cid", "Dot", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jo"])


@st.composite
def casts(draw: st.DrawFn) -> list[Member]:
    chosen = draw(st.lists(names, min_size=1, max_size=10, unique=True))
    return [
        Member(
            participant_id=f"id-{n}",
            name=n,
            handle=n.lower(),
            talkativeness=draw(st.floats(0, 1)),
            muted=draw(st.booleans()),
            present=draw(st.booleans()),
        )
        for n in chosen
    ]


@st.composite
def scenes(draw: st.DrawFn) -> tuple[list[Member], list[SpokenTurn]]:
    cast = draw(casts())
    ids = [m.participant_id for m in cast]
    turns = draw(
        st.lists(
            st.one_of(
                st.builds(person, st.text(max_size=40) | names.map(lambda n: f"hey @{n.lower()}")),
                st.builds(said, st.sampled_from(ids), st.text(max_size=20)),
            ),
            max_size=30,
        )
    )
    return cast, turns


MODES = st.sampled_from(["natural", "list", "pooled", "manual", "director"])


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(scenes(), MODES, st.booleans(), st.text(max_size=8), st.integers(0, 10_000))
def test_muted_or_absent_members_are_never_chosen(
    scene: tuple[list[Member], list[SpokenTurn]],
    mode: str,
    allow_self: bool,
    seed: str,
    turn: int,
) -> None:
    cast, history = scene
    able = {m.participant_id for m in cast if m.present and not m.muted}
    kw = {"allow_self": allow_self, "seed": seed, "turn_index": turn}
    choices = speakers_after_person(mode, cast, history, **kw)
    assert {c.participant_id for c in choices} <= able
    assert len({c.participant_id for c in choices}) == len(choices)  # nobody twice in a turn
    assert all(c.reason and len(c.reason) <= 300 for c in choices)
    nxt = next_after_character(mode, cast, history, **kw)
    assert nxt.participant_id is None or nxt.participant_id in able
    if not allow_self and history and not history[-1].is_person:
        assert nxt.participant_id != history[-1].participant_id


@settings(max_examples=100, deadline=None)
@given(scenes(), MODES, st.text(max_size=8), st.integers(0, 10_000))
def test_the_same_seed_makes_the_same_choices(
    scene: tuple[list[Member], list[SpokenTurn]], mode: str, seed: str, turn: int
) -> None:
    cast, history = scene
    kw = {"allow_self": False, "seed": seed, "turn_index": turn}
    assert speakers_after_person(mode, cast, history, **kw) == speakers_after_person(
        mode, list(cast), list(history), **kw
    )
    assert next_after_character(mode, cast, history, **kw) == next_after_character(
        mode, cast, history, **kw
    )


@settings(max_examples=200, deadline=None)
@given(casts(), st.text(max_size=300))
def test_the_director_always_yields_a_present_unmuted_character_or_a_person(
    cast: list[Member], text: str
) -> None:
    able = {m.participant_id for m in cast if m.present and not m.muted}
    for answer in (
        text,
        json.dumps({"speaker": text, "reason": text}),
        *(json.dumps({"speaker": m.name, "reason": "why"}) for m in cast),
        *(json.dumps({"speaker": "@" + m.handle}) for m in cast),
    ):
        choice = parse_director(answer, cast)
        assert choice.participant_id is None or choice.participant_id in able
        assert len(choice.reason) <= 300 and "\n" not in choice.reason


# --------------------------------------------------------------------------- modes


def test_mentions_pick_the_speakers_in_order_of_mention() -> None:
    text = "Cid, what do you think? And @ann too — not bobcat though."
    choices = speakers_after_person(
        "natural", CAST, [person(text)], allow_self=False, seed="s", turn_index=1
    )
    assert [c.participant_id for c in choices[:2]] == ["c", "a"]
    assert choices[0].reason == choices[1].reason == "mentioned"
    assert "b" not in [c.participant_id for c in choices if c.reason == "mentioned"]


def test_mentions_are_whole_words_any_case_with_first_names_and_handles() -> None:
    sera = Member("s", "Seraphina Moonwhisper", "sera_m", 0.5, False, True)
    narrator = Member("n", "The Narrator", "narrator", 0.5, False, True)
    cast = [sera, narrator, ANN]
    assert mentioned("SERAPHINA, help!", cast) == [sera]
    assert mentioned("ask @Sera_M.", cast) == [sera]
    assert mentioned("mail me at x@sera_m.org", cast) == []  # an address, not a mention
    assert mentioned("the end", cast) == []  # "The" is too common to name The Narrator
    assert mentioned("Annabel and anne", cast) == []
    assert mentioned("ann_x", cast) == []
    assert mentioned("(Ann)", cast) == [ANN]
    assert mentioned("x" * MENTION_SCAN_CHARS + " Ann", cast) == []  # past the scanned part


def test_a_muted_or_absent_member_is_not_chosen_even_when_mentioned() -> None:
    cast = [ANN, member("b", "Bob", muted=True), member("c", "Cid", present=False)]
    choices = speakers_after_person(
        "natural", cast, [person("Bob? Cid?")], allow_self=False, seed="s", turn_index=0
    )
    assert [c.participant_id for c in choices] == ["a"]


def test_rolls_follow_talkativeness_and_are_recorded() -> None:
    chatty, quiet = member("a", "Ann", 1.0), member("b", "Bob", 0.0)
    for turn in range(20):
        choices = speakers_after_person(
            "natural", [chatty, quiet], [person("hi")], allow_self=False, seed="x", turn_index=turn
        )
        assert [c.participant_id for c in choices] == ["a"]
        assert choices[0].reason.startswith("roll ") and choices[0].reason.endswith("< 1.00")


def test_when_nobody_rolls_one_seeded_random_member_speaks() -> None:
    silent = [member(p, n, 0.0) for p, n in [("a", "Ann"), ("b", "Bob")]]
    picks = {
        speakers_after_person(
            "natural", silent, [person("hi")], allow_self=False, seed="s", turn_index=t
        )[0].participant_id
        for t in range(30)
    }
    assert picks == {"a", "b"}  # one each turn, both over many turns


def test_about_half_the_members_answer_at_talkativeness_one_half() -> None:
    total = sum(
        len(
            speakers_after_person(
                "natural", CAST, [person("hello")], allow_self=False, seed="s", turn_index=t
            )
        )
        for t in range(400)
    )
    assert 1.8 <= total / 400 <= 2.4  # 4 members x 0.5, plus the rare "nobody rolled" pick


def test_the_last_speaker_is_skipped_unless_self_responses_are_allowed() -> None:
    history = [person("hi"), said("a", "Ann here, and Ann again")]
    one = [member("a", "Ann", 1.0)]
    kw = {"seed": "s", "turn_index": 3}
    assert next_after_character("natural", one, history, allow_self=False, **kw) == Choice(
        None, "a person should speak"
    )
    assert (
        next_after_character("natural", one, history, allow_self=True, **kw).participant_id == "a"
    )


def test_list_order_is_every_member_once_in_position_order() -> None:
    cast = [ANN, member("b", "Bob", muted=True), CID, member("d", "Dot", present=False)]
    choices = speakers_after_person(
        "list", cast, [person("hi")], allow_self=False, seed="", turn_index=0
    )
    assert choices == [Choice("a", "list"), Choice("c", "list")]
    nxt = next_after_character(
        "list", cast, [person("hi"), said("a")], allow_self=False, seed="", turn_index=0
    )
    assert nxt == Choice("c", "list")
    wrap = next_after_character("list", cast, [said("c")], allow_self=False, seed="", turn_index=0)
    assert wrap == Choice("a", "list")


def test_pooled_gives_each_member_one_turn_before_repeats() -> None:
    history: list[SpokenTurn] = []
    spoken: list[str] = []
    for turn in range(12):  # a person speaks, one pooled member answers; three rounds
        history.append(person(f"turn {turn}"))
        (choice,) = speakers_after_person(
            "pooled", CAST, history, allow_self=False, seed="pool", turn_index=turn
        )
        assert choice.reason == "pool"
        history.append(said(choice.participant_id))
        spoken.append(choice.participant_id)
    for start in range(0, 12, 4):
        assert sorted(spoken[start : start + 4]) == ["a", "b", "c", "d"]
    assert all(x != y for x, y in itertools.pairwise(spoken))


def test_pooled_auto_mode_continues_the_round_and_never_repeats_the_last_speaker() -> None:
    history = [person("go"), said("a"), said("b")]
    assert {m.participant_id for m in pool(CAST, history)} == {"c", "d"}
    nxt = next_after_character("pooled", CAST, history, allow_self=False, seed="s", turn_index=1)
    assert nxt.participant_id in {"c", "d"}
    history += [said("c"), said("d")]  # the round is over: everyone but Dot may start the next
    for t in range(10):
        nxt = next_after_character(
            "pooled", CAST, history, allow_self=False, seed="s", turn_index=t
        )
        assert nxt.participant_id in {"a", "b", "c"}


def test_manual_and_director_choose_nobody_here() -> None:
    for mode in ("manual", "director"):
        assert (
            speakers_after_person(
                mode, CAST, [person("Ann?")], allow_self=False, seed="", turn_index=0
            )
            == []
        )
        assert (
            next_after_character(
                mode, CAST, [said("a")], allow_self=False, seed="", turn_index=0
            ).participant_id
            is None
        )


def test_nobody_can_speak() -> None:
    cast = [member("a", "Ann", muted=True), member("b", "Bob", present=False)]
    for mode in ("natural", "list", "pooled"):
        assert (
            speakers_after_person(
                mode, cast, [person("Ann")], allow_self=True, seed="", turn_index=0
            )
            == []
        )
    assert next_after_character(
        "natural", cast, [], allow_self=True, seed="", turn_index=0
    ) == Choice(None, "no character can speak")


def test_a_long_hostile_message_does_not_stall() -> None:
    text = ("Ann" * 300_000) + "@" * 300_000
    started = time.perf_counter()
    for _ in range(5):
        speakers_after_person(
            "natural", CAST * 3, [person(text)], allow_self=False, seed="", turn_index=0
        )
    assert (time.perf_counter() - started) / 5 < 0.05


# --------------------------------------------------------------------------- director


def test_director_schema_lists_who_may_speak_and_a_person() -> None:
    cast = [ANN, member("b", "Bob", muted=True), member("c", "Cid", present=False), DOT]
    schema = director_schema(cast)
    enum = schema["properties"]["speaker"]["enum"]
    assert enum == ["Ann", "Dot", A_PERSON]
    assert schema["properties"]["reason"]["maxLength"] == 200
    assert schema["required"] == ["speaker", "reason"] and schema["additionalProperties"] is False


def test_director_duplicate_names_are_told_apart_by_handle() -> None:
    ann2 = Member("x", "Ann", "ann_two", 0.5, False, True)
    schema = director_schema([ANN, ann2, BOB])
    assert schema["properties"]["speaker"]["enum"] == [
        "Ann (@ann)",
        "Ann (@ann_two)",
        "Bob",
        A_PERSON,
    ]
    assert (
        parse_director('{"speaker": "Ann (@ann_two)", "reason": ""}', [ANN, ann2]).participant_id
        == "x"
    )
    assert parse_director('{"speaker": "@ann_two"}', [ANN, ann2]).participant_id == "x"
    assert parse_director('{"speaker": "Ann"}', [ANN, ann2]).participant_id is None  # ambiguous


def test_director_answers_are_parsed_but_never_trusted() -> None:
    cast = [ANN, member("b", "Bob", muted=True), member("c", "Cid", present=False)]
    ok = parse_director('{"speaker": "ann", "reason": "She was\\nasked.\\u0000"} and more', cast)
    assert ok == Choice("a", "director: She was asked.")
    assert parse_director('{"speaker": "a person", "reason": "Sam must decide"}', cast) == Choice(
        None, "director: Sam must decide"
    )
    for bad in (
        "not json",
        "[1, 2]",
        '{"speaker": 3}',
        '{"speaker": "Bob"}',  # muted
        '{"speaker": "Cid"}',  # absent
        '{"speaker": "Zed"}',  # unknown
        "{" * 5000,
        '{"speaker": "Ann", "reason": "' + "x" * 5000 + '"}',
        "[" * 3000 + "]" * 3000,
    ):
        choice = parse_director(bad, cast)
        assert choice.participant_id is None and choice.reason.startswith("director "), bad
    long_reason = parse_director(json.dumps({"speaker": "Ann", "reason": "y" * 300}), cast)
    assert long_reason.participant_id == "a" and len(long_reason.reason) == len("director: ") + 200
    fallback = parse_director("nonsense", cast, fallback=Choice("a", "roll 0.10 < 0.50"))
    assert fallback == Choice("a", "director answer was not JSON; roll 0.10 < 0.50")
    # A fallback that cannot speak is not used either.
    assert parse_director("nonsense", cast, fallback=Choice("b", "x")).participant_id is None
