"""Rule checks on a character's autonomous post, before it is published.

Pure functions, no I/O: the caller loads the author's recent posts. Checks run in a
fixed order and the first failing one is the verdict, so the creator sees the most
serious problem first: empty, blocked term, link, mentions, length, loop, repeat.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from personae.config import Settings
from personae.moderation.repetition import post_loop
from personae.moderation.text import normalise, strip_invisible
from personae.social.text import parse

# Why SequenceMatcher over word tokens rather than Jaccard of word 3-shingles: autonomous
# posts are short, and a looping small model repeats itself with a word or two changed.
# Changing the middle word of a ten-word post leaves 5 of 11 distinct 3-shingles shared
# (Jaccard 0.45, far below 0.8), while the in-order word match keeps 2*9/20 = 0.9.
# Words, not characters, keep the cost down (a 500-character post is ~80 words) and
# make the ratio mean "how much of the wording is the same".
SIMILARITY_THRESHOLD = 0.9
QUOTE_CHARS = 60

# Link forms a model writes: any scheme (http, https, ftp, hxxp...), "www.", and bare
# domains. Bare domains are only recognised with a TLD from this list, because "word.word"
# is also a missing space after a full stop; TLDs that are common English words (in, it,
# is, to, at, be, us, no, so) are left out for that reason, except the link shorteners'
# me and co (t.me, t.co).
_TLDS = (
    "com|net|org|info|biz|io|ai|co|app|dev|xyz|site|online|website|link|click|top|shop|"
    "store|tech|blog|news|live|club|pro|page|ly|gg|tv|fm|cc|ws|me|su|tk|ml|ga|cf|gq|"
    "uk|de|fr|ru|cn|jp|br|eu|ca|au|nl|es|pl|ch|se|nz|kr|hk|sg|tw|mx|ar|za"
)
_LINK = re.compile(
    r"\b[a-z][a-z0-9+.\-]{1,15}://[^\s<>\"']+"
    r"|\bwww\d{0,3}\.[a-z0-9\-]+(?:\.[a-z0-9\-]+)*"
    rf"|(?<![\w.\-])(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![\w\-])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """Whether a post may be published; when not, why (a sentence) and which rule."""

    allowed: bool
    reason: str = ""
    rule: str = ""


ALLOWED = Verdict(True)


@lru_cache(maxsize=8)
def _term_patterns(terms: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each configured term with a pattern matching it as whole words in normalised text."""
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for term in terms:
        words = normalise(term).split()
        if not words:
            continue
        # Whole words only ("ass" must not hold "class"); any run of spaces between a
        # phrase's words, so a doubled space or a line break does not slip through.
        body = r"\s+".join(re.escape(word) for word in words)
        patterns.append((term.strip(), re.compile(rf"(?<!\w){body}(?!\w)")))
    return tuple(patterns)


def _mention_count(text: str) -> int:
    """Distinct accounts @mentioned, counted the way the social layer finds them."""
    # parse() keeps at most 30 mentions, and the limit may be set higher. Its tokens
    # never span whitespace, so parsing word by word finds the same ones without a cap.
    return len({handle for word in text.split() for handle in parse(word).mentions})


def _tokens(text: str) -> list[str]:
    """Words of normalised text (punctuation dropped); characters when it has no words."""
    words = re.findall(r"\w+", text)
    return words or [c for c in text if not c.isspace()]


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_CHARS else flat[: QUOTE_CHARS - 1] + "…"


def repeats(text: str, recent_texts: Sequence[str]) -> Verdict:
    """Whether `text` is (nearly) the same as one of `recent_texts`, the author's own."""
    tokens = _tokens(normalise(text))
    matcher = SequenceMatcher(None, autojunk=False)
    # SequenceMatcher caches what it learns about seq2, so the new post goes there.
    matcher.set_seq2(tokens)
    for earlier in recent_texts:
        earlier_tokens = _tokens(normalise(earlier))
        if not earlier_tokens:
            continue
        if earlier_tokens == tokens:
            return Verdict(False, f'the post repeats its recent post "{_quote(earlier)}"', "repeat")
        matcher.set_seq1(earlier_tokens)
        # The quick ratios are upper bounds of ratio(); most posts stop there.
        if (
            matcher.real_quick_ratio() >= SIMILARITY_THRESHOLD
            and matcher.quick_ratio() >= SIMILARITY_THRESHOLD
            and (ratio := matcher.ratio()) >= SIMILARITY_THRESHOLD
        ):
            return Verdict(
                False,
                f'the post is {ratio:.0%} the same as its recent post "{_quote(earlier)}"',
                "repeat",
            )
    return ALLOWED


def loops(text: str) -> Verdict:
    """Whether `text` says one sentence twice or one run of five words three times."""
    loop = post_loop(text)
    if loop is None:
        return ALLOWED
    # Two whole sentences rather than a "{what}" slot, so each can be translated.
    if loop.kind == "sentence":
        reason = f'the post repeats the sentence "{_quote(loop.text)}" {loop.count} times'
    else:
        reason = f'the post repeats the words "{_quote(loop.text)}" {loop.count} times'
    return Verdict(False, reason, "loop")


def check_rules(text: str, *, recent_texts: Sequence[str], settings: Settings) -> Verdict:
    """The first rule `text` breaks, or an allowed verdict; `recent_texts` are the author's."""
    visible = strip_invisible(text)
    if not visible.strip():
        return Verdict(False, "the post is empty", "empty")

    folded = normalise(text)
    for term, pattern in _term_patterns(tuple(settings.moderation_blocked_terms)):
        if pattern.search(folded):
            return Verdict(False, f'the post contains the blocked term "{term}"', "blocked_term")

    if not settings.moderation_allow_links:
        # Matched on NFKC text so full-width "ｅｘａｍｐｌｅ．ｃｏｍ" is a link too.
        link = _LINK.search(unicodedata.normalize("NFKC", visible))
        if link:
            return Verdict(
                False,
                f'the post contains a link ("{_quote(link.group(0))}"); '
                "links are not allowed in autonomous posts",
                "link",
            )

    mentions = _mention_count(text)
    if mentions > settings.moderation_max_mentions:
        limit = settings.moderation_max_mentions
        return Verdict(
            False,
            f"the post mentions {mentions} accounts; the limit is {limit}",
            "mentions",
        )

    if len(text) > settings.moderation_max_chars:
        return Verdict(
            False,
            f"the post is {len(text)} characters long; the limit is "
            f"{settings.moderation_max_chars}",
            "length",
        )

    verdict = loops(text)
    if not verdict.allowed:
        return verdict
    return repeats(text, recent_texts[: settings.moderation_repeat_window])
