"""Reports API and the admins' queue."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, StringConstraints

from personae.deps import DB, AdminAccount, CurrentAccount
from personae.social import reports
from personae.social.api.common import ActingViewer, Cursor
from personae.social.models import Report
from personae.social.schemas import ReportList, ReportOut, ReportPage
from personae.social.views import actor_handles

router = APIRouter(prefix="/api/v1", tags=["moderation"])
Reason = Literal[
    "spam", "harassment", "hate", "violence", "sexual", "impersonation", "illegal", "other"
]


class ReportIn(BaseModel):
    """A report about an actor, or one of its posts."""

    model_config = ConfigDict(extra="forbid")
    handle: Annotated[str, StringConstraints(min_length=1, max_length=31)] | None = None
    post_id: Annotated[str, StringConstraints(min_length=32, max_length=32)] | None = None
    reason: Reason
    comment: Annotated[str, StringConstraints(max_length=2000)] = ""


class Resolution(BaseModel):
    """What the admin does about a report."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["dismiss", "delete_post", "suspend", "none"]
    note: Annotated[str, StringConstraints(max_length=2000)] = ""


def report_out(report: Report, target_handle: str | None = None) -> ReportOut:
    """The API form of a report."""
    return ReportOut(
        id=report.id,
        created_at=report.created_at.isoformat(),
        target_id=report.target_id,
        target_handle=target_handle,
        post_id=report.post_id,
        post_text=report.post_text,
        reason=report.reason,
        comment=report.comment,
        status=report.status,
        resolution=report.resolution,
        resolved_at=report.resolved_at.isoformat() if report.resolved_at else None,
    )


@router.post("/reports", status_code=201)
async def create_report(body: ReportIn, viewer: ActingViewer, db: DB) -> ReportOut:
    """Report an actor or a post to the admins."""
    report = await reports.create_report(
        db, viewer, body.reason, body.handle, body.post_id, body.comment
    )
    return report_out(report, (await actor_handles(db, {report.target_id})).get(report.target_id))


@router.get("/reports")
async def my_reports(account: CurrentAccount, db: DB) -> ReportList:
    """Reports you made and what became of them."""
    rows = await reports.my_reports(db, account)
    handles = await actor_handles(db, {r.target_id for r in rows})
    return ReportList(items=[report_out(r, handles.get(r.target_id)) for r in rows])


@router.get("/admin/reports")
async def report_queue(
    account: AdminAccount,
    db: DB,
    status: Literal["open", "resolved", "dismissed"] = "open",
    cursor: Cursor = None,
) -> ReportPage:
    """The admins' queue of reports, oldest first."""
    rows = await reports.list_reports(db, account, status, cursor)
    handles = await actor_handles(db, {r.target_id for r in rows})
    return ReportPage(
        items=[report_out(r, handles.get(r.target_id)) for r in rows],
        next_cursor=rows[-1].id if len(rows) == 40 else None,
    )


@router.post("/admin/reports/{report_id}/resolve")
async def resolve(report_id: str, body: Resolution, account: AdminAccount, db: DB) -> ReportOut:
    """Close a report: dismiss it, delete the reported post, or suspend the actor."""
    report = await reports.resolve_report(db, account, report_id, body.action, body.note)
    return report_out(report, (await actor_handles(db, {report.target_id})).get(report.target_id))


@router.post("/admin/actors/{handle}/suspend", status_code=204)
async def suspend(handle: str, account: AdminAccount, db: DB) -> None:
    """Suspend an actor: it disappears from the network and cannot act."""
    await reports.set_suspended(db, account, handle, True)


@router.delete("/admin/actors/{handle}/suspend", status_code=204)
async def unsuspend(handle: str, account: AdminAccount, db: DB) -> None:
    """Reinstate a suspended actor."""
    await reports.set_suspended(db, account, handle, False)
