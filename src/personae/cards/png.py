"""PNG card containers: chunk walking, bomb checks, card text chunks, avatars."""

from __future__ import annotations

import base64
import binascii
import functools
import io
import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from personae.cards.errors import CardError
from personae.cards.limits import CardLimits

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CARD_KEYWORDS = ("ccv3", "chara")  # in order of preference
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
# RisuAI stores extra assets in chunks named like this; they belong to the card, not the image.
_ASSET_KEYWORD_PREFIX = "chara-ext-asset_"
_BIT_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x offset, y offset, x step, y step).
_ADAM7: tuple[tuple[int, int, int, int], ...] = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_STEP = 64 * 1024
_SURPLUS = 1024 * 1024
PLACEHOLDER_SIZE = (400, 600)


@dataclass(frozen=True)
class Chunk:
    """One PNG chunk: its type, payload, and where its bytes lie in the file."""

    ctype: bytes
    payload: bytes
    start: int
    end: int

    @property
    def keyword(self) -> str | None:
        """The keyword of a text chunk, else None."""
        if self.ctype not in _TEXT_TYPES:
            return None
        return self.payload.partition(b"\0")[0].decode("latin-1")


@dataclass(frozen=True)
class Header:
    """The IHDR fields that matter for size checks."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlaced: bool


def corrupt(what: str, problem: str) -> CardError:
    """The error for a damaged PNG."""
    return CardError(
        "corrupt_image",
        f"{what} is a damaged PNG: {problem}. Save or export the image again and retry.",
    )


def pixel_limit(limits: CardLimits) -> int:
    """Our pixel limit, never above Pillow's own, so Pillow never warns or raises first."""
    ceiling = Image.MAX_IMAGE_PIXELS
    return min(limits.max_image_pixels, ceiling) if ceiling else limits.max_image_pixels


def check_pixels(width: int, height: int, limits: CardLimits, what: str) -> None:
    """Reject images whose declared size would take too much memory to decode."""
    limit = pixel_limit(limits)
    if width * height > limit:
        raise CardError(
            "decompression_bomb",
            f"{what} declares {width}x{height} = {width * height:,} pixels; the limit is "
            f"{limit:,}. Resize the image and try again.",
        )


def walk(data: bytes, limits: CardLimits, what: str) -> list[Chunk]:
    """Split a PNG into chunks up to IEND, checking structure and CRCs."""
    if not data.startswith(SIGNATURE):
        raise CardError("not_an_image", f"{what} is not a PNG image (wrong signature).")
    chunks: list[Chunk] = []
    pos, size = len(SIGNATURE), len(data)
    while True:
        if pos + 12 > size:
            raise corrupt(what, "the file ends before its IEND chunk (truncated?)")
        length = int.from_bytes(data[pos : pos + 4], "big")
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            raise corrupt(what, f"the {ctype!r} chunk runs past the end of the file (truncated?)")
        if not ctype.isalpha():
            raise corrupt(what, f"invalid chunk type {ctype!r} at offset {pos}")
        payload = data[pos + 8 : end - 4]
        if zlib.crc32(payload, zlib.crc32(ctype)) != int.from_bytes(data[end - 4 : end], "big"):
            raise corrupt(what, f"the CRC of the {ctype.decode()} chunk at offset {pos} is wrong")
        chunks.append(Chunk(ctype, payload, pos, end))
        if len(chunks) > limits.max_png_chunks:
            raise CardError(
                "too_many_chunks",
                f"{what} has more than {limits.max_png_chunks:,} PNG chunks. "
                "Save the image again with a normal editor and retry.",
            )
        pos = end
        if ctype == b"IEND":
            return chunks


def header(chunks: list[Chunk], limits: CardLimits, what: str) -> Header:
    """Parse and check IHDR, including the decompression-bomb pixel limit."""
    first = chunks[0]
    if first.ctype != b"IHDR" or len(first.payload) != 13:
        raise corrupt(what, "it does not start with a valid IHDR chunk")
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", first.payload)
    if width == 0 or height == 0:
        raise corrupt(what, f"its size is {width}x{height}")
    if depth not in _BIT_DEPTHS.get(color, ()) or interlace not in (0, 1):
        raise corrupt(what, f"bit depth {depth} / colour type {color} is not valid PNG")
    check_pixels(width, height, limits, what)
    return Header(width, height, depth, color, interlace == 1)


def _raw_size(head: Header) -> int:
    """Bytes the decompressed IDAT stream must have (filter byte + packed pixels per row)."""

    def rows(width: int, height: int) -> int:
        if width == 0 or height == 0:
            return 0
        return height * (1 + (width * _CHANNELS[head.color_type] * head.bit_depth + 7) // 8)

    if not head.interlaced:
        return rows(head.width, head.height)
    return sum(
        rows((head.width - x0 + dx - 1) // dx, (head.height - y0 + dy - 1) // dy)
        for x0, y0, dx, dy in _ADAM7
    )


def check_image_data(chunks: list[Chunk], head: Header, what: str) -> None:
    """Inflate IDAT with a bounded buffer: far too much data is a bomb, too little truncated."""
    expected = _raw_size(head)
    # A little surplus is tolerated (libpng only warns about it); megabytes of it are a bomb.
    bound = expected + _SURPLUS
    inflater = zlib.decompressobj()
    total = 0
    try:
        for chunk in chunks:
            if chunk.ctype != b"IDAT":
                continue
            pending = chunk.payload
            while True:
                out = inflater.decompress(pending, _STEP)
                total += len(out)
                if total > bound:
                    raise CardError(
                        "decompression_bomb",
                        f"{what}'s pixel data inflates to more than {bound:,} bytes, far more "
                        f"than its {head.width}x{head.height} size needs ({expected:,}): "
                        "a zlib bomb. Save the image again with a normal editor.",
                    )
                pending = inflater.unconsumed_tail
                if not pending and len(out) < _STEP:
                    break
    except zlib.error as exc:
        raise corrupt(what, f"its pixel data is not valid zlib ({exc})") from None
    if total < expected:
        raise corrupt(what, f"its pixel data has {total:,} of {expected:,} bytes (truncated?)")


def inspect(data: bytes, limits: CardLimits, what: str) -> list[Chunk]:
    """Check a PNG's structure, declared size and pixel data size; return its chunks."""
    chunks = walk(data, limits, what)
    check_image_data(chunks, header(chunks, limits, what), what)
    return chunks


def decode_check(data: bytes, what: str) -> None:
    """Decode a PNG (already size-checked, card chunks removed) to prove it is intact."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CardError("decompression_bomb", f"{what} is too large to decode: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        raise corrupt(what, str(exc) or type(exc).__name__) from None


def _inflate(data: bytes, cap: int, what: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as exc:
        raise corrupt(what, f"a compressed text chunk is not valid zlib ({exc})") from None
    if len(out) > cap:
        raise CardError(
            "decompression_bomb",
            f"{what} has a compressed card chunk that inflates past {cap:,} bytes.",
        )
    return out


def _chunk_text(chunk: Chunk, cap: int, what: str) -> bytes:
    rest = chunk.payload.partition(b"\0")[2]
    if chunk.ctype == b"zTXt":
        return _inflate(rest[1:], cap, what)
    if chunk.ctype == b"iTXt":
        compressed = rest[:1] == b"\x01"
        text = rest[2:].partition(b"\0")[2].partition(b"\0")[2]  # skip language, translated kw
        return _inflate(text, cap, what) if compressed else text
    return rest


def decode_payload(text: bytes, keyword: str, what: str) -> bytes:
    """The JSON bytes of a card chunk (base64, or raw JSON as a few old tools wrote)."""
    stripped = text.strip()
    if stripped.startswith(b"{"):
        return stripped
    compact = b"".join(stripped.split())
    compact += b"=" * (-len(compact) % 4)  # some writers drop the padding
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CardError(
            "bad_base64",
            f"The '{keyword}' text chunk of {what} is not valid base64. "
            "Export the card again from its app and retry.",
        ) from None


def read_card(data: bytes, limits: CardLimits, what: str) -> tuple[str, bytes, bytes]:
    """(keyword, card JSON bytes, avatar PNG without card chunks) from a PNG card."""
    chunks = inspect(data, limits, what)
    found: dict[str, Chunk] = {}
    for chunk in chunks:
        keyword = chunk.keyword
        if keyword in CARD_KEYWORDS and keyword not in found:
            found[keyword] = chunk
    keyword = next((k for k in CARD_KEYWORDS if k in found), None)
    if keyword is None:
        raise CardError(
            "no_card_chunk",
            f"{what} is a plain image: it has no 'chara' or 'ccv3' text chunk, so it holds no "
            "character card. Export the card as PNG from its app (or upload its JSON).",
        )
    cap = limits.max_json_bytes * 4 // 3 + 4096  # base64 makes the JSON a third larger
    text = _chunk_text(found[keyword], cap, what)
    if len(text) > cap:
        raise CardError(
            "too_large",
            f"The '{keyword}' chunk of {what} is {len(text):,} bytes; the limit is {cap:,}.",
        )
    avatar = strip_card_chunks(data, chunks)
    # Decoded without the card chunks: Pillow caps text chunks far below our JSON limit.
    decode_check(avatar, what)
    return keyword, decode_payload(text, keyword, what), avatar


def _is_card_chunk(chunk: Chunk) -> bool:
    keyword = chunk.keyword
    return keyword is not None and (
        keyword in CARD_KEYWORDS or keyword.startswith(_ASSET_KEYWORD_PREFIX)
    )


def strip_card_chunks(data: bytes, chunks: list[Chunk]) -> bytes:
    """The same PNG, byte for byte, without card text chunks (and nothing after IEND)."""
    kept = (data[c.start : c.end] for c in chunks if not _is_card_chunk(c))
    return SIGNATURE + b"".join(kept)


def make_chunk(ctype: bytes, payload: bytes) -> bytes:
    """Serialise one PNG chunk with its length and CRC."""
    crc = zlib.crc32(payload, zlib.crc32(ctype))
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", crc)


@functools.cache
def placeholder_png() -> bytes:
    """A plain 400x600 image for cards that have no avatar."""
    buffer = io.BytesIO()
    Image.new("RGB", PLACEHOLDER_SIZE, (92, 99, 112)).save(buffer, "PNG")
    return buffer.getvalue()


def to_png(image: bytes, limits: CardLimits, what: str) -> bytes:
    """A PNG version of any image Pillow reads (a PNG is only checked, never re-encoded)."""
    if image.startswith(SIGNATURE):
        inspect(image, limits, what)
        return image
    try:
        with Image.open(io.BytesIO(image)) as opened:
            check_pixels(opened.width, opened.height, limits, what)
            opened.load()
            converted: Image.Image = opened
            if opened.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
                converted = opened.convert("RGBA" if "A" in opened.getbands() else "RGB")
            buffer = io.BytesIO()
            converted.save(buffer, "PNG")
            return buffer.getvalue()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CardError("decompression_bomb", f"{what} is too large to decode: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CardError(
            "not_an_image", f"{what} is not an image we can read ({exc}). Use a PNG or JPEG."
        ) from None


def write_card(image: bytes | None, texts: list[tuple[str, bytes]], limits: CardLimits) -> bytes:
    """The avatar (or a placeholder) as PNG with the given base64 tEXt chunks before IEND."""
    png = placeholder_png() if image is None else to_png(image, limits, "The avatar")
    chunks = walk(png, limits, "The avatar")
    body = [png[c.start : c.end] for c in chunks[:-1] if not _is_card_chunk(c)]
    end = png[chunks[-1].start : chunks[-1].end]
    decode_check(SIGNATURE + b"".join(body) + end, "The avatar")
    extra = [
        make_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text) for keyword, text in texts
    ]
    return SIGNATURE + b"".join(body) + b"".join(extra) + end


def check_image_size(data: bytes, limits: CardLimits, what: str) -> None:
    """Apply the pixel limit to an image from its header alone (unknown formats pass)."""
    if data.startswith(SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        check_pixels(width, height, limits, what)
        return
    known = data.startswith((b"\xff\xd8\xff", b"GIF87a", b"GIF89a")) or (
        data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    )
    if not known:
        return
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "GIF", "WEBP"]) as opened:
            size = opened.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise CardError("decompression_bomb", f"{what} is too large to decode: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        return  # not decodable here; it is kept as opaque bytes
    check_pixels(size[0], size[1], limits, what)
