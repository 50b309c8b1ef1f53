"""Post text: find @mentions (local `@handle` and remote `@user@domain`), #hashtags and
links, and render safe HTML.

Written here rather than with a linkify library because mentions must be resolved
against our own actors, and the three kinds of token have to be found in one pass so a
link's fragment is never read as a hashtag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from markupsafe import escape

MAX_TAG_LENGTH = 100
MAX_TAGS = 30
MAX_MENTIONS = 30
# One alternation, tried left to right, so `https://x/#a` is a link, not a tag. A remote
# mention is tried before a local one so `@bob@example.org` is not read as `@bob`; its
# domain needs a dot and may not end in one, so "@bob@example.org." ends the sentence.
_TOKEN = re.compile(
    r"(?P<link>https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]])"
    r"|(?<![\w@/])@(?P<mention>"
    r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+(?::\d{1,5})?"
    r"|[A-Za-z0-9_]{2,30})(?![\w@])"
    r"|(?<![\w&/#])#(?P<tag>\w*[^\W\d_]\w*)",
)


@dataclass(frozen=True)
class ParsedText:
    """Handles mentioned (lower case, in order; remote ones as `user@domain`) and hashtags
    (lower case, in order)."""

    mentions: list[str]
    tags: list[str]


def parse(text: str) -> ParsedText:
    """The mentions and hashtags in a post's text, without duplicates."""
    mentions: list[str] = []
    tags: list[str] = []
    for match in _TOKEN.finditer(text):
        if match.group("mention"):
            handle = match.group("mention").lower()
            if handle not in mentions:
                mentions.append(handle)
        elif match.group("tag"):
            tag = match.group("tag").lower()[:MAX_TAG_LENGTH]
            if tag not in tags:
                tags.append(tag)
    return ParsedText(mentions[:MAX_MENTIONS], tags[:MAX_TAGS])


def render_html(text: str, known_handles: Mapping[str, str], base_url: str = "") -> str:
    """Escaped HTML with links, linked mentions of known handles and linked hashtags.

    `known_handles` maps a lower-case handle to its actor's handle as spelt; mentions of
    handles that do not exist stay plain text.
    """
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(str(escape(text[pos : match.start()])))
        pos = match.end()
        if match.group("link"):
            url = escape(match.group("link"))
            out.append(f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>')
        elif match.group("mention"):
            handle = known_handles.get(match.group("mention").lower())
            if handle is None:
                out.append(str(escape(match.group(0))))
            else:
                out.append(f'<a href="{base_url}/@{handle}" class="mention">@{escape(handle)}</a>')
        else:
            tag = match.group("tag")
            out.append(
                f'<a href="{base_url}/tags/{escape(tag.lower())}" class="hashtag">'
                f"#{escape(tag)}</a>"
            )
    out.append(str(escape(text[pos:])))
    paragraphs = "".join(out).split("\n\n")
    return "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())
