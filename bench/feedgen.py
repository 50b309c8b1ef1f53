"""Seeded generator of the synthetic social network that bench/feed.py loads and measures."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from rich.progress import Progress

Row = tuple[Any, ...]

DAY_US = 86_400 * 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

WORDS = (  # noqa: SIM905 (one string reads better)
    "the a an and but or so then today tonight morning evening week weekend city river "
    "forest garden kitchen coffee tea bread soup rain sun wind snow cloud light music song "
    "book story poem film game code bug fix release server model prompt dream idea plan "
    "trip train bike walk run swim climb paint draw write read cook bake grow build learn "
    "teach share think wonder remember forget love like miss need want try finish start "
    "new old small big quiet loud bright dark warm cold slow fast early late strange "
    "lovely honest tiny huge little every some many few more less really almost just "
    "still again never always maybe perhaps finally friend neighbour cat dog bird fox "
    "owl whale tree flower leaf stone star moon planet ocean island mountain valley road "
    "window door lamp table chair letter map clock bell candle lantern ship harbour"
).split()
TAGS = (  # noqa: SIM905 (one string reads better)
    "art music books coffee gardening cooking photography hiking cats dogs birds science "
    "space history poetry writing gaming opensource python rust linux selfhosting ai "
    "characters roleplay worldbuilding fantasy scifi cycling running travel nature rain "
    "autumn winter spring summer film anime design typography chess tea baking knitting"
).split()
FIRST_NAMES = (  # noqa: SIM905 (one string reads better)
    "Ada Alan Bea Cal Dana Eli Fay Gus Hana Ivo Jun Kai Lea Max Nia Oto Pia Quin Rosa Sam "
    "Tao Uma Vic Wren Xia Yara Zed"
).split()
LAST_NAMES = (  # noqa: SIM905 (one string reads better)
    "Abe Berg Cole Diaz Eck Frey Gray Holm Ito Jansen Kaur Lind Moss Nagy Ortiz Park Quist "
    "Roy Silva Tran Ueda Voss Weber Young Zhou"
).split()
CHARACTER_NAMES = (  # noqa: SIM905 (one string reads better)
    "Clockwork Owl, Lantern Keeper, Tide Witch, Star Cartographer, Moss Knight, Paper Fox, "
    "Glass Oracle, River Bard, Iron Gardener, Cloud Shepherd, Ember Scholar, Salt Pilot"
).split(", ")


def make_id(us: int, rng: random.Random) -> str:
    """A `new_id`-style id for a row created at `us` microseconds since the epoch."""
    return f"{us:014x}{rng.getrandbits(72):018x}"


def to_datetime(us: int) -> datetime:
    """An aware UTC datetime from microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=us)


def zipf_cum_weights(n: int, exponent: float, rng: random.Random) -> list[float]:
    """Cumulative Zipf-like weights over n items in a random rank order."""
    order = list(range(n))
    rng.shuffle(order)
    weights = [0.0] * n
    for rank, item in enumerate(order):
        weights[item] = 1.0 / (rank + 1) ** exponent
    total = 0.0
    cumulative = []
    for w in weights:
        total += w
        cumulative.append(total)
    return cumulative


def model_rows(name: str, columns: list[str], rows: list[Row]) -> tuple[list[str], list[Row]]:
    """The generator's rows of table `name`, completed to the model's current columns.

    Columns are read from the SQLAlchemy models, not written down here, so a schema change
    cannot silently break the benchmark: a column the generator does not set takes the
    model's Python default (or NULL where it may be NULL, or the database's own default);
    a column the model no longer has, or a new required one without a default, stops the
    run with a message naming it.
    """
    from personae.db import Base

    table = Base.metadata.tables.get(name)
    if table is None:
        raise SystemExit(f"bench/feedgen.py: the models have no table {name!r} any more")
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        raise SystemExit(
            f"bench/feedgen.py sets {', '.join(f'{name}.{c}' for c in unknown)}, "
            "which the models no longer have"
        )
    if rows and len(rows[0]) != len(columns):
        raise SystemExit(f"bench/feedgen.py: {name} rows do not match their column list")
    added: list[str] = []
    makers: list[Callable[[], Any]] = []
    constant = True
    for column in table.c:
        if column.name in columns:
            continue
        default = column.default
        if default is not None and default.is_scalar:
            value = default.arg
            makers.append(lambda value=value: value)
        elif default is not None and default.is_callable:
            # SQLAlchemy wraps zero-argument callables (list, dict, utcnow) to take a context.
            makers.append(lambda default=default: default.arg(None))
            constant = False
        elif column.server_default is not None:
            continue  # left out of the insert: the database fills it in
        elif column.nullable:
            makers.append(lambda: None)
        else:
            raise SystemExit(
                f"{name}.{column.name} is required and has no default the generator can use: "
                "give it a value in bench/feedgen.py"
            )
        added.append(column.name)
    if not added:
        return columns, rows
    if constant:
        fill = tuple(make() for make in makers)
        return columns + added, [row + fill for row in rows]
    return columns + added, [row + tuple(make() for make in makers) for row in rows]


@dataclass
class Network:
    """Generated rows per table, in load order (columns, rows)."""

    tables: dict[str, tuple[list[str], list[Row]]] = field(default_factory=dict)
    seconds: float = 0.0


def generate(
    actors: int, follows: int, posts: int, likes: int, seed: int, progress: Progress
) -> Network:
    """Build the whole synthetic network in memory."""
    from personae.social.actors import search_key

    started = time.perf_counter()
    rng = random.Random(seed)
    now_us = time.time_ns() // 1000
    n_chars = max(1, actors // 10)
    n_people = actors - n_chars
    # Actors join between 400 and 31 days ago; posts are from the last 30 days.
    joined = sorted(
        rng.randint(now_us - 400 * DAY_US, now_us - 31 * DAY_US) for _ in range(n_people)
    )
    ids: list[str] = []
    created: list[int] = []
    handles: list[str] = []
    is_ai: list[bool] = []
    accounts: list[dict[str, Any]] = []
    for i, us in enumerate(joined):
        ids.append(make_id(us, rng))
        created.append(us)
        handles.append(f"user{i:05d}")
        is_ai.append(False)
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        accounts.append(
            {
                "id": ids[-1],
                "created_at": to_datetime(us),
                "username": handles[-1],
                "display_name": name,
                "password_hash": "!",
                "is_admin": False,
            }
        )
    characters: list[dict[str, Any]] = []
    owners: list[int] = []
    char_times = []
    for _ in range(n_chars):
        owner = rng.randrange(n_people)
        char_times.append((rng.randint(created[owner], now_us - 31 * DAY_US), owner))
    for j, (us, owner) in enumerate(sorted(char_times)):
        ids.append(make_id(us, rng))
        created.append(us)
        handles.append(f"char{j:05d}")
        is_ai.append(True)
        owners.append(owner)
        name = f"{rng.choice(CHARACTER_NAMES)} {j}"
        characters.append(
            {
                "id": ids[-1],
                "created_at": to_datetime(us),
                "updated_at": to_datetime(us),
                "owner_id": ids[owner],
                "handle": handles[-1],
                "visibility": "public",
                "is_ai": True,
                "name": name,
                "description": f"{name} is a synthetic benchmark character.",
                "personality": "curious",
                "first_mes": "Hello!",
                "creator": "bench",
                "character_version": "1",
            }
        )
    n = len(ids)

    # Follows: Zipf-like followee (popular actors), milder skew on followers (power users).
    popular = zipf_cum_weights(n, 0.8, rng)
    active = zipf_cum_weights(n, 0.5, rng)
    if follows > n * (n - 1) // 4:
        raise SystemExit(f"--follows {follows} is too many for {n} actors")
    pairs: set[tuple[int, int]] = set()
    task = progress.add_task("generating follows", total=follows)
    population = range(n)
    while len(pairs) < follows:
        want = follows - len(pairs)
        followers = rng.choices(population, cum_weights=active, k=want)
        followees = rng.choices(population, cum_weights=popular, k=want)
        before = len(pairs)
        pairs.update((a, b) for a, b in zip(followers, followees, strict=True) if a != b)
        progress.advance(task, len(pairs) - before)
    followers_count = [0] * n
    following_count = [0] * n
    follow_rows: list[Row] = []
    for a, b in pairs:
        followers_count[b] += 1
        following_count[a] += 1
        us = rng.randint(max(created[a], created[b]), now_us - DAY_US)
        follow_rows.append((make_id(us, rng), to_datetime(us), ids[a], ids[b], "accepted"))
    follow_rows.sort()

    # Posts, in time order; the most followed also post the most.
    task = progress.add_task("generating posts", total=posts)
    times = sorted(rng.randint(now_us - 30 * DAY_US, now_us) for _ in range(posts))
    authors = rng.choices(population, cum_weights=popular, k=posts)
    p_id: list[str] = []
    p_vis: list[int] = []  # 0 public, 1 unlisted, 2 followers, 3 direct (wider to narrower)
    p_repost: list[bool] = []
    p_root: list[str] = []
    replies_count = [0] * posts
    reposts_count = [0] * posts
    posts_count = [0] * n
    reposted: set[tuple[int, int]] = set()
    visibilities = ("public", "unlisted", "followers", "direct")
    vis_cum = (0.70, 0.80, 0.95, 1.0)
    tag_cum = zipf_cum_weights(len(TAGS), 1.0, rng)
    fields: list[tuple[Any, ...]] = []
    tag_rows: list[Row] = []
    mention_rows: list[Row] = []

    def recent(i: int, ok: Callable[[int], bool]) -> int:
        """A recent earlier post that passes `ok`, or -1 (replies and reposts go to these)."""
        for _ in range(5):
            j = max(0, i - 1 - int(rng.expovariate(1 / 2000)))
            if ok(j):
                return j
        return -1

    for i in range(posts):
        if i % 10_000 == 0:
            progress.update(task, completed=i)
        us = times[i]
        author = authors[i]
        pid = make_id(us, rng)
        kind = rng.random()
        if kind < 0.03 and i > 0:  # a repost of someone else's public post
            j = recent(
                i,
                lambda j, a=author: (
                    not p_repost[j] and p_vis[j] == 0 and authors[j] != a and (j, a) not in reposted
                ),
            )
            if j >= 0:
                reposted.add((j, author))
                reposts_count[j] += 1
                p_id.append(pid)
                p_vis.append(0)
                p_repost.append(True)
                p_root.append(pid)
                fields.append((pid, us, author, None, j))
                continue
        parent = recent(i, lambda j: not p_repost[j]) if 0.03 <= kind < 0.23 and i > 0 else -1
        roll = rng.random()
        vis = next(k for k, edge in enumerate(vis_cum) if roll < edge)
        if parent >= 0:
            vis = max(vis, p_vis[parent])  # a reply is never wider than its parent
            replies_count[parent] += 1
        addressed: list[int] = []
        if parent >= 0 and authors[parent] != author:
            addressed.append(authors[parent])
        if vis == 3 and not addressed:  # a direct post always has an addressee
            other = rng.randrange(n - 1)
            addressed.append(other if other < author else other + 1)
        words = rng.choices(WORDS, k=rng.randint(4, 28))
        words[0] = words[0].capitalize()
        tags = (
            sorted(set(rng.choices(TAGS, cum_weights=tag_cum, k=rng.randint(1, 2))))
            if rng.random() < 0.3
            else []
        )
        body = " ".join(words) + "."
        prefix = f"@{handles[addressed[0]]} " if addressed and vis == 3 else ""
        text = prefix + body + "".join(f" #{t}" for t in tags)
        html = (
            "<p>"
            + (
                f'<a href="/@{handles[addressed[0]]}" class="mention">@{handles[addressed[0]]}</a> '
                if prefix
                else ""
            )
            + escape(body)
            + "".join(f' <a href="/tags/{t}" class="hashtag">#{t}</a>' for t in tags)
            + "</p>"
        )
        p_id.append(pid)
        p_vis.append(vis)
        p_repost.append(False)
        p_root.append(p_root[parent] if parent >= 0 else pid)
        posts_count[author] += 1
        fields.append((pid, us, author, (text, html, vis, parent), -1))
        tag_rows.extend((t, pid) for t in tags)
        mention_rows.extend((pid, ids[a]) for a in addressed)
    progress.update(task, completed=posts)

    # Likes: active actors like public/unlisted originals, a while after they were posted.
    likes_count = [0] * posts
    liked: set[tuple[int, int]] = set()
    like_rows: list[Row] = []
    task = progress.add_task("generating likes", total=likes)
    attempts = 0
    while len(like_rows) < likes and attempts < likes * 20:
        attempts += 1
        j = rng.randrange(posts)
        actor = rng.choices(population, cum_weights=active)[0]
        if p_repost[j] or p_vis[j] > 1 or (j, actor) in liked:
            continue
        liked.add((j, actor))
        likes_count[j] += 1
        us = min(now_us, times[j] + int(rng.expovariate(1 / (2 * 3600e6))))
        like_rows.append((make_id(us, rng), to_datetime(us), p_id[j], ids[actor]))
        progress.advance(task)
    like_rows.sort()

    post_rows: list[Row] = []
    for i, (pid, us, author, original, repost_of) in enumerate(fields):
        if original is None:  # a repost
            origin = authors[repost_of]
            post_rows.append(
                (
                    pid, to_datetime(us), ids[author], "", "", "", "", "public", False, None,
                    None, pid, p_id[repost_of], None, ids[origin], is_ai[author], is_ai[origin],
                    0, 0, 0, 0, None, search_key(pid),
                )
            )  # fmt: skip
            continue
        text, html, vis, parent = original
        post_rows.append(
            (
                pid, to_datetime(us), ids[author], text, html, "", "en", visibilities[vis],
                parent >= 0, p_id[parent] if parent >= 0 else None,
                ids[authors[parent]] if parent >= 0 else None, p_root[i], None, None,
                ids[author], is_ai[author], is_ai[author], likes_count[i], reposts_count[i],
                replies_count[i], 0, None, search_key(pid),
            )
        )  # fmt: skip

    actor_rows: list[dict[str, Any]] = []
    for k in range(n):
        person = k < n_people
        actor_rows.append(
            {
                "id": ids[k],
                "created_at": to_datetime(created[k]),
                "kind": "person" if person else "character",
                "handle": handles[k],
                "display_name": accounts[k]["display_name"]
                if person
                else characters[k - n_people]["name"],
                "is_ai": is_ai[k],
                "account_id": ids[k] if person else None,
                "character_id": None if person else ids[k],
                "operator_id": ids[k] if person else ids[owners[k - n_people]],
                "locked": False,
                "hidden": False,
                "discoverable": True,
                "suspended": False,
                "followers_count": followers_count[k],
                "following_count": following_count[k],
                "posts_count": posts_count[k],
                "search_key": search_key(ids[k]),
            }
        )

    network = Network()

    def from_dicts(name: str, dicts: list[dict[str, Any]]) -> None:
        columns = list(dicts[0]) if dicts else []
        rows = [tuple(d[c] for c in columns) for d in dicts]
        network.tables[name] = model_rows(name, columns, rows)

    def from_rows(name: str, columns: list[str], rows: list[Row]) -> None:
        network.tables[name] = model_rows(name, columns, rows)

    from_dicts("accounts", accounts)
    from_dicts("characters", characters)
    from_dicts("actors", actor_rows)
    from_rows("follows", ["id", "created_at", "follower_id", "followee_id", "state"], follow_rows)
    post_columns = [
        "id", "created_at", "author_id", "text", "content_html", "content_warning",
        "language", "visibility", "is_reply", "in_reply_to_id", "reply_to_author_id",
        "root_id", "repost_of_id", "quote_of_id", "origin_author_id", "author_is_ai",
        "origin_is_ai", "likes_count", "reposts_count", "replies_count", "quotes_count",
        "edited_at", "search_key",
    ]  # fmt: skip
    from_rows("posts", post_columns, post_rows)
    from_rows("post_tags", ["tag", "post_id"], tag_rows)
    from_rows("post_mentions", ["post_id", "actor_id"], mention_rows)
    from_rows("likes", ["id", "created_at", "post_id", "actor_id"], like_rows)
    network.seconds = time.perf_counter() - started
    return network
