"""Page weight benchmark: bytes a browser transfers for a page, cold and on a warm reload.

Method:
1. A temporary data directory; personae's app in process (SQLite, migrated, the demo
   community seeded), spoken to over httpx's ASGI transport (no network, same bytes).
2. A person signs up through the web form, uploads a photo-like 1600x1200 JPEG avatar
   (~620 KB, what made a 44 px avatar cost that much), follows the demo people and posts,
   so their avatar is on Home and on their profile.
3. For each page (Home, Public, Explore, the person's profile, a thread), a cold load: the
   HTML and every style sheet and script it links, with `Accept-Encoding: gzip, deflate`
   as a browser sends. Transferred = the body bytes on the wire (compressed when the
   server compresses) + the status line and headers. Images are left out (as the goal
   says) and measured on their own: every avatar and header the pages show is fetched
   as the page names it, and the largest is printed.
4. A warm reload, as Chromium does one: the page itself is asked again; each sheet and
   script comes from the cache without a request while fresh (`max-age` not passed, or
   `immutable`), else is revalidated (If-None-Match / If-Modified-Since: a 304 costs its
   headers), else fetched again. Heuristic freshness (a file with Last-Modified but no
   Cache-Control) is not counted as fresh: such a file is revalidated.
Goals (issue 14): Home <= 60 KB cold without images, <= 15 KB warm; no avatar over 20 KB.
The script exits with status 1 when a page failed to load.

Run (from the repository root):
  .venv/bin/python bench/weight.py
  PYTHONPATH=src .venv/bin/python bench/weight.py --json
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import random
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ORIGIN = "http://testserver"
BROWSER = {"Accept-Encoding": "gzip, deflate", "Accept": "text/html,*/*"}
PASSWORD = "correct horse battery"
ASSET = re.compile(r'<(?:link rel="stylesheet" href|script src)="([^"]+)"')
IMAGE = re.compile(r'<img [^>]*?src="(/api/v1/[^"]+)"')
GOALS = {"home_cold": 60_000, "home_warm": 15_000, "avatar": 20_000}


@dataclass
class Cached:
    """What a browser keeps of a response to decide on a reload."""

    fresh: bool
    etag: str | None
    last_modified: str | None


@dataclass
class Weight:
    """One page's transfer: cold and warm bytes and the requests made."""

    page: str
    cold: int = 0
    warm: int = 0
    cold_requests: int = 0
    warm_requests: int = 0
    images: list[tuple[str, int]] = field(default_factory=list)


def wire_bytes(response: httpx.Response) -> int:
    """Bytes of a response on the wire: status line, headers and the (encoded) body."""
    head = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    head += sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2
    return head + response.num_bytes_downloaded


def cache_entry(response: httpx.Response) -> Cached:
    """How a browser would cache a response (freshness from Cache-Control only)."""
    control = response.headers.get("cache-control", "").lower()
    max_age = re.search(r"max-age=(\d+)", control)
    fresh = "no-store" not in control and "no-cache" not in control
    fresh = fresh and ("immutable" in control or bool(max_age and int(max_age.group(1)) > 0))
    return Cached(fresh, response.headers.get("etag"), response.headers.get("last-modified"))


def photo_like_jpeg() -> bytes:
    """A 1600x1200 JPEG of gradients, blotches and grain: about 620 KB, like a photo."""
    from PIL import Image

    rng = random.Random(14)
    width, height = 1600, 1200
    gradient = Image.linear_gradient("L").resize((width, height))
    bases = (
        gradient,
        gradient.rotate(90).resize((width, height)),
        gradient.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    )
    channels = []
    for base in bases:
        blotches = Image.frombytes("L", (200, 150), rng.randbytes(200 * 150))
        blotches = blotches.resize((width, height), Image.Resampling.BICUBIC)
        grain = Image.frombytes("L", (width, height), rng.randbytes(width * height))
        channels.append(Image.blend(Image.blend(base, blotches, 0.5), grain, 0.08))
    out = io.BytesIO()
    Image.merge("RGB", channels).save(out, "JPEG", quality=90)
    return out.getvalue()


async def measure(client: httpx.AsyncClient, name: str, url: str) -> Weight:
    """A cold load of a page and its sheets and scripts, then a warm reload."""
    weight = Weight(name)
    cache: dict[str, Cached] = {}
    page = await client.get(url, headers=BROWSER)
    if page.status_code != 200:
        raise RuntimeError(f"{url} answered {page.status_code}")
    weight.cold += wire_bytes(page)
    weight.cold_requests += 1
    assets = list(dict.fromkeys(m.replace("&amp;", "&") for m in ASSET.findall(page.text)))
    for asset in assets:
        r = await client.get(asset, headers=BROWSER)
        if r.status_code != 200:
            raise RuntimeError(f"{asset} answered {r.status_code}")
        weight.cold += wire_bytes(r)
        weight.cold_requests += 1
        cache[asset] = cache_entry(r)
    for src in dict.fromkeys(m.replace("&amp;", "&") for m in IMAGE.findall(page.text)):
        r = await client.get(src, headers=BROWSER)
        weight.images.append((src, len(r.content)))

    # The reload: the page again, each asset from the cache, revalidated or fetched.
    again = await client.get(url, headers=BROWSER)
    weight.warm += wire_bytes(again)
    weight.warm_requests += 1
    for asset in assets:
        entry = cache[asset]
        if entry.fresh:
            continue
        headers = dict(BROWSER)
        if entry.etag:
            headers["If-None-Match"] = entry.etag
        if entry.last_modified:
            headers["If-Modified-Since"] = entry.last_modified
        r = await client.get(asset, headers=headers)
        weight.warm += wire_bytes(r)
        weight.warm_requests += 1
    return weight


async def prepare(client: httpx.AsyncClient) -> dict[str, str]:
    """A signed-in person with a heavy avatar who follows the demo and has posted."""
    form = {"username": "weigher", "password": PASSWORD, "display_name": "Wren Weigher"}
    r = await client.post("/signup", data=form, headers={"Origin": ORIGIN})
    if r.status_code != 303:
        raise RuntimeError(f"sign-up failed: {r.status_code} {r.text[:300]}")
    body = {"username": "weigher", "password": PASSWORD}
    token = (await client.post("/api/v1/auth/token", json=body)).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    files = {"file": ("me.jpg", photo_like_jpeg(), "image/jpeg")}
    r = await client.put("/api/v1/profile/avatar", headers=auth, files=files)
    if r.status_code != 200:
        raise RuntimeError(f"avatar upload failed: {r.status_code} {r.text[:300]}")
    from personae.demo import demo_handles

    for handle in demo_handles():
        await client.post(f"/api/v1/actors/{handle}/follow", headers=auth)
    r = await client.post(
        "/api/v1/posts", headers=auth, json={"text": "Measuring how heavy this place is."}
    )
    if r.status_code != 201:
        raise RuntimeError(f"posting failed: {r.status_code} {r.text[:300]}")
    return {"thread": f"/@weigher/{r.json()['id']}"}


async def run(data_dir: Path) -> list[Weight]:
    """Start the app on a fresh data folder, seed the demo, measure every page."""
    from personae.app import create_app
    from personae.config import Settings
    from personae.db import transaction
    from personae.demo import seed_demo

    settings = Settings(data_dir=data_dir, database_url="")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with transaction(app.state.personae.sessions) as session:
            await seed_demo(session)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
            urls = await prepare(client)
            pages = [
                ("home", "/home"),
                ("public", "/public"),
                ("explore", "/explore"),
                ("profile", "/@weigher"),
                ("thread", urls["thread"]),
            ]
            return [await measure(client, name, url) for name, url in pages]


def main() -> int:
    """Measure, print a table (or JSON) and say whether the goals are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="personae-weight-") as folder:
        try:
            weights = asyncio.run(run(Path(folder)))
        except RuntimeError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            return 1
    images = [image for w in weights for image in w.images]
    avatars = [size for src, size in images if "/avatar" in src]
    largest = max(avatars, default=0)
    home = next(w for w in weights if w.page == "home")
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "pages": {
            w.page: {
                "cold_bytes": w.cold,
                "warm_bytes": w.warm,
                "cold_requests": w.cold_requests,
                "warm_requests": w.warm_requests,
            }
            for w in weights
        },
        "largest_avatar_bytes": largest,
        "avatar_images": len(avatars),
        "goals_met": {
            "home_cold": home.cold <= GOALS["home_cold"],
            "home_warm": home.warm <= GOALS["home_warm"],
            "avatar": largest <= GOALS["avatar"],
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'page':<10} {'cold KB':>9} {'requests':>9} {'warm KB':>9} {'requests':>9}")
    for w in weights:
        print(
            f"{w.page:<10} {w.cold / 1000:>9.1f} {w.cold_requests:>9} "
            f"{w.warm / 1000:>9.1f} {w.warm_requests:>9}"
        )
    print(f"largest avatar: {largest / 1000:.1f} KB ({len(avatars)} avatar images on the pages)")
    for goal, met in result["goals_met"].items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
