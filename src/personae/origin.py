"""Same-origin checks for requests authenticated by cookie (CSRF defence)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, normalised; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def trusted_origins(request: Request) -> set[str]:
    """This server's origins: the one the request was sent to and the configured base URL."""
    origins = {origin_of(str(request.base_url))}
    state = getattr(request.app.state, "personae", None)
    if state is not None:
        origins.add(origin_of(state.settings.effective_base_url))
    return {origin for origin in origins if origin}


def is_same_origin(request: Request) -> bool:
    """Whether a request says it comes from one of our own pages (Origin, else Referer)."""
    claimed = request.headers.get("origin")
    if claimed is None:
        claimed = request.headers.get("referer")
    source = origin_of(claimed) if claimed else None
    return source is not None and source in trusted_origins(request)
