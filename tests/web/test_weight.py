"""Speed and weight over HTTP: compression (never on event streams), avatar and header
thumbnails with validators, hashed static URLs kept a year, the one CSS bundle."""

from __future__ import annotations

import io
import random
import re

import httpx
import pytest
from PIL import Image

from personae.thumbnails import digest
from personae.web import live
from personae.web.assets import IMMUTABLE, asset_digest, css_files
from tests.conftest import sign_up
from tests.web.test_pages import web_sign_up

API = "/api/v1"
GZIP = {"Accept-Encoding": "gzip"}


def noisy_jpeg(size: tuple[int, int] = (1600, 1200)) -> bytes:
    """A photo-like image that compresses badly (what makes avatars heavy today)."""
    noise = random.Random(7).randbytes(size[0] * size[1] * 3)
    img = Image.frombytes("RGB", size, noise)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], which: str, data: bytes
) -> None:
    files = {"file": (f"{which}.jpg", data, "image/jpeg")}
    r = await client.put(f"{API}/profile/{which}", headers=headers, files=files)
    assert r.status_code == 200, r.text


async def test_pages_json_css_and_scripts_are_gzipped(client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    for n in range(5):
        await client.post(f"{API}/posts", headers=alice, json={"text": f"Hello number {n}"})
    await web_sign_up(client, "gina")
    for url in (
        "/home",
        "/public",
        f"{API}/timelines/public",
        "/static/css/bundle.css",
        "/static/vendor/htmx-2.0.11.min.js",
    ):
        r = await client.get(url, headers=GZIP)
        assert r.status_code == 200, url
        assert r.headers.get("content-encoding") == "gzip", url
        assert "Accept-Encoding" in r.headers.get("vary", ""), url
    # Without Accept-Encoding, the plain bytes.
    r = await client.get("/public", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and "<html" in r.text


async def test_event_streams_are_never_compressed(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STREAM_POLL_S", 0.05)
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 0.3)
    alice = await sign_up(client, "alice")
    first = await client.post(f"{API}/posts", headers=alice, json={"text": "first"})
    for n in range(3):
        r = await client.post(f"{API}/posts", headers=alice, json={"text": f"post {n} " * 10})
        assert r.status_code == 201, r.text
    r = await client.get(f"/public/stream?after={first.json()['id']}", headers=GZIP)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in r.headers
    assert r.text.count("event: post") == 3 and len(r.content) > 1000


async def test_avatar_thumbnails_are_small_webp_with_validators(
    client: httpx.AsyncClient,
) -> None:
    alice = await sign_up(client, "alice")
    original = noisy_jpeg()
    assert len(original) > 500_000
    await upload(client, alice, "avatar", original)

    for size in (96, 192):
        r = await client.get(f"{API}/actors/alice/avatar?size={size}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "image/webp"
        assert len(r.content) <= 20_000
        assert "content-encoding" not in r.headers  # already compressed
        with Image.open(io.BytesIO(r.content)) as img:
            assert img.format == "WEBP" and img.size == (size, size)
        assert r.headers["cache-control"].startswith("private, max-age=")
        etag = r.headers["etag"]
        again = await client.get(
            f"{API}/actors/alice/avatar?size={size}", headers={"If-None-Match": etag}
        )
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag

    # The original only on demand, revalidated every time.
    r = await client.get(f"{API}/actors/alice/avatar")
    assert r.content == original and r.headers["cache-control"] == "private, no-cache"
    assert (
        await client.get(f"{API}/actors/alice/avatar", headers={"If-None-Match": r.headers["etag"]})
    ).status_code == 304
    # Made once: the second request reads the file the first one kept.
    kept = list(
        (
            client._transport.app.state.personae.settings.data_dir  # type: ignore[attr-defined]
            / "thumbnails"
        ).rglob(f"{digest(original)}-*.webp")  # this avatar's; other tests share the folder
    )
    assert len(kept) == 2

    # A new avatar: new validators, so a browser's copy is replaced.
    await upload(client, alice, "avatar", noisy_jpeg((300, 500)))
    r2 = await client.get(f"{API}/actors/alice/avatar?size=96", headers={"If-None-Match": etag})
    assert r2.status_code == 200 and r2.headers["etag"] != etag

    for bad in ("48", "1000", "x"):
        r = await client.get(f"{API}/actors/alice/avatar?size={bad}")
        assert r.status_code == 422


async def test_header_and_character_thumbnails(client: httpx.AsyncClient) -> None:
    bob = await sign_up(client, "bob")
    await upload(client, bob, "header", noisy_jpeg((2400, 800)))
    for width in (600, 1200):
        r = await client.get(f"{API}/actors/bob/header?size={width}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
        with Image.open(io.BytesIO(r.content)) as img:
            assert img.size == (width, width // 3)
    r = await client.post(f"{API}/characters", headers=bob, json={"name": "Nova"})
    assert r.status_code == 201, r.text
    handle = r.json()["handle"]
    small = io.BytesIO()
    Image.new("RGBA", (20, 10), (0, 200, 0, 128)).save(small, "PNG")
    r = await client.put(
        f"{API}/characters/{handle}/avatar",
        headers=bob,
        files={"file": ("n.png", small.getvalue(), "image/png")},
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/characters/{handle}/avatar?size=96", headers=bob)
    with Image.open(io.BytesIO(r.content)) as img:
        assert img.size == (96, 96) and img.mode == "RGBA"


async def test_a_hostile_stored_image_is_a_clear_4xx(client: httpx.AsyncClient) -> None:
    from personae.thumbnails import render

    # A PNG that claims 50 000 x 50 000 pixels: refused before any pixel is decoded.
    big = io.BytesIO()
    Image.new("1", (1, 1)).save(big, "PNG")
    data = bytearray(big.getvalue())
    data[16:24] = (50_000).to_bytes(4, "big") * 2
    with pytest.raises(Exception) as caught:
        render(bytes(data), "avatar", 96)
    assert getattr(caught.value, "status_code", 0) == 422
    with pytest.raises(Exception) as caught:
        render(b"\x89PNG\r\n\x1a\n" + b"junk" * 50, "avatar", 96)
    assert getattr(caught.value, "status_code", 0) == 422


async def test_static_urls_carry_a_hash_and_are_kept_a_year(client: httpx.AsyncClient) -> None:
    page = (await client.get("/")).text
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert links == [f"/static/css/bundle.css?v={asset_digest('css/bundle.css')}"]
    scripts = re.findall(r'<script src="([^"]+)"', page)
    for url in [*links, *scripts]:
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        r = await client.get(url)
        assert r.status_code == 200 and r.headers["cache-control"] == IMMUTABLE, url
    # Without the hash, or with an old one: revalidated, never kept blindly.
    for url in ("/static/css/bundle.css", "/static/js/app.js?v=000000000000"):
        r = await client.get(url)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
        r = await client.get(url, headers={"If-None-Match": r.headers["etag"]})
        assert r.status_code == 304
    # The bundle holds every sheet, base first.
    bundle = (await client.get(links[0])).text
    names = [path.name for path in css_files()]
    assert names[0] == "base.css"
    positions = [bundle.index(f"/* {name} */") for name in names]
    assert positions == sorted(positions)
    assert "prefers-color-scheme: dark" in bundle
