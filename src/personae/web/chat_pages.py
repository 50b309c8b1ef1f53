"""Chat pages: a conversation with a character, its reply streamed in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.characters.models import Character
from personae.chat import service as chats
from personae.deps import DB, CurrentAccount
from personae.errors import NotFound
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.views import Viewer

router = APIRouter(include_in_schema=False, route_class=PageRoute)


@router.post("/chat/new")
async def new_chat(
    account: CurrentAccount, db: DB, character: Annotated[str, Query(max_length=32)] = ""
) -> Response:
    """Open a conversation with a character and go to it."""
    conversation = await chats.open_conversation(db, account, character)
    return RedirectResponse(f"/chat/{conversation.id}", status_code=303)


@router.get("/chat/{conversation_id}", response_class=HTMLResponse)
async def chat_page(
    conversation_id: str, request: Request, account: CurrentAccount, db: DB
) -> Response:
    """A conversation of the viewer's, with the box to write the next message."""
    conversation = await chats.get_conversation(db, account, conversation_id)
    character = await db.get(Character, conversation.character_id)
    if character is None:
        raise NotFound("the character of this conversation no longer exists")
    context = {
        "viewer": Viewer.of(account),
        "conversation": {"id": conversation.id, "title": conversation.title},
        "character": {"name": character.name, "handle": character.handle, "is_ai": character.is_ai},
        "messages": await chats.visible_history(db, conversation),
    }
    return render(request, "chat.html", context)
