"""The loop detector: sentences and runs of words said again, whatever their punctuation,
case, width or invisible characters; and how moderation holds a looping post."""

from __future__ import annotations

import pytest

from personae.config import Settings
from personae.moderation import check_rules
from personae.moderation.repetition import (
    post_loop,
    repeated_sentence,
    repeated_words,
    sentences,
)
from personae.moderation.rules import loops

SORRY = "I'm really sorry for any misunderstanding."


def test_the_reported_loop_is_found() -> None:
    text = " ".join([SORRY] * 9)
    loop = repeated_sentence(text, 3)
    assert loop is not None and loop.count == 9 and loop.kind == "sentence"
    assert loop.text == "I'm really sorry for any misunderstanding"  # as written


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry about that. I'M SORRY ABOUT THAT!",  # case and end mark
        "I'm sorry about that?! i'm sorry, about that…",  # punctuation inside and after
        "I’m sorry about that; I'm sorry about that",  # curly apostrophe, semicolon
        "I'm sorry   about that\nI'm sorry about that",  # a line break ends a sentence too
        "ｉ’ｍ ｓｏｒｒｙ ａｂｏｕｔ ｔｈａｔ。 i'm sorry about that",  # full width, CJK stop
        "I'm sor\u200bry about that. I'm sor\u00adry about that.",  # invisible characters
        "«Je suis désolée pour ça.» Je suis DÉSOLÉE pour ça !",  # accents fold by case only
        "今日はいい天気ですね。今日はいい天気ですね！",  # no spaces: counted by characters
    ],
)
def test_variants_of_one_sentence_count_as_one(text: str) -> None:
    loop = repeated_sentence(text, 2)
    assert loop is not None and loop.count == 2, sentences(text)
    assert not loops(text).allowed


@pytest.mark.parametrize(
    "text",
    [
        "Yes. Yes. What a day at the harbour.",  # short sentences are how people write
        "Ha! Ha! Ha!",
        "The sea is calm. The sea is rough. The sea is grey.",  # similar, not the same
        "Good morning! Tea is ready, the gulls are loud, and the tide is out.",
        "Je suis désolée. Je suis désolé pour ça.",
        "",
    ],
)
def test_ordinary_posts_do_not_loop(text: str) -> None:
    assert post_loop(text) is None
    assert loops(text).allowed


def test_runs_of_words_without_full_stops() -> None:
    text = "and the waves roll in and the waves roll in and the waves roll in forever"
    loop = repeated_words(text)
    assert loop is not None and loop.kind == "words" and loop.count == 3
    assert loop.text == "and the waves roll in"
    # Twice is not yet a loop; overlapping runs ("la la la ...") count once per five words.
    assert repeated_words("and the waves roll in and the waves roll in") is None
    assert repeated_words("la " * 14) is None
    fifteen = repeated_words("la " * 15)
    assert fifteen is not None and fifteen.count == 3


def test_moderation_holds_a_loop_before_comparing_with_recent_posts() -> None:
    verdict = check_rules(f"{SORRY} {SORRY}", recent_texts=[SORRY], settings=Settings())
    assert not verdict.allowed and verdict.rule == "loop"
    assert verdict.reason == (
        'the post repeats the sentence "I\'m really sorry for any misunderstanding" 2 times'
    )
    # Other rules still come first: a link is the more serious problem.
    verdict = check_rules(f"See example.com. {SORRY} {SORRY}", recent_texts=[], settings=Settings())
    assert verdict.rule == "link"
