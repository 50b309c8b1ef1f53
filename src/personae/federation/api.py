"""Federation's part of the JSON API: finding an actor by its address, here or elsewhere.

Its router is included before the social actors' one, whose "/actors/{handle}" would
otherwise take "lookup" for a handle.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request

from personae.deps import DB, get_state
from personae.errors import Invalid
from personae.federation.context import Federation
from personae.federation.remote import lookup_acct, parse_acct
from personae.social.api.actors import profile
from personae.social.api.common import ViewerDep
from personae.social.schemas import ActorProfile

router = APIRouter(prefix="/api/v1", tags=["actors"])
LOCAL_HANDLE = re.compile(r"[A-Za-z0-9_]{1,30}")


@router.get("/actors/lookup", response_model_exclude_unset=True)
async def lookup_actor(
    request: Request,
    viewer: ViewerDep,
    db: DB,
    acct: Annotated[
        str,
        Query(
            min_length=1,
            max_length=330,
            description="An account address, user@domain (a leading @ is fine); a bare "
            "handle finds a local actor.",
        ),
    ],
) -> ActorProfile:
    """Find an actor by address; a remote one is fetched from its server (signed in only)."""
    value = acct.strip().lstrip("@")
    if "@" not in value:
        if not LOCAL_HANDLE.fullmatch(value):
            raise Invalid("write an account as user@domain, or a local handle", code="bad_acct")
        return await profile(db, viewer, value)
    user, domain = parse_acct(value)
    federation = Federation.from_settings(get_state(request).settings)
    if domain == federation.urls.domain:
        return await profile(db, viewer, user)
    # Asking another server costs it (and us) a request: only members may make us do so.
    viewer.require_actor()
    actor, _ = await lookup_acct(db, federation, value)
    return await profile(db, viewer, actor.handle)
