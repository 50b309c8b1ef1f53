"""No bleed (scenes/bleed.py): stops on others' names, replies cleaned to one voice."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from personae.scenes.bleed import (
    MAX_STOP_SEQUENCES,
    ReplyFilter,
    clean_reply,
    label_of,
    stop_sequences,
)

OTHERS = ["Sam", "Bob", "Ann"]


def test_stop_sequences_cover_every_other_participant_and_generic_labels() -> None:
    stops = stop_sequences("Ann", OTHERS)
    assert "\nSam:" in stops and "\nBob:" in stops and "\n**Bob:**" in stops
    assert "\nUser:" in stops and "\n{{user}}:" in stops
    assert not any("Ann" in s for s in stops)  # never its own name
    assert len(stops) == len(set(stops))
    many = stop_sequences("Ann", [f"Person {i}" for i in range(100)])
    assert len(many) == MAX_STOP_SEQUENCES and many[0] == "\nPerson 0:"


def test_labels() -> None:
    assert label_of("Bob: hi") == "bob"
    assert label_of("**Bob:** hi") == "bob"
    assert label_of("  [Bob]: hi") == "bob"
    assert label_of("> Bob : hi") == "bob"
    assert label_of("see http://x") == "see http"  # a label-like shape; only names count
    assert label_of("//x: y") is None
    assert label_of("no colon here") is None
    assert label_of(":) smile") is None


def test_clean_reply_drops_its_own_label_and_cuts_at_another_voice() -> None:
    assert clean_reply("Ann: Hello there.", "Ann", OTHERS) == "Hello there."
    assert clean_reply("**Ann:** Hello.\nStill me.", "Ann", OTHERS) == "Hello.\nStill me."
    assert clean_reply("ann: ANN: hi", "Ann", OTHERS) == "hi"
    text = "I pour the tea.\n*smiles*\nSam: Thanks, Ann!\nAnn: You're welcome."
    assert clean_reply(text, "Ann", OTHERS) == "I pour the tea.\n*smiles*"
    assert clean_reply("Fine.\nUser: and then I said", "Ann", OTHERS) == "Fine."
    assert clean_reply("Fine.\nAnn: again", "Ann", OTHERS) == "Fine."  # one turn, one message
    assert clean_reply("Sam: I agree with everything.", "Ann", OTHERS) == ""
    assert clean_reply("  \n\n", "Ann", OTHERS) == ""
    assert clean_reply("Note: the door is open.", "Ann", OTHERS) == "Note: the door is open."
    assert clean_reply("Time check: 10:30, Sam: wait", "Ann", OTHERS) == (
        "Time check: 10:30, Sam: wait"  # mid-line is prose, not a new speaker
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["Ann", "Sam", "Bob", "Zed", "", "**Sam**", "User"]), max_size=8),
    st.lists(st.text(max_size=30), max_size=8),
)
def test_no_cleaned_line_is_in_another_participants_voice(
    labels: list[str], texts: list[str]
) -> None:
    lines = [
        f"{label}: {text}" if label else text for label, text in zip(labels, texts, strict=False)
    ]
    cleaned = clean_reply("\n".join(lines), "Ann", OTHERS)
    others = {"sam", "bob", "user"}
    for line in cleaned.split("\n"):
        assert label_of(line) not in others


def test_reply_filter_streams_the_same_text_clean_reply_gives() -> None:
    reply = "Ann: I pour the tea.\nIt is hot.\nSam: thanks"
    filt = ReplyFilter("Ann", OTHERS)
    shown = "".join(filt.feed(ch) for ch in reply) + filt.end()
    assert shown == clean_reply(reply, "Ann", OTHERS) == "I pour the tea.\nIt is hot."
    assert filt.stopped and filt.text == shown
    # The label of the next line is never shown, not even in part.
    filt = ReplyFilter("Ann", OTHERS)
    pieces = [filt.feed(t) for t in ["Hi", " there", ".\n", "Sa", "m", ":", " yo"]]
    assert "".join(pieces) == "Hi there." and "S" not in "".join(pieces)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="AnSm: \n*xy", max_size=60), st.integers(1, 7))
def test_reply_filter_never_shows_more_than_the_clean_reply(text: str, size: int) -> None:
    filt = ReplyFilter("Ann", OTHERS)
    shown = "".join(filt.feed(text[i : i + size]) for i in range(0, len(text), size))
    shown += filt.end()
    cleaned = clean_reply(text, "Ann", OTHERS)
    assert cleaned.startswith(shown) or shown == cleaned


def test_reply_filter_shows_ordinary_text_at_once_and_holds_only_possible_labels() -> None:
    filt = ReplyFilter("Ann", ["Old Tom", "Sam"])
    assert filt.feed("Hello") == "Hello"  # cannot be anyone's label: shown at once
    assert filt.feed(" there.\n") == " there."
    assert filt.feed("Old ") == ""  # may become "Old Tom:"
    assert filt.feed("Tom") == ""
    assert filt.feed(": I disagree") == ""
    assert filt.stopped and filt.end() == "" and filt.text == "Hello there."
    own = ReplyFilter("Ann", ["Sam"])
    assert own.feed("An") == "" and own.feed("n:") == "" and own.feed(" Hi") == "Hi"
    assert own.feed("\nOlder news") == "\nOlder news"
