"""People's view of what characters remember about them: list, delete one, forget me."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from personae.deps import DB, CurrentAccount
from personae.memory.people import (
    RememberedItem,
    delete_memory_about,
    forget_me,
    list_memories_about,
)
from personae.memory.schemas import Forgotten, RememberedOut, RememberedPage, RememberingCharacter

router = APIRouter(prefix="/api/v1/me/memories", tags=["memories"])
Handle = Annotated[str, Query(min_length=1, max_length=31, description="A character's handle.")]


def remembered_out(item: RememberedItem) -> RememberedOut:
    """The API form of a memory about the caller."""
    memory = item.memory
    return RememberedOut(
        id=memory.id,
        character=RememberingCharacter(
            handle=item.character_handle, display_name=item.character_name
        ),
        kind=memory.kind,
        text=memory.text,
        importance=memory.importance,
        source=memory.source,
        at=memory.at.isoformat(),
    )


@router.get("")
async def list_memories(
    account: CurrentAccount,
    db: DB,
    character: Annotated[
        str | None, Query(min_length=1, max_length=31, description="Only this character's.")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="The next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page.")] = 20,
) -> RememberedPage:
    """What characters remember about you, newest first."""
    items, next_cursor = await list_memories_about(db, account, character, cursor, limit)
    return RememberedPage(items=[remembered_out(i) for i in items], next_cursor=next_cursor)


@router.delete("/{memory_id}", status_code=204)
async def delete_memory(memory_id: str, account: CurrentAccount, db: DB) -> None:
    """Make a character forget one thing about you."""
    await delete_memory_about(db, account, memory_id)


@router.delete("")
async def forget(character: Handle, account: CurrentAccount, db: DB) -> Forgotten:
    """Make one character forget everything about you."""
    return Forgotten(deleted=await forget_me(db, account, character))
