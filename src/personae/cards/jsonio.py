"""Strict JSON reading and writing for untrusted card documents."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from personae.cards.errors import CardError
from personae.cards.limits import CardLimits

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _reject_constant(name: str) -> NoReturn:
    raise CardError(
        "bad_json",
        f"The JSON contains {name}, which is not valid JSON and not a usable number. "
        "Replace it with a real number (or null) and try again.",
    )


def load_json(data: bytes, limits: CardLimits, what: str) -> Any:
    """Decode UTF-8 JSON bytes within the limits, or raise CardError naming `what`."""
    if len(data) > limits.max_json_bytes:
        raise CardError(
            "too_large",
            f"{what} is {len(data):,} bytes of JSON; the limit is {limits.max_json_bytes:,}. "
            "Remove some content (large lorebooks, embedded images) and try again.",
        )
    if data.startswith(_UTF16_BOMS):
        raise CardError("bad_encoding", f"{what} is UTF-16 text; save it as UTF-8 and try again.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CardError(
            "bad_encoding",
            f"{what} is not valid UTF-8 (bad byte at offset {exc.start}). "
            "Save it as UTF-8 and try again.",
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except CardError:
        raise
    except RecursionError:
        raise CardError(
            "too_deep",
            f"{what} nests arrays/objects too deeply; the limit is {limits.max_depth} levels.",
        ) from None
    except json.JSONDecodeError as exc:
        raise CardError(
            "bad_json",
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}. "
            "Fix the file (or export it again) and try again.",
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python will parse
        raise CardError("bad_json", f"{what} is not usable JSON: {exc}.") from None
    check_tree(value, limits, what)
    return value


def _check_str(text: str, what: str) -> None:
    # No real card text holds NUL, and PostgreSQL cannot store it.
    if "\x00" in text:
        raise CardError(
            "bad_encoding",
            f"{what} contains a NUL character (\\u0000) in a text value "
            f"(near {text[:40]!r}). Remove it and try again.",
        )
    # JSON "\ud800" escapes decode to lone surrogates, which cannot be written back as UTF-8.
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise CardError(
                "bad_encoding",
                f"{what} contains a text value with an unpaired UTF-16 surrogate "
                f"(near {text[:40]!r}); it is not valid Unicode. Remove it and try again.",
            ) from None


def check_tree(value: Any, limits: CardLimits, what: str) -> None:
    """Check a decoded JSON value: JSON types only, depth, finite numbers, valid Unicode."""
    # Iterative, so a deep document cannot exhaust Python's stack here.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limits.max_depth:
                raise CardError(
                    "too_deep",
                    f"{what} nests arrays/objects more than {limits.max_depth} levels deep. "
                    "Flatten the data (usually inside 'extensions') and try again.",
                )
            for key, child in item.items():
                if not isinstance(key, str):
                    raise CardError(
                        "wrong_type", f"{what} has an object key {key!r} that is not a string."
                    )
                _check_str(key, what)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth > limits.max_depth:
                raise CardError(
                    "too_deep",
                    f"{what} nests arrays/objects more than {limits.max_depth} levels deep. "
                    "Flatten the data (usually inside 'extensions') and try again.",
                )
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            _check_str(item, what)
        elif isinstance(item, float):
            if not math.isfinite(item):
                _reject_constant(repr(item))
        elif item is not None and not isinstance(item, (bool, int)):
            raise CardError(
                "wrong_type",
                f"{what} contains a {type(item).__name__}, which JSON cannot represent.",
            )


def dump_json(value: Any) -> bytes:
    """Serialise a checked JSON value as compact UTF-8 (non-ASCII kept as is)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode("utf-8")
