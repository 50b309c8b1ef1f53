"""Lorebook activation: which entries the recent history triggers, within a token budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from personae.characters.lore_keys import key_matches

DEFAULT_SCAN_DEPTH = 4
DEFAULT_TOKEN_BUDGET = 512
MAX_RECURSION = 3


@dataclass(frozen=True)
class LoreEntry:
    """The fields activation needs, independent of storage."""

    id: str
    keys: tuple[str, ...]
    secondary_keys: tuple[str, ...]
    content: str
    enabled: bool = True
    constant: bool = False
    selective: bool = False
    case_sensitive: bool = False
    use_regex: bool = False
    insertion_order: int = 100
    priority: int | None = None
    position: str = "before_char"


def _triggered(entry: LoreEntry, text: str, lowered: str) -> bool:
    def hit(keys: tuple[str, ...]) -> bool:
        return any(
            key_matches(k, text, entry.case_sensitive, entry.use_regex, lowered) for k in keys
        )

    if not hit(entry.keys):
        return False
    return hit(entry.secondary_keys) if entry.selective and entry.secondary_keys else True


def activate(
    entries: Sequence[LoreEntry],
    recent_texts: Sequence[str],
    count_tokens: Callable[[str], int],
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    recursive: bool = False,
) -> list[LoreEntry]:
    """Entries that are constant or triggered by the recent texts, fitted to the budget.

    Over budget, lower `priority` is dropped first (V3 semantics), then later insertion order.
    The result is sorted by insertion order (lower first).
    """
    scan = "\n".join(recent_texts)
    lowered = scan.lower()  # once, not once per key
    enabled = [e for e in entries if e.enabled and e.content]
    chosen: dict[str, LoreEntry] = {
        e.id: e for e in enabled if e.constant or _triggered(e, scan, lowered)
    }
    if recursive:
        for _ in range(MAX_RECURSION):
            extra_text = "\n".join(e.content for e in chosen.values())
            extra_lowered = extra_text.lower()
            new = {
                e.id: e
                for e in enabled
                if e.id not in chosen and _triggered(e, extra_text, extra_lowered)
            }
            if not new:
                break
            chosen.update(new)
    ranked = sorted(
        chosen.values(),
        key=lambda e: (-(e.priority if e.priority is not None else 0), e.insertion_order),
    )
    kept: list[LoreEntry] = []
    used = 0
    for entry in ranked:
        cost = count_tokens(entry.content)
        if used + cost > token_budget:
            continue
        kept.append(entry)
        used += cost
    return sorted(kept, key=lambda e: (e.insertion_order, e.id))
