"""HTTP Signatures (draft-cavage-12, rsa-sha256 and hs2019 with RSA keys) and Digest.

With `rfc9421.py` (HTTP Message Signatures) the only places that sign our requests and
verify remote ones; `httpsig.py` picks between the two dialects.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from personae.errors import Unauthorized

# Mastodon sends rsa-sha256; hs2019 means "the algorithm the key implies", which for
# the RSA keys every fediverse server publishes is RSASSA-PKCS1-v1_5 with SHA-256.
ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})
SIGNED_POST = ("(request-target)", "host", "date", "digest")
SIGNED_GET = ("(request-target)", "host", "date")
KEY_BITS = 2048
# How old a signed request may be, besides the clock skew (Mastodon's 12 hours).
DEFAULT_MAX_AGE_S = 12 * 3600
# Weaker keys are forgeable; far larger ones only cost CPU on every inbound request.
MIN_KEY_BITS = 2048
# How old a signed request may be, besides the clock skew (Mastodon's 12 hours).
DEFAULT_MAX_AGE_S = 12 * 3600
MAX_KEY_BITS = 8192

# A real header is ~600 characters (a 4096-bit signature is 684 base64 characters);
# the limits stop a hostile peer from making us parse or hash megabytes.
MAX_HEADER_CHARS = 8192
MAX_KEY_ID_CHARS = 2048
MAX_SIGNED_HEADERS = 20
MAX_SIGNATURE_B64_CHARS = 2048
_PARAMS = frozenset({"keyId", "algorithm", "headers", "signature", "created", "expires"})
_INTEGER_PARAMS = frozenset({"created", "expires"})
# One `name="value"` (or `name=123` for created/expires) and its trailing comma; no
# escapes: no legitimate value needs a quote or a backslash.
_PARAM_RE = re.compile(r'[ \t]*([A-Za-z]+)=(?:"([^"\\]*)"|([0-9]{1,12}))[ \t]*(,|\Z)')
_HEADER_NAME_RE = re.compile(
    r"^(\(request-target\)|\(created\)|\(expires\)|[a-z0-9!#$%&'*+.^_`|~-]{1,100})$"
)


class SignatureError(Unauthorized):
    """A request's signature is missing, malformed or does not verify (HTTP 401)."""

    code = "bad_signature"

    def __init__(self, reason: str) -> None:
        super().__init__(f"HTTP signature refused: {reason}")
        self.reason = reason


class KeyFormatError(ValueError):
    """A PEM key that cannot be loaded or is not a usable RSA key."""


@dataclass(frozen=True)
class Signer:
    """Who signs outgoing requests: the key id (actor URL#main-key) and its private PEM."""

    key_id: str
    private_key_pem: str


@dataclass(frozen=True)
class ParsedSignature:
    """The parameters of one `Signature` header."""

    key_id: str
    algorithm: str
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


# --- keys -------------------------------------------------------------------------


def generate_key_pair() -> tuple[str, str]:
    """A new RSA 2048 key pair as (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return private_pem, public_pem_of(key)


def public_pem_of(key: rsa.RSAPrivateKey) -> str:
    """The public half of a private key, as the PEM that goes in an actor's publicKey."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def _check_size(bits: int) -> None:
    if not MIN_KEY_BITS <= bits <= MAX_KEY_BITS:
        raise KeyFormatError(f"RSA key of {bits} bits (need {MIN_KEY_BITS}–{MAX_KEY_BITS})")


@functools.lru_cache(maxsize=256)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from PEM, or KeyFormatError (cached: parsing is slow)."""
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise KeyFormatError(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("the private key is not RSA")
    _check_size(key.key_size)
    return key


@functools.lru_cache(maxsize=1024)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM (SubjectPublicKeyInfo or PKCS#1), or KeyFormatError (cached)."""
    if len(pem) > 16_384:
        raise KeyFormatError("public key PEM too long")
    try:
        key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise KeyFormatError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("the public key is not RSA")
    _check_size(key.key_size)
    return key


# --- signing ----------------------------------------------------------------------


def digest_header(body: bytes) -> str:
    """The `Digest` header value for a body: `SHA-256=<base64>`."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def http_date(now: datetime | None = None) -> str:
    """An RFC 7231 IMF-fixdate, e.g. `Tue, 07 Jun 2014 20:51:35 GMT`."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return format_datetime(moment, usegmt=True)


def _host_of(url: str) -> tuple[str, str]:
    """(Host header value, request target path with query) for an absolute URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    if parts.port is not None and parts.port != default:
        host = f"{host}:{parts.port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return host, path


def signing_string(
    method: str,
    path_with_query: str,
    headers: Mapping[str, str],
    names: tuple[str, ...],
    *,
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """The cavage signing string: one `name: value` line per signed header, in order.

    `headers` must have lower-case names; a name it lacks raises SignatureError.
    """
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path_with_query}")
        elif name == "(created)":
            if created is None:
                raise SignatureError("(created) is signed but the created parameter is missing")
            lines.append(f"(created): {created}")
        elif name == "(expires)":
            if expires is None:
                raise SignatureError("(expires) is signed but the expires parameter is missing")
            lines.append(f"(expires): {expires}")
        else:
            value = headers.get(name)
            if value is None:
                raise SignatureError(f"signed header {name!r} is not in the request")
            lines.append(f"{name}: {value.strip()}")
    return "\n".join(lines)


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key_pem: str,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers to add to a request so that it is signed: Date, Host, Digest, Signature.

    A `Date` already in `headers` is kept (and signed); the rest are always ours. A body
    (any POST) gets a Digest, and `digest` joins the signed headers.
    """
    if '"' in key_id or "\\" in key_id:
        raise ValueError("a keyId cannot contain quotes or backslashes")
    key = load_private_key(private_key_pem)
    given = {name.lower(): value for name, value in headers.items()}
    host, path = _host_of(url)
    added = {"Host": host, "Date": given.get("date") or http_date(now)}
    names: tuple[str, ...] = SIGNED_GET
    if body or method.upper() not in ("GET", "HEAD"):
        added["Digest"] = digest_header(body or b"")
        names = SIGNED_POST
    lowered = {name.lower(): value for name, value in added.items()}
    text = signing_string(method, path, lowered, names)
    raw = key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    added["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",'
        f'headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(raw).decode("ascii")}"'
    )
    return added


# --- parsing and verifying ----------------------------------------------------------


def parse_signature_header(value: str) -> ParsedSignature:
    """Parse a `Signature` header strictly: quoted known parameters, each once, bounded."""
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError("Signature header too long")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PARAM_RE.match(value, pos)
        if match is None:
            raise SignatureError("malformed Signature header")
        name, quoted, number, comma = match.groups()
        if name not in _PARAMS:
            raise SignatureError(f"unknown Signature parameter {name!r}")
        if name in params:
            raise SignatureError(f"duplicate Signature parameter {name!r}")
        if (number is not None) != (name in _INTEGER_PARAMS):
            raise SignatureError(f"Signature parameter {name!r} is wrongly quoted")
        params[name] = quoted if quoted is not None else number
        pos = match.end()
        if comma == "," and pos >= len(value):
            raise SignatureError("malformed Signature header (trailing comma)")
    key_id = params.get("keyId", "")
    if not key_id:
        raise SignatureError("Signature header has no keyId")
    if len(key_id) > MAX_KEY_ID_CHARS:
        raise SignatureError("keyId too long")
    b64 = params.get("signature", "")
    if not b64:
        raise SignatureError("Signature header has no signature")
    if len(b64) > MAX_SIGNATURE_B64_CHARS:
        raise SignatureError("signature too long")
    try:
        signature = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("signature is not base64") from exc
    # cavage-12: without a headers parameter only (created) is signed; that can never
    # satisfy our required set, which is the point.
    names = tuple(params.get("headers", "(created)").lower().split())
    if not names or len(names) > MAX_SIGNED_HEADERS:
        raise SignatureError("bad number of signed headers")
    if len(set(names)) != len(names):
        raise SignatureError("a header is signed twice")
    for name in names:
        if not _HEADER_NAME_RE.match(name):
            raise SignatureError(f"bad signed header name {name!r}")
    created = int(params["created"]) if "created" in params else None
    expires = int(params["expires"]) if "expires" in params else None
    return ParsedSignature(
        key_id=key_id,
        # No algorithm means "derive it from the key": RSA, so the same as hs2019.
        algorithm=params.get("algorithm", "hs2019").lower(),
        headers=names,
        signature=signature,
        created=created,
        expires=expires,
    )


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def signature_key_id(headers: Mapping[str, str]) -> str:
    """The keyId of a request's Signature header, to look the key up before verifying."""
    value = _lower_headers(headers).get("signature")
    if value is None:
        raise SignatureError("missing Signature header")
    return parse_signature_header(value).key_id


def _check_date(value: str, now: datetime, max_skew_s: int, max_age_s: int) -> None:
    """A Date at most `max_age_s + max_skew_s` old and `max_skew_s` ahead (Mastodon's rule:
    12 h of validity plus an hour of clock skew; senders retry old deliveries with their
    original Date for a while)."""
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise SignatureError("unreadable Date header") from exc
    if date.tzinfo is None:
        raise SignatureError("Date header has no time zone")
    age = (now - date).total_seconds()
    if age > max_age_s + max_skew_s:
        raise SignatureError("Date is too old (outside the allowed window)")
    if -age > max_skew_s:
        raise SignatureError("Date is in the future (outside the allowed clock skew)")


def _check_digest(value: str, body: bytes) -> None:
    # A Digest may list several algorithms (`SHA-256=..,SHA-512=..`); we need SHA-256.
    expected = hashlib.sha256(body).digest()
    for part in value.split(","):
        algorithm, sep, b64 = part.strip().partition("=")
        if sep and algorithm.strip().lower() == "sha-256":
            try:
                given = base64.b64decode(b64.strip(), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise SignatureError("Digest is not base64") from exc
            if not hmac.compare_digest(given, expected):
                raise SignatureError("Digest does not match the body")
            return
    raise SignatureError("Digest has no SHA-256 value")


def verify_request(
    method: str,
    path_with_query: str,
    headers: Mapping[str, str],
    body: bytes,
    public_key_pem: str,
    now: datetime | None = None,
    max_skew_s: int = 3600,
    max_age_s: int = DEFAULT_MAX_AGE_S,
) -> str:
    """Check a request's draft-cavage signature, Date and Digest; return its keyId, or
    SignatureError.

    The caller still has to check that the keyId belongs to the actor the activity
    claims to come from: a valid signature only proves who holds the key.
    """
    lowered = _lower_headers(headers)
    value = lowered.get("signature")
    if value is None:
        raise SignatureError("missing Signature header")
    parsed = parse_signature_header(value)
    if parsed.algorithm not in ALGORITHMS:
        raise SignatureError(f"unsupported algorithm {parsed.algorithm!r}")
    has_body = bool(body) or method.upper() not in ("GET", "HEAD")
    required = SIGNED_POST if has_body else SIGNED_GET
    missing = [name for name in required if name not in parsed.headers]
    if missing:
        raise SignatureError(f"required headers not signed: {' '.join(missing)}")
    if "date" not in lowered:
        raise SignatureError("missing Date header")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    _check_date(lowered["date"], moment, max_skew_s, max_age_s)
    if parsed.expires is not None and parsed.expires < moment.timestamp():
        raise SignatureError("signature has expired")
    if "digest" in lowered or has_body:
        _check_digest(lowered.get("digest", ""), body)
    try:
        key = load_public_key(public_key_pem)
    except KeyFormatError as exc:
        raise SignatureError(f"unusable public key: {exc}") from exc
    text = signing_string(
        method,
        path_with_query,
        lowered,
        parsed.headers,
        created=parsed.created,
        expires=parsed.expires,
    )
    try:
        key.verify(parsed.signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature as exc:
        raise SignatureError("signature does not verify") from exc
    return parsed.key_id
