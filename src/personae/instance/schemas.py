"""The JSON shapes of the admins' API: backends and instance limits."""

from __future__ import annotations

from pydantic import BaseModel, RootModel

from personae.instance.backends import ConfiguredBackend, TestResult
from personae.instance.limits import Limit
from personae.instance.models import InstanceBackend


class LastTest(BaseModel):
    """The last "test it" of an added backend (all null before the first)."""

    ok: bool | None
    message: str
    at: str | None


class BackendOut(BaseModel):
    """An added backend: never its key, only whether it has one."""

    name: str
    base_url: str
    model: str
    has_api_key: bool
    context_window: int
    enabled: bool
    default: bool
    last_test: LastTest

    @classmethod
    def of(cls, row: InstanceBackend, default: str) -> BackendOut:
        """The API form of an added backend; `default` names the instance's default."""
        return cls(
            name=row.name,
            base_url=row.base_url,
            model=row.model,
            has_api_key=bool(row.api_key),
            context_window=row.context_window,
            enabled=row.enabled,
            default=row.name == default,
            last_test=LastTest(
                ok=row.last_test_ok,
                message=row.last_test_message,
                at=row.last_tested_at.isoformat() if row.last_tested_at else None,
            ),
        )


class ConfiguredOut(BaseModel):
    """A backend from the settings (read-only; never its key)."""

    name: str
    kind: str
    model: str
    base_url: str

    @classmethod
    def of(cls, backend: ConfiguredBackend) -> ConfiguredOut:
        """The API form of a configured backend."""
        return cls(
            name=backend.name, kind=backend.kind, model=backend.model, base_url=backend.base_url
        )


class BackendsOut(BaseModel):
    """Every backend: the default, the configured ones and the added ones."""

    default: str
    configured: list[ConfiguredOut]
    added: list[BackendOut]


class BackendTestOut(BaseModel):
    """What "test it" found."""

    ok: bool
    message: str
    seconds: float
    models: list[str]

    @classmethod
    def of(cls, result: TestResult) -> BackendTestOut:
        """The API form of a test result."""
        return cls(
            ok=result.ok,
            message=result.message,
            seconds=round(result.seconds, 3),
            models=list(result.models),
        )


class DefaultOut(BaseModel):
    """The backend characters use when they name none."""

    default: str


class LimitOut(BaseModel):
    """One limit: in force, configured, overridden, and its bounds."""

    value: int
    configured: int
    override: int | None
    min: int
    max: int

    @classmethod
    def of(cls, limit: Limit) -> LimitOut:
        """The API form of a limit."""
        return cls(
            value=limit.value,
            configured=limit.configured,
            override=limit.override,
            min=limit.minimum,
            max=limit.maximum,
        )


class LimitsOut(RootModel[dict[str, LimitOut]]):
    """Every instance limit, by name."""

    @classmethod
    def of(cls, found: list[Limit]) -> LimitsOut:
        """The API form of the instance limits."""
        return cls({limit.name: LimitOut.of(limit) for limit in found})
