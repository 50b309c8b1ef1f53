"""Explore, a character's profile (follow, block, unblock) and notifications, in a browser."""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveInstance, screenshot, sign_up

ANSEL = "lighthouse_ansel"


def api_account(live: LiveInstance, username: str, display_name: str) -> dict[str, str]:
    """A second person, made through the JSON API; returns bearer headers."""
    password = "correct horse battery"
    body = {"username": username, "password": password, "display_name": display_name}
    r = httpx.post(f"{live.base_url}/api/v1/accounts", json=body, timeout=30)
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{live.base_url}/api/v1/auth/token",
        json={"username": username, "password": password},
        timeout=30,
    )
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_explore_profile_follow_block_and_notifications(page: Page, live: LiveInstance) -> None:
    me = f"pf_{secrets.token_hex(3)}"
    sign_up(page, me, "Robin Marsh")

    # Explore: the demo characters, a search, a tag filter.
    page.goto("/explore")
    cards = page.locator(".ex-grid")
    expect(cards.locator(f"#card-{ANSEL}")).to_be_visible()
    expect(cards.locator("#card-fern_unit7")).to_be_visible()
    expect(page.get_by_role("link", name="Explore")).to_have_attribute("aria-current", "page")
    screenshot(page, "explore")
    page.get_by_label("Search characters, people and posts").fill("lighthouse")
    expect(cards.locator("#card-fern_unit7")).to_have_count(0)
    expect(page.locator(f"#card-{ANSEL}")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=lighthouse"))
    # A tag chip's address filters by it (which tags the bar of popular ones shows changes
    # as other tests import characters into the shared instance).
    page.goto("/explore?tag=robot")
    chosen = page.get_by_role("navigation", name="Filter by tag").get_by_role("link", name="#robot")
    expect(chosen).to_have_attribute("aria-current", "page")
    expect(page.locator("#card-fern_unit7")).to_be_visible()
    expect(page.locator(f"#card-{ANSEL}")).to_have_count(0)

    # The character's profile: disclosure, chat, follow.
    page.goto("/explore")
    page.locator(f"#card-{ANSEL}").get_by_role("link").click()
    expect(page).to_have_url(re.compile(f"/@{ANSEL}$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(
        page.locator(".pf").get_by_role("link", name="AI character operated by @mara_okafor")
    ).to_be_visible()
    expect(page.locator(".pf__disclosure")).to_contain_text("An AI model writes")
    actions = page.locator(f"#actions-{ANSEL}")
    expect(actions.get_by_role("button", name="Chat")).to_be_visible()
    actions.get_by_role("button", name="Follow", exact=True).click()
    following = page.locator(f"#actions-{ANSEL}").get_by_role("button", name="Following")
    expect(following).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("status")).to_contain_text(f"You follow @{ANSEL} now.")
    page.reload()
    expect(page.locator(".pf__counts")).to_contain_text("follower")
    screenshot(page, "profile-character")

    # Block it: gone from Explore, its profile offers to unblock; then unblock.
    page.locator(f"#actions-{ANSEL}").get_by_text("More").click()
    page.once("dialog", lambda dialog: dialog.accept())  # "Block @…?" asks first
    page.locator(f"#actions-{ANSEL}").get_by_role("button", name="Block").click()
    unblock = page.locator(f"#actions-{ANSEL}").get_by_role("button", name="Unblock")
    expect(unblock).to_have_attribute("aria-pressed", "true")
    page.goto("/explore")
    expect(page.locator(".ex-grid")).to_be_visible()
    expect(page.locator(f"#card-{ANSEL}")).to_have_count(0)
    page.goto(f"/@{ANSEL}")
    expect(page.get_by_text(f"You blocked @{ANSEL}.")).to_be_visible()
    expect(page.locator(".pf-avatar")).to_have_count(0)
    page.get_by_role("button", name="Unblock").click()
    expect(page).to_have_url(re.compile(f"/@{ANSEL}$"))
    expect(
        page.locator(f"#actions-{ANSEL}").get_by_role("button", name="Follow", exact=True)
    ).to_be_visible()

    # Someone follows, likes and mentions me: the badge counts, the page lists them.
    friend = api_account(live, f"fr_{secrets.token_hex(3)}", "Juniper Okoye")
    # My own post, written through the page's own session (cookie) via the API.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    said = httpx.post(
        f"{live.base_url}/api/v1/posts",
        cookies=cookies,
        headers={"Origin": live.base_url},
        json={"text": "Walked the cliff path at dawn; the lighthouse was still blinking."},
        timeout=30,
    )
    assert said.status_code == 201, said.text
    post_id = said.json()["id"]
    base = live.base_url
    assert httpx.post(f"{base}/api/v1/actors/{me}/follow", headers=friend, timeout=30).is_success
    assert httpx.post(f"{base}/api/v1/posts/{post_id}/like", headers=friend, timeout=30).is_success
    reply = {"text": f"@{me} I saw it too, from the harbour!", "in_reply_to_id": post_id}
    assert httpx.post(f"{base}/api/v1/posts", headers=friend, json=reply, timeout=30).is_success
    page.goto(f"/@{me}")
    expect(page.locator("#unread-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    page.get_by_role("link", name=re.compile("Notifications")).click()
    expect(page).to_have_url(re.compile("/notifications$"))
    items = page.locator(".nt-list")
    expect(items).to_contain_text("followed you")
    expect(items).to_contain_text("liked your post")
    expect(items.locator(".nt--unread").first).to_be_visible()
    screenshot(page, "notifications")
    page.get_by_role("link", name="Likes").click()
    expect(page.locator(".nt-list")).to_contain_text("liked your post")
    expect(page.locator(".nt-list")).not_to_contain_text("followed you")
