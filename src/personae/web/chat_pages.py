"""Chat pages: the conversation list, a conversation with its reply streamed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from personae.accounts import service as accounts
from personae.accounts.models import Account
from personae.chat import access as chat_access
from personae.chat import participants
from personae.chat import service as chats
from personae.chat.models import Conversation
from personae.deps import DB, CurrentAccount, State
from personae.errors import NotFound
from personae.social.actors import with_avatar
from personae.web.guard import PageRoute
from personae.web.pages import render
from personae.web.views import Viewer, character_cards

router = APIRouter(include_in_schema=False, route_class=PageRoute)
PAGE_SIZE = 20
PREVIEW_CHARS = 140
Id = Annotated[str, Query(max_length=32)]


@dataclass(frozen=True)
class ConversationRow:
    """A conversation in the list: who it is with, its title and its last message."""

    id: str
    title: str
    character_name: str
    character_handle: str
    is_ai: bool
    has_avatar: bool
    preview: str
    preview_is_mine: bool
    updated_at: datetime

    @property
    def time_iso(self) -> str:
        """The last activity as an ISO 8601 UTC timestamp."""
        when = self.updated_at
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()

    @property
    def time_label(self) -> str:
        """The last activity, short (UTC)."""
        return self.updated_at.strftime("%Y-%m-%d %H:%M")


async def person_view(db: DB, account: Account) -> dict[str, str]:
    """The viewer as their chat messages show them: a name and an avatar URL (or "")."""
    has_avatar = account.id in await with_avatar(db, {account.id})  # their actor's id
    url = f"/api/v1/actors/{account.username}/avatar" if has_avatar else ""
    return {"name": account.display_name or account.username, "avatar_url": url}


def _preview(text: str) -> str:
    """The start of a message on one line, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= PREVIEW_CHARS:
        return flat
    return flat[:PREVIEW_CHARS].rsplit(" ", 1)[0] + "…"


def _back_to(next_url: str, fallback: str) -> str:
    """A same-site path to return to after a form (never another site)."""
    ok = next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url
    return next_url if ok else fallback


async def conversation_rows(db: DB, conversations: list[Conversation]) -> list[ConversationRow]:
    """View rows for conversations (characters and last messages in two queries)."""
    pairings = await participants.pairings(db, conversations)
    leaves = await chats.shown_leaves(db, conversations)
    rows = []
    for conversation in conversations:
        pairing = pairings.get(conversation.id)
        if pairing is None:
            continue
        character = pairing.character
        leaf = leaves.get(conversation.id)
        rows.append(
            ConversationRow(
                id=conversation.id,
                title=conversation.title,
                character_name=character.name,
                character_handle=character.handle,
                is_ai=character.is_ai,
                has_avatar=bool(character.avatar_mime),
                preview=_preview(leaf.content) if leaf else "",
                preview_is_mine=leaf is not None and leaf.role == "user",
                updated_at=conversation.updated_at,
            )
        )
    return rows


@router.get("/chats", response_class=HTMLResponse)
async def chats_page(
    request: Request, account: CurrentAccount, db: DB, before: Id = ""
) -> Response:
    """The viewer's conversations, most recent activity first, a page at a time."""
    found = await chats.list_conversations(db, account, limit=PAGE_SIZE + 1, before=before or None)
    blocked = await chat_access.blocked_handles(db, account)  # no new chat with them offered
    more = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    context = {
        "viewer": Viewer.of(account),
        "active": "chats",
        "rows": await conversation_rows(db, found),
        "older": found[-1].id if more and found else "",
        "paged": bool(before),
        "characters": [c for c in await character_cards(db, account) if c.handle not in blocked],
    }
    return render(request, "chat/list.html", context)


@router.post("/chat/new")
async def new_chat(
    account: CurrentAccount,
    db: DB,
    character: Annotated[str, Query(max_length=32)] = "",
    picked: Annotated[str, Form(alias="character", max_length=32)] = "",
) -> Response:
    """Open a conversation with a character (from the address or the form) and go to it."""
    conversation = await chats.open_conversation(db, account, character or picked)
    return RedirectResponse(f"/chat/{conversation.id}", status_code=303)


@router.get("/chat/{conversation_id}", response_class=HTMLResponse)
async def chat_page(
    conversation_id: str, request: Request, account: CurrentAccount, db: DB, state: State
) -> Response:
    """A conversation of the viewer's, with the box to write the next message."""
    conversation = await chats.get_conversation(db, account, conversation_id)
    pairing = await participants.pairing_of(db, conversation)
    if pairing is None:
        raise NotFound("the character of this conversation no longer exists")
    character = pairing.character
    personas = await accounts.list_personas(db, account)
    persona_id = pairing.persona_id or (personas[0].id if personas else "")
    context = {
        "viewer": Viewer.of(account),
        "active": "chats",
        "conversation": {"id": conversation.id, "title": conversation.title},
        "character": {
            "name": character.name,
            "handle": character.handle,
            "is_ai": character.is_ai,
            "has_avatar": bool(character.avatar_mime),
        },
        "messages": await chats.visible_history(db, conversation),
        "personas": [{"id": p.id, "name": p.name} for p in personas],
        "persona_id": persona_id,
        "max_chars": state.settings.max_message_chars,
        "person": await person_view(db, account),
    }
    return render(request, "chat.html", context)


@router.post("/chat/{conversation_id}/rename")
async def rename_chat(
    conversation_id: str,
    account: CurrentAccount,
    db: DB,
    title: Annotated[str, Form(max_length=200)] = "",
    next_url: Annotated[str, Form(alias="next", max_length=300)] = "",
) -> Response:
    """Give a conversation a new title and go back."""
    await chats.rename_conversation(db, account, conversation_id, title)
    return RedirectResponse(_back_to(next_url, f"/chat/{conversation_id}"), status_code=303)


@router.post("/chat/{conversation_id}/persona")
async def pick_persona(
    conversation_id: str,
    account: CurrentAccount,
    db: DB,
    persona_id: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Choose the persona the viewer speaks as in this conversation."""
    await chats.set_persona(db, account, conversation_id, persona_id)
    return RedirectResponse(f"/chat/{conversation_id}", status_code=303)


@router.post("/chat/{conversation_id}/delete")
async def delete_chat(
    conversation_id: str,
    account: CurrentAccount,
    db: DB,
    next_url: Annotated[str, Form(alias="next", max_length=300)] = "",
) -> Response:
    """Delete a conversation and go back to the list."""
    await chats.delete_conversation(db, account, conversation_id)
    back = _back_to(next_url, "/chats")
    if back.startswith(f"/chat/{conversation_id}"):
        back = "/chats"
    return RedirectResponse(back, status_code=303)
