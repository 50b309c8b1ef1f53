"""Instance-wide limits (autonomous characters, replies through /v1), changed at runtime by admins.

The configured value (settings) holds until an admin overrides it; an override is a row
in `instance_overrides` and is read where the guards read the settings, so it takes
effect on the next action in every process. Bounds are the ones config.py declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from annotated_types import Ge, Le
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.config import Settings
from personae.errors import Invalid
from personae.instance.admin import require_admin
from personae.instance.models import InstanceOverride

# The limits an admin may change, in the order pages show them.
LIMITS = (
    "agents_posts_per_day",
    "agents_replies_per_hour",
    "agents_tokens_per_day",
    "agents_max_ai_turns",
    "chat_max_tokens",
)


@dataclass(frozen=True)
class Limit:
    """One limit as admins see it: configured, overridden, in force, and its bounds."""

    name: str
    configured: int
    override: int | None
    minimum: int
    maximum: int

    @property
    def value(self) -> int:
        """The value in force."""
        return self.configured if self.override is None else self.override


@cache
def bounds(name: str) -> tuple[int, int]:
    """The (minimum, maximum) config.py declares for a limit."""
    low, high = 0, 2**63 - 1
    for item in Settings.model_fields[name].metadata:
        if isinstance(item, Ge):
            low = int(item.ge)  # type: ignore[call-overload]
        elif isinstance(item, Le):
            high = int(item.le)  # type: ignore[call-overload]
    return low, high


def check_limit(name: str, value: object) -> int:
    """A valid value for a limit, or Invalid naming the problem."""
    if name not in LIMITS:
        raise Invalid(f"unknown limit {name!r}; one of {', '.join(LIMITS)}", code="bad_limit")
    low, high = bounds(name)
    if isinstance(value, bool):
        raise Invalid(f"{name} must be a whole number", code="bad_limit")
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if not text.lstrip("-").isdigit() or len(text) > 20:
            raise Invalid(f"{name} must be a whole number", code="bad_limit")
        value = int(text)
    if not isinstance(value, int):
        raise Invalid(f"{name} must be a whole number", code="bad_limit")
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}", code="limit_out_of_range")
    return value


async def overrides(session: AsyncSession) -> dict[str, int]:
    """The limits admins overrode, by name (values out of bounds are ignored)."""
    rows = await session.execute(
        select(InstanceOverride.key, InstanceOverride.value).where(InstanceOverride.key.in_(LIMITS))
    )
    found: dict[str, int] = {}
    for key, value in rows:
        try:
            found[key] = check_limit(key, value)
        except Invalid:
            continue
    return found


async def with_overrides(session: AsyncSession, settings: Settings) -> Settings:
    """The settings with the admins' limit overrides applied (the same object if none)."""
    changed = await overrides(session)
    return settings.model_copy(update=changed) if changed else settings


async def list_limits(
    session: AsyncSession, settings: Settings, account: Account | None
) -> list[Limit]:
    """Every limit with its configured value, override and bounds (admins only)."""
    require_admin(account)
    changed = await overrides(session)
    return [
        Limit(name, int(getattr(settings, name)), changed.get(name), *bounds(name))
        for name in LIMITS
    ]


async def set_limits(
    session: AsyncSession,
    settings: Settings,
    account: Account | None,
    values: dict[str, object | None],
) -> list[Limit]:
    """Override limits (None clears an override); all are checked before any is saved."""
    admin = require_admin(account)
    clean = {name: None if v is None else check_limit(name, v) for name, v in values.items()}
    for name, value in clean.items():
        if value is None:
            await session.execute(delete(InstanceOverride).where(InstanceOverride.key == name))
            continue
        row = await session.get(InstanceOverride, name)
        if row is None:
            session.add(InstanceOverride(key=name, value=str(value), updated_by_id=admin.id))
        else:
            row.value, row.updated_by_id = str(value), admin.id
    await session.flush()
    return await list_limits(session, settings, account)
