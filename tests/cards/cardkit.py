"""Builders for test cards: raw PNG chunks, zips and minimal card documents."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / ".." / "shared" / "fixtures" / "cards"
SIG = b"\x89PNG\r\n\x1a\n"


def chunk(ctype: bytes, payload: bytes) -> bytes:
    """One PNG chunk, written independently of the code under test."""
    crc = zlib.crc32(ctype + payload)
    return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", crc)


def ihdr(width: int, height: int, depth: int = 8, color: int = 2) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))


def raw_png(width: int, height: int, idat: bytes, extra: tuple[bytes, ...] = ()) -> bytes:
    """An RGB PNG with the given compressed IDAT payload and extra chunks before IEND."""
    return SIG + ihdr(width, height) + chunk(b"IDAT", idat) + b"".join(extra) + chunk(b"IEND", b"")


def pillow_png(size: tuple[int, int] = (3, 2), color: tuple[int, ...] = (200, 30, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def text_chunk(keyword: str, text: bytes) -> bytes:
    return chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text)


def b64(doc: Any) -> bytes:
    return base64.b64encode(json.dumps(doc).encode())


def card_png(doc: Any, keyword: str = "ccv3", image: bytes | None = None) -> bytes:
    """A valid PNG image with `doc` in a base64 text chunk."""
    png = image or pillow_png()
    return png[:-12] + text_chunk(keyword, b64(doc)) + png[-12:]


def v3(**data: Any) -> dict[str, Any]:
    """A minimal V3 card with the given data fields."""
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": {"name": "Ada", **data}}


def v3_json(**data: Any) -> bytes:
    return json.dumps(v3(**data)).encode()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, blob in members.items():
            archive.writestr(zipfile.ZipInfo(name), blob, compress_type=method)
    return buffer.getvalue()


def pixels(png: bytes) -> tuple[tuple[int, int], str, bytes]:
    with Image.open(io.BytesIO(png)) as image:
        return image.size, image.mode, image.tobytes()


def text_chunks(png: bytes) -> dict[str, bytes]:
    """Keyword -> text of every tEXt chunk."""
    out, pos = {}, 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        ctype, payload = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if ctype == b"tEXt":
            keyword, _, text = payload.partition(b"\0")
            out[keyword.decode("latin-1")] = text
        pos += 12 + length
    return out
