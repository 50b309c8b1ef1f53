"""`personae import` and `personae export`: character cards as files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from personae.cli.common import console, fail, resolve_user, run_in_session

EXPORT_FORMATS = {".png": "png", ".json": "json", ".charx": "charx"}


def import_card(
    file: Path,
    user: Annotated[str | None, typer.Option(help="Owner (default: the first admin).")] = None,
) -> None:
    """Import a character card (PNG, JSON or CHARX); prints the new character's handle."""
    from personae.characters.importing import import_card as do_import

    if not file.is_file():
        fail(f"no such file: {file}")
    data = file.read_bytes()

    async def work(session: AsyncSession) -> str:
        account = await resolve_user(session, user)
        character = await do_import(session, account, data, file.name)
        return character.handle

    console.print(run_in_session(work), highlight=False)


def export_card(
    handle: str,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="File to write: .png, .json or .charx")
    ],
    user: Annotated[str | None, typer.Option(help="As whom (default: the first admin).")] = None,
) -> None:
    """Export a character as a card; the format follows the file's extension."""
    from personae.characters.importing import export_character

    fmt = EXPORT_FORMATS.get(output.suffix.lower())
    if fmt is None:
        fail("the output file must end in .png, .json or .charx")

    async def work(session: AsyncSession) -> bytes:
        account = await resolve_user(session, user)
        exported = await export_character(session, account, handle, fmt)  # type: ignore[arg-type]
        return exported.data

    data = run_in_session(work)
    output.write_bytes(data)
    console.print(f"Wrote {output} ({len(data)} bytes).")
