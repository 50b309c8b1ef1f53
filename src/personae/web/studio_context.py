"""What every studio editor tab shows (the character, its tabs, the test chat), and the
redirect back to a tab: shared by the studio's page modules."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.accounts.service import username_of
from personae.agents import service as agents
from personae.characters import service as characters
from personae.characters.models import Character
from personae.chat import service as chats
from personae.state import AppState
from personae.web.chat_pages import person_view
from personae.web.views import Viewer

# The title of the studio's own conversation with a character (a chat of kind TEST).
TEST_CHAT_TITLE = "Studio test chat"
SAVED_NOTICES = {
    "profile": "Saved.",
    "created": "Character created. Fill in more of it whenever you like.",
    "imported": "Card imported. Check its fields, then try it in the test chat.",
    "duplicated": "This is your copy. It is private until you change that.",
    "avatar": "New avatar saved.",
    "entry": "Lorebook entry saved.",
    "entry-deleted": "Lorebook entry deleted.",
    "autonomy": "Autonomy settings saved.",
    "chat": "A fresh test chat has started.",
}


async def character_view(db: AsyncSession, character: Character) -> dict[str, Any]:
    """A character as plain data for templates (never the ORM row)."""
    owner = await username_of(db, character.owner_id)
    books = await characters.lorebook_ids(db, character)
    return characters.character_out(character, owner or "", books)


async def test_chat(db: AsyncSession, account: Account, character: Character) -> dict[str, Any]:
    """The creator's test conversation with the character (reused, else opened)."""
    found = await chats.test_conversation(db, account, character.id, TEST_CHAT_TITLE)
    return {"id": found.id, "messages": await chats.visible_history(db, found)}


async def editor_context(
    request: Request,
    db: AsyncSession,
    state: AppState,
    account: Account,
    handle: str,
    tab: str,
    with_chat: bool = True,
) -> dict[str, Any]:
    """What every editor tab shows: the character, the tabs, the held count, the chat."""
    character = await characters.get_editable_character(db, account, handle)
    summary = await agents.activity_summary(db, state.settings, account, character.id)
    context: dict[str, Any] = {
        "viewer": Viewer.of(account),
        "active": "studio",
        "tab": tab,
        "character": await character_view(db, character),
        "held": summary["held"],
        "autonomy_on": summary["enabled"],
        "notice": SAVED_NOTICES.get(request.query_params.get("saved", "")),
        "errors": {},
        "max_chars": state.settings.max_message_chars,
    }
    if with_chat:
        context["chat"] = await test_chat(db, account, character)
        context["person"] = await person_view(db, account)
    return context


def back(handle: str, tab: str = "", saved: str = "") -> RedirectResponse:
    """A 303 back to an editor tab, with what was saved named for the notice."""
    path = f"/studio/{handle}" + (f"/{tab}" if tab else "")
    return RedirectResponse(path + (f"?saved={saved}" if saved else ""), status_code=303)
