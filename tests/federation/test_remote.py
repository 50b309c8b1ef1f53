"""Remote actor documents: what is accepted, what is refused, and how servers are named."""

from __future__ import annotations

from typing import Any

import pytest

from personae.federation.remote import BadActor, check_uri, host_of, parse_acct, parse_actor
from personae.federation.signatures import generate_key_pair

_, PEM = generate_key_pair()
URI = "https://remote.example/users/ann"


def document(**changes: Any) -> dict[str, Any]:
    """A well-formed Mastodon-like actor, with some fields changed or (None) removed."""
    doc: dict[str, Any] = {
        "id": URI,
        "type": "Person",
        "preferredUsername": "ann",
        "name": "Ann",
        "summary": "<p>Sails <b>boats</b></p><script>x()</script>",
        "inbox": f"{URI}/inbox",
        "endpoints": {"sharedInbox": "https://remote.example/inbox"},
        "followers": f"{URI}/followers",
        "url": "https://remote.example/@ann",
        "icon": {"type": "Image", "url": "https://remote.example/ann.png"},
        "publicKey": {"id": f"{URI}#main-key", "owner": URI, "publicKeyPem": PEM},
    }
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def test_a_mastodon_like_actor_is_parsed() -> None:
    parsed = parse_actor(document(), URI)
    assert parsed.handle == "ann@remote.example"
    assert parsed.shared_inbox == "https://remote.example/inbox"
    assert parsed.avatar_url == "https://remote.example/ann.png"
    assert parsed.bio == "Sails boats"  # sanitised to text: no markup, no script


def test_an_actor_without_preferred_username_is_named_after_its_id() -> None:
    assert parse_actor(document(preferredUsername=None), URI).handle == "ann@remote.example"


@pytest.mark.parametrize(
    ("changes", "fetched_from", "reason"),
    [
        ({}, "https://other.example/users/ann", "not the address"),
        ({"type": "Note"}, URI, "not an actor type"),
        ({"preferredUsername": "a b"}, URI, "preferredUsername"),
        ({"inbox": "ftp://remote.example/inbox"}, URI, "must be an http"),
        ({"inbox": f"{URI}/in\x00box"}, URI, "control characters"),
        ({"publicKey": None}, URI, "no publicKey"),
        (
            {"publicKey": {"id": f"{URI}#k", "owner": "https://x.example/u", "publicKeyPem": PEM}},
            URI,
            "owner",
        ),
        (
            {"publicKey": {"id": "https://x.example/k", "owner": URI, "publicKeyPem": PEM}},
            URI,
            "another server",
        ),
        ({"publicKey": {"id": f"{URI}#k", "owner": URI, "publicKeyPem": "nope"}}, URI, "key"),
        ({"preferredUsername": "a" * 64}, None, "longer than"),
    ],
)
def test_bad_actor_documents_are_refused(
    changes: dict[str, Any], fetched_from: str | None, reason: str
) -> None:
    doc = document(**changes)
    if fetched_from is None:  # a host so long that user@domain no longer fits
        long_uri = f"https://{'h' * 60}.{'d' * 180}.example/users/ann"
        doc = {
            **doc,
            "id": long_uri,
            "inbox": f"{long_uri}/inbox",
            "publicKey": {"id": f"{long_uri}#k", "owner": long_uri, "publicKeyPem": PEM},
        }
        fetched_from = long_uri
    with pytest.raises(BadActor, match=reason):
        parse_actor(doc, fetched_from)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Remote.Example/u", "remote.example"),
        ("https://remote.example:443/u", "remote.example"),
        ("http://remote.example:80/u", "remote.example"),
        ("https://remote.example:00000000443/u", "remote.example"),
        ("http://127.0.0.1:2910/actor", "127.0.0.1:2910"),
        ("https://[::1]:8443/x", "[::1]:8443"),
        ("not a url", ""),
    ],
)
def test_one_server_has_one_name(url: str, host: str) -> None:
    assert host_of(url) == host


@pytest.mark.parametrize(
    "value",
    ["", "https://", "javascript:alert(1)", "https://x.example/a b", "https://x.example/\r\n", 7],
)
def test_bad_addresses_are_refused(value: Any) -> None:
    with pytest.raises(BadActor):
        check_uri(value, "the address")


def test_accounts_are_written_user_at_domain() -> None:
    assert parse_acct("@Ann@Remote.Example") == ("Ann", "remote.example")
    assert parse_acct("ann@127.0.0.1:2910") == ("ann", "127.0.0.1:2910")
    for bad in ("ann", "@ann", "ann@", "a b@x.example", "ann@x.example/path"):
        with pytest.raises(Exception, match="user@domain"):
            parse_acct(bad)
