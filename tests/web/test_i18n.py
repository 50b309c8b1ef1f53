"""The interface speaks English and French: every marked string has a French text."""

from __future__ import annotations

import ast
import json
from pathlib import Path

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


# Where the messages shown on pages come from: the services a page calls (their errors), and
# the agents' activity log (why an action ran, what came of it). Federation's signature and
# inbox checks answer other servers, not people, so they stay English.
SOURCE = Path(i18n.__file__).resolve().parents[1]
PAGE_FACING = (
    "accounts",
    "agents",
    "characters/service.py",
    "characters/importing.py",
    "characters/lorebooks.py",
    "characters/entries.py",
    "chat/service.py",
    "chat/generation.py",
    "chat/prompt.py",
    "federation/remote.py",
    "images.py",
    "scenes/access.py",
    "scenes/auto.py",
    "scenes/importing.py",
    "scenes/messages.py",
    "scenes/service.py",
    "scenes/sharing.py",
    "scenes/sillytavern.py",
    "instance",
    "memory/people.py",
    "moderation",
    "social/access.py",
    "social/actors.py",
    "social/directory.py",
    "social/graph.py",
    "social/posts.py",
    "social/reports.py",
    "social/search.py",
    "social/timelines.py",
    "uploads.py",
    "web",
)
ERRORS = {"DomainError", "NotFound", "Forbidden", "Conflict", "Invalid", "TooLarge", "RateLimited"}
# Fields of the activity log written as sentences (the log shows them as they were stored).
LOGGED = {"detail", "reason"}


def _source_files() -> list[Path]:
    files: list[Path] = []
    for entry in PAGE_FACING:
        path = SOURCE / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def _message_key(node: ast.expr) -> str | None:
    """A message as the catalogs key it: f-string values become {their source}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    return None


def _error_classes(trees: list[ast.Module]) -> set[str]:
    names = set(ERRORS)
    grown = True
    while grown:
        grown = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                    if bases & names:
                        names.add(node.name)
                        grown = True
    return names - {"Unauthorized"}  # a page answers those by going to the log-in form


def page_messages() -> set[str]:
    """Every literal message a page may show from a service: errors and log sentences."""
    parsed = [(path, ast.parse(path.read_text(encoding="utf-8"))) for path in _source_files()]
    errors = _error_classes([tree for _, tree in parsed])
    found: set[str] = set()

    def add(node: ast.expr | None) -> None:
        key = _message_key(node) if node is not None else None
        if key and any(c.isalpha() for c in key):
            found.add(key)

    for path, tree in parsed:
        for node in ast.walk(tree):
            if isinstance(node, ast.Return) and path.name == "guards.py":
                add(node.value)  # why an agent's action was skipped: a limit, in words
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in errors and node.args:
                    add(node.args[0])
                if name == "Verdict" and len(node.args) > 1:
                    add(node.args[1])
                for keyword in node.keywords:
                    if keyword.arg in LOGGED:
                        add(keyword.value)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr in LOGGED:
                        add(node.value)
                    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        for part, value in zip(target.elts, node.value.elts, strict=False):
                            if isinstance(part, ast.Attribute) and part.attr in LOGGED:
                                add(value)
            elif isinstance(node, ast.Dict):
                for dict_key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(dict_key, ast.Constant) and dict_key.value in LOGGED:
                        add(value)
    return found


def test_every_message_a_page_shows_from_a_service_has_french() -> None:
    messages = page_messages()
    assert len(messages) > 100
    french = i18n.catalog("fr")
    missing = sorted(m for m in messages if not french.get(m))
    assert not missing, f"add these to src/personae/web/locales/fr/messages.json: {missing}"
