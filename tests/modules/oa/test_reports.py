"""OA's approval reports (services): exact counts by kind and department, cycle times and
the slowest approvals, waits per step with an open task counted up to a fixed ``now``, the
period, kind and department filters (a department with the one below it), refusals of bad
filters, the right, and two workspaces apart.

The approvals are run through the engine; their times are then set with SQL so every
duration is exact."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import update

from core import roles
from core.errors import PermissionDenied, ValidationFailed
from core.models import ApprovalRequest
from core.permissions import Actor
from modules.oa.models import ApprovalInstance, ApprovalTask
from modules.oa.services import engine, reports
from modules.oa.services.reports import ReportFilters
from modules.oa.views.reports import readable
from tests.modules.oa.conftest import KIND, Office, instance_of, step

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}
NOW = datetime(2026, 3, 21, 10, tzinfo=UTC)  # the open approval has waited exactly one day


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@dataclass
class Book:
    """Who is who, and the approvals of March 2026 (and one of February)."""

    boss: Actor
    member: Actor
    sales: uuid.UUID  # Sales, with Sales East below it
    east: uuid.UUID
    ops: uuid.UUID
    approved: uuid.UUID  # instance ids
    rejected: uuid.UUID
    withdrawn: uuid.UUID
    pending: uuid.UUID
    february: uuid.UUID


async def timed(
    office: Office,
    instance_id: uuid.UUID,
    submitted: datetime,
    tasks: dict[int, tuple[datetime, datetime | None]],
    decided: datetime | None = None,
) -> None:
    """Set the instance's submission, its tasks' opening and action times (by step), and
    the request's decision time."""
    async with office.session() as session:
        instance = await session.get(ApprovalInstance, (office.tenant_id, instance_id))
        assert instance is not None
        instance.created_at = submitted
        for index, (opened, acted) in tasks.items():
            await session.execute(
                update(ApprovalTask)
                .where(ApprovalTask.instance_id == instance_id, ApprovalTask.step == index)
                .values(created_at=opened, decided_at=acted)
            )
        if decided is not None:
            await session.execute(
                update(ApprovalRequest)
                .where(ApprovalRequest.id == instance.request_id)
                .values(decided_at=decided)
            )


async def book(office: Office) -> Book:
    sales = await office.department("Sales")
    east = await office.department("Sales East", sales)
    ops = await office.department("Ops")
    boss = await office.person("Boss", role=roles.ADMIN)
    member = await office.person("Mei", department=ops)
    li = await office.person("Li", department=ops)
    zhao = await office.person("Zhao", department=ops)
    wei = await office.person("Wei", department=sales)
    fang = await office.person("Fang", department=east)
    chen = await office.person("Chen", department=ops)
    await office.flow(
        step("Manager review", member_ids=(li.user_id,)),
        step("Finance", member_ids=(zhao.user_id,)),
    )

    async def asked(who: Actor) -> uuid.UUID:
        return (await instance_of(office, await office.ask(who))).id

    async def decide(instance_id: uuid.UUID, who: Actor, approve: bool = True) -> None:
        async with office.session() as session:
            await engine.decide(session, instance_id, who.user_id, approve=approve)

    approved = await asked(wei)
    await decide(approved, li)
    await decide(approved, zhao)
    await timed(
        office,
        approved,
        at(2, 9),
        {0: (at(2, 9), at(2, 11)), 1: (at(2, 11), at(4, 12))},
        decided=at(4, 12),
    )
    rejected = await asked(fang)
    await decide(rejected, li, approve=False)
    await timed(office, rejected, at(10, 8), {0: (at(10, 8), at(10, 8, 30))}, at(10, 8, 30))
    withdrawn = await asked(chen)
    async with office.session() as session:
        await engine.withdraw(session, withdrawn, chen.user_id)
    await timed(office, withdrawn, at(12, 10), {0: (at(12, 10), None)}, at(12, 11))
    pending = await asked(wei)
    await timed(office, pending, at(20, 10), {0: (at(20, 10), None)})
    february = await asked(wei)
    await decide(february, li)
    await decide(february, zhao)
    feb = {0: (at(10, 9, month=2), at(10, 10, month=2)), 1: (at(10, 10, month=2), None)}
    await timed(office, february, at(10, 9, month=2), feb, at(11, 9, month=2))
    return Book(boss, member, sales, east, ops, approved, rejected, withdrawn, pending, february)


async def filters_of(office: Office, **typed: str) -> ReportFilters:
    async with office.session() as session:
        return await reports.read_filters(
            session, office.registry, today=date(2026, 3, 21), **{**MARCH, **typed}
        )


async def counted(office: Office, who: Actor, **typed: str) -> reports.Counts:
    filters = await filters_of(office, **typed)
    async with office.session() as session:
        return await reports.counts(session, office.registry, who, filters)


def numbers(row: reports.CountRow) -> tuple[int, int, int, int, int]:
    return row.submitted, row.approved, row.rejected, row.withdrawn, row.pending


async def test_counts_by_kind_and_department(office: Office) -> None:
    made = await book(office)
    found = await counted(office, made.boss)
    assert [(r.key, r.name, numbers(r)) for r in found.by_kind] == [
        (KIND, "Contract approval", (4, 1, 1, 1, 1))
    ]
    assert [(r.name, numbers(r)) for r in found.by_department] == [
        ("Ops", (1, 0, 0, 1, 0)),
        ("Sales", (2, 1, 0, 0, 1)),
        ("Sales East", (1, 0, 1, 0, 0)),
    ]
    assert numbers(found.total) == (4, 1, 1, 1, 1)


async def test_a_department_counts_with_the_ones_below_it(office: Office) -> None:
    made = await book(office)
    sales = await counted(office, made.boss, department=str(made.sales))
    assert numbers(sales.total) == (3, 1, 1, 0, 1)  # Wei's two, Fang's of Sales East
    assert [r.name for r in sales.by_department] == ["Sales", "Sales East"]
    east = await counted(office, made.boss, department=str(made.east))
    assert numbers(east.total) == (1, 0, 1, 0, 0)
    of_kind = await counted(office, made.boss, kind=KIND, department=str(made.sales))
    assert numbers(of_kind.total) == (3, 1, 1, 0, 1)
    february = await counted(office, made.boss, start="2026-02-01", end="2026-02-28")
    assert numbers(february.total) == (1, 1, 0, 0, 0)


async def test_the_last_months_reach_back_to_the_first_of_a_month(office: Office) -> None:
    made = await book(office)
    two = await counted(office, made.boss, start="", months="2")  # February and March
    assert numbers(two.total) == (5, 2, 1, 1, 1)
    default = await filters_of(office, start="", end="")
    assert (default.first, default.last) == (date(2026, 1, 1), date(2026, 3, 21))


async def test_cycle_time_per_kind_and_the_slowest(office: Office) -> None:
    made = await book(office)
    filters = await filters_of(office)
    async with office.session() as session:
        found = await reports.cycle_times(session, office.registry, made.boss, filters)
    hours_51, half_hour = 51 * 3600, 1800
    assert [(r.kind, r.decided, r.average_seconds, r.longest_seconds) for r in found.rows] == [
        (KIND, 2, (hours_51 + half_hour) // 2, hours_51)
    ]
    assert (found.total.decided, found.total.longest_seconds) == (2, hours_51)
    assert [(s.instance_id, s.status, s.seconds, s.requester) for s in found.slowest] == [
        (made.approved, "approved", hours_51, "Wei"),
        (made.rejected, "rejected", half_hour, "Fang"),
    ]
    assert readable(hours_51) == "2 d 3 h"
    assert readable(found.total.average_seconds) == "1 d 1 h"  # 25 h 45 min
    assert readable(half_hour) == "30 min"
    assert readable(5 * 3600 + 20 * 60) == "5 h 20 min"


async def test_waits_per_step_count_open_tasks_up_to_now(office: Office) -> None:
    made = await book(office)
    filters = await filters_of(office)
    async with office.session() as session:
        found = await reports.waits(session, office.registry, made.boss, filters, now=NOW)
    # Manager review: 2 h (approved), 30 min (rejected), 1 d (still open, up to NOW); the
    # withdrawn approval's task was closed unanswered and does not count.
    assert [
        (r.step, r.step_name, r.tasks, r.waiting, r.average_seconds, r.longest_seconds)
        for r in found.rows
    ] == [
        (2, "Finance", 1, 0, 49 * 3600, 49 * 3600),
        (1, "Manager review", 3, 1, (7200 + 1800 + 86400) // 3, 86400),
    ]
    assert found.now == NOW


async def test_an_automatic_approval_is_no_wait(office: Office) -> None:
    li = await office.person("Li")
    boss = await office.person("Boss", role=roles.ADMIN)
    requester = await office.person("Wei")
    await office.flow(
        step("First", member_ids=(li.user_id,)), step("Again", member_ids=(li.user_id,))
    )
    instance = await instance_of(office, await office.ask(requester))
    async with office.session() as session:
        await engine.decide(session, instance.id, li.user_id, approve=True)
    await timed(
        office, instance.id, at(2, 9), {0: (at(2, 9), at(2, 10)), 1: (at(2, 10), at(2, 10))}
    )
    filters = await filters_of(office)
    async with office.session() as session:
        found = await reports.waits(session, office.registry, boss, filters, now=NOW)
    assert [(r.step_name, r.tasks, r.average_seconds) for r in found.rows] == [("First", 1, 3600)]


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ({"start": "2026-02-30"}, "from"),
        ({"end": "March"}, "to"),
        ({"start": "2026-03-31", "end": "2026-03-01"}, "to"),
        ({"start": "2023-01-01"}, "from"),
        ({"start": "", "months": "0"}, "months"),
        ({"start": "", "months": "many"}, "months"),
        ({"months": "2"}, "months"),  # a first day and months both
        ({"kind": "nope.nothing"}, "kind"),
        ({"department": "not-an-id"}, "department"),
        ({"department": str(uuid.uuid4())}, "department"),
    ],
)
async def test_bad_filters_are_refused_naming_their_input(
    office: Office, typed: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await filters_of(office, **typed)
    assert refused.value.params["field"] == field


async def test_only_those_with_the_right_read_reports(office: Office) -> None:
    made = await book(office)
    with pytest.raises(PermissionDenied):
        await counted(office, made.member)


async def test_two_workspaces_count_their_own(office: Office, other_office: Office) -> None:
    made = await book(office)
    boss = await other_office.person("Bolt boss", role=roles.ADMIN)
    requester = await other_office.person("Ann")
    await other_office.flow(step("Check", member_ids=(boss.user_id,)))
    instance = await instance_of(other_office, await other_office.ask(requester))
    await timed(other_office, instance.id, at(5, 9), {0: (at(5, 9), None)})
    assert numbers((await counted(office, made.boss)).total) == (4, 1, 1, 1, 1)
    theirs = await counted(other_office, boss)
    assert numbers(theirs.total) == (1, 0, 0, 0, 1)
    filters = await filters_of(other_office)
    async with other_office.session() as session:
        waits = await reports.waits(session, other_office.registry, boss, filters, now=NOW)
        cycle = await reports.cycle_times(session, other_office.registry, boss, filters)
    assert [(r.tasks, r.waiting) for r in waits.rows] == [(1, 1)]
    assert cycle.slowest == ()
    assert cycle.total.decided == 0
