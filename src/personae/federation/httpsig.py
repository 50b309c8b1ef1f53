"""One interface over the two HTTP signature dialects the fediverse speaks.

- `cavage`: draft-cavage-http-signatures-12 (`Signature: keyId=...,headers=...`), what
  Mastodon, Misskey, Pleroma and GoToSocial send, and our default (`signatures.py`);
- `rfc9421`: HTTP Message Signatures (`Signature-Input` + `Signature`), what Fedify tries
  first (`rfc9421.py`).

A request is verified in the dialect it was signed in (`Signature-Input` means RFC 9421).
Outgoing requests are signed in the dialect the receiving server is known to speak
(`peers.py` remembers it), draft-cavage otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from personae.federation import rfc9421
from personae.federation.signatures import (
    DEFAULT_MAX_AGE_S,
    sign_request,
    signature_key_id,
    verify_request,
)

Dialect = Literal["cavage", "rfc9421"]
CAVAGE: Dialect = "cavage"
RFC9421: Dialect = "rfc9421"
DIALECTS: tuple[Dialect, ...] = (CAVAGE, RFC9421)


@dataclass(frozen=True)
class Verified:
    """A signature that checked out: its key id and the dialect it was made in."""

    key_id: str
    dialect: Dialect


def other(dialect: Dialect) -> Dialect:
    """The dialect to try when a server refused this one."""
    return RFC9421 if dialect == CAVAGE else CAVAGE


def dialect_of(headers: Mapping[str, str]) -> Dialect:
    """The dialect a request (lower-case header names) was signed in."""
    return RFC9421 if rfc9421.has_signature_input(headers) else CAVAGE


def key_id_of(headers: Mapping[str, str]) -> str:
    """The key id a request claims to be signed with (SignatureError when there is none)."""
    if dialect_of(headers) == RFC9421:
        return rfc9421.key_id_of(headers)
    return signature_key_id(headers)


def verify(
    method: str,
    url: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    public_key_pem: str,
    *,
    now: datetime | None = None,
    skew_s: int = 3600,
    max_age_s: int = DEFAULT_MAX_AGE_S,
) -> Verified:
    """Verify a request in its own dialect; `url` is the absolute URL it was sent to and
    `target` its path and query as received (draft-cavage's `(request-target)`)."""
    if dialect_of(headers) == RFC9421:
        key_id = rfc9421.verify(
            method, url, headers, body, public_key_pem, now=now, max_age_s=max_age_s, skew_s=skew_s
        )
        return Verified(key_id, RFC9421)
    key_id = verify_request(
        method, target, headers, body, public_key_pem, now, max_skew_s=skew_s, max_age_s=max_age_s
    )
    return Verified(key_id, CAVAGE)


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key_pem: str,
    *,
    dialect: Dialect = CAVAGE,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign a request in `dialect`."""
    if dialect == RFC9421:
        return rfc9421.sign(method, url, headers, body, key_id, private_key_pem, now=now)
    return sign_request(method, url, headers, body, key_id, private_key_pem, now=now)
