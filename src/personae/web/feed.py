"""Pages: feed (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from personae.web.guard import PageRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
