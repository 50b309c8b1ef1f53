"""Format sniffing, `parse_card` and `export_card`: the entry points of the package."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Literal

from personae.cards import charx, png
from personae.cards.errors import CardError
from personae.cards.jsonio import dump_json, load_json
from personae.cards.limits import DEFAULT_LIMITS, CardLimits
from personae.cards.model import (
    CardAsset,
    ParsedCard,
    card_for_export,
    normalize_card,
    v2_from_normalized,
)

ExportFormat = Literal["png", "json", "charx"]
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_OTHER_IMAGES = {
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _hint(filename: str | None, content_type: str | None) -> str | None:
    """What the name or declared type suggests; only used when the bytes say nothing."""
    name = (filename or "").lower()
    ctype = (content_type or "").lower().split(";")[0].strip()
    if name.endswith((".png", ".apng")) or ctype in ("image/png", "image/apng"):
        return "png"
    if name.endswith((".charx", ".zip")) or ctype in ("application/zip", "application/x-zip"):
        return "charx"
    if name.endswith(".json") or ctype == "application/json":
        return "json"
    return None


def _image_kind(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _OTHER_IMAGES.items() if data.startswith(magic)), None)


def sniff(data: bytes, filename: str | None = None, content_type: str | None = None) -> str:
    """Which reader a file needs ("png", "charx" or "json"), from its magic bytes first."""
    if data.startswith(png.SIGNATURE):
        return "png"
    if data.startswith(_ZIP_MAGIC):
        return "charx"
    head = data[:256].removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if head[:1] in (b"{", b"[") or data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "json"
    if not data:
        raise CardError("unsupported_format", "The file is empty; choose a card file.")
    hint, label = _hint(filename, content_type), filename or "The file"
    kind = _image_kind(data)
    if kind:
        raise CardError(
            "unsupported_format",
            f"{label} is a {kind} image; character cards are PNG images with the card "
            "embedded (or JSON/CHARX files). Export the card as PNG from its app.",
        )
    if hint == "png":
        raise CardError("not_an_image", f"{label} is not an image (no PNG signature).")
    if hint == "charx":
        raise CardError(
            "corrupt_archive", f"{label} is not a zip archive, so it cannot be a CHARX card."
        )
    if hint == "json":
        return "json"  # let the JSON reader say what is wrong with it
    raise CardError(
        "unsupported_format",
        f"{label} is not a card format we know: expected a PNG card, a CHARX (zip) file or "
        "a JSON card.",
    )


def parse_card(
    data: bytes,
    filename: str | None = None,
    content_type: str | None = None,
    limits: CardLimits = DEFAULT_LIMITS,
) -> ParsedCard:
    """Read a V1/V2/V3 card from PNG, JSON or CHARX bytes into a normalised V3 card."""
    if len(data) > limits.max_file_bytes:
        raise CardError(
            "too_large",
            f"The file is {len(data):,} bytes; the limit is {limits.max_file_bytes:,}. "
            "Shrink its images and try again.",
        )
    kind = sniff(data, filename, content_type)
    if kind == "png":
        keyword, payload, avatar = png.read_card(data, limits, "The PNG card")
        doc = load_json(payload, limits, f"The PNG's '{keyword}' card chunk")
        card, spec = normalize_card(doc, limits)
        return ParsedCard(card, "png", spec, avatar, [])
    if kind == "charx":
        return charx.read_charx(data, limits)
    card, spec = normalize_card(load_json(data, limits, "The card file"), limits)
    return ParsedCard(card, "json", spec, None, [])


def _b64_json(doc: dict[str, Any]) -> bytes:
    return base64.b64encode(dump_json(doc))


def export_card(
    card: dict[str, Any],
    fmt: ExportFormat,
    avatar: bytes | None = None,
    assets: Sequence[CardAsset] = (),
    limits: CardLimits = DEFAULT_LIMITS,
) -> bytes:
    """Write a card (any spec; saved as V3) as PNG, JSON or CHARX bytes."""
    normalized, _ = normalize_card(card, limits)
    if fmt == "json":
        # Compact, so any card we accept re-imports within the JSON size limit.
        return dump_json(card_for_export(normalized))
    if fmt == "png":
        texts = [
            ("chara", _b64_json(v2_from_normalized(normalized))),
            ("ccv3", _b64_json(card_for_export(normalized))),
        ]
        return png.write_card(avatar, texts, limits)
    if fmt == "charx":
        return charx.write_charx(normalized, avatar, assets)
    raise CardError(
        "unsupported_format", f"Cannot export as {fmt!r}; choose 'png', 'json' or 'charx'."
    )
