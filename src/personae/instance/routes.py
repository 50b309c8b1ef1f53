"""The admins' JSON API: model backends added at runtime, the default backend, limits.

Every route is a 404 to anyone but an admin (the services check), as the pages are.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from personae.deps import DB, AdminAccount, State
from personae.instance import backends, limits
from personae.instance.models import InstanceBackend

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


Admin = AdminAccount


class BackendIn(BaseModel):
    """An OpenAI-compatible server to add."""

    name: str = Field(max_length=40)
    base_url: str = Field(max_length=backends.MAX_URL)
    model: str = Field(default="", max_length=backends.MAX_MODEL)
    api_key: str = Field(default="", max_length=backends.MAX_API_KEY)
    context_window: int = 8192
    enabled: bool = True


class BackendPatch(BaseModel):
    """What may change on an added backend."""

    enabled: bool


class DefaultIn(BaseModel):
    """The backend characters use when they name none."""

    name: str = Field(max_length=40)


def backend_out(row: InstanceBackend, default: str) -> dict[str, Any]:
    """The API form of an added backend: never its key, only whether it has one."""
    return {
        "name": row.name,
        "base_url": row.base_url,
        "model": row.model,
        "has_api_key": bool(row.api_key),
        "context_window": row.context_window,
        "enabled": row.enabled,
        "default": row.name == default,
        "last_test": {
            "ok": row.last_test_ok,
            "message": row.last_test_message,
            "at": row.last_tested_at.isoformat() if row.last_tested_at else None,
        },
    }


def limits_out(found: list[limits.Limit]) -> dict[str, Any]:
    """The API form of the instance limits."""
    return {
        limit.name: {
            "value": limit.value,
            "configured": limit.configured,
            "override": limit.override,
            "min": limit.minimum,
            "max": limit.maximum,
        }
        for limit in found
    }


@router.get("/backends")
async def list_backends(account: Admin, db: DB, state: State) -> dict[str, Any]:
    """Configured backends (read-only), added ones, and the default."""
    added = await backends.list_added(db, account)
    default = state.backends.default
    configured = [
        {"name": c.name, "kind": c.kind, "model": c.model, "base_url": c.base_url}
        for c in backends.configured_backends(state.settings)
    ]
    return {
        "default": default,
        "configured": configured,
        "added": [backend_out(row, default) for row in added],
    }


@router.post("/backends", status_code=201)
async def add_backend(body: BackendIn, account: Admin, db: DB, state: State) -> dict[str, Any]:
    """Add an OpenAI-compatible server; enabled ones are usable at once."""
    row = await backends.add_backend(
        db, state.backends, account, **body.model_dump(exclude_unset=False)
    )
    return backend_out(row, state.backends.default)


@router.patch("/backends/{name}")
async def patch_backend(
    name: str, body: BackendPatch, account: Admin, db: DB, state: State
) -> dict[str, Any]:
    """Enable or disable an added backend."""
    row = await backends.set_enabled(
        db, state.backends, state.settings, account, name, body.enabled
    )
    return backend_out(row, state.backends.default)


@router.delete("/backends/{name}", status_code=204)
async def delete_backend(name: str, account: Admin, db: DB, state: State) -> None:
    """Remove an added backend."""
    await backends.remove_backend(db, state.backends, state.settings, account, name)


@router.post("/backends/{name}/test")
async def test_backend(name: str, account: Admin, db: DB) -> dict[str, Any]:
    """A real request to the server: its model list and a 1-token completion."""
    result = await backends.test_backend(db, account, name)
    return {
        "ok": result.ok,
        "message": result.message,
        "seconds": round(result.seconds, 3),
        "models": list(result.models),
    }


@router.put("/default-backend")
async def put_default(body: DefaultIn, account: Admin, db: DB, state: State) -> dict[str, str]:
    """Choose the default backend (a configured one or an enabled added one)."""
    return {"default": await backends.set_default(db, state.backends, account, body.name)}


@router.get("/limits")
async def get_limits(account: Admin, db: DB, state: State) -> dict[str, Any]:
    """The instance-wide limits (autonomous characters, replies through /v1)."""
    return limits_out(await limits.list_limits(db, state.settings, account))


@router.patch("/limits")
async def patch_limits(
    body: dict[str, Any], account: Admin, db: DB, state: State
) -> dict[str, Any]:
    """Override limits (null returns one to its configured value)."""
    values: dict[str, object | None] = dict(body)
    return limits_out(await limits.set_limits(db, state.settings, account, values))
