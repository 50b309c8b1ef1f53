"""Model backends admins add at runtime: OpenAI-compatible URLs, checked, tested, and put
into the running BackendRegistry at once (and at every start, from the database).

Only admins reach these functions (a 404 for anyone else). Configured backends (settings)
are listed read-only beside them; an added backend cannot take a configured one's name.

The functions flush their rows and then change the running registry; the caller's unit of
work (the request) commits right after. Should that commit fail, the registry is ahead of
the database until the next start, which loads it from the database again (`load_into`).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.config import BackendSettings, Settings
from personae.db import utcnow
from personae.errors import Conflict, Invalid, NotFound
from personae.instance.admin import require_admin
from personae.instance.models import InstanceBackend, InstanceOverride
from personae.llm.base import BackendError, GenerationParams
from personae.llm.openai_compat import OpenAICompatBackend
from personae.llm.registry import BackendRegistry

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_URL = 500
MAX_MODEL = 200
MAX_API_KEY = 2000
DEFAULT_KEY = "default_backend"
TEST_TIMEOUT_S = 15.0
CONTEXT_MIN, CONTEXT_MAX = 512, 10_000_000


@dataclass(frozen=True)
class ConfiguredBackend:
    """A backend from the settings, as admins see it (read-only here)."""

    name: str
    kind: str
    model: str
    base_url: str


@dataclass(frozen=True)
class TestResult:
    """What "test it" found: whether it worked, a sentence saying so, and the details."""

    ok: bool
    message: str
    seconds: float
    models: tuple[str, ...] = ()
    reply: str = ""


def check_name(name: str) -> str:
    """A backend name: 1-40 of a-z, 0-9, _ and -, starting with a letter or digit."""
    clean = name.strip().lower()
    if not NAME_RE.match(clean):
        raise Invalid(
            "name must be 1-40 characters of a-z, 0-9, _ and -, starting with a letter or digit",
            code="bad_backend_name",
        )
    return clean


def check_url(url: str) -> str:
    """An http(s) base URL without credentials, query or fragment, not a link-local one."""
    clean = url.strip()
    if not clean:
        raise Invalid("base URL is required, e.g. http://gpu-box:8000/v1", code="bad_url")
    if len(clean) > MAX_URL:
        raise Invalid(f"base URL is longer than {MAX_URL} characters", code="bad_url")
    try:
        parts = urlsplit(clean)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise Invalid("base URL is not a valid address", code="bad_url") from None
    if parts.scheme not in ("http", "https"):
        raise Invalid("base URL must start with http:// or https://", code="bad_url_scheme")
    if not parts.hostname:
        raise Invalid("base URL has no host name", code="bad_url")
    if parts.username or parts.password:
        raise Invalid("put the key in the API key field, not in the URL", code="bad_url")
    if parts.query or parts.fragment:
        raise Invalid("base URL must not have a ?query or #fragment", code="bad_url")
    if any(c.isspace() for c in clean):
        raise Invalid("base URL must not contain spaces", code="bad_url")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = None
    # Model servers live on loopback, the LAN or the internet; never on these.
    if address is not None and (
        address.is_link_local or address.is_multicast or address.is_unspecified
    ):
        raise Invalid(
            f"{parts.hostname} is a link-local, multicast or unspecified address, "
            "not a model server",
            code="bad_url_host",
        )
    return clean.rstrip("/")


def settings_for(row: InstanceBackend, **extra: float | int) -> BackendSettings:
    """Backend settings for an added backend."""
    return BackendSettings(
        kind="openai",
        base_url=row.base_url,
        api_key=SecretStr(row.api_key),
        model=row.model,
        context_window=row.context_window,
        **extra,
    )


def configured_backends(settings: Settings) -> list[ConfiguredBackend]:
    """The backends the settings declare (never their keys)."""
    return [
        ConfiguredBackend(name, b.kind, b.model, b.base_url)
        for name, b in settings.backends.items()
    ]


async def list_added(session: AsyncSession, account: Account | None) -> list[InstanceBackend]:
    """The backends admins added, oldest first."""
    require_admin(account)
    return list(await session.scalars(select(InstanceBackend).order_by(InstanceBackend.id)))


async def _get(session: AsyncSession, name: str) -> InstanceBackend:
    row = await session.scalar(
        select(InstanceBackend).where(InstanceBackend.name == name.strip().lower())
    )
    if row is None:
        raise NotFound(f"no added backend named {name!r}")
    return row


async def _unplug(registry: BackendRegistry, name: str, settings: Settings) -> None:
    """Take a backend out of the registry (closing it); the default falls back if it was it."""
    backend = registry.unregister(name)
    if backend is not None:
        try:
            await backend.aclose()
        except Exception:  # closing a pool must not stop the removal
            log.warning("closing backend %s failed", name, exc_info=True)
    if registry.default == name:
        names = registry.names()
        fallback = settings.default_backend
        registry.default = fallback if fallback in names else (names[0] if names else "")


def _plug(registry: BackendRegistry, row: InstanceBackend) -> None:
    registry.register(row.name, OpenAICompatBackend(row.name, settings_for(row)))
    registry.managed.add(row.name)


async def add_backend(
    session: AsyncSession,
    registry: BackendRegistry,
    account: Account | None,
    name: str,
    base_url: str,
    model: str = "",
    api_key: str = "",
    context_window: int = 8192,
    enabled: bool = True,
) -> InstanceBackend:
    """Add an OpenAI-compatible backend; when enabled it is usable at once."""
    admin = require_admin(account)
    clean_name, clean_url = check_name(name), check_url(base_url)
    if len(model) > MAX_MODEL or any(c in model for c in "\r\n\t"):
        raise Invalid(f"model must be at most {MAX_MODEL} characters on one line", "bad_model")
    if len(api_key) > MAX_API_KEY or any(c.isspace() for c in api_key.strip()):
        raise Invalid(f"API key must be one word of at most {MAX_API_KEY} characters", "bad_key")
    if not CONTEXT_MIN <= context_window <= CONTEXT_MAX:
        raise Invalid(
            f"context window must be between {CONTEXT_MIN} and {CONTEXT_MAX} tokens",
            code="bad_context_window",
        )
    if clean_name in registry.names() and clean_name not in registry.managed:
        raise Conflict(f"{clean_name!r} is a configured backend; choose another name", "taken")
    taken = await session.scalar(
        select(InstanceBackend.id).where(InstanceBackend.name == clean_name)
    )
    if taken:
        raise Conflict(f"there is already a backend named {clean_name!r}", code="taken")
    row = InstanceBackend(
        name=clean_name,
        base_url=clean_url,
        model=model.strip(),
        api_key=api_key.strip(),
        context_window=context_window,
        enabled=enabled,
        added_by_id=admin.id,
    )
    session.add(row)
    await session.flush()
    if enabled:
        _plug(registry, row)
    return row


async def set_enabled(
    session: AsyncSession,
    registry: BackendRegistry,
    settings: Settings,
    account: Account | None,
    name: str,
    enabled: bool,
) -> InstanceBackend:
    """Turn an added backend on (into the registry) or off (out of it)."""
    require_admin(account)
    row = await _get(session, name)
    row.enabled = enabled
    await session.flush()
    if enabled:
        _plug(registry, row)
    else:
        await _unplug(registry, row.name, settings)
    return row


async def remove_backend(
    session: AsyncSession,
    registry: BackendRegistry,
    settings: Settings,
    account: Account | None,
    name: str,
) -> None:
    """Delete an added backend; if it was the default, the configured default returns."""
    require_admin(account)
    row = await _get(session, name)
    await session.delete(row)
    saved = await session.get(InstanceOverride, DEFAULT_KEY)
    if saved is not None and saved.value == row.name:
        await session.delete(saved)
    await session.flush()
    await _unplug(registry, row.name, settings)


async def set_default(
    session: AsyncSession, registry: BackendRegistry, account: Account | None, name: str
) -> str:
    """Make a usable backend (configured or added and enabled) the default."""
    admin = require_admin(account)
    wanted = name.strip().lower() if name.strip().lower() in registry.names() else name.strip()
    if wanted not in registry.names():
        available = ", ".join(registry.names()) or "none"
        raise Invalid(f"no usable backend named {name!r}; one of: {available}", "bad_backend")
    row = await session.get(InstanceOverride, DEFAULT_KEY)
    if row is None:
        session.add(InstanceOverride(key=DEFAULT_KEY, value=wanted, updated_by_id=admin.id))
    else:
        row.value, row.updated_by_id = wanted, admin.id
    await session.flush()
    registry.default = wanted
    return wanted


async def load_into(session: AsyncSession, registry: BackendRegistry, settings: Settings) -> None:
    """At start: put the enabled added backends and the admins' default into the registry."""
    for name in list(registry.managed):  # a registry shared with an earlier app (tests)
        await _unplug(registry, name, settings)
    rows = await session.scalars(select(InstanceBackend).where(InstanceBackend.enabled))
    for row in rows:
        if row.name in registry.names():
            log.warning("added backend %s is shadowed by a configured one", row.name)
            continue
        _plug(registry, row)
    saved = await session.get(InstanceOverride, DEFAULT_KEY)
    if saved is not None and saved.value in registry.names():
        registry.default = saved.value
    elif registry.default not in registry.names() and settings.default_backend in registry.names():
        registry.default = settings.default_backend


def _kind_words(exc: BackendError, url: str, timeout_s: float) -> str:
    """A kind sentence for a failed test, saying what to check."""
    if exc.kind == "timeout":
        return (
            f"The server at {url} did not answer within {timeout_s:g} s. It may be busy "
            "loading a model; try again in a moment."
        )
    if exc.kind == "unavailable" and "answered HTTP" not in exc.message:
        return (
            f"Could not connect to {url}. Check that the server is running, that this "
            "machine can reach it, and that the address ends in /v1."
        )
    detail = exc.message.split(": ", 1)[-1]
    return f"The server at {url} answered, but the test request failed: {detail}"


async def _list_models(client: httpx.AsyncClient, row: InstanceBackend) -> tuple[str, ...] | None:
    """The model ids the server lists, or None when it has no list (or cannot be reached)."""
    headers = {"Authorization": f"Bearer {row.api_key}"} if row.api_key else {}
    try:
        response = await client.get(row.base_url + "/models", headers=headers)
        if response.status_code != 200:
            return None
        data = response.json().get("data", [])
        return tuple(str(m.get("id", "")) for m in data if isinstance(m, dict))[:20]
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


async def test_backend(
    session: AsyncSession,
    account: Account | None,
    name: str,
    timeout_s: float = TEST_TIMEOUT_S,
) -> TestResult:
    """A real request to an added backend: list its models, then a 1-token completion."""
    require_admin(account)
    row = await _get(session, name)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        models = await _list_models(client, row)
    probe = OpenAICompatBackend(row.name, settings_for(row, timeout_s=timeout_s, max_retries=0))
    params = GenerationParams(max_tokens=1, temperature=0.0, seed=1)
    try:
        done = await probe.complete([{"role": "user", "content": "Say hi."}], params)
    except BackendError as exc:
        result = TestResult(
            False, _kind_words(exc, row.base_url, timeout_s), time.perf_counter() - started
        )
    else:
        seconds = time.perf_counter() - started
        listed = f"; it lists {len(models)} model(s): {', '.join(models[:5])}" if models else ""
        message = f"It works: the server answered a 1-token test in {seconds:.2f} s{listed}."
        result = TestResult(True, message, seconds, models or (), done.text)
    finally:
        await probe.aclose()
    row.last_test_ok, row.last_test_message = result.ok, result.message[:2000]
    row.last_tested_at = utcnow()
    await session.flush()
    return result
