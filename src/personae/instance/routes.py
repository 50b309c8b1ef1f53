"""The admins' JSON API: model backends added at runtime, the default backend, limits.

Every route is a 404 to anyone but an admin (the services check), as the pages are.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from personae.deps import DB, AdminAccount, State
from personae.instance import backends, limits
from personae.instance.schemas import (
    BackendOut,
    BackendsOut,
    BackendTestOut,
    ConfiguredOut,
    DefaultOut,
    LimitsOut,
)

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


@router.get("/backends")
async def list_backends(account: Admin, db: DB, state: State) -> BackendsOut:
    """Configured backends (read-only), added ones, and the default."""
    added = await backends.list_added(db, account)
    default = state.backends.default
    return BackendsOut(
        default=default,
        configured=[ConfiguredOut.of(c) for c in backends.configured_backends(state.settings)],
        added=[BackendOut.of(row, default) for row in added],
    )


@router.post("/backends", status_code=201)
async def add_backend(body: BackendIn, account: Admin, db: DB, state: State) -> BackendOut:
    """Add an OpenAI-compatible server; enabled ones are usable once the request commits."""
    row = await backends.add_backend(
        db, state.backends, account, **body.model_dump(exclude_unset=False)
    )
    return BackendOut.of(row, state.backends.default)


@router.patch("/backends/{name}")
async def patch_backend(
    name: str, body: BackendPatch, account: Admin, db: DB, state: State
) -> BackendOut:
    """Enable or disable an added backend."""
    row = await backends.set_enabled(
        db, state.backends, state.settings, account, name, body.enabled
    )
    return BackendOut.of(row, state.backends.default)


@router.delete("/backends/{name}", status_code=204)
async def delete_backend(name: str, account: Admin, db: DB, state: State) -> None:
    """Remove an added backend."""
    await backends.remove_backend(db, state.backends, state.settings, account, name)


@router.post("/backends/{name}/test")
async def test_backend(name: str, account: Admin, db: DB) -> BackendTestOut:
    """A real request to the server: its model list and a 1-token completion."""
    return BackendTestOut.of(await backends.test_backend(db, account, name))


@router.put("/default-backend")
async def put_default(body: DefaultIn, account: Admin, db: DB, state: State) -> DefaultOut:
    """Choose the default backend (a configured one or an enabled added one)."""
    return DefaultOut(default=await backends.set_default(db, state.backends, account, body.name))


@router.get("/limits")
async def get_limits(account: Admin, db: DB, state: State) -> LimitsOut:
    """The instance-wide limits (autonomous characters, replies through /v1)."""
    return LimitsOut.of(await limits.list_limits(db, state.settings, account))


@router.patch("/limits")
async def patch_limits(body: dict[str, Any], account: Admin, db: DB, state: State) -> LimitsOut:
    """Override limits (null returns one to its configured value)."""
    values: dict[str, object | None] = dict(body)
    return LimitsOut.of(await limits.set_limits(db, state.settings, account, values))
