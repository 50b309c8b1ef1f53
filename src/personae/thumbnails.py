"""Small WebP copies of avatars and headers, made once per image and size and kept on disk.

An uploaded avatar can be megabytes; pages show it at 40 to 96 px. Each thumbnail is named
by a digest of the original's bytes, so a new upload gets new files and an old one is
never served in its place, and nothing needs to be told when an image changes.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread

from personae.errors import Invalid
from personae.images import MAX_PIXELS

Kind = Literal["avatar", "header"]
# Avatars are square: 96 px serves a 48 px avatar at 2x density, 192 px a 96 px one.
AVATAR_SIZES = (96, 192)
# Headers keep their shape and are this wide at most (one column at 1x and 2x).
HEADER_SIZES = (600, 1200)
SIZES: dict[str, tuple[int, ...]] = {"avatar": AVATAR_SIZES, "header": HEADER_SIZES}
# Byte caps per thumbnail: quality drops step by step until the file fits.
AVATAR_CAP = 20_000
HEADER_CAP = {600: 60_000, 1200: 150_000}
QUALITIES = (80, 70, 60, 50, 40, 30, 20, 10)
MEDIA_TYPE = "image/webp"
# Decoding is CPU and memory heavy: a few at a time, whatever the number of requests.
_LIMITER: anyio.CapacityLimiter | None = None


@dataclass(frozen=True)
class Thumbnail:
    """A thumbnail's bytes and the validator that names it."""

    data: bytes
    etag: str


def digest(original: bytes) -> str:
    """The short content digest that names an original image and its thumbnails."""
    return hashlib.sha256(original).hexdigest()[:24]


def etag_for(original: bytes, kind: Kind, size: int | None) -> str:
    """The strong ETag of an image as served: the original, or one thumbnail of it."""
    return f'"{digest(original)}-{kind}-{size or "original"}"'


def cap_for(kind: Kind, size: int) -> int:
    """The most bytes a thumbnail of this kind and size may have."""
    return AVATAR_CAP if kind == "avatar" else HEADER_CAP.get(size, 150_000)


def render(original: bytes, kind: Kind, size: int) -> bytes:
    """A WebP thumbnail of an image (square for avatars), or Invalid for a bad image."""
    from PIL import Image, ImageOps  # Pillow is slow to import and only images need it

    if size not in SIZES[kind]:
        raise Invalid(f"no {kind} thumbnail is {size} px; sizes are {SIZES[kind]}", "bad_size")
    try:
        with Image.open(io.BytesIO(original)) as img:
            width, height = img.size
            # Checked before any pixel is decoded: a small file can declare a huge canvas.
            if width * height > MAX_PIXELS:
                raise Invalid("the image has too many pixels (over 40 megapixels)", "too_large")
            img.draft("RGB", (size * 2, size * 2))  # JPEG decodes at a fraction of its size
            frame = ImageOps.exif_transpose(img)  # the first frame of an animation
        alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
        frame = frame.convert("RGBA" if alpha else "RGB")
        if kind == "avatar":
            frame = ImageOps.fit(frame, (size, size), Image.Resampling.LANCZOS)
        else:
            frame.thumbnail((size, size), Image.Resampling.LANCZOS)  # never enlarged
    except Invalid:
        raise
    except Exception:  # Pillow raises many types for corrupt or hostile files
        raise Invalid("the image cannot be decoded", "bad_image") from None
    cap = cap_for(kind, size)
    out = b""
    for quality in QUALITIES:
        buffer = io.BytesIO()
        frame.save(buffer, "WEBP", quality=quality, method=4)
        out = buffer.getvalue()
        if len(out) <= cap:
            break
    return out


def _store(path: Path, data: bytes) -> None:
    """Write a file whole or not at all (a crash never leaves half a thumbnail)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _cached(cache_dir: Path, original: bytes, kind: Kind, size: int) -> bytes:
    name = digest(original)
    path = cache_dir / name[:2] / f"{name}-{kind}-{size}.webp"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = render(original, kind, size)
    _store(path, data)
    return data


async def thumbnail(cache_dir: Path, original: bytes, kind: Kind, size: int) -> Thumbnail:
    """The thumbnail of an image at one size: from the disk cache, else made and kept."""
    global _LIMITER
    if _LIMITER is None:
        _LIMITER = anyio.CapacityLimiter(2)
    data = await anyio.to_thread.run_sync(
        _cached, cache_dir, original, kind, size, limiter=_LIMITER
    )
    return Thumbnail(data, etag_for(original, kind, size))
