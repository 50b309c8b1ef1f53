"""Static files: URLs that carry a content hash, served to be kept for a year, and the
style sheets joined into one file at start-up (one request, one gzip stream)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"
CSS_DIR = STATIC_DIR / "css"
BUNDLE = "css/bundle.css"
# The cascade order of the sheets in the bundle; any other sheet in css/ follows, by name.
CSS_ORDER = ("base", "feed", "explore", "studio", "chat", "settings", "scenes")
# A URL with the file's current hash never changes meaning, so browsers keep it a year
# without asking; any other URL (no hash, or an old one) is revalidated on every use.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def css_files() -> list[Path]:
    """The style sheets of the bundle, in cascade order."""
    named = [CSS_DIR / f"{name}.css" for name in CSS_ORDER if (CSS_DIR / f"{name}.css").exists()]
    others = sorted(p for p in CSS_DIR.glob("*.css") if p not in named)
    return named + others


@cache
def css_bundle() -> bytes:
    """Every style sheet joined into one, each under a comment naming its file."""
    parts = [f"/* {path.name} */\n".encode() + path.read_bytes() for path in css_files()]
    return b"\n".join(parts)


def _content(name: str) -> bytes:
    return css_bundle() if name == BUNDLE else (STATIC_DIR / name).read_bytes()


@cache
def asset_digest(name: str) -> str:
    """The content hash of a static file (or of the bundle) as URLs carry it."""
    return hashlib.sha256(_content(name)).hexdigest()[:12]


def asset_url(name: str) -> str:
    """The URL of a static file, with a content hash so browsers never keep a stale copy."""
    return f"/static/{name}?v={asset_digest(name)}"


class AssetFiles(StaticFiles):
    """StaticFiles that serves the CSS bundle and caches hashed URLs for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file (or bundle) with the Cache-Control its URL deserves."""
        name = path.replace("\\", "/")
        if name == BUNDLE:
            response = self._bundle_response(scope)
        else:
            response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            # Only after the file was found: the hash is read from a real static file.
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            hashed = query.get("v") == [asset_digest(name)]
            response.headers["Cache-Control"] = IMMUTABLE if hashed else REVALIDATE
        return response

    def _bundle_response(self, scope: Scope) -> Response:
        etag = f'"{asset_digest(BUNDLE)}"'
        headers = {"ETag": etag}
        for key, value in scope.get("headers", []):
            if key == b"if-none-match" and etag in value.decode("latin-1"):
                return Response(status_code=304, headers=headers)
        return Response(css_bundle(), media_type="text/css", headers=headers)
