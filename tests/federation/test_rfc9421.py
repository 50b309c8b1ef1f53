"""HTTP Message Signatures (RFC 9421) and the one interface over both dialects.

Both dialects both ways: signed by us and verified by us, our signatures checked by hand
with `cryptography` alone, and signatures made independently of our code checked by ours:
the RFC's own published example (Appendix B.2.6, with its test key) and a Fedify-style
signature built by hand from the RFC's rules.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from personae.federation import httpsig, rfc9421
from personae.federation.signatures import SignatureError, generate_key_pair

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CREATED = int(NOW.timestamp())
KEY_ID = "https://remote.example/users/alice#main-key"
URL = "https://social.example/inbox"
BODY = b'{"type":"Follow","actor":"https://remote.example/users/alice"}'

# RFC 9421 Appendix B.1.4 (test-key-ed25519) and B.2.6: its example request and signature.
RFC_ED25519_PUBLIC = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n"
    "-----END PUBLIC KEY-----\n"
)
RFC_URL = "https://example.com/foo?param=Value&Pet=dog"
RFC_BODY = b'{"hello": "world"}'
RFC_HEADERS = {
    "host": "example.com",
    "date": "Tue, 20 Apr 2021 02:07:55 GMT",
    "content-type": "application/json",
    "content-digest": (
        "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmT"
        "HWXvJwew==:"
    ),
    "content-length": "18",
    "signature-input": (
        'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
        ';created=1618884473;keyid="test-key-ed25519"'
    ),
    "signature": (
        "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5"
        "WPpBKRCw==:"
    ),
}
RFC_CREATED = datetime.fromtimestamp(1618884473, UTC)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def other_keys() -> tuple[str, str]:
    return generate_key_pair()


def lower(headers: dict[str, str], host: str = "social.example") -> dict[str, str]:
    """Headers as the inbox reads them: lower-case names, with the Host the client sent."""
    return {"host": host, **{k.lower(): v for k, v in headers.items()}}


def signed(private_pem: str, body: bytes = BODY, now: datetime = NOW) -> dict[str, str]:
    headers = {"Content-Type": "application/activity+json"}
    headers.update(
        httpsig.sign("POST", URL, headers, body, KEY_ID, private_pem, dialect="rfc9421", now=now)
    )
    return lower(headers)


def verify(headers: dict[str, str], public_pem: str, **options: object) -> str:
    body = options.pop("body", BODY)
    url = options.pop("url", URL)
    now = options.pop("now", NOW)
    return rfc9421.verify("POST", url, headers, body, public_pem, now=now, **options)  # type: ignore[arg-type]


def refused(reason: str, headers: dict[str, str], public_pem: str, **options: object) -> None:
    with pytest.raises(SignatureError) as info:
        verify(headers, public_pem, **options)
    assert reason in info.value.reason, info.value.reason
    assert info.value.status_code == 401


def hand_signed(
    private_pem: str, components: list[tuple[str, str]], params: str, body: bytes = BODY
) -> dict[str, str]:
    """An RFC 9421 signature built by hand from section 2.5, with `cryptography` only."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    names = " ".join(f'"{name}"' for name, _ in components)
    base = "\n".join(
        [
            *(f'"{name}": {value}' for name, value in components),
            f'"@signature-params": ({names}){params}',
        ]
    )
    raw = key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())
    return {
        "signature-input": f"sig1=({names}){params}",
        "signature": f"sig1=:{base64.b64encode(raw).decode()}:",
    }


def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


# --- round trips ------------------------------------------------------------------------


def test_post_round_trip(keys: tuple[str, str]) -> None:
    headers = signed(keys[0])
    assert headers["content-digest"] == content_digest(BODY)
    chosen = rfc9421.choose(headers)
    assert chosen.components == ("@method", "@target-uri", "@authority", "date", "content-digest")
    assert chosen.params == {"created": CREATED, "keyid": KEY_ID, "alg": "rsa-v1_5-sha256"}
    assert verify(headers, keys[1]) == KEY_ID
    assert httpsig.dialect_of(headers) == "rfc9421"
    assert httpsig.key_id_of(headers) == KEY_ID
    verified = httpsig.verify("POST", URL, "/inbox", headers, BODY, keys[1], now=NOW)
    assert verified == httpsig.Verified(KEY_ID, "rfc9421")


def test_get_round_trip_has_no_digest(keys: tuple[str, str]) -> None:
    url = "https://social.example/users/bob?page=true"
    added = httpsig.sign("GET", url, {}, None, KEY_ID, keys[0], dialect="rfc9421", now=NOW)
    assert "Content-Digest" not in added
    headers = lower(added)
    assert "content-digest" not in rfc9421.choose(headers).components
    assert rfc9421.verify("GET", url, headers, b"", keys[1], now=NOW) == KEY_ID


def test_cavage_through_the_same_interface(keys: tuple[str, str]) -> None:
    added = httpsig.sign("POST", URL, {}, BODY, KEY_ID, keys[0], now=NOW)
    assert "Signature-Input" not in added and 'headers="(request-target)' in added["Signature"]
    headers = lower(added)
    assert httpsig.dialect_of(headers) == "cavage"
    assert httpsig.key_id_of(headers) == KEY_ID
    verified = httpsig.verify("POST", URL, "/inbox", headers, BODY, keys[1], now=NOW)
    assert verified == httpsig.Verified(KEY_ID, "cavage")
    assert httpsig.other("cavage") == "rfc9421" and httpsig.other("rfc9421") == "cavage"


def test_our_signature_checks_out_by_hand(keys: tuple[str, str]) -> None:
    headers = signed(keys[0])
    params = f';created={CREATED};keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {URL}',
            '"@authority": social.example',
            f'"date": {headers["date"]}',
            f'"content-digest": {content_digest(BODY)}',
            '"@signature-params": ("@method" "@target-uri" "@authority" "date" "content-digest")'
            + params,
        ]
    )
    assert headers["signature-input"] == (
        'sig1=("@method" "@target-uri" "@authority" "date" "content-digest")' + params
    )
    public = serialization.load_pem_public_key(keys[1].encode())
    assert isinstance(public, rsa.RSAPublicKey)
    raw = base64.b64decode(headers["signature"].removeprefix("sig1=:").removesuffix(":"))
    public.verify(raw, base.encode(), padding.PKCS1v15(), hashes.SHA256())


# --- signatures made elsewhere --------------------------------------------------------


def test_the_rfcs_published_ed25519_example_verifies() -> None:
    """RFC 9421 B.2.6, byte for byte: its signature, made with its test key."""
    chosen = rfc9421.choose(RFC_HEADERS)
    assert (chosen.label, chosen.key_id) == ("sig-b26", "test-key-ed25519")
    key = rfc9421.load_verification_key(RFC_ED25519_PUBLIC)
    rfc9421.verify_crypto(chosen, rfc9421.Message("POST", RFC_URL, RFC_HEADERS), key)
    # One byte of a covered field changed, and it no longer verifies.
    tampered = {**RFC_HEADERS, "content-length": "19"}
    with pytest.raises(SignatureError, match="does not verify"):
        rfc9421.verify_crypto(chosen, rfc9421.Message("POST", RFC_URL, tampered), key)
    # The example covers no digest and not the query: fine for the RFC, not for an inbox.
    with pytest.raises(SignatureError, match="required components not signed: @query"):
        rfc9421.verify("POST", RFC_URL, RFC_HEADERS, RFC_BODY, RFC_ED25519_PUBLIC, now=RFC_CREATED)


def test_a_fedify_style_signature_built_by_hand_verifies(keys: tuple[str, str]) -> None:
    """Fedify's components and parameter order (alg first), signed outside our code."""
    date = "Sun, 01 Mar 2026 12:00:00 GMT"
    components = [
        ("@method", "POST"),
        ("@target-uri", URL),
        ("@authority", "social.example"),
        ("host", "social.example"),
        ("date", date),
        ("content-digest", content_digest(BODY)),
    ]
    params = f';alg="rsa-v1_5-sha256";keyid="{KEY_ID}";created={CREATED}'
    headers = {
        "host": "social.example",
        "date": date,
        "content-digest": content_digest(BODY),
        **hand_signed(keys[0], components, params),
    }
    verified = httpsig.verify("POST", URL, "/inbox", headers, BODY, keys[1], now=NOW)
    assert verified == httpsig.Verified(KEY_ID, "rfc9421")
    # Path and authority instead of the target URI, and no alg: the key's type decides.
    components = [
        ("@method", "POST"),
        ("@authority", "social.example"),
        ("@path", "/inbox"),
        ("content-digest", content_digest(BODY)),
    ]
    headers = {
        "content-digest": content_digest(BODY),
        **hand_signed(keys[0], components, f';created={CREATED};keyid="{KEY_ID}"'),
    }
    assert verify(headers, keys[1]) == KEY_ID


# --- refusals -------------------------------------------------------------------------


def test_forged_or_changed_requests_are_refused(
    keys: tuple[str, str], other_keys: tuple[str, str]
) -> None:
    headers = signed(keys[0])
    refused("does not verify", headers, other_keys[1])
    refused("Content-Digest does not match", headers, keys[1], body=BODY + b" ")
    headers_for_new_body = {**headers, "content-digest": content_digest(BODY + b" ")}
    refused("does not verify", headers_for_new_body, keys[1], body=BODY + b" ")
    refused("does not verify", headers, keys[1], url="https://social.example/users/x/inbox")
    refused("does not verify", {**headers, "date": "Sun, 01 Mar 2026 12:00:01 GMT"}, keys[1])


def test_required_components_must_be_covered(keys: tuple[str, str]) -> None:
    without_digest = [("@method", "POST"), ("@target-uri", URL)]
    params = f';created={CREATED};keyid="{KEY_ID}"'
    refused("not signed: content-digest", hand_signed(keys[0], without_digest, params), keys[1])
    without_method = [("@target-uri", URL), ("content-digest", content_digest(BODY))]
    headers = {
        "content-digest": content_digest(BODY),
        **hand_signed(keys[0], without_method, params),
    }
    refused("not signed: @method", headers, keys[1])
    no_target = [("@method", "POST"), ("content-digest", content_digest(BODY))]
    headers = {"content-digest": content_digest(BODY), **hand_signed(keys[0], no_target, params)}
    refused("not signed: @authority @path", headers, keys[1])


@pytest.mark.parametrize(
    ("offset", "reason"),
    [(13 * 3600 + 1, "too old"), (-3601, "in the future"), (86_400 * 30, "too old")],
)
def test_created_outside_the_window_is_refused(
    keys: tuple[str, str], offset: int, reason: str
) -> None:
    headers = signed(keys[0])
    refused(reason, headers, keys[1], now=NOW + timedelta(seconds=offset))


def test_created_inside_the_window_is_accepted(keys: tuple[str, str]) -> None:
    headers = signed(keys[0])
    for offset in (13 * 3600 - 1, 7200, -3599):
        assert verify(headers, keys[1], now=NOW + timedelta(seconds=offset)) == KEY_ID
    refused("too old", headers, keys[1], now=NOW + timedelta(seconds=61), max_age_s=0, skew_s=60)


def test_created_is_required_and_expires_is_honoured(keys: tuple[str, str]) -> None:
    components = [
        ("@method", "POST"),
        ("@target-uri", URL),
        ("content-digest", content_digest(BODY)),
    ]
    digest = {"content-digest": content_digest(BODY)}
    no_created = hand_signed(keys[0], components, f';keyid="{KEY_ID}"')
    refused("no integer created", {**digest, **no_created}, keys[1])
    expires = CREATED - 3601
    expired = hand_signed(
        keys[0], components, f';created={CREATED};expires={expires};keyid="{KEY_ID}"'
    )
    refused("expired", {**digest, **expired}, keys[1])


@pytest.mark.parametrize(
    ("alg", "reason"),
    [("hmac-sha256", "unsupported algorithm"), ("ed25519", "cannot make ed25519")],
)
def test_unsupported_or_mismatched_algorithms_are_refused(
    keys: tuple[str, str], alg: str, reason: str
) -> None:
    components = [
        ("@method", "POST"),
        ("@target-uri", URL),
        ("content-digest", content_digest(BODY)),
    ]
    params = f';created={CREATED};keyid="{KEY_ID}";alg="{alg}"'
    headers = {"content-digest": content_digest(BODY), **hand_signed(keys[0], components, params)}
    refused(reason, headers, keys[1])


SIG = base64.b64encode(b"x" * 256).decode()


@pytest.mark.parametrize(
    ("signature_input", "signature", "reason"),
    [
        ("sig1=(", f"sig1=:{SIG}:", "malformed Signature-Input"),
        ('sig1=("@method");created=1', f"sig1=:{SIG}:", "names no signature with a keyid"),
        ('sig1=("@method");keyid="k"', "sig1=AAAA", "no byte sequence"),
        ('sig1=("@method");keyid="k"', f"sig2=:{SIG}:", "no byte sequence"),
        ('sig1=("@method");keyid=""', f"sig1=:{SIG}:", "keyid missing or too long"),
        (f'sig1=("@method");keyid="{"k" * 3000}"', f"sig1=:{SIG}:", "keyid missing or too long"),
        ("sig1=(" + " ".join(['"a"'] * 30) + ');keyid="k"', f"sig1=:{SIG}:", "too many"),
        (f'sig1=("@method");keyid="{"k" * 9000}"', f"sig1=:{SIG}:", "too long"),
        ('sig1=("@method");keyid="k"', "not a dictionary!", "malformed Signature"),
    ],
)
def test_malformed_headers_are_refused(signature_input: str, signature: str, reason: str) -> None:
    headers = {"signature-input": signature_input, "signature": signature}
    with pytest.raises(SignatureError) as info:
        httpsig.key_id_of(headers)
    assert reason in info.value.reason


def test_only_the_first_signature_with_a_keyid_is_looked_at(keys: tuple[str, str]) -> None:
    headers = signed(keys[0])
    member = headers["signature-input"].removeprefix("sig1=")
    headers["signature-input"] = f'a=("@method");created=1, sig1={member}, b={member}'
    headers["signature"] += f", b=:{SIG}:"
    # `a` names no keyid and is skipped; `sig1` is verified, `b` never looked at.
    assert rfc9421.choose(headers).label == "sig1"
    assert verify(headers, keys[1]) == KEY_ID
