"""Finding a text that loops: a sentence, or a run of words, said again and again.

Small models caught in a loop repeat a sentence verbatim ("I'm really sorry for any
misunderstanding." nine times) or, without full stops, a run of words. Both are found
on normalised text (NFKC, case-folded, invisible characters dropped) and compared as
words, so punctuation, spacing and case variants of one sentence count as one.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from personae.moderation.text import normalise

# A sentence ends at . ! ? … (and their full-width and CJK forms), a semicolon or a
# line break; quotes and brackets around it do not matter, since only words are kept.
_SENTENCE_END = re.compile(r"[.!?…;。！？；\n]+")
_WORD = re.compile(r"\w+")
# "Yes. Yes." or "Ha! Ha!" is how people write; a loop is a longer sentence said again.
MIN_SENTENCE_WORDS = 3
# Scripts written without spaces (Chinese, Japanese) have one "word" per clause, so
# their sentences count by characters instead.
MIN_SENTENCE_CHARS = 8
# A post saying one sentence twice is already a loop (posts are a few sentences long).
POST_SENTENCE_REPEATS = 2
# Loops without full stops: the same five words three times.
NGRAM_WORDS = 5
NGRAM_REPEATS = 3


@dataclass(frozen=True)
class Loop:
    """What repeats, how it reads (normalised words) and how many times it occurs."""

    kind: str  # "sentence" or "words"
    text: str  # the first occurrence as written (a sentence) or as normalised words
    count: int


def sentences(text: str) -> list[tuple[str, str]]:
    """The sentences of `text`: each as normalised words joined by spaces, and as written."""
    found = []
    for part in _SENTENCE_END.split(text):
        words = _WORD.findall(normalise(part))
        if words:
            found.append((" ".join(words), " ".join(part.split())))
    return found


def _long_enough(sentence: str) -> bool:
    return sentence.count(" ") + 1 >= MIN_SENTENCE_WORDS or (
        len(sentence.replace(" ", "")) >= MIN_SENTENCE_CHARS and " " not in sentence
    )


def repeated_sentence(text: str, times: int) -> Loop | None:
    """The sentence said most often when it is said at least `times` times, else None."""
    found = [(key, shown) for key, shown in sentences(text) if _long_enough(key)]
    counts = Counter(key for key, _ in found)
    if not counts:
        return None
    key, count = counts.most_common(1)[0]
    shown = next(shown for k, shown in found if k == key)
    return Loop("sentence", shown, count) if count >= times else None


def repeated_words(text: str, n: int = NGRAM_WORDS, times: int = NGRAM_REPEATS) -> Loop | None:
    """A run of `n` words occurring at least `times` times without overlapping, else None."""
    words = _WORD.findall(normalise(text))
    last_end: dict[tuple[str, ...], int] = {}
    counts: Counter[tuple[str, ...]] = Counter()
    for start in range(len(words) - n + 1):
        gram = tuple(words[start : start + n])
        # Overlapping occurrences ("ha ha ha ha ha ha") would count one run many times.
        if start >= last_end.get(gram, 0):
            counts[gram] += 1
            last_end[gram] = start + n
    if not counts:
        return None
    gram, count = counts.most_common(1)[0]
    return Loop("words", " ".join(gram), count) if count >= times else None


def post_loop(text: str) -> Loop | None:
    """How an autonomous post loops: a sentence said twice or five words thrice; else None."""
    return repeated_sentence(text, POST_SENTENCE_REPEATS) or repeated_words(text)
