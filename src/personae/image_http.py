"""Answering for an avatar or header image: the original, or a cached thumbnail, with
validators so a browser that has it already gets a 304."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request, Response

from personae.errors import Invalid
from personae.thumbnails import MEDIA_TYPE, SIZES, Kind, etag_for, thumbnail

# Thumbnails: kept ten minutes without asking, then revalidated (a 304 while unchanged). Private,
# since who may see an image is decided per viewer (a hidden character's avatar, say).
THUMBNAIL_CACHE = "private, max-age=600"
# Originals: always revalidated, so a new upload shows at once where the original is used.
ORIGINAL_CACHE = "private, no-cache"


def thumbnail_dir(data_dir: Path) -> Path:
    """Where the thumbnails of an instance live (under its data folder)."""
    return data_dir / "thumbnails"


def _matches(request: Request, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weak or strong, or any)."""
    header = request.headers.get("if-none-match", "")
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


async def image_response(
    request: Request, original: bytes, mime: str, kind: Kind, size: int | None, data_dir: Path
) -> Response:
    """The image as asked: the original without `size`, else its thumbnail at that size."""
    if size is not None and size not in SIZES[kind]:
        raise Invalid(f"no {kind} thumbnail is {size} px; sizes are {SIZES[kind]}", "bad_size")
    etag = etag_for(original, kind, size)
    cache = ORIGINAL_CACHE if size is None else THUMBNAIL_CACHE
    headers = {"ETag": etag, "Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    if size is None:
        return Response(original, media_type=mime, headers=headers)
    thumb = await thumbnail(thumbnail_dir(data_dir), original, kind, size)
    return Response(thumb.data, media_type=MEDIA_TYPE, headers=headers)
