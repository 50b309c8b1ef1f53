"""`personae scene ...`: open scenes, add characters, import a SillyTavern group, and talk
in a scene from the terminal, through the same services as the API and the pages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from personae.cli.common import console, fail, run_as

if TYPE_CHECKING:  # imported where used, so `personae --help` stays quick
    from personae.accounts.models import Account

app = typer.Typer(
    help="Scenes: conversations with several characters (and people).", no_args_is_help=True
)
MODES = ("natural", "list", "pooled", "manual", "director")
VISIBILITIES = ("private", "invite", "public")
OwnerOption = Annotated[
    str | None, typer.Option("--owner", help="Whose scene (default: the first admin).")
]
# A SillyTavern group file is a small JSON object; the parser refuses more than this.
IMPORT_LIMIT = 1024 * 1024


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    """A value from a fixed set, or a usage error naming the choices."""
    if value not in allowed:
        raise typer.BadParameter(f"pick one of: {', '.join(allowed)}", param_hint=option)
    return value


async def find_scene(session: AsyncSession, account: Account, ref: str) -> str:
    """A scene's id from its id or its title (as the person sees their scenes)."""
    from personae.scenes import service as scenes

    mine, invited = await scenes.list_scenes(session, account)
    listed = mine + invited
    wanted = ref.strip()
    for access in listed:
        if access.data.id == wanted:
            return access.data.id
    titled = [a for a in listed if a.data.conversation.title.casefold() == wanted.casefold()]
    if len(titled) == 1:
        return titled[0].data.id
    if len(titled) > 1:
        ids = ", ".join(a.data.id for a in titled)
        fail(f"several scenes are called '{ref}'; name one by its id: {ids}")
    if len(wanted) == 32:
        return wanted  # perhaps a public scene: the service decides (404 when it is not)
    fail(f"no scene '{ref}'; `personae scene list` shows yours with their ids")
    raise AssertionError  # unreachable: fail exits


def _cast_table(title: str, members: list[Any]) -> Table:
    """The members of a scene, characters labelled AI."""
    table = Table(title=title, title_justify="left")
    table.add_column("member")
    table.add_column("handle")
    table.add_column("")
    for member in members:
        label = "[bold magenta]AI[/]" if member.is_ai else "person"
        if member.status != "member":
            label += f" ({member.status})"
        if member.muted:
            label += " muted"
        table.add_row(member.name, f"@{member.handle}" if member.handle else "", label)
    return table


@app.command("create")
def create(
    title: str,
    character: Annotated[
        list[str] | None,
        typer.Option("--character", "-c", help="A character's handle (repeat for more)."),
    ] = None,
    mode: Annotated[str, typer.Option(help=f"Who speaks: {', '.join(MODES)}.")] = "natural",
    visibility: Annotated[
        str, typer.Option(help=f"Who sees it: {', '.join(VISIBILITIES)}.")
    ] = "private",
    scenario: Annotated[str, typer.Option(help="The setting every character knows.")] = "",
    owner: OwnerOption = None,
) -> None:
    """Open a scene with some characters; prints its id."""
    from personae.scenes import service as scenes
    from personae.scenes import views

    _choice(mode, MODES, "--mode")
    _choice(visibility, VISIBILITIES, "--visibility")
    handles = [h.strip().lstrip("@") for h in character or [] if h.strip()]
    if not handles:
        raise typer.BadParameter("name at least one character", param_hint="--character")

    async def work(session: AsyncSession, account: Account) -> tuple[str, list[Any]]:
        data = await scenes.create_scene(
            session,
            account,
            title,
            scenario=scenario,
            visibility=visibility,
            mode=mode,
            characters=handles,
        )
        return data.id, views.members_out(data)

    scene_id, members = run_as(owner, work)
    console.print(_cast_table(f"Scene '{title}' ({mode})", members))
    console.print(scene_id)


@app.command("list")
def list_scenes(owner: OwnerOption = None) -> None:
    """Your scenes, newest activity first, and the invitations waiting for you."""
    from personae.scenes import service as scenes
    from personae.scenes import views

    async def work(session: AsyncSession, account: Account) -> tuple[list[Any], list[Any]]:
        mine, invited = await scenes.list_scenes(session, account)
        return [views.summary_out(a) for a in mine], [views.summary_out(a) for a in invited]

    mine, invited = run_as(owner, work)
    if not mine and not invited:
        console.print("No scenes yet. Open one with: personae scene create TITLE -c HANDLE")
        return
    table = Table(title="Scenes", title_justify="left")
    for column in ("id", "title", "mode", "visibility", "characters (AI)", "role"):
        table.add_column(column, overflow="fold")
    for summary in mine + invited:
        role = "invited" if summary in invited else summary.my_role
        table.add_row(
            summary.id,
            summary.title,
            summary.mode,
            summary.visibility,
            ", ".join(summary.characters),
            role,
        )
    console.print(table)


@app.command("add")
def add(
    scene: Annotated[str, typer.Argument(help="The scene's id or title.")],
    handle: Annotated[str, typer.Argument(help="The character's handle.")],
    owner: OwnerOption = None,
) -> None:
    """Add a character to a scene of yours."""
    from personae.scenes import service as scenes
    from personae.scenes.access import load_scene

    async def work(session: AsyncSession, account: Account) -> tuple[str, str]:
        scene_id = await find_scene(session, account, scene)
        added = await scenes.add_character(session, account, scene_id, handle)
        data = await load_scene(session, scene_id)
        assert data is not None
        return data.name_of(added), data.conversation.title

    name, title = run_as(owner, work)
    console.print(f"Added {name} [bold magenta]AI[/] to '{title}'.")


@app.command("import")
def import_group(
    file: Annotated[Path, typer.Argument(help="A SillyTavern group file (.json).")],
    owner: OwnerOption = None,
) -> None:
    """Make a scene from a SillyTavern group file; its members are matched to characters
    here by name (import their cards first with `personae import CARD`)."""
    from personae.scenes import importing

    if not file.is_file():
        fail(f"no such file: {file}; give the path of a SillyTavern group .json file")
    if file.stat().st_size > IMPORT_LIMIT:
        fail(f"{file} is over {IMPORT_LIMIT // (1024 * 1024)} MB; is it really a group file?")
    data = file.read_bytes()

    async def work(session: AsyncSession, account: Account) -> Any:
        return await importing.import_group(session, account, data)

    with console.status(f"Importing {file.name}…", spinner="dots"):
        result = run_as(owner, work)
    scene = result.scene
    console.print(_cast_table(f"Scene '{scene.title}' ({scene.mode})", scene.members))
    if result.missing:
        names = ", ".join(result.missing)
        console.print(
            f"[yellow]Not found here, so not added:[/] {names}. Import their cards "
            f"(personae import CARD), then: personae scene add {scene.id} HANDLE"
        )
    console.print(scene.id)


@app.command("talk")
def talk(
    scene: Annotated[str, typer.Argument(help="The scene's id or title.")],
    as_user: Annotated[
        str | None, typer.Option("--as", help="Who talks (default: the first admin).")
    ] = None,
) -> None:
    """Talk in a scene: each character's reply streams in with its name and why it spoke.
    /speak NAME makes one speak, /auto on|off, /quit leaves."""
    from personae.config import get_settings

    asyncio.run(run_talk(get_settings(), scene, as_user))


async def run_talk(settings: Any, ref: str, user: str | None) -> None:
    """Open the scene and loop: read a line (or a command), stream the replies."""
    from personae.db import make_engine, make_sessionmaker, transaction
    from personae.llm.registry import BackendRegistry
    from personae.migrate import ensure_sqlite_folder, upgrade
    from personae.scenes.conductor import Conductor
    from personae.scenes.hub import HUB

    url = settings.effective_database_url
    ensure_sqlite_folder(url)
    engine = make_engine(url)
    registry = BackendRegistry.from_settings(settings)
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        conductor = Conductor(sessions, registry, reply_max_tokens=settings.reply_max_tokens)
        from personae.cli.common import resolve_user

        async with transaction(sessions) as session:
            account = await resolve_user(session, user)
            scene_id = await find_scene(session, account, ref)
            shown = await _show(session, account, scene_id)
        with HUB.subscribe(scene_id) as sub:
            printer = asyncio.create_task(_print_events(sub.queue))
            try:
                await _talk_loop(settings, conductor, sessions, account, scene_id, shown)
            finally:
                printer.cancel()
                await conductor.drain(grace_s=5)
    finally:
        await registry.aclose()
        await engine.dispose()


async def _show(session: AsyncSession, account: Account, scene_id: str) -> Any:
    """Print the scene's cast and messages so far; return the scene."""
    from personae.chat.service import all_messages
    from personae.errors import DomainError
    from personae.scenes import views
    from personae.scenes.access import scene_for

    try:
        access = await scene_for(session, account, scene_id, "member")
    except DomainError as exc:
        fail(f"{exc.message} (`personae scene list --owner NAME` shows whose scenes are whose)")
        raise
    out = views.scene_out(access, await all_messages(session, scene_id))
    console.print(_cast_table(f"Scene '{out.title}' ({out.mode})", out.members))
    for message in out.messages:
        ai = " [magenta]AI[/]" if message.speaker.is_ai else ""
        console.print(f"[bold cyan]{message.speaker.name}[/]{ai}: ", end="")
        console.print(message.content, markup=False, highlight=False)
    console.print("[dim]/speak NAME · /auto on|off · /quit[/]")
    return out


async def _print_events(queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
    """Print the scene's live events: who speaks and why, their words as they come."""
    while True:
        name, data = await queue.get()
        if name == "start":
            reason = f" [dim]({data.get('reason')})[/]" if data.get("reason") else ""
            console.print(f"[bold cyan]{data.get('name', '')}[/] [magenta]AI[/]{reason}: ", end="")
        elif name == "token":
            console.print(str(data.get("text", "")), end="", markup=False, highlight=False)
        elif name == "done":
            console.print()
        elif name == "error" and data.get("code") != "stopped":
            console.print(f"\n[red]{data.get('message', 'no reply this time')}[/]")
        elif name == "auto":
            state = "on" if data.get("on") else "off"
            console.print(f"[dim]auto-mode {state}, {data.get('turns_left', 0)} turns left[/]")


async def _talk_loop(
    settings: Any,
    conductor: Any,
    sessions: Any,
    account: Account,
    scene_id: str,
    shown: Any,
) -> None:
    from personae.db import transaction
    from personae.errors import DomainError
    from personae.llm.base import BackendError
    from personae.scenes import auto, messages, turns

    characters = {m.name.casefold(): m.id for m in shown.members if m.kind == "character"}
    characters |= {m.handle.casefold(): m.id for m in shown.members if m.kind == "character"}
    while True:
        try:
            line = await asyncio.to_thread(console.input, "[bold green]you[/]: ")
        except (EOFError, KeyboardInterrupt):
            break
        text = line.strip()
        if text in ("/quit", "/exit"):
            break
        if not text:
            continue
        try:
            if text.startswith("/speak"):
                wanted = text.removeprefix("/speak").strip().lstrip("@").casefold()
                pid = characters.get(wanted)
                if pid is None:
                    known = ", ".join(m.name for m in shown.members if m.kind == "character")
                    console.print(f"[yellow]no character '{wanted}' here; try one of: {known}[/]")
                    continue
                async with transaction(sessions) as session:
                    await messages.check_speaker(session, account, scene_id, pid)
                conductor.start(conductor.claim(scene_id), [turns.Choice(pid, "manual")])
            elif text.startswith("/auto"):
                on = text.removeprefix("/auto").strip() in ("on", "")
                async with transaction(sessions) as session:
                    await auto.set_auto(session, account, scene_id, on)
                conductor.wake_auto(scene_id)
                if not on:
                    await conductor.stop(scene_id)
                continue
            elif text.startswith("/"):
                console.print("[yellow]commands: /speak NAME, /auto on|off, /quit[/]")
                continue
            else:
                run = conductor.claim(scene_id)
                try:
                    async with transaction(sessions) as session:
                        posted = await messages.post_message(
                            session,
                            account,
                            scene_id,
                            line,
                            max_chars=settings.max_message_chars,
                        )
                except BaseException:
                    conductor.release(run)
                    raise
                conductor.start(run, posted.choices, director=posted.director)
                if not posted.choices and not posted.director:
                    console.print("[dim]nobody answers that; /speak NAME makes one speak[/]")
        except (DomainError, BackendError) as exc:
            console.print(f"[red]{exc.message}[/]")
            continue
        # The conductor offers no per-chain event to wait on; its claim is the signal.
        while conductor.busy(scene_id):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # let the last events print before the prompt
