"""HTTP Message Signatures (RFC 9421) as the fediverse uses them, signing and verifying.

The signature base, Structured Fields and `Content-Digest` (RFC 9530) come from the
`http-message-signatures` library (on `http-sf`); this module only adds the fediverse's
policy on top of it, which no library can know:

- one signature per request is looked at: the first `Signature-Input` member that names a
  `keyid` (Fedify and Mastodon send one), so a request cannot make us fetch many keys;
- it must cover `@method`, the target (`@target-uri`, or `@authority` + `@path`, and
  `@query` when there is one) and, for anything with a body, `content-digest`, whose
  SHA-256 or SHA-512 must match the body;
- `created` is required, at most `max_age_s + skew_s` old and `skew_s` ahead of our
  clock (our clock, not the library's: tests and the simulator run on their own);
- algorithms: `rsa-v1_5-sha256` (what fediverse servers send), `rsa-pss-sha512` and
  `ed25519`; without `alg` the key's type decides (RSA keys mean rsa-v1_5-sha256).

We sign with rsa-v1_5-sha256 over `@method @target-uri @authority date` plus
`content-digest` for bodies, as Fedify does, with `created`, `keyid` and `alg`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import http_sf
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    algorithms,
)

from personae.federation.signatures import (
    MAX_HEADER_CHARS,
    MAX_KEY_ID_CHARS,
    KeyFormatError,
    SignatureError,
    http_date,
    load_private_key,
    load_public_key,
)

LABEL = "sig1"
COVERED = ("@method", "@target-uri", "@authority", "date")
# Members of Signature-Input looked at before giving up on finding one with a keyid.
MAX_MEMBERS = 5
MAX_COMPONENTS = 20
_ALGORITHMS: dict[str, Any] = {
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "ed25519": algorithms.ED25519,
}
VerificationKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class Message:
    """The parts of a request the library reads: method, absolute URL, headers."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chosen:
    """The one signature of a request we verify: its label, keyid and parameters."""

    label: str
    key_id: str
    components: tuple[str, ...]
    params: dict[str, Any]
    signature: bytes
    # The two headers narrowed to this signature alone, as the library reads them.
    signature_input: str
    signature_value: str


class _Keys(HTTPSignatureKeyResolver):
    """Hands the library the one key we already chose (it looks keys up by keyid)."""

    def __init__(self, public: Any = None, private: Any = None) -> None:
        self.public, self.private = public, private

    def resolve_public_key(self, key_id: str) -> Any:
        """The verification key, whatever keyid the signature names (we checked it)."""
        return self.public

    def resolve_private_key(self, key_id: str) -> Any:
        """The signing key."""
        return self.private


class _Verifier(HTTPMessageVerifier):
    """The library's verifier without its own clock: `verify` checks times against ours."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        """Checked before, against the caller's clock (see `check_times`)."""


def has_signature_input(headers: Mapping[str, str]) -> bool:
    """Whether a request (lower-case header names) carries an RFC 9421 signature."""
    return "signature-input" in headers


def _dictionary(headers: Mapping[str, str], name: str) -> dict[str, Any]:
    value = headers.get(name)
    if value is None:
        raise SignatureError(f"missing {name.title()} header")
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError(f"{name.title()} header too long")
    try:
        parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureError(f"malformed {name.title()} header") from exc
    if not isinstance(parsed, dict):
        raise SignatureError(f"malformed {name.title()} header")
    return parsed


def choose(headers: Mapping[str, str]) -> Chosen:
    """The signature of a request to verify (lower-case header names), or SignatureError."""
    inputs = _dictionary(headers, "signature-input")
    signatures = _dictionary(headers, "signature")
    for label, member in list(inputs.items())[:MAX_MEMBERS]:
        value, params = member
        if not isinstance(value, list) or not isinstance(params.get("keyid"), str):
            continue
        sig = signatures.get(label)
        if sig is None or not isinstance(sig[0], bytes) or not sig[0]:
            raise SignatureError(f"Signature has no byte sequence for {label!r}")
        key_id = params["keyid"]
        if not key_id or len(key_id) > MAX_KEY_ID_CHARS:
            raise SignatureError("keyid missing or too long")
        if len(value) > MAX_COMPONENTS:
            raise SignatureError("too many covered components")
        components = []
        for name, component_params in value:
            if not isinstance(name, str):
                raise SignatureError("a covered component is not a string")
            # Parameters (;req, ;sf, ;key ...) change what a component means; none of the
            # ones we require may carry any, so keep them visible in the name.
            components.append(http_sf.ser((name, component_params)) if component_params else name)
        return Chosen(
            label=label,
            key_id=key_id,
            components=tuple(components),
            params=dict(params),
            signature=sig[0],
            signature_input=http_sf.ser({label: member}),
            signature_value=http_sf.ser({label: sig}),
        )
    raise SignatureError("Signature-Input names no signature with a keyid")


def key_id_of(headers: Mapping[str, str]) -> str:
    """The keyid of the signature we would verify, to look the key up first."""
    return choose(headers).key_id


def check_times(chosen: Chosen, now: datetime, max_age_s: int, skew_s: int) -> None:
    """`created` must be there, not too old and not ahead; `expires` not past."""
    moment = now.timestamp()
    created = chosen.params.get("created")
    if type(created) is not int:
        raise SignatureError("the signature has no integer created parameter")
    if moment - created > max_age_s + skew_s:
        raise SignatureError("created is too old (outside the allowed window)")
    if created - moment > skew_s:
        raise SignatureError("created is in the future (outside the allowed clock skew)")
    expires = chosen.params.get("expires")
    if expires is not None and (type(expires) is not int or expires < moment - skew_s):
        raise SignatureError("signature has expired")


def check_coverage(chosen: Chosen, url: str, has_body: bool) -> None:
    """The components a fediverse request must sign, so none of them can be swapped."""
    covered = set(chosen.components)
    missing = [] if "@method" in covered else ["@method"]
    if "@target-uri" not in covered:
        needed = ["@authority", "@path"] + (["@query"] if "?" in url else [])
        missing += [name for name in needed if name not in covered]
    if has_body and "content-digest" not in covered:
        missing.append("content-digest")
    if missing:
        raise SignatureError(f"required components not signed: {' '.join(missing)}")


@functools.lru_cache(maxsize=1024)
def load_verification_key(pem: str) -> VerificationKey:
    """An RSA (2048-8192 bits) or Ed25519 public key from PEM, or KeyFormatError."""
    try:
        return load_public_key(pem)
    except KeyFormatError as exc:
        try:
            key = serialization.load_pem_public_key(pem.strip().encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError):
            raise exc from None
        if isinstance(key, ed25519.Ed25519PublicKey):
            return key
        raise


def _algorithm(chosen: Chosen, key: VerificationKey) -> Any:
    alg = chosen.params.get("alg")
    if alg is None:
        alg = "ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "rsa-v1_5-sha256"
    if alg not in _ALGORITHMS:
        raise SignatureError(f"unsupported algorithm {str(alg)[:40]!r}")
    if (alg == "ed25519") != isinstance(key, ed25519.Ed25519PublicKey):
        raise SignatureError(f"the key cannot make {alg} signatures")
    return _ALGORITHMS[alg]


def verify_crypto(chosen: Chosen, message: Message, key: VerificationKey) -> None:
    """Check the signature itself over the signature base the library builds."""
    headers = {
        **{k: v for k, v in message.headers.items() if k not in ("signature", "signature-input")},
        "signature-input": chosen.signature_input,
        "signature": chosen.signature_value,
    }
    verifier = _Verifier(signature_algorithm=_algorithm(chosen, key), key_resolver=_Keys(key))
    try:
        verifier.verify(Message(message.method.upper(), message.url, headers), max_age=None)
    except HTTPMessageSignaturesException as exc:
        if isinstance(exc.__cause__, CryptoInvalidSignature):
            raise SignatureError("signature does not verify") from exc
        raise SignatureError(f"signature not usable: {str(exc)[:200]}") from exc


def verify(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    public_key_pem: str,
    *,
    now: datetime | None = None,
    max_age_s: int = 43_200,
    skew_s: int = 3600,
) -> str:
    """Verify a request's RFC 9421 signature (lower-case header names); return its keyid.

    `url` is the absolute URL the request was sent to (what `@target-uri` covers). As with
    draft-cavage, the caller still has to check that the keyid belongs to the actor.
    """
    chosen = choose(headers)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    check_times(chosen, moment, max_age_s, skew_s)
    has_body = bool(body) or method.upper() not in ("GET", "HEAD")
    check_coverage(chosen, url, has_body)
    if "content-digest" in chosen.components or "content-digest" in headers:
        try:
            ContentDigest.verify(headers.get("content-digest", ""), body)
        except HTTPMessageSignaturesException as exc:
            reason = str(exc) or "bad Content-Digest"
            if "does not match" in reason:
                raise SignatureError("Content-Digest does not match the body") from exc
            raise SignatureError(f"unusable Content-Digest: {reason[:200]}") from exc
    try:
        key = load_verification_key(public_key_pem)
    except KeyFormatError as exc:
        raise SignatureError(f"unusable public key: {exc}") from exc
    verify_crypto(chosen, Message(method, url, dict(headers)), key)
    return chosen.key_id


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    key_id: str,
    private_key_pem: str,
    *,
    now: datetime | None = None,
) -> dict[str, str]:
    """The headers that sign a request the RFC 9421 way: Date, Content-Digest (bodies),
    Signature-Input and Signature. A `Date` already in `headers` is kept and signed."""
    key = load_private_key(private_key_pem)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    given = {name.lower(): value for name, value in headers.items()}
    added = {"Date": given.get("date") or http_date(moment)}
    message = Message(method.upper(), url, {**given, "date": added["Date"]})
    has_body = bool(body) or method.upper() not in ("GET", "HEAD")
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.RSA_V1_5_SHA256, key_resolver=_Keys(private=key)
    )
    try:
        signer.sign(
            message,
            key_id=key_id,
            created=moment,
            label=LABEL,
            covered_component_ids=COVERED,
            body=(body or b"") if has_body else None,
        )
    except HTTPMessageSignaturesException as exc:
        raise ValueError(f"cannot sign {url[:200]}: {exc}") from exc
    # The library writes these with their usual capitals; copy them out whatever the case.
    for name, value in message.headers.items():
        if name.lower() in ("content-digest", "signature-input", "signature"):
            added[name.title()] = value
    return added
