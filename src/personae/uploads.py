"""Reading uploaded files (avatars, headers, cards) within a size limit, for every route."""

from __future__ import annotations

from fastapi import Request, UploadFile

from personae.errors import TooLarge

# Room for the multipart framing and the other fields around the file.
FORM_OVERHEAD = 64 * 1024


async def read_upload(request: Request, upload: UploadFile, limit: int) -> bytes:
    """The bytes of an uploaded file, refusing anything over `limit` without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FORM_OVERHEAD:
        raise TooLarge(f"the upload is over the {limit // (1024 * 1024)} MiB limit", "too_large")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the upload is over the {limit // (1024 * 1024)} MiB limit", "too_large")
    return data
