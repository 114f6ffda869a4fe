"""The actions on a running approval besides approve and reject: return (退回) to an earlier
step or to the requester and resubmit; transfer (转交); add an approver before or after
oneself (加签); withdraw by the requester (撤回), refused once someone approved; urge the
current approvers (催办), once an hour; delegation while away (委托). Each lands on the
timeline, and each refuses whoever it is not for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.records.models import Notification
from modules.oa.services import engine
from tests.modules.oa.conftest import (
    Office,
    decide,
    instance_of,
    request_status,
    step,
    timeline,
    waiting,
)


async def three_steps(office: Office):
    """Wei asks; Li, then Zhao, then Chen approve."""
    wei = await office.person("Wei")
    li, zhao, chen = [await office.person(n) for n in ("Li", "Zhao", "Chen")]
    await office.flow(
        step("One", member_ids=(li.user_id,)),
        step("Two", member_ids=(zhao.user_id,)),
        step("Three", member_ids=(chen.user_id,)),
    )
    return wei, li, zhao, chen, await office.ask(wei)


async def test_returning_to_an_earlier_step_asks_it_again(office: Office) -> None:
    _wei, li, zhao, chen, asked = await three_steps(office)
    await decide(office, li, asked)
    await decide(office, zhao, asked)
    instance = await instance_of(office, asked)
    async with office.session() as session:
        await engine.return_to(session, instance.id, chen.user_id, step=1, comment="Check again")
    assert await waiting(office, asked) == {li.user_id}
    await decide(office, li, asked)
    assert await waiting(office, asked) == {zhao.user_id}  # approvals from step 1 on are void
    async with office.session() as session:
        with pytest.raises(ValidationFailed):  # only an earlier step
            await engine.return_to(session, instance.id, zhao.user_id, step=3)


async def test_returning_to_the_requester_waits_for_the_resubmission(office: Office) -> None:
    wei, li, zhao, _chen, asked = await three_steps(office)
    await decide(office, li, asked)
    instance = await instance_of(office, asked)
    async with office.session() as session:
        await engine.return_to(session, instance.id, zhao.user_id, step=None, comment="Add the PO")
    assert (await instance_of(office, asked)).status == "returned"
    assert await request_status(office, asked) == "pending"
    async with office.session() as session:
        with pytest.raises(PermissionDenied):
            await engine.resubmit(session, instance.id, li.user_id)
    async with office.session() as session:
        await engine.resubmit(session, instance.id, wei.user_id, "PO attached")
    assert await waiting(office, asked) == {li.user_id}
    assert (await timeline(office, asked))[-2:] == ["returned", "resubmitted"]


async def test_a_requester_withdraws_what_was_returned_to_them(office: Office) -> None:
    wei, li, zhao, _chen, asked = await three_steps(office)
    await decide(office, li, asked)
    instance = await instance_of(office, asked)
    async with office.session() as session:
        await engine.return_to(session, instance.id, zhao.user_id, step=None)
    async with office.session() as session:
        await engine.withdraw(session, instance.id, wei.user_id, "Not needed any more")
    assert await request_status(office, asked) == "rejected"


async def test_a_transfer_hands_the_task_to_a_colleague(office: Office) -> None:
    _wei, li, zhao, _chen, asked = await three_steps(office)
    stand_in = await office.person("Stand-in")
    instance = await instance_of(office, asked)
    async with office.session() as session:
        await engine.transfer(session, instance.id, li.user_id, stand_in.user_id, "On leave")
    assert await waiting(office, asked) == {stand_in.user_id}
    async with office.session() as session:
        with pytest.raises(Conflict):  # Li no longer holds it
            await engine.decide(session, instance.id, li.user_id, approve=True)
    async with office.session() as session:
        with pytest.raises(ValidationFailed):
            await engine.transfer(session, instance.id, stand_in.user_id, stand_in.user_id)
    await decide(office, stand_in, asked)
    assert await waiting(office, asked) == {zhao.user_id}


async def test_an_approver_added_after_oneself_decides_next(office: Office) -> None:
    _wei, li, zhao, _chen, asked = await three_steps(office)
    expert = await office.person("Expert")
    instance = await instance_of(office, asked)
    async with office.session() as session:
        await engine.add_signer(session, instance.id, li.user_id, expert.user_id, before=False)
    assert await waiting(office, asked) == {li.user_id}
    await decide(office, li, asked)
    assert await waiting(office, asked) == {expert.user_id}
    await decide(office, expert, asked)
    assert await waiting(office, asked) == {zhao.user_id}


async def test_an_approver_added_before_oneself_decides_first_then_oneself(
    office: Office,
) -> None:
    _wei, li, zhao, _chen, asked = await three_steps(office)
    expert = await office.person("Expert")
    instance = await instance_of(office, asked)
    async with office.session() as session:
        await engine.add_signer(session, instance.id, li.user_id, expert.user_id, before=True)
    assert await waiting(office, asked) == {expert.user_id}
    await decide(office, expert, asked)
    assert await waiting(office, asked) == {li.user_id}
    await decide(office, li, asked)
    assert await waiting(office, asked) == {zhao.user_id}
    assert "added_before" in await timeline(office, asked)


async def test_the_requester_withdraws_until_someone_approves(office: Office) -> None:
    wei, li, _zhao, _chen, asked = await three_steps(office)
    instance = await instance_of(office, asked)
    async with office.session() as session:
        with pytest.raises(PermissionDenied):
            await engine.withdraw(session, instance.id, li.user_id)
    async with office.session() as session:
        await engine.withdraw(session, instance.id, wei.user_id)
    assert await request_status(office, asked) == "rejected"
    assert (await instance_of(office, asked)).status == "withdrawn"
    assert await waiting(office, asked) == set()

    later = await office.ask(wei)
    await decide(office, li, later)
    async with office.session() as session:
        with pytest.raises(Conflict):
            await engine.withdraw(session, (await instance_of(office, later)).id, wei.user_id)
    assert await request_status(office, later) == "pending"


async def test_urging_reminds_the_current_approvers_once_an_hour(office: Office) -> None:
    wei, li, _zhao, _chen, asked = await three_steps(office)
    instance = await instance_of(office, asked)
    async with office.session() as session:
        assert await engine.urge(session, instance.id, wei.user_id) == 1
    async with office.session() as session:
        with pytest.raises(Conflict):
            await engine.urge(session, instance.id, wei.user_id)
    async with office.session() as session:
        with pytest.raises(PermissionDenied):
            await engine.urge(session, instance.id, li.user_id)
        urged = list(
            await session.scalars(
                select(Notification.user_id).where(Notification.kind == "approval_urged")
            )
        )
        assert urged == [li.user_id]
        # An hour later the requester may urge again.
        found, _ = await engine.locked(session, instance.id)
        found.urged_at = datetime.now(UTC) - timedelta(hours=1, minutes=1)
    async with office.session() as session:
        assert await engine.urge(session, instance.id, wei.user_id) == 1


async def test_new_tasks_go_to_the_delegate_while_away(office: Office) -> None:
    wei = await office.person("Wei")
    li, deputy = await office.person("Li"), await office.person("Deputy")
    await office.flow(step("One", member_ids=(li.user_id,)))
    today = datetime.now(UTC).date()
    async with office.session() as session:
        await engine.delegate(session, li.user_id, deputy.user_id, today, today + timedelta(days=3))
        with pytest.raises(ValidationFailed):
            await engine.delegate(session, li.user_id, deputy.user_id, today, today - timedelta(1))
        with pytest.raises(ValidationFailed):
            await engine.delegate(session, li.user_id, li.user_id, today, today)
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {deputy.user_id}
    assert "delegated" in await timeline(office, asked)
    async with office.session() as session:
        assert await engine.delegate_of(session, li.user_id, date(2000, 1, 1)) == li.user_id


async def test_every_task_notifies_its_approver(office: Office) -> None:
    _wei, li, zhao, _chen, asked = await three_steps(office)
    await decide(office, li, asked)
    async with office.session() as session:
        notified = list(
            await session.scalars(
                select(Notification.user_id)
                .where(Notification.kind == "approval_waiting")
                .order_by(Notification.id)
            )
        )
    assert notified == [li.user_id, zhao.user_id]
