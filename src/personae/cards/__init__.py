"""Character cards: import and export of V1/V2/V3 cards (PNG, JSON, CHARX) and lorebooks.

Pure functions, no database: bytes in, a normalised V3 card (plus images) out, and back.
"""

from personae.cards.api import ExportFormat, export_card, parse_card, sniff
from personae.cards.errors import ERROR_CODES, CardError
from personae.cards.limits import DEFAULT_LIMITS, CardLimits
from personae.cards.model import (
    CardAsset,
    ParsedCard,
    SourceFormat,
    SourceSpec,
    normalize_card,
    to_v2,
)
from personae.cards.worldinfo import parse_world_info, world_info_to_book

__all__ = [
    "DEFAULT_LIMITS",
    "ERROR_CODES",
    "CardAsset",
    "CardError",
    "CardLimits",
    "ExportFormat",
    "ParsedCard",
    "SourceFormat",
    "SourceSpec",
    "export_card",
    "normalize_card",
    "parse_card",
    "parse_world_info",
    "sniff",
    "to_v2",
    "world_info_to_book",
]
