"""The interface's languages: English in the templates, French from JSON catalogs.

Why JSON and not gettext .mo files: the catalogs then need no compile step, so a clean
checkout runs as it is, and a test checks that every string the templates mark for
translation (found by Jinja's own extractor) has a French entry. Catalogs are split by
area (`locales/fr/feed.json`, `studio.json` ...) so each area keeps its own strings.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from functools import cache
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
