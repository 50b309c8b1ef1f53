"""Reports to the admins and the admins' queue (dismiss, delete the post, suspend)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.accounts.models import Account
from personae.db import utcnow
from personae.errors import Conflict, Invalid, NotFound, Unauthorized
from personae.instance.admin import require_admin
from personae.social.access import Viewer, get_visible_actor, get_visible_post
from personae.social.models import Actor, Post, Report
from personae.social.posts import remove_post

REASONS = ("spam", "harassment", "hate", "violence", "sexual", "impersonation", "illegal", "other")
STATUSES = ("open", "resolved", "dismissed")
ACTIONS = ("dismiss", "delete_post", "suspend", "none")
MAX_COMMENT = 2000


async def create_report(
    session: AsyncSession,
    viewer: Viewer,
    reason: str,
    handle: str | None = None,
    post_id: str | None = None,
    comment: str = "",
) -> Report:
    """Report an actor or a post the reporter can see; one open report per target."""
    account = viewer.account
    if account is None:
        raise Unauthorized("sign in to report")
    if reason not in REASONS:
        raise Invalid(f"reason must be one of {', '.join(REASONS)}", code="bad_reason")
    if len(comment) > MAX_COMMENT:
        raise Invalid(f"comment is over {MAX_COMMENT} characters", code="field_too_long")
    if not handle and not post_id:
        raise Invalid("name the actor (handle) or the post (post_id) to report", "no_target")
    post: Post | None = None
    if post_id:
        post = await get_visible_post(session, viewer, post_id)
        target = await session.get(Actor, post.author_id)
        assert target is not None
        if handle and handle.strip().lstrip("@").lower() != target.handle:
            raise Invalid("the post is not by the actor named in handle", "target_mismatch")
    else:
        assert handle is not None
        target = await get_visible_actor(session, viewer, handle)
    if target.operator_id == account.id:
        raise Invalid("you cannot report yourself or your own characters", code="self_report")
    duplicate = await session.scalar(
        select(Report.id).where(
            Report.reporter_id == account.id,
            Report.target_id == target.id,
            Report.post_id == post.id if post else Report.post_id.is_(None),
            Report.status == "open",
        )
    )
    if duplicate:
        raise Conflict("you already reported this and it is still open", code="already_reported")
    report = Report(
        reporter_id=account.id,
        target_id=target.id,
        post_id=post.id if post else None,
        post_text=post.text if post else "",
        reason=reason,
        comment=comment,
    )
    session.add(report)
    await session.flush()
    return report


async def list_reports(
    session: AsyncSession,
    account: Account | None,
    status: str = "open",
    cursor: str | None = None,
    limit: int = 40,
) -> list[Report]:
    """The admins' queue: reports with a status, oldest first (first come, first served)."""
    require_admin(account)
    if status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}", code="bad_status")
    query = select(Report).where(Report.status == status)
    if cursor:
        query = query.where(Report.id > cursor)
    rows = await session.scalars(query.order_by(Report.id).limit(max(1, min(limit, 100))))
    return list(rows)


async def my_reports(session: AsyncSession, account: Account) -> list[Report]:
    """Reports the account made, newest first."""
    rows = await session.scalars(
        select(Report).where(Report.reporter_id == account.id).order_by(Report.id.desc()).limit(100)
    )
    return list(rows)


async def resolve_report(
    session: AsyncSession,
    account: Account | None,
    report_id: str,
    action: str,
    note: str = "",
) -> Report:
    """Close a report: dismiss it, or resolve it by deleting the post or suspending the actor."""
    admin = require_admin(account)
    if action not in ACTIONS:
        raise Invalid(f"action must be one of {', '.join(ACTIONS)}", code="bad_action")
    if len(note) > MAX_COMMENT:
        raise Invalid(f"note is over {MAX_COMMENT} characters", code="field_too_long")
    report = await session.get(Report, report_id)
    if report is None:
        raise NotFound(f"no report '{report_id}'")
    if report.status != "open":
        raise Conflict(f"the report is already {report.status}", code="report_closed")
    if action == "delete_post":
        if report.post_id is None:
            raise Invalid("this report names no post (or it is already deleted)", "no_post")
        post = await session.get(Post, report.post_id)
        if post is not None:
            await remove_post(session, post)
        report.post_id = None  # as the database's ON DELETE SET NULL left it; post_text stays
    elif action == "suspend":
        target = await session.get(Actor, report.target_id)
        if target is not None:
            target.suspended = True
    report.status = "dismissed" if action == "dismiss" else "resolved"
    report.resolved_by_id = admin.id
    report.resolution = f"{action}: {note}" if note else action
    report.resolved_at = utcnow()
    await session.flush()
    return report


async def set_suspended(
    session: AsyncSession, account: Account | None, handle: str, suspended: bool
) -> Actor:
    """Suspend or reinstate an actor (admins only)."""
    require_admin(account)
    target = await session.scalar(
        select(Actor).where(Actor.handle == handle.strip().lstrip("@").lower())
    )
    if target is None:
        raise NotFound(f"no actor '@{handle}'")
    target.suspended = suspended
    await session.flush()
    return target
