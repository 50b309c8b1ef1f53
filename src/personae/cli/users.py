"""`personae users ...`: local accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from personae.cli.common import console, run_in_session

app = typer.Typer(help="Account commands.", no_args_is_help=True)


@app.command("create")
def users_create(
    username: str,
    admin: Annotated[bool, typer.Option(help="Make the account an admin.")] = False,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a local account (asks for the password)."""
    from personae.accounts.service import count_admins, create_account

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(session: AsyncSession) -> tuple[str, bool]:
        first = await count_admins(session) == 0
        account = await create_account(session, username, password, is_admin=admin or first)
        return account.username, account.is_admin

    name, is_admin = run_in_session(work)
    console.print(f"Created {'admin ' if is_admin else ''}account [bold]{name}[/].")
