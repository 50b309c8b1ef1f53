"""Speed and weight in a real browser, at desktop and phone width: compressed answers,
avatar thumbnails at their natural sizes, cold and warm transfer sizes read from Chromium's
own network log, and no Content Security Policy error on like or repost."""

from __future__ import annotations

import io
import random
import re
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from personae.deps import SESSION_COOKIE
from personae.web.assets import BUNDLE, STATIC_DIR
from tests.browser.conftest import DESKTOP, PASSWORD, PHONE, LiveInstance

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
# An image's natural width once it has loaded (lazy images load when near the viewport).
NATURAL_WIDTH = """img => img.complete && img.naturalWidth ? img.naturalWidth
  : new Promise((done) => img.addEventListener("load", () => done(img.naturalWidth)))"""
# Reports every CSP violation the page meets (console messages can be worded differently).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


def photo(size: tuple[int, int] = (1200, 900)) -> bytes:
    """A heavy JPEG, as a phone camera's avatar would be."""
    rng = random.Random(3)
    blotches = Image.frombytes("RGB", (150, 110), rng.randbytes(150 * 110 * 3))
    out = io.BytesIO()
    blotches.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=92)
    return out.getvalue()


def signed_in(browser: Browser, live: LiveInstance, width: str) -> tuple[BrowserContext, str]:
    """A new account (made through the API, which is quicker than the form on a busy
    machine) and a fresh browser profile holding its session cookie."""
    name = f"weigh_{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": PASSWORD}
    r = httpx.post(f"{live.base_url}/api/v1/accounts", json=body, timeout=60)
    assert r.status_code == 201, r.text
    token = httpx.post(f"{live.base_url}/api/v1/auth/token", json=body, timeout=60)
    context = browser.new_context(base_url=live.base_url, viewport=VIEWPORTS[width])
    context.set_default_timeout(30_000)
    value = token.json()["token"]
    context.add_cookies([{"name": SESSION_COOKIE, "value": value, "url": live.base_url}])
    return context, name


def give_avatar_and_post(live: LiveInstance, context: BrowserContext) -> None:
    """Upload a heavy avatar and post, with the context's session as a bearer token."""
    token = next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)
    auth = {"Authorization": f"Bearer {token}"}
    files = {"file": ("me.jpg", photo(), "image/jpeg")}
    r = httpx.put(f"{live.base_url}/api/v1/profile/avatar", headers=auth, files=files, timeout=60)
    assert r.status_code == 200, r.text
    r = httpx.post(
        f"{live.base_url}/api/v1/posts", headers=auth, json={"text": "Weighing in."}, timeout=60
    )
    assert r.status_code == 201, r.text


class NetworkLog:
    """Bytes Chromium received per request (headers and encoded body), from its CDP events."""

    def __init__(self, context: BrowserContext, page: Page) -> None:
        self.kinds: dict[str, tuple[str, str]] = {}
        self.sizes: dict[str, int] = {}
        session = context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.responseReceived", self._response)
        session.on("Network.loadingFinished", self._finished)

    def _response(self, event: dict[str, Any]) -> None:
        response = event["response"]
        self.kinds[event["requestId"]] = (event.get("type", ""), response["url"])

    def _finished(self, event: dict[str, Any]) -> None:
        self.sizes[event["requestId"]] = int(event["encodedDataLength"])

    def total(self, images: bool = False) -> int:
        """Bytes over the wire for finished requests (images left out unless asked)."""
        return sum(
            size
            for rid, size in self.sizes.items()
            if images or self.kinds.get(rid, ("", ""))[0] != "Image"
        )

    def clear(self) -> None:
        self.kinds.clear()
        self.sizes.clear()


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_home_is_light_cold_and_warm_with_small_thumbnails(
    browser: Browser, live: LiveInstance, width: str
) -> None:
    context, name = signed_in(browser, live, width)
    give_avatar_and_post(live, context)
    page = context.new_page()
    log = NetworkLog(context, page)
    encodings: dict[str, str] = {}
    page.on(
        "response",
        lambda r: encodings.__setitem__(r.url, r.headers.get("content-encoding", "")),
    )
    page.goto("/home")
    page.wait_for_load_state("networkidle")
    cold = log.total()
    assert cold <= 60_000, f"home cold load without images: {cold} bytes"
    home = f"{live.base_url}/home"
    assert encodings[home] == "gzip"
    assets = [u for u in encodings if "/static/" in u]
    assert len(assets) >= 4, encodings
    for url in assets:
        path = url.split("/static/", 1)[1].split("?")[0]
        small = path != BUNDLE and (STATIC_DIR / path).stat().st_size < 500
        # Under 500 bytes gzip would save nothing, so those few go as they are.
        assert encodings[url] == ("" if small else "gzip"), url

    # The avatar is a thumbnail: 96 px for a 40 px picture, a few KB, never the original.
    avatar = page.locator("#feed-posts article img.avatar--image").first
    expect(avatar).to_be_visible()
    assert "size=96" in (avatar.get_attribute("src") or "")
    assert avatar.evaluate(NATURAL_WIDTH) == 96
    images = [
        size
        for rid, size in log.sizes.items()
        if log.kinds.get(rid, ("", ""))[0] == "Image" and "/avatar" in log.kinds[rid][1]
    ]
    assert images and max(images) <= 20_000 + 1_000  # the body's cap, plus headers

    log.clear()
    page.reload()
    page.wait_for_load_state("networkidle")
    warm = log.total()
    assert warm <= 15_000, f"home warm reload: {warm} bytes"

    # The profile's large avatar is the 192 px thumbnail.
    page.goto(f"/@{name}")
    large = page.locator("img.pf-avatar--large")
    expect(large).to_be_visible()
    assert large.evaluate(NATURAL_WIDTH) == 192
    context.close()


@pytest.mark.parametrize("width", list(VIEWPORTS))
def test_like_and_repost_raise_no_csp_error(
    browser: Browser, live: LiveInstance, width: str
) -> None:
    context, _ = signed_in(browser, live, width)
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: console.append(str(exc)))

    page.goto("/public")
    fresh = page.locator("#feed-posts article.post").filter(
        has=page.locator("button[data-action=like][aria-pressed=false]")
    )
    for _ in range(2):  # two posts, each liked then reposted
        card = fresh.first
        expect(card).to_be_visible()
        card_id = card.get_attribute("id")
        # Styles set through the CSSOM are allowed, and browsers, extensions and developer
        # tools set them (Playwright's highlight does). htmx used to copy a swapped
        # element's old `style` attribute onto the new one with setAttribute when it
        # settled, which the policy refuses on every like and repost.
        page.evaluate(f"document.getElementById('{card_id}').style.outline = '1px dotted'")
        for action in ("Like", "Repost"):
            button = page.locator(f"#{card_id}").get_by_role(
                "button", name=re.compile(f"^{action}")
            )
            expect(button).to_have_attribute("aria-pressed", "false")
            button.click()
            expect(
                page.locator(f"#{card_id}").get_by_role("button", name=re.compile(f"^{action}"))
            ).to_have_attribute("aria-pressed", "true")
        page.wait_for_timeout(300)  # let htmx settle
    violations = page.evaluate("window.__cspViolations")
    assert violations == [], violations
    csp = [m for m in console if "Content Security Policy" in m or "inline style" in m]
    assert csp == [], csp
    context.close()
