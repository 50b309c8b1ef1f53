"""First screens in a real browser: a new account's Home, the aside at wide widths, the
compose limit, Show more, blocking with a confirmation, one card per post, private
characters, and a reply arriving on an open thread."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import Dialog, Page, expect

from tests.browser.conftest import DESKTOP, PASSWORD, PHONE, LiveInstance, screenshot, sign_up

WIDE = {"width": 1600, "height": 900}


def unique(prefix: str) -> str:
    """A username no other test (or run) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def api_account(live: LiveInstance, username: str) -> dict[str, str]:
    """A new account made through the JSON API, and its bearer header."""
    body = {"username": username, "password": PASSWORD}
    r = httpx.post(f"{live.base_url}/api/v1/accounts", json=body, timeout=10)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{live.base_url}/api/v1/auth/token", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def api_post(live: LiveInstance, headers: dict[str, str], text: str, **fields: Any) -> Any:
    """Publish a post through the JSON API; its API form."""
    body = {"text": text, **fields}
    r = httpx.post(f"{live.base_url}/api/v1/posts", headers=headers, json=body, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def log_in(page: Page, username: str) -> None:
    """Log in through the start page's form."""
    page.goto("/")
    form = page.locator("form[action='/login']")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button").click()
    page.wait_for_url(re.compile(r"/(home)?$"))


def no_sideways_scroll(page: Page) -> None:
    """The document is no wider than the viewport."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width  # type: ignore[index]


def test_a_new_account_home_is_alive_at_every_width(page: Page) -> None:
    sign_up(page, unique("first_nia"), "Nia New")
    page.goto("/home")
    main = page.locator("main")
    expect(main.get_by_role("heading", name="Welcome to personae")).to_be_visible()
    expect(main.get_by_role("link", name=re.compile("Create a character"))).to_be_visible()
    # The demo community's public posts fill the Home until the person follows someone.
    expect(page.locator("#feed-posts > li article").first).to_be_visible()
    assert page.locator("#feed-posts > li article").count() >= 3
    # At 1280 the suggestions are in the aside, beside the feed.
    aside = page.get_by_role("complementary", name="Suggestions")
    expect(aside).to_be_visible()
    expect(aside.get_by_role("heading", name="Characters to meet")).to_be_visible()
    expect(aside.get_by_role("button", name="Follow").first).to_be_visible()
    expect(page.locator(".welcome__suggest")).to_be_hidden()
    no_sideways_scroll(page)

    page.set_viewport_size(WIDE)
    expect(aside).to_be_visible()
    box = aside.bounding_box()
    main_box = main.bounding_box()
    assert box and main_box
    # The third column is used: the aside is as wide as its column and holds content.
    assert box["width"] >= 280 and box["height"] >= 300, box
    assert box["x"] > main_box["x"] + main_box["width"]
    no_sideways_scroll(page)

    page.set_viewport_size(PHONE)
    expect(aside).to_be_hidden()
    suggest = page.locator(".welcome__suggest")
    expect(suggest).to_be_visible()
    expect(suggest.get_by_role("heading", name="Characters to meet")).to_be_visible()
    no_sideways_scroll(page)

    # Following a suggestion turns the Home into the usual one.
    follow = suggest.get_by_role("button", name="Follow").first
    follow.click()
    expect(suggest.get_by_role("button", name="Following").first).to_be_visible()
    page.set_viewport_size(DESKTOP)
    screenshot(page, "first-home")
    page.reload()
    expect(main.get_by_role("heading", name="Welcome to personae")).to_have_count(0)


def test_compose_over_the_limit_is_red_and_disabled(page: Page) -> None:
    sign_up(page, unique("first_lim"), "Lim Long")
    page.goto("/home")
    box = page.get_by_role("combobox", name="Write a post")
    send = page.locator("form[data-compose]").get_by_role("button", name="Post", exact=True)
    counter = page.locator("[data-count-for='compose-text']")
    box.fill("a" * 2990)
    expect(counter).to_have_text("10")
    expect(send).to_be_enabled()
    box.fill("a" * 3012)
    expect(box).to_have_value("a" * 3012)  # nothing cut
    expect(counter).to_have_text("-12")
    expect(counter).to_have_class(re.compile("compose__count--over"))
    expect(send).to_be_disabled()
    note = page.locator("#compose-over")
    expect(note).to_be_visible()
    expect(note).to_contain_text("12 characters too many")
    expect(box).to_have_attribute("aria-invalid", "true")
    color = counter.evaluate("el => getComputedStyle(el).color")
    assert color != page.locator(".intro").evaluate("el => getComputedStyle(el).color")
    box.press("Control+Enter")  # the shortcut does not send either
    page.wait_for_timeout(300)
    expect(box).to_have_value("a" * 3012)
    box.fill("Short again.")
    expect(send).to_be_enabled()
    expect(note).to_be_hidden()


def test_long_posts_fold_with_show_more(page: Page, live: LiveInstance) -> None:
    author = api_account(live, unique("first_long"))
    marker = uuid.uuid4().hex[:6]
    lines = "\n".join(f"Line {n} of a long story ({marker})." for n in range(40))
    api_post(live, author, lines)
    page.set_viewport_size(PHONE)
    page.goto("/public")
    card = page.locator("#feed-posts article").filter(has_text=marker).first
    more = card.get_by_role("button", name="Show more")
    expect(more).to_be_visible()
    expect(more).to_have_attribute("aria-expanded", "false")
    last = card.get_by_text(f"Line 39 of a long story ({marker}).")
    text = card.locator(".post__text")
    folded = text.evaluate("el => el.clientHeight")
    more.focus()
    page.keyboard.press("Enter")
    less = card.get_by_role("button", name="Show less")
    expect(less).to_have_attribute("aria-expanded", "true")
    assert text.evaluate("el => el.clientHeight") > folded
    expect(last).to_be_visible()
    no_sideways_scroll(page)


def test_block_asks_then_the_posts_go_at_once(page: Page, live: LiveInstance) -> None:
    rude = unique("first_rude")
    headers = api_account(live, rude)
    api_post(live, headers, "Something rude, twice.")
    api_post(live, headers, "Something rude again.")
    sign_up(page, unique("first_bea"), "Bea Blocker")
    page.goto(f"/@{rude}")
    posts = page.locator("article.post")
    expect(posts).to_have_count(2)
    asked: list[str] = []

    def answer(dialog: Dialog, accept: bool) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.locator(f"#actions-{rude}").get_by_text("More").click()
    block = page.get_by_role("button", name="Block", exact=True)
    block.focus()
    page.keyboard.press("Enter")  # keyboard reachable
    page.wait_for_timeout(300)
    assert asked and f"Block @{rude}?" in asked[0]
    expect(posts).to_have_count(2)  # cancelled: nothing happened

    page.once("dialog", lambda d: answer(d, True))
    block.click()
    expect(page.get_by_role("status")).to_contain_text(f"You blocked @{rude}")
    expect(posts).to_have_count(0)  # gone without a reload
    page.goto("/public")
    expect(page.locator("#feed-posts")).not_to_contain_text("Something rude")


def test_a_repost_is_not_shown_beside_its_original(page: Page, live: LiveInstance) -> None:
    writer = api_account(live, unique("first_orig"))
    sharer = api_account(live, unique("first_share"))
    marker = uuid.uuid4().hex[:6]
    original = api_post(live, writer, f"Worth sharing ({marker}).")
    url = f"{live.base_url}/api/v1/posts/{original['id']}/repost"
    assert httpx.post(url, headers=sharer, timeout=10).status_code == 201
    page.goto("/public")
    cards = page.locator(f"#feed-posts article[data-post='{original['id']}']")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("reposted")


def test_no_follow_on_ones_own_private_character(page: Page, live: LiveInstance) -> None:
    name = unique("first_priv")
    headers = api_account(live, name)
    body = {"name": "Quiet Quill", "visibility": "private"}
    r = httpx.post(f"{live.base_url}/api/v1/characters", headers=headers, json=body, timeout=10)
    assert r.status_code == 201, r.text
    log_in(page, name)
    page.goto(f"/@{r.json()['handle']}")
    expect(page.get_by_role("heading", name=re.compile("Quiet Quill"))).to_be_visible()
    expect(page.locator("main").get_by_role("button", name="Follow")).to_have_count(0)


def test_a_reply_appears_on_an_open_thread(page: Page, live: LiveInstance) -> None:
    starter = api_account(live, unique("first_tom"))
    other = api_account(live, unique("first_una"))
    root = api_post(live, starter, "Who wants to answer?")
    page.goto(root["url"])
    replies = page.locator("#thread-replies")
    expect(replies).to_have_attribute("sse-connect", re.compile("/stream"))
    page.wait_for_timeout(800)  # let the stream connect
    marker = uuid.uuid4().hex[:6]
    api_post(live, other, f"Me, from elsewhere ({marker}).", in_reply_to_id=root["id"])
    expect(replies).to_contain_text(marker, timeout=15_000)
    expect(page.get_by_text("No replies yet.")).to_be_hidden()
