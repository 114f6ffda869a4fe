"""The approvals inbox's services on a real database: each filter, the text search, keyset
paging, refused filters, "Approve selected" with an approver racing the batch, the waiting
count, the reminder setting and the hourly reminder job (once, not for a young task, off
at 0, two workspaces with different settings), and the setting's table under RLS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from core import roles
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.permissions import Actor
from core.records.models import Notification
from modules.oa.models import ApprovalSettings, ApprovalTask
from modules.oa.services import approval_batch, approval_inbox, approval_reminders, engine
from modules.oa.services.approval_inbox import Filters
from modules.oa.services.approval_reminders import Reminders
from tests.modules.oa.conftest import Office, decide, instance_of, request_status, step


async def ids_in(
    office: Office, actor: Actor, box: str = "all", filters: Filters | None = None
) -> list[uuid.UUID]:
    async with office.session() as session:
        page = await approval_inbox.inbox(
            session, office.registry, actor, box, filters or Filters()
        )
        return [item.instance.id for item in page.items]


def typed(office: Office, **given: str) -> Filters:
    return approval_inbox.read_filters(office.registry, given)


@pytest.fixture
async def three(office: Office) -> tuple[Actor, Actor, Actor, list[uuid.UUID]]:
    """An admin approver and two requesters: Wei's pending and approved, Li's rejected."""
    boss = await office.person("Boss", role=roles.ADMIN)
    wei = await office.person("Wei")
    li = await office.person("Li Na")
    await office.flow(step("Boss", member_ids=(boss.user_id,)))
    pending = await office.ask(wei, title="Lotus hotel contract")
    approved = await office.ask(wei, title="Printer paper")
    rejected = await office.ask(li, title="Lotus garden lease")
    await decide(office, boss, approved)
    await decide(office, boss, rejected, approve=False)
    made = [(await instance_of(office, r)).id for r in (pending, approved, rejected)]
    return boss, wei, li, made


async def test_each_filter_narrows_the_box(office: Office, three) -> None:
    boss, wei, li, (pending, approved, rejected) = three
    newest_first = [rejected, approved, pending]
    assert await ids_in(office, boss) == newest_first
    assert await ids_in(office, boss, filters=typed(office, status="approved")) == [approved]
    assert await ids_in(office, boss, filters=typed(office, status="rejected")) == [rejected]
    assert await ids_in(office, boss, filters=typed(office, status="withdrawn")) == []
    by_wei = typed(office, requester=str(wei.user_id))
    assert await ids_in(office, boss, filters=by_wei) == [approved, pending]
    contracts = typed(office, kind="crm.contract")
    assert await ids_in(office, boss, filters=contracts) == newest_first
    assert await ids_in(office, boss, filters=typed(office, kind="sample.note")) == []
    today = datetime.now(UTC).date()
    since_today = typed(office, **{"from": today.isoformat()})
    assert await ids_in(office, boss, filters=since_today) == newest_first
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert await ids_in(office, boss, filters=typed(office, **{"from": tomorrow})) == []
    yesterday = (today - timedelta(days=1)).isoformat()
    assert await ids_in(office, boss, filters=typed(office, to=yesterday)) == []
    assert await ids_in(office, boss, filters=typed(office, to=today.isoformat())) == newest_first
    both = typed(office, requester=str(wei.user_id), status="pending")
    assert await ids_in(office, boss, filters=both) == [pending]
    # Filters narrow a box, never widen it: the requester's own box has only theirs.
    assert await ids_in(office, li, "started", typed(office, status="approved")) == []
    assert await ids_in(office, boss, "todo", typed(office, requester=str(li.user_id))) == []


async def test_search_finds_the_title_the_requester_and_the_kind(office: Office, three) -> None:
    boss, _, _, (pending, approved, rejected) = three
    assert await ids_in(office, boss, filters=typed(office, q="lotus")) == [rejected, pending]
    assert await ids_in(office, boss, filters=typed(office, q="PRINTER")) == [approved]
    assert await ids_in(office, boss, filters=typed(office, q="li na")) == [rejected]
    assert await ids_in(office, boss, filters=typed(office, q="contract approv")) == [
        rejected,
        approved,
        pending,
    ]
    assert await ids_in(office, boss, filters=typed(office, q="100%")) == []  # % is literal
    assert await ids_in(office, boss, filters=typed(office, q="lotus", status="pending")) == [
        pending
    ]


async def test_a_box_pages_by_keyset(office: Office, three) -> None:
    boss, *_, (pending, approved, rejected) = three
    async with office.session() as session:
        first = await approval_inbox.inbox(session, office.registry, boss, "all", limit=2)
        assert [i.instance.id for i in first.items] == [rejected, approved]
        assert first.next_cursor == str(approved)
        second = await approval_inbox.inbox(
            session, office.registry, boss, "all", after=first.next_cursor, limit=2
        )
        assert [i.instance.id for i in second.items] == [pending]
        assert second.next_cursor is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"kind": "crm.nothing"}, "kind"),
        ({"status": "lost"}, "status"),
        ({"requester": "not-an-id"}, "requester"),
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-03-05", "to": "2026-03-04"}, "to"),
        ({"q": "x" * 101}, "q"),
    ],
)
async def test_a_bad_filter_is_refused_naming_its_input(
    office: Office, given: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        typed(office, **given)
    assert refused.value.params["field"] == field


async def test_a_tampered_page_cursor_is_refused(office: Office) -> None:
    wei = await office.person("Wei")
    async with office.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await approval_inbox.inbox(session, office.registry, wei, "todo", after="x")
    assert refused.value.params["field"] == "after"


async def two_approver_requests(office: Office, count: int):
    """``count`` approvals waiting for Ann or Bo (either one decides: 或签)."""
    ann = await office.person("Ann")
    bo = await office.person("Bo")
    wei = await office.person("Wei")
    await office.flow(step("Either", member_ids=(ann.user_id, bo.user_id), mode="any"))
    asked = [await office.ask(wei) for _ in range(count)]
    return ann, bo, asked


async def test_batch_approve_reports_one_another_approver_decided_first(office: Office) -> None:
    ann, bo, (first, second, third) = await two_approver_requests(office, 3)
    await decide(office, bo, second, approve=False, comment="Not this one")
    chosen = [(await instance_of(office, r)).id for r in (first, second, third)]
    async with office.session() as session:
        done = await approval_batch.approve_all(session, ann, chosen, "Fine")
    assert done.approved == [chosen[0], chosen[2]]
    assert done.not_waiting == [chosen[1]]
    assert [await request_status(office, r) for r in (first, second, third)] == [
        "approved",
        "rejected",  # Bo's decision stands
        "approved",
    ]
    async with office.session() as session:
        assert await approval_inbox.waiting_count(session, ann.user_id, 100) == 0


async def test_batch_approve_racing_another_approver_decides_each_once(office: Office) -> None:
    ann, bo, asked = await two_approver_requests(office, 4)
    chosen = [(await instance_of(office, r)).id for r in asked]
    contested = chosen[0]

    async def batch() -> approval_batch.BatchResult:
        async with office.session() as session:
            return await approval_batch.approve_all(session, ann, chosen)

    async def bo_decides() -> str:
        async with office.session() as session:
            try:
                async with session.begin_nested():
                    await engine.decide(session, contested, bo.user_id, approve=False)
            except Conflict:  # the batch decided it first: 409 for Bo
                return "conflict"
            return "decided"

    done, bo_result = await asyncio.gather(batch(), bo_decides())
    assert done.approved + done.not_waiting == chosen
    if bo_result == "decided":
        assert done.not_waiting == [contested]
        assert await request_status(office, asked[0]) == "rejected"
    else:
        assert bo_result == "conflict"
        assert done.not_waiting == []
        assert await request_status(office, asked[0]) == "approved"
    assert [await request_status(office, r) for r in asked[1:]] == ["approved"] * 3
    async with office.session() as session:
        decided = await session.scalar(
            select(func.count()).where(
                ApprovalTask.instance_id == contested,
                ApprovalTask.status.in_(("approved", "rejected")),
            )
        )
        assert decided == 1  # exactly one decision on the contested approval


async def test_a_batch_with_a_too_long_comment_or_nothing_chosen_approves_nothing(
    office: Office,
) -> None:
    ann, _, (asked,) = await two_approver_requests(office, 1)
    chosen = [(await instance_of(office, asked)).id]
    with pytest.raises(ValidationFailed) as long:
        async with office.session() as session:
            await approval_batch.approve_all(session, ann, chosen, "x" * 2001)
    assert long.value.params["field"] == "comment"
    with pytest.raises(ValidationFailed) as empty:
        async with office.session() as session:
            await approval_batch.approve_all(session, ann, [])
    assert empty.value.params["field"] == "ids"
    assert await request_status(office, asked) == "pending"


async def test_the_waiting_count_is_the_to_do_box_capped(office: Office) -> None:
    ann, bo, asked = await two_approver_requests(office, 3)
    async with office.session() as session:
        assert await approval_inbox.waiting_count(session, ann.user_id, 100) == 3
        assert await approval_inbox.waiting_count(session, ann.user_id, 2) == 2
    await decide(office, bo, asked[0])
    async with office.session() as session:
        assert await approval_inbox.waiting_count(session, ann.user_id, 100) == 2


# --- reminders -------------------------------------------------------------------------------


async def reminders_to(office: Office, user: Actor) -> list[Notification]:
    async with office.session() as session:
        found = await session.scalars(
            select(Notification).where(
                Notification.user_id == user.user_id, Notification.kind == "approval_overdue"
            )
        )
        return list(found)


async def remind(office: Office, hours_later: float) -> int:
    async with office.session() as session:
        sent = await approval_reminders.send_reminders(
            session, datetime.now(UTC) + timedelta(hours=hours_later)
        )
        return len(sent)


async def set_hours(office: Office, hours: int, every: int = 0) -> None:
    admin = await office.person(f"Admin {uuid.uuid4().hex[:6]}", role=roles.ADMIN)
    async with office.session() as session:
        await approval_reminders.save_reminders(session, admin, Reminders(hours, every))


async def test_a_step_waiting_past_the_limit_reminds_its_approver_once(office: Office) -> None:
    boss = await office.person("Boss")
    wei = await office.person("Wei")
    await office.flow(step("Boss", member_ids=(boss.user_id,)))
    asked = await office.ask(wei)
    assert await remind(office, 23) == 0  # young: the default limit is 24 hours
    assert await remind(office, 25) == 1
    assert await remind(office, 26) == 0  # once, not twice
    (sent,) = await reminders_to(office, boss)
    assert sent.record_id == (await instance_of(office, asked)).id
    assert sent.message == approval_reminders.OVERDUE
    assert sent.params == {"requester": "Wei", "kind_label": "Contract approval"}
    await decide(office, boss, asked)
    assert await remind(office, 100) == 0  # decided: nothing waits


async def test_a_repeat_reminds_again_while_the_step_still_waits(office: Office) -> None:
    boss = await office.person("Boss")
    wei = await office.person("Wei")
    await office.flow(step("Boss", member_ids=(boss.user_id,)))
    asked = await office.ask(wei)
    await set_hours(office, 24, every=8)
    assert await remind(office, 25) == 1
    assert await remind(office, 30) == 0  # five hours after the first: not yet
    assert await remind(office, 30) == 0
    assert await remind(office, 34) == 1  # nine hours after: again
    assert await remind(office, 40) == 0
    assert len(await reminders_to(office, boss)) == 2
    await decide(office, boss, asked)
    assert await remind(office, 100) == 0  # decided: no more


async def test_a_setting_of_zero_turns_reminders_off(office: Office) -> None:
    boss = await office.person("Boss")
    await office.flow(step("Boss", member_ids=(boss.user_id,)))
    await office.ask(await office.person("Wei"))
    await set_hours(office, 0)
    assert await remind(office, 1000) == 0
    await set_hours(office, 1)
    assert await remind(office, 2) == 1
    assert len(await reminders_to(office, boss)) == 1


async def test_two_workspaces_remind_by_their_own_settings(
    office: Office, other_office: Office
) -> None:
    for place in (office, other_office):
        boss = await place.person("Boss")
        await place.flow(step("Boss", member_ids=(boss.user_id,)))
        await place.ask(await place.person("Wei"))
    await set_hours(office, 2)  # the other keeps the default, 24
    assert await remind(office, 3) == 1
    assert await remind(other_office, 3) == 0
    assert await remind(other_office, 25) == 1


async def test_the_setting_is_refused_out_of_range_and_for_a_member(office: Office) -> None:
    admin = await office.person("Ada", role=roles.ADMIN)
    member = await office.person("Wei")
    async with office.session() as session:
        assert await approval_reminders.reminders(session) == Reminders(24, 0)
        with pytest.raises(ValidationFailed) as late:
            await approval_reminders.save_reminders(session, admin, Reminders(721))
        assert late.value.params["field"] == "remind_after_hours"
        with pytest.raises(ValidationFailed) as often:
            await approval_reminders.save_reminders(session, admin, Reminders(5, -1))
        assert often.value.params["field"] == "remind_every_hours"
        with pytest.raises(PermissionDenied):
            await approval_reminders.save_reminders(session, member, Reminders(5))
        assert await approval_reminders.save_reminders(session, admin, Reminders(5)) == Reminders(5)
        await approval_reminders.save_reminders(session, admin, Reminders(6, 12))
    async with office.session() as session:
        assert await approval_reminders.reminders(session) == Reminders(6, 12)
        assert len(list(await session.scalars(select(ApprovalSettings)))) == 1


async def test_the_settings_table_keeps_two_workspaces_apart_under_rls(
    office: Office, other_office: Office
) -> None:
    await set_hours(office, 3)
    async with other_office.session() as session:
        assert await approval_reminders.reminders(session) == Reminders()
        rows = await session.execute(text("SELECT count(*) FROM oa_approval_settings"))
        assert rows.scalar() == 0  # the app role sees its own workspace's row only
    async with office.session() as session:
        rows = await session.execute(text("SELECT count(*) FROM oa_approval_settings"))
        assert rows.scalar() == 1
