"""Size and count limits for untrusted card files, with generous real-world defaults."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class CardLimits:
    """Limits applied while reading (and writing) cards; every field can be raised per call."""

    # Whole uploaded file (PNG, JSON or CHARX).
    max_file_bytes: int = 20 * MiB
    # One JSON document (a card, card.json in a CHARX, a decoded PNG chunk, a world-info file).
    # A PNG export stores it twice in base64 (ccv3 + chara), so 5 MiB of JSON makes ~13.4 MiB
    # of chunks: with the avatar that still fits max_file_bytes.
    max_json_bytes: int = 5 * MiB
    # Width x height of any image, checked from the header before decoding (decompression bomb).
    max_image_pixels: int = 25_000_000
    # Chunks in one PNG: real files have a few dozen; millions of empty ones only burn CPU.
    max_png_chunks: int = 10_000
    # Nesting of arrays/objects anywhere in a card (extensions are free-form).
    max_depth: int = 64
    # Long text: description, first_mes, each greeting, lorebook entry content, comments...
    max_text_chars: int = 100_000
    # Short text: name, nickname, creator, character_version, each tag, asset type/name/ext.
    max_short_chars: int = 200
    # One lorebook key or entry name (keys may be regular expressions).
    max_key_chars: int = 1_000
    # One asset URI or source URL (data: URIs may be as long as max_asset_bytes allows).
    max_uri_chars: int = 2_048
    max_greetings: int = 200
    max_tags: int = 100
    max_sources: int = 100
    max_book_entries: int = 2_000
    max_keys_per_entry: int = 200
    max_assets: int = 500
    max_charx_members: int = 1_000
    # Sum of uncompressed member sizes in a CHARX, declared and actually read (zip bomb).
    max_charx_total_bytes: int = 64 * MiB
    # Uncompressed/compressed ratio of one CHARX member: deflate tops out near 1030x (runs of
    # zeros, what bombs are made of); repetitive but honest lorebook text stays below ~300x.
    max_compression_ratio: int = 500
    # ... only enforced above this size: tiny files legitimately compress very well.
    compression_ratio_min_bytes: int = 1 * MiB
    # One asset (avatar, emotion image, background...).
    max_asset_bytes: int = 16 * MiB


DEFAULT_LIMITS = CardLimits()
