"""Text folded for comparison, shared by the moderation rules and the loop detector."""

from __future__ import annotations

import unicodedata


def strip_invisible(text: str) -> str:
    """`text` without format characters (zero-width spaces and joiners, soft hyphens)."""
    # They render as nothing, so "b\u200bad" reads as "bad"; NFKC alone keeps them.
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def normalise(text: str) -> str:
    """Text folded for comparison: NFKC, invisible characters removed, case-folded."""
    # NFKC again after casefold: folding can produce sequences that are not NFKC.
    folded = unicodedata.normalize("NFKC", strip_invisible(text)).casefold()
    return unicodedata.normalize("NFKC", folded)
