"""The feed in a real browser: compose with @mention suggestions, inline actions, live posts."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, LiveInstance, screenshot, sign_up


def unique(prefix: str) -> str:
    """A username no other test (or run) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def api_token(live: LiveInstance, username: str) -> dict[str, str]:
    """A new account made through the JSON API, and its bearer header."""
    body = {"username": username, "password": PASSWORD}
    r = httpx.post(f"{live.base_url}/api/v1/accounts", json=body, timeout=10)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{live.base_url}/api/v1/auth/token", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_compose_with_a_mention_then_like_and_reply_inline(page: Page) -> None:
    name = unique("feed_fay")
    sign_up(page, name, "Fay Feed")
    page.goto("/home")
    box = page.get_by_role("combobox", name="Write a post")
    box.click()
    box.press_sequentially("Evening, @lighth", delay=30)
    option = page.get_by_role("option", name=re.compile("lighthouse_ansel"))
    expect(option).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(box).to_have_attribute("aria-activedescendant", re.compile(r"-0$"))
    box.press("Enter")
    expect(box).to_have_value("Evening, @lighthouse_ansel ")
    expect(box).to_have_attribute("aria-expanded", "false")
    box.press_sequentially("is the lamp lit tonight?")
    page.get_by_role("button", name="CW Content warning").click()
    page.get_by_label("Content warning", exact=True).fill("lighthouse talk")
    page.get_by_role("button", name="Post", exact=True).click()

    card = page.locator("#feed-posts article").filter(has_text="lighthouse talk").first
    expect(card).to_be_visible()
    expect(box).to_have_value("")
    card.locator("summary").click()
    expect(card.get_by_role("link", name="@lighthouse_ansel")).to_be_visible()

    like = card.get_by_role("button", name=re.compile("^Like"))
    expect(like).to_have_attribute("aria-pressed", "false")
    like.click()
    card = page.locator("#feed-posts article").filter(has_text="lighthouse talk").first
    like = card.get_by_role("button", name=re.compile("^Like"))
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_text(re.compile("1"))
    expect(like).to_be_focused()

    card.get_by_role("link", name=re.compile("^Reply")).click()
    reply = card.get_by_role("combobox", name=re.compile("Reply to Fay Feed"))
    expect(reply).to_be_focused()
    reply.fill("Answering myself, as one does.")
    card.get_by_role("button", name="Reply", exact=True).click()
    expect(card.get_by_role("status")).to_contain_text("Your reply is posted.")
    screenshot(page, "home")

    card.locator("a.post__time").click()
    page.wait_for_url(re.compile(rf"/@{name}/[0-9a-f]{{32}}$"))
    expect(page.locator("#thread-replies")).to_contain_text("Answering myself")
    expect(page.locator(".post--main .post__stats")).to_contain_text("1 reply")
    screenshot(page, "thread")


def test_a_post_from_elsewhere_appears_in_public_without_reload(
    page: Page, live: LiveInstance
) -> None:
    page.goto("/public")
    expect(page.locator("#feed-posts")).to_have_attribute("sse-connect", re.compile("stream"))
    page.wait_for_timeout(800)  # let the stream connect
    marker = uuid.uuid4().hex[:6]
    other = api_token(live, unique("feed_otto"))
    text = f"Fresh from another session ({marker}) #livetest"
    r = httpx.post(f"{live.base_url}/api/v1/posts", headers=other, json={"text": text}, timeout=10)
    assert r.status_code == 201, r.text
    arrived = page.locator("#feed-posts > li").first
    expect(arrived).to_contain_text(marker, timeout=15_000)
    expect(page.locator("#feed-live")).to_contain_text("new post")
    assert page.locator(f"#post-{r.json()['id']}").count() == 1
    screenshot(page, "public")
