"""Approvals waiting: ``GET /t/{slug}/approvals``, where the menu's "Approvals waiting"
count leads an owner or admin.

Under core's default rule any owner or admin decides a pending request; this page lists
them, oldest first, each with its kind, amount, who asked and when, and a link to the
record, whose own page is where it is decided (CRM's contract page, say: the module
shows what is being approved). Anyone else sees that nothing waits for them here; an
approval flow module (OA) brings its own inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from litestar import get
from litestar.response import Template

from core import approvals
from core.records.access import record_page
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry


@dataclass(frozen=True, slots=True)
class WaitingRow:
    kind: str  # the kind's label (a msgid), or its code when no enabled module declares it
    amount: Decimal | None
    requester: str
    requested_at: datetime
    href: str | None  # the record's page, where it is decided


@get("/approvals")
async def approvals_page(
    session: DbSession, registry: Registry, tenant: CurrentTenant, actor: CurrentActor
) -> Template:
    rows = []
    for item in await approvals.waiting(session, actor.user_id):
        request = item.request
        kind = registry.approval_kind(request.kind)
        rows.append(
            WaitingRow(
                kind.label if kind else request.kind,
                request.amount,
                item.requester_name,
                request.created_at,
                record_page(registry, tenant, request.subject_type, request.subject_id),
            )
        )
    approver = await approvals.is_approver(session, actor.user_id)
    return Template(
        "approvals/index.html",
        context={"slug": tenant.slug, "rows": rows, "approver": approver},
    )


PAGES = [approvals_page]
