"""The minimal web page: log in, pick a character, chat (the full web app is its own work)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home() -> str:
    """The start page."""
    return "<!doctype html><title>personae</title><h1>personae</h1>"
