"""Chat messages as HTML: roleplay `*actions*` in italics and a safe subset of Markdown.

The same rules for every message, rendered on the server only: markdown-it-py turns the
text into HTML with raw HTML, links and images off, then nh3 (the Ammonia sanitizer)
keeps only the tags of an allow-list, with no attributes. Model output is never trusted:
`<script>` arrives as text, whatever the model wrote.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

# What a chat message may contain: emphasis (a roleplay action `*waves*` is emphasis),
# paragraphs and line breaks, lists, code, quotes, a rule.
ALLOWED_TAGS = frozenset(
    {"p", "br", "em", "strong", "ul", "ol", "li", "code", "pre", "blockquote", "hr", "s"}
)
# Rules turned off: raw HTML (escaped instead), links and images (a model must not send
# people elsewhere or load anything), headings and reference definitions (not chat).
DISABLED_RULES = ["html_block", "html_inline", "link", "image", "heading", "lheading", "reference"]


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    md.enable("strikethrough")
    md.disable(DISABLED_RULES)
    return md


@lru_cache(maxsize=2048)
def message_html(text: str) -> str:
    """A message's text as sanitised HTML (cached: the same text renders the same)."""
    rendered = _parser().render(text)
    return nh3.clean(rendered, tags=set(ALLOWED_TAGS), attributes={}, link_rel=None).strip()
