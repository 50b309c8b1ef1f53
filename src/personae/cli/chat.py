"""`personae chat`: a streamed chat in the terminal, through the same services as the API."""

from __future__ import annotations

import asyncio

from rich.console import Console

from personae.chat.events import ReplyDone, ReplyError, ReplyToken
from personae.cli.common import UserOption, console, fail, resolve_user
from personae.config import Settings, get_settings


def chat(handle: str, user: UserOption = None) -> None:
    """Chat with a character in the terminal (/regen for another reply, /quit to leave)."""
    asyncio.run(run_chat(get_settings(), handle, user, console))


async def run_chat(settings: Settings, handle: str, user: str | None, console: Console) -> None:
    """Open a conversation with `handle` and loop: read a line, stream the reply."""
    from personae.chat.generation import plan_reply
    from personae.chat.runner import ReplyRunner
    from personae.chat.service import open_conversation, visible_history
    from personae.db import make_engine, make_sessionmaker, transaction
    from personae.errors import DomainError
    from personae.llm.base import BackendError
    from personae.llm.registry import BackendRegistry
    from personae.migrate import ensure_sqlite_folder, upgrade

    url = settings.effective_database_url
    ensure_sqlite_folder(url)
    engine = make_engine(url)
    registry = BackendRegistry.from_settings(settings)
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        runner = ReplyRunner(sessions)
        async with transaction(sessions) as session:
            account = await resolve_user(session, user)
            try:
                conversation = await open_conversation(session, account, handle)
            except DomainError as exc:
                fail(exc.message)
            for message in await visible_history(session, conversation):
                console.print(f"[bold cyan]{handle}[/]: {message['content']}")
        last_user: str | None = None
        while True:
            try:
                line = console.input("[bold green]you[/]: ")
            except (EOFError, KeyboardInterrupt):
                break
            if line.strip() in ("/quit", "/exit"):
                break
            if not line.strip():
                continue
            regen = line.strip() == "/regen"
            if regen and last_user is None:
                console.print("[dim]nothing to regenerate yet[/]")
                continue
            try:
                # The turn is committed before the reply streams: the runner saves the
                # reply in sessions of its own, which must see the message it answers.
                with console.status("thinking...", spinner="dots"):
                    async with transaction(sessions) as session:
                        plan = await plan_reply(
                            session,
                            account,
                            registry,
                            conversation.id,
                            None if regen else line,
                            last_user if regen else None,
                            settings.max_message_chars,
                            settings.reply_max_tokens,
                        )
            except (DomainError, BackendError) as exc:
                console.print(f"[red]{exc.message}[/]")
                continue
            last_user = plan.parent_id
            console.print(f"[bold cyan]{handle}[/]: ", end="")
            async for event in runner.stream(plan):
                if isinstance(event, ReplyToken):
                    console.print(event.text, end="", markup=False, highlight=False)
                elif isinstance(event, ReplyDone):
                    console.print()
                elif isinstance(event, ReplyError):
                    console.print(f"\n[red]{event.message}[/]")
        await runner.drain()
    finally:
        await registry.aclose()
        await engine.dispose()
