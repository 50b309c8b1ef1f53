"""The interface's languages: English in the templates, French from JSON catalogs.

Why JSON and not gettext .mo files: the catalogs then need no compile step, so a clean
checkout runs as it is, and a test checks that every string the templates mark for
translation (found by Jinja's own extractor) has a French entry. Catalogs are split by
area (`locales/fr/feed.json`, `studio.json` ...) so each area keeps its own strings.
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from functools import cache, partial
from pathlib import Path

from fastapi import Request

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "personae_lang"
THEME_COOKIE = "personae_theme"
THEMES = ("system", "light", "dark")

# The language of the page being rendered (set per request, read by gettext below).
current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@cache
def catalog(language: str) -> dict[str, str]:
    """English message -> translation for one language, merged from its area files."""
    merged: dict[str, str] = {}
    folder = LOCALE_DIR / language
    if language == DEFAULT_LANGUAGE or not folder.is_dir():
        return merged
    for path in sorted(folder.glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(entries, dict):
            raise ValueError(f"{path.name}: a catalog is one JSON object of message -> text")
        merged.update({str(k): str(v) for k, v in entries.items()})
    return merged


def gettext(message: str) -> str:
    """The message in the current language (English when it has no translation)."""
    return catalog(current_language.get()).get(message, message)


# A placeholder in a service message's catalog key: "{handle}" stands for any text.
PLACEHOLDER = re.compile(r"\{[^{}]+\}")


@cache
def message_patterns(language: str) -> list[tuple[re.Pattern[str], list[str], str]]:
    """Catalog keys with {placeholders}, as patterns that match the messages they stand for
    (the ones with most fixed text first, so the most specific key wins)."""
    found = []
    for english, text in catalog(language).items():
        names = PLACEHOLDER.findall(english)
        fixed = PLACEHOLDER.sub("", english)
        # A key that is nearly all placeholders ("{a}: {b}") would match anything.
        if names and sum(c.isalpha() for c in fixed) >= 4:
            parts = [re.escape(part) for part in PLACEHOLDER.split(english)]
            found.append((re.compile("(.+?)".join(parts), re.DOTALL), names, text))
    found.sort(key=lambda entry: -len(PLACEHOLDER.sub("", entry[0].pattern)))
    return found


def _fill(values: dict[str, str], found: re.Match[str]) -> str:
    return values.get(found.group(0), found.group(0))


def say(message: str, depth: int = 0) -> str:
    """A message a service wrote (an error's text, say), in the current language.

    Services write English messages, some with values inside ("no post '123'"); the
    catalogs key those by their source, "no post '{post_id}'", and the values are carried
    over (a value that is itself a sentence, such as the reason inside a moderation note,
    is translated too). Unlike `_()` in a template, the result is plain text, escaped when
    rendered, since the values may come from a visitor.
    """
    language = current_language.get()
    table = catalog(language)
    if not message or not table:
        return message
    if message in table:
        return table[message]
    for pattern, names, text in message_patterns(language):
        match = pattern.fullmatch(message)
        if match is None:
            continue
        values: dict[str, str] = {}
        for name, value in zip(names, match.groups(), strict=True):
            # Only sentences and {what} ("password"): another single word is a name (a
            # handle, a state) and stays as it is.
            wordy = " " in value or name == "{what}"
            values[name] = say(value, depth + 1) if wordy and depth < 2 else value
        return PLACEHOLDER.sub(partial(_fill, values), text)
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural message, by n, in the current language."""
    return gettext(singular if n == 1 else plural)


def _accepted(header: str) -> list[str]:
    """Primary language tags of an Accept-Language header, most wanted first."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag:
            ranked.append((-quality, index, tag.split("-")[0].lower()))
    return [tag for _, _, tag in sorted(ranked)]


def pick_language(request: Request) -> str:
    """The language chosen with the switch (a cookie), else the browser's, else English."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    for tag in _accepted(request.headers.get("accept-language", "")):
        if tag in LANGUAGES:
            return tag
    return DEFAULT_LANGUAGE


def pick_theme(request: Request) -> str:
    """The colour theme chosen with the switch; "system" follows the device."""
    chosen = request.cookies.get(THEME_COOKIE, "")
    return chosen if chosen in THEMES else "system"
