"""OA approval reports (审批报表): the figures behind the reports page, its exports and the
JSON API, summed in SQL over the engine's own rows (``oa_approval_instance``,
``oa_approval_task``, ``oa_approval_action``) and core's request (its decision time).

What counts, and when:

- **Submitted in the period**: an instance whose first submission (``created_at``; a
  resubmission after a return is the same approval) falls in the period. The counts
  report and the cycle times read these instances.
- **Counts**: of those, how many are approved, rejected, withdrawn, and still open
  ("pending": waiting for an approver, or returned to the requester for changes).
- **Cycle time**: from the submission to the decision (``core_approval_request.decided_at``,
  which ``finish_request`` stamps) of the approved and rejected ones; a withdrawal is no
  decision and is left out.
- **Waits**: every approver's task (``role = 'approve'``) opened in the period, from its
  opening to its action (approved, rejected, transferred). A task still open waits up to
  now; a task closed because the step was decided by someone else ("no longer needed") and
  one approved automatically (an ``auto_approved`` line on the timeline) had nobody act on
  it and is left out. The step's name is the one in the instance's plan.
- **Filters** narrow every report: the period (days, UTC), the kind, and the requester's
  department with every department below it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, and_, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.errors import NotFound, ValidationFailed
from core.models import ApprovalRequest, Department, Membership
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.oa import permissions as codes
from modules.oa.models import ApprovalAction, ApprovalInstance, ApprovalTask
from modules.oa.services import flows, forms

MONTHS_DEFAULT = 3
MONTHS_MAX = 36
SLOWEST_SHOWN = 10
OPEN = ("pending", "returned")
DECIDED = ("approved", "rejected")
ACTED = ("approved", "rejected", "transferred")


# --- filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """The period from ``first`` to ``last`` (days, both included, UTC), a kind, and a
    department with the departments below it (``departments``; empty: any)."""

    first: date
    last: date
    kind: str = ""
    department_id: uuid.UUID | None = None
    departments: tuple[uuid.UUID, ...] = ()

    @property
    def since(self) -> datetime:
        return datetime.combine(self.first, time.min, UTC)

    @property
    def until(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time.min, UTC)

    def query(self) -> dict[str, str]:
        """The filters as the page's and export's query string has them (blank left out)."""
        chosen = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "kind": self.kind,
            "department": str(self.department_id or ""),
        }
        return {key: value for key, value in chosen.items() if value}


def today() -> date:
    """Today, UTC: the default period ends here."""
    return datetime.now(UTC).date()


def months_back(today: date, months: int) -> date:
    """The first day of the month ``months - 1`` before ``today``'s: "the last 3 months" in
    March are January to March."""
    index = today.year * 12 + today.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def _day(field: str, text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("Type a date such as 2026-03-31.", field=field) from None


async def read_filters(
    session: AsyncSession,
    registry: ModuleRegistry,
    *,
    start: str = "",
    end: str = "",
    months: str = "",
    kind: str = "",
    department: str = "",
    today: date,
) -> ReportFilters:
    """The filters as typed: ``from`` and ``to`` days (``2026-03-31``), or ``months`` (the
    last N months up to ``today``; the last three when nothing is given), a declared kind,
    a department id. A refusal names its input."""
    last = _day("to", end) or today
    first = _day("from", start)
    if months.strip():
        if first is not None:
            raise ValidationFailed(
                "Give the first day or a number of months, not both.", field="months"
            )
        try:
            count = int(months.strip())
        except ValueError:
            count = 0
        if not 1 <= count <= MONTHS_MAX:
            raise ValidationFailed("Choose from 1 to {max} months.", max=MONTHS_MAX, field="months")
        first = months_back(last, count)
    if first is None:
        first = months_back(last, MONTHS_DEFAULT)
    if last < first:
        raise ValidationFailed("The period ends before it starts.", field="to")
    if months_back(last, MONTHS_MAX) > first:
        raise ValidationFailed(
            "A report covers at most {max} months.", max=MONTHS_MAX, field="from"
        )
    kind = kind.strip()
    if kind and registry.approval_kind(kind) is None and forms.code_of_flow(kind) is None:
        raise ValidationFailed("Unknown approval kind {kind}.", kind=kind, field="kind")
    department_id: uuid.UUID | None = None
    departments: tuple[uuid.UUID, ...] = ()
    if department.strip():
        try:
            department_id = uuid.UUID(department.strip())
            departments = tuple(await organisation.subtree_ids(session, department_id))
        except (ValueError, NotFound):
            raise ValidationFailed(
                "No department {id}.", id=department.strip(), field="department"
            ) from None
    return ReportFilters(first, last, kind, department_id, departments)


def _requester_department() -> Any:
    """The requester's department now (their membership's), as a correlated scalar."""
    return (
        select(Membership.department_id)
        .where(Membership.user_id == ApprovalInstance.requester_id)
        .limit(1)
        .scalar_subquery()
    )


def _narrowing(filters: ReportFilters) -> list[ColumnElement[bool]]:
    """The kind and department filters, on the instance."""
    where: list[ColumnElement[bool]] = []
    if filters.kind:
        where.append(ApprovalInstance.kind == filters.kind)
    if filters.department_id is not None:
        where.append(_requester_department().in_(filters.departments))
    return where


def _submitted_in(filters: ReportFilters) -> list[ColumnElement[bool]]:
    return [
        ApprovalInstance.created_at >= filters.since,
        ApprovalInstance.created_at < filters.until,
        *_narrowing(filters),
    ]


def _seconds(value: Any) -> int:
    return 0 if value is None else round(value)


# --- (1) counts by kind and by department ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountRow:
    key: str  # the kind's code, or the department's id ("" for none, and on the total row)
    name: str
    submitted: int
    approved: int
    rejected: int
    withdrawn: int
    pending: int  # still open: waiting for an approver, or returned to the requester


@dataclass(frozen=True, slots=True)
class Counts:
    by_kind: tuple[CountRow, ...]
    by_department: tuple[CountRow, ...]
    total: CountRow


def _count_columns() -> list[Any]:
    status = ApprovalInstance.status
    return [
        func.count(),
        func.count().filter(status == "approved"),
        func.count().filter(status == "rejected"),
        func.count().filter(status == "withdrawn"),
        func.count().filter(status.in_(OPEN)),
    ]


async def counts(
    session: AsyncSession, registry: ModuleRegistry, actor: Actor, filters: ReportFilters
) -> Counts:
    """Approvals submitted in the period, by kind and by the requester's department: how
    many, and how many of them are approved, rejected, withdrawn or still open."""
    actor.require(codes.REPORT_READ)
    by_kind = (
        await session.execute(
            select(ApprovalInstance.kind, *_count_columns())
            .where(*_submitted_in(filters))
            .group_by(ApprovalInstance.kind)
        )
    ).all()
    department = _requester_department().label("department_id")
    grouped = select(department, ApprovalInstance.status).where(*_submitted_in(filters)).subquery()
    status = grouped.c.status
    by_department = (
        await session.execute(
            select(
                grouped.c.department_id,
                Department.name,
                func.count(),
                func.count().filter(status == "approved"),
                func.count().filter(status == "rejected"),
                func.count().filter(status == "withdrawn"),
                func.count().filter(status.in_(OPEN)),
            )
            .select_from(grouped)
            .outerjoin(Department, Department.id == grouped.c.department_id)
            .group_by(grouped.c.department_id, Department.name)
        )
    ).all()
    labels = await flows.kind_labels(session, [kind for kind, *_numbers in by_kind], registry)
    kinds = sorted(
        (CountRow(kind, labels[kind], *numbers) for kind, *numbers in by_kind),
        key=lambda row: (row.name.casefold(), row.key),
    )
    departments = sorted(
        (CountRow(str(dept or ""), name or "", *numbers) for dept, name, *numbers in by_department),
        key=lambda row: (not row.key, row.name.casefold(), row.key),
    )
    sums = [sum(getattr(row, name) for row in kinds) for name in _COUNTS]
    return Counts(tuple(kinds), tuple(departments), CountRow("", "", *sums))


_COUNTS = ("submitted", "approved", "rejected", "withdrawn", "pending")


# --- (2) cycle time --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CycleRow:
    kind: str  # "" on the total row
    name: str
    decided: int
    average_seconds: int
    longest_seconds: int


@dataclass(frozen=True, slots=True)
class SlowApproval:
    instance_id: uuid.UUID
    kind: str
    kind_label: str
    requester: str
    status: str
    submitted_at: datetime
    decided_at: datetime
    seconds: int


@dataclass(frozen=True, slots=True)
class CycleTimes:
    rows: tuple[CycleRow, ...]
    total: CycleRow
    slowest: tuple[SlowApproval, ...]


async def cycle_times(
    session: AsyncSession,
    registry: ModuleRegistry,
    actor: Actor,
    filters: ReportFilters,
    *,
    slowest: int = SLOWEST_SHOWN,
) -> CycleTimes:
    """Approvals submitted in the period and decided (approved or rejected) since: the
    average and the longest time from submission to decision, per kind and overall, and
    the ``slowest`` ones."""
    actor.require(codes.REPORT_READ)
    took = func.extract("epoch", ApprovalRequest.decided_at - ApprovalInstance.created_at)
    decided = [
        *_submitted_in(filters),
        ApprovalInstance.status.in_(DECIDED),
        ApprovalRequest.decided_at.is_not(None),
    ]
    joined = select(ApprovalInstance.kind, func.count(), func.avg(took), func.max(took)).join(
        ApprovalRequest, ApprovalRequest.id == ApprovalInstance.request_id
    )
    per_kind = (await session.execute(joined.where(*decided).group_by(ApprovalInstance.kind))).all()
    total = (
        await session.execute(
            select(func.count(), func.avg(took), func.max(took))
            .select_from(ApprovalInstance)
            .join(ApprovalRequest, ApprovalRequest.id == ApprovalInstance.request_id)
            .where(*decided)
        )
    ).one()
    slow = (
        await session.execute(
            select(ApprovalInstance, ApprovalRequest.decided_at, took)
            .join(ApprovalRequest, ApprovalRequest.id == ApprovalInstance.request_id)
            .where(*decided)
            .order_by(took.desc(), ApprovalInstance.id)
            .limit(slowest)
        )
    ).all()
    names = await flows.display_names(session, {row[0].requester_id for row in slow})
    labels = await flows.kind_labels(
        session, {row[0] for row in per_kind} | {row[0].kind for row in slow}, registry
    )
    rows = sorted(
        (
            CycleRow(kind, labels[kind], count, _seconds(avg), _seconds(top))
            for kind, count, avg, top in per_kind
        ),
        key=lambda row: (row.name.casefold(), row.kind),
    )
    return CycleTimes(
        tuple(rows),
        CycleRow("", "", total[0], _seconds(total[1]), _seconds(total[2])),
        tuple(
            SlowApproval(
                instance.id,
                instance.kind,
                labels[instance.kind],
                names.get(instance.requester_id, ""),
                instance.status,
                instance.created_at,
                decided_at,
                _seconds(seconds),
            )
            for instance, decided_at, seconds in slow
        ),
    )


# --- (3) where approvals wait ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WaitRow:
    kind: str
    kind_label: str
    step: int  # from 1
    step_name: str
    tasks: int  # tasks opened in the period that someone acted on, or that still wait
    waiting: int  # of them, still open now
    average_seconds: int
    longest_seconds: int


@dataclass(frozen=True, slots=True)
class Waits:
    rows: tuple[WaitRow, ...]  # the longest average first
    now: datetime  # what the open tasks count up to


async def waits(
    session: AsyncSession,
    registry: ModuleRegistry,
    actor: Actor,
    filters: ReportFilters,
    *,
    now: datetime | None = None,
) -> Waits:
    """Per kind and step: how long approvers' tasks opened in the period waited from being
    opened to being acted on; tasks still open count up to ``now``."""
    actor.require(codes.REPORT_READ)
    moment = now or datetime.now(UTC)
    task = ApprovalTask
    still_open = (task.status == "pending") & (ApprovalInstance.status == "pending")
    ended = func.coalesce(task.decided_at, literal(moment))
    waited = func.extract("epoch", ended - task.created_at)
    step_name = cast(ApprovalInstance.plan.op("->")(task.step).op("->>")("name"), String)
    automatic = exists(
        select(ApprovalAction.id).where(
            ApprovalAction.instance_id == task.instance_id,
            ApprovalAction.action == "auto_approved",
            ApprovalAction.actor_id == task.assignee_id,
            ApprovalAction.step == task.step,
        )
    )
    rows = (
        await session.execute(
            select(
                ApprovalInstance.kind,
                task.step,
                step_name,
                func.count(),
                func.count().filter(still_open),
                func.avg(waited),
                func.max(waited),
            )
            .select_from(task)
            .join(ApprovalInstance, ApprovalInstance.id == task.instance_id)
            .where(
                task.role == "approve",
                task.created_at >= filters.since,
                task.created_at < filters.until,
                (task.status.in_(ACTED) & task.decided_at.is_not(None)) | still_open,
                ~and_(task.status == "approved", automatic),
                *_narrowing(filters),
            )
            .group_by(ApprovalInstance.kind, task.step, step_name)
        )
    ).all()
    labels = await flows.kind_labels(session, {row[0] for row in rows}, registry)
    found = [
        WaitRow(
            kind,
            labels[kind],
            index + 1,
            name or "",
            count,
            open_count,
            _seconds(avg),
            _seconds(top),
        )
        for kind, index, name, count, open_count, avg, top in rows
    ]
    found.sort(key=lambda row: (-row.average_seconds, row.kind_label.casefold(), row.step))
    return Waits(tuple(found), moment)
