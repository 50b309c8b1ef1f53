"""The interface speaks English and French: every marked string has a French text."""

from __future__ import annotations

import json

import pytest
from fastapi import Request

from personae.web import i18n
from personae.web.pages import TEMPLATE_DIR, templates


def template_messages() -> set[str]:
    """Every string the templates mark with _() / gettext / ngettext, found by Jinja."""
    environment = templates().env
    found: set[str] = set()
    for path in sorted(TEMPLATE_DIR.rglob("*.html")):
        source = path.read_text(encoding="utf-8")
        for _line, _function, message in environment.extract_translations(source):
            # A variable, as in _(message), has no text to check: it yields None.
            texts = message if isinstance(message, tuple) else (message,)
            found.update(m for m in texts if isinstance(m, str))
    return found


def test_every_template_string_has_a_french_translation() -> None:
    messages = template_messages()
    assert len(messages) > 20
    french = i18n.catalog("fr")
    missing = sorted(m for m in messages if not french.get(m))
    assert not missing, f"add these to src/personae/web/locales/fr/*.json: {missing}"


def test_catalogs_are_json_objects_of_strings_with_the_same_placeholders() -> None:
    for path in sorted((i18n.LOCALE_DIR / "fr").glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(entries, dict), path.name
        for english, french in entries.items():
            assert isinstance(french, str) and french.strip(), (path.name, english)
            # %(name)s placeholders must survive translation, or rendering breaks.
            assert sorted(_placeholders(english)) == sorted(_placeholders(french)), english


def _placeholders(text: str) -> list[str]:
    import re

    return re.findall(r"%\(\w+\)[sd]", text)


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "headers": raw, "method": "GET", "path": "/"})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, "en"),
        ({"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}, "fr"),
        ({"Accept-Language": "de-DE,en;q=0.3,fr;q=0.6"}, "fr"),
        ({"Accept-Language": "de, es"}, "en"),
        ({"Accept-Language": "fr;q=bad, en"}, "en"),
        ({"Accept-Language": "fr", "Cookie": "personae_lang=en"}, "en"),
        ({"Cookie": "personae_lang=fr"}, "fr"),
        ({"Cookie": "personae_lang=xx"}, "en"),
    ],
)
def test_the_language_comes_from_the_switch_then_the_browser(
    headers: dict[str, str], expected: str
) -> None:
    assert i18n.pick_language(_request(headers)) == expected


def test_gettext_falls_back_to_english_and_follows_the_current_language() -> None:
    token = i18n.current_language.set("fr")
    try:
        assert i18n.gettext("Explore") == "Explorer"
        assert i18n.gettext("a string nobody translated") == "a string nobody translated"
        assert i18n.ngettext("Light", "Dark", 2) == "Sombre"
    finally:
        i18n.current_language.reset(token)
    assert i18n.gettext("Explore") == "Explore"
