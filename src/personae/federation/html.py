"""Remote HTML made safe to show, and plain text for search and the models' prompts.

nh3 (the Ammonia sanitizer) does the cleaning: an allow-list of the tags Mastodon and
others send in post content, links forced to http(s) with `rel="nofollow noopener"`.
"""

from __future__ import annotations

import html
import re

import nh3

TAGS = {
    "p", "br", "a", "span", "strong", "em", "b", "i", "u", "s", "del", "code", "pre",
    "blockquote", "ul", "ol", "li",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "class"}, "span": {"class"}}
SCHEMES = {"http", "https"}
_BREAKS = re.compile(r"<br\s*/?>|</p>\s*<p[^>]*>|</li>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_BLANK_LINES = re.compile(r"\n{3,}")


def sanitize(markup: str) -> str:
    """Remote HTML reduced to the allowed tags, attributes and link schemes."""
    return nh3.clean(
        markup,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )


def to_text(markup: str) -> str:
    """Plain text of (sanitized) HTML: paragraphs and breaks become new lines."""
    text = _BREAKS.sub("\n", sanitize(markup))
    text = html.unescape(_TAG.sub("", text))
    return _BLANK_LINES.sub("\n\n", text).strip()
