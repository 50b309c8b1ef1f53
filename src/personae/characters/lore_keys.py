"""Lorebook keys: words, or regular expressions run by RE2 in time linear in the text.

Python's `re` backtracks: a key like `(a+)+$` against 26 characters froze the whole server
for seconds, and stored messages are scanned again every turn. RE2 (google-re2) never
backtracks, so no key can stall the event loop; in exchange it refuses look-around and
back-references, which the API answers with a 422 naming the key.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]

MAX_REGEX_LENGTH = 500
# Compiled programs are kept small: a key is a short pattern, never megabytes of automaton.
MAX_PROGRAM_BYTES = 4 * 1024 * 1024
# `/pattern/flags`, SillyTavern's way of writing a regex key. This pattern is our own and
# anchored, so Python's engine is safe on it.
_SLASHED = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)


class BadKey(ValueError):
    """A regex key RE2 cannot run; the message says why."""


def _compile(key: str, case_sensitive: bool) -> Any:
    if len(key) > MAX_REGEX_LENGTH:
        raise BadKey(f"is longer than {MAX_REGEX_LENGTH} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PROGRAM_BYTES
    options.case_sensitive = case_sensitive
    pattern = key
    match = _SLASHED.match(key)
    if match:
        pattern = match.group(1)
        for flag in match.group(2):
            if flag == "i":
                options.case_sensitive = False
            elif flag == "s":
                options.dot_nl = True
            elif flag == "m":
                pattern = "(?m)" + pattern
            else:
                raise BadKey(f"uses the flag '{flag}'; only i, m and s are supported")
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise BadKey(
            f"is not a regular expression this server can run ({reason}); "
            "look-around and back-references are not supported"
        ) from None


@lru_cache(maxsize=2048)
def compiled_key(key: str, case_sensitive: bool) -> Any | None:
    """The compiled regex of a key, or None when RE2 cannot run it (it then never matches)."""
    try:
        return _compile(key, case_sensitive)
    except BadKey:
        return None


def regex_problem(key: str) -> str | None:
    """Why a regex key cannot be used (a sentence fragment), or None when it can."""
    try:
        _compile(key, True)
    except BadKey as exc:
        return str(exc)
    return None


def key_matches(
    key: str, text: str, case_sensitive: bool, use_regex: bool, lowered: str | None = None
) -> bool:
    """Whether one key occurs in the text (`lowered`: text.lower(), if already made)."""
    if not key:
        return False
    if use_regex:
        compiled = compiled_key(key, case_sensitive)
        return bool(compiled is not None and compiled.search(text))
    if case_sensitive:
        return key in text
    return key.lower() in (lowered if lowered is not None else text.lower())
