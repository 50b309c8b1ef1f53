"""HTTP signatures: round trips, interop with a hand-built cavage signature, hostile input."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from personae.federation.signatures import (
    KeyFormatError,
    SignatureError,
    digest_header,
    generate_key_pair,
    load_private_key,
    load_public_key,
    parse_signature_header,
    sign_request,
    signature_key_id,
    verify_request,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEY_ID = "https://remote.example/users/alice#main-key"
URL = "https://social.example/inbox?x=1"
PATH = "/inbox?x=1"
BODY = b'{"type":"Follow","actor":"https://remote.example/users/alice"}'


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def other_keys() -> tuple[str, str]:
    return generate_key_pair()


def signed_post(private_pem: str, body: bytes = BODY, now: datetime = NOW) -> dict[str, str]:
    headers = {"Content-Type": "application/activity+json"}
    headers.update(sign_request("POST", URL, headers, body, KEY_ID, private_pem, now=now))
    return headers


def hand_signed(
    private_pem: str,
    names: list[str],
    values: dict[str, str],
    *,
    algorithm: str = "rsa-sha256",
    method: str = "post",
    path: str = PATH,
) -> dict[str, str]:
    """Sign following the cavage draft by hand, with `cryptography` only."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method} {path}")
        else:
            lines.append(f"{name}: {values[name]}")
    raw = key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    headers = {name.title(): value for name, value in values.items()}
    headers["Signature"] = (
        f'keyId="{KEY_ID}",algorithm="{algorithm}",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(raw).decode()}"'
    )
    return headers


def post_values(body: bytes = BODY) -> dict[str, str]:
    return {
        "host": "social.example",
        "date": format_datetime(NOW, usegmt=True),
        "digest": "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
        "content-type": "application/activity+json",
    }


def test_digest_header() -> None:
    assert digest_header(b"") == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_post_round_trip(keys: tuple[str, str]) -> None:
    private_pem, public_pem = keys
    headers = signed_post(private_pem)
    assert headers["Host"] == "social.example"
    assert headers["Date"] == "Sun, 01 Mar 2026 12:00:00 GMT"
    assert headers["Digest"] == digest_header(BODY)
    parsed = parse_signature_header(headers["Signature"])
    assert parsed.headers == ("(request-target)", "host", "date", "digest")
    assert parsed.algorithm == "rsa-sha256"
    assert verify_request("POST", PATH, headers, BODY, public_pem, NOW) == KEY_ID
    assert signature_key_id(headers) == KEY_ID


def test_get_round_trip_has_no_digest(keys: tuple[str, str]) -> None:
    private_pem, public_pem = keys
    url = "http://127.0.0.1:8123/users/bob"
    headers = sign_request("GET", url, {}, None, KEY_ID, private_pem, now=NOW)
    assert "Digest" not in headers
    assert headers["Host"] == "127.0.0.1:8123"
    assert 'headers="(request-target) host date"' in headers["Signature"]
    assert verify_request("GET", "/users/bob", headers, b"", public_pem, NOW) == KEY_ID


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "hs2019", "RSA-SHA256"])
def test_interop_with_hand_built_signature(keys: tuple[str, str], algorithm: str) -> None:
    private_pem, public_pem = keys
    # Mastodon-like: content-type signed too, and a different order than ours.
    names = ["(request-target)", "host", "date", "digest", "content-type"]
    headers = hand_signed(private_pem, names, post_values(), algorithm=algorithm)
    assert verify_request("POST", PATH, headers, BODY, public_pem, NOW) == KEY_ID


def test_interop_without_algorithm_parameter(keys: tuple[str, str]) -> None:
    private_pem, public_pem = keys
    names = ["date", "host", "digest", "(request-target)"]
    headers = hand_signed(private_pem, names, post_values())
    headers["Signature"] = headers["Signature"].replace('algorithm="rsa-sha256",', "")
    assert verify_request("POST", PATH, headers, BODY, public_pem, NOW) == KEY_ID


def test_our_signature_checks_out_by_hand(keys: tuple[str, str]) -> None:
    private_pem, public_pem = keys
    headers = signed_post(private_pem)
    text = (
        f"(request-target): post {PATH}\nhost: social.example\n"
        f"date: {headers['Date']}\ndigest: {headers['Digest']}"
    )
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        parse_signature_header(headers["Signature"]).signature,
        text.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def refused(reason: str, *args: object) -> None:
    with pytest.raises(SignatureError) as info:
        verify_request(*args)  # type: ignore[arg-type]
    assert reason in info.value.reason
    assert info.value.status_code == 401


def test_forged_signature_is_refused(keys: tuple[str, str], other_keys: tuple[str, str]) -> None:
    headers = signed_post(other_keys[0])
    refused("does not verify", "POST", PATH, headers, BODY, keys[1], NOW)


def test_changed_body_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    refused("Digest does not match", "POST", PATH, headers, BODY + b" ", keys[1], NOW)
    # Recomputing the Digest for the new body breaks the signature instead.
    headers["Digest"] = digest_header(BODY + b" ")
    refused("does not verify", "POST", PATH, headers, BODY + b" ", keys[1], NOW)


def test_changed_target_or_date_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    refused("does not verify", "POST", "/inbox?x=2", headers, BODY, keys[1], NOW)
    refused("does not verify", "PUT", PATH, headers, BODY, keys[1], NOW)
    headers["Date"] = format_datetime(NOW + timedelta(seconds=1), usegmt=True)
    refused("does not verify", "POST", PATH, headers, BODY, keys[1], NOW)


def test_post_without_signed_digest_is_refused(keys: tuple[str, str]) -> None:
    values = post_values()
    headers = hand_signed(keys[0], ["(request-target)", "host", "date"], values)
    refused("required headers not signed: digest", "POST", PATH, headers, BODY, keys[1], NOW)


def test_headers_list_missing_host_is_refused(keys: tuple[str, str]) -> None:
    headers = hand_signed(keys[0], ["(request-target)", "date", "digest"], post_values())
    refused("required headers not signed: host", "POST", PATH, headers, BODY, keys[1], NOW)


def test_signed_header_absent_from_request_is_refused(keys: tuple[str, str]) -> None:
    names = ["(request-target)", "host", "date", "digest", "content-type"]
    headers = hand_signed(keys[0], names, post_values())
    del headers["Content-Type"]
    refused("not in the request", "POST", PATH, headers, BODY, keys[1], NOW)


def test_missing_header_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    del headers["Signature"]
    refused("missing Signature header", "POST", PATH, headers, BODY, keys[1], NOW)
    with pytest.raises(SignatureError):
        signature_key_id(headers)


# Mastodon's window: a Date up to 12 h old plus 1 h of clock skew, at most 1 h ahead.
WINDOW_S = 13 * 3600


@pytest.mark.parametrize("offset", [WINDOW_S + 1, -3601, 86_400 * 30])
def test_date_outside_the_window_is_refused(keys: tuple[str, str], offset: int) -> None:
    headers = signed_post(keys[0])
    later = NOW + timedelta(seconds=offset)
    reason = "too old" if offset > 0 else "in the future"
    refused(reason, "POST", PATH, headers, BODY, keys[1], later)


def test_date_inside_the_window_is_accepted(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    # Up to 13 hours late (a sender retrying with its first signature) and 1 hour early.
    for offset in (3601, 7200, WINDOW_S - 1, -3599):
        later = NOW + timedelta(seconds=offset)
        assert verify_request("POST", PATH, headers, BODY, keys[1], later) == KEY_ID
    # Both bounds are settings: a 60 s skew and no extra age refuse a minute-old Date.
    refused("too old", "POST", PATH, headers, BODY, keys[1], NOW + timedelta(seconds=61), 60, 0)


def test_replay_outside_window_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    assert verify_request("POST", PATH, headers, BODY, keys[1], NOW) == KEY_ID
    # The same captured request, sent again fourteen hours later.
    refused("too old", "POST", PATH, headers, BODY, keys[1], NOW + timedelta(hours=14))


def test_missing_or_unreadable_date_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    headers["Date"] = "yesterday"
    refused("unreadable Date", "POST", PATH, headers, BODY, keys[1], NOW)
    del headers["Date"]
    refused("missing Date", "POST", PATH, headers, BODY, keys[1], NOW)


@pytest.mark.parametrize("algorithm", ["rsa-sha512", "hmac-sha256", "ecdsa-sha256", "none"])
def test_unknown_algorithm_is_refused(keys: tuple[str, str], algorithm: str) -> None:
    names = ["(request-target)", "host", "date", "digest"]
    headers = hand_signed(keys[0], names, post_values(), algorithm=algorithm)
    refused("unsupported algorithm", "POST", PATH, headers, BODY, keys[1], NOW)


SIG = base64.b64encode(b"x" * 256).decode()


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f'keyId=abc,signature="{SIG}"', "malformed"),
        (f'keyId="a",keyId="b",signature="{SIG}"', "duplicate"),
        (f'keyId="a",signature="{SIG}",signature="{SIG}"', "duplicate"),
        (f'keyId="a",signature="{SIG}",nonce="1"', "unknown Signature parameter"),
        (f'keyId="a",signature="{SIG}",', "trailing comma"),
        (f'keyId="a\\"b",signature="{SIG}"', "malformed"),
        (f'keyId="a" signature="{SIG}"', "malformed"),
        ('keyId="a",signature="not base64!"', "not base64"),
        (f'signature="{SIG}"', "no keyId"),
        ('keyId="a"', "no signature"),
        (f'keyId="a",signature="{SIG}",created="12"', "wrongly quoted"),
        (f'keyId="a",signature="{SIG}",headers=3', "wrongly quoted"),
        (f'keyId="a",signature="{SIG}",headers="date Date"', "signed twice"),
        (f'keyId="a",signature="{SIG}",headers="date ho:st"', "bad signed header"),
        (f'keyId="{"k" * 9000}",signature="{SIG}"', "too long"),
        (f'keyId="{"k" * 3000}",signature="{SIG}"', "keyId too long"),
        (f'keyId="a",signature="{"A" * 4000}"', "signature too long"),
        (f'keyId="a",signature="{SIG}",headers="{" ".join(["h"] * 30)}"', "number of signed"),
        ("", "no keyId"),
    ],
)
def test_malformed_signature_header_is_refused(header: str, reason: str) -> None:
    with pytest.raises(SignatureError) as info:
        parse_signature_header(header)
    assert reason in info.value.reason


def test_malformed_header_refused_by_verify(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    headers["Signature"] = headers["Signature"].replace('keyId="', "keyId=", 1)
    refused("malformed", "POST", PATH, headers, BODY, keys[1], NOW)


def test_expired_signature_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    expires = int(NOW.timestamp()) - 1
    headers["Signature"] += f",expires={expires}"
    refused("expired", "POST", PATH, headers, BODY, keys[1], NOW)


def test_unusable_public_key_is_refused(keys: tuple[str, str]) -> None:
    headers = signed_post(keys[0])
    refused("unusable public key", "POST", PATH, headers, BODY, "not a key", NOW)


def test_key_loading_errors() -> None:
    with pytest.raises(KeyFormatError, match="not a PEM private key"):
        load_private_key("garbage")
    with pytest.raises(KeyFormatError, match="not a PEM public key"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(KeyFormatError, match="not RSA"):
        load_private_key(ec_pem)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    small_public = small.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError, match="1024 bits"):
        load_public_key(small_public.decode())


def test_generated_keys_are_rsa_2048(keys: tuple[str, str]) -> None:
    private_pem, public_pem = keys
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert load_private_key(private_pem).key_size == 2048
    assert load_public_key(public_pem).key_size == 2048
