"""Safe relative paths for CHARX members and `embeded://` asset URIs."""

from __future__ import annotations

from personae.cards.errors import CardError

# The V3 spec spells it "embeded"; accept the dictionary spelling too, as some apps write it.
EMBEDDED_PREFIXES = ("embeded://", "embedded://")
MAX_PATH_CHARS = 1024


def embedded_path(uri: str) -> str | None:
    """The archive path an `embeded://` URI points at, or None for other URIs."""
    for prefix in EMBEDDED_PREFIXES:
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return None


def check_path(path: str, where: str) -> str:
    """Return `path` if it is a plain relative path inside an archive, else raise."""
    problem = None
    if not path:
        problem = "is empty"
    elif len(path) > MAX_PATH_CHARS:
        problem = f"is longer than {MAX_PATH_CHARS} characters"
    elif "\\" in path:
        problem = "contains a backslash"
    elif path.startswith("/"):
        problem = "is absolute"
    elif ":" in path:
        # Drive letters (C:) and alternate data streams; never needed in a card.
        problem = "contains ':' (a drive letter?)"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        problem = "contains control characters"
    elif any(part in ("", ".", "..") for part in path.split("/")):
        problem = "contains '..', '.' or an empty segment"
    if problem:
        raise CardError(
            "path_traversal",
            f"{where} {path[:200]!r} {problem}; only relative paths inside the archive "
            "(like assets/icon/images/main.png) are allowed. Fix the file and try again.",
        )
    return path
