"""Uploaded images (avatars, headers): what they are and whether they are safe to keep."""

from __future__ import annotations

import io

from personae.errors import Invalid, TooLarge

MAX_AVATAR_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def sniff_image(data: bytes) -> str:
    """MIME type of a PNG, JPEG, GIF or WebP image, or raise Invalid."""
    for magic, mime in _IMAGE_MAGIC.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    raise Invalid("the avatar is not a PNG, JPEG, GIF or WebP image", code="not_an_image")


def decode_check(data: bytes) -> None:
    """Decode the header with Pillow, refusing decompression bombs."""
    from PIL import Image  # Pillow is slow to import and only uploads need it

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise Invalid("the avatar has too many pixels (over 40 megapixels)", "too_large")
            img.verify()
    except Invalid:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise Invalid(f"the avatar image is corrupt: {exc}", code="bad_image") from None


def check_image(data: bytes, what: str = "the image") -> str:
    """An upload's MIME type once its size, type and pixels are checked (413 or 422)."""
    if len(data) > MAX_AVATAR_BYTES:
        raise TooLarge(f"{what} is over {MAX_AVATAR_BYTES // (1024 * 1024)} MiB")
    mime = sniff_image(data)
    decode_check(data)
    return mime
