"""An approver who leaves the company mid-flow (离职交接): deactivating the member hands the
approvals waiting for them to their manager, or with none to the owners and admins; in an
any-one step whose others still wait, theirs is released. A later step planned with them
opens with the stand-in. Delivered through core's outbox, once."""

from __future__ import annotations

from core import roles
from modules.oa.services import engine, flows
from tenants.members import deactivate_member
from tests.modules.crm.test_contracts import drain
from tests.modules.oa.conftest import (
    Office,
    decide,
    instance_of,
    request_status,
    step,
    timeline,
    waiting,
)


async def _leave(office: Office, who, by) -> None:
    async with office.session() as session:
        await deactivate_member(session, who.membership_id, by=by.user_id)
    await drain(office)


async def test_the_waiting_task_of_an_approver_who_leaves_goes_to_their_manager(
    office: Office,
) -> None:
    boss = await office.person("Boss", role=roles.OWNER)
    wei = await office.person("Wei")
    head = await office.person("Head")
    li = await office.person("Li", manager=head)
    zhao = await office.person("Zhao")
    await office.flow(
        step("One", member_ids=(li.user_id,)), step("Two", member_ids=(zhao.user_id,))
    )
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {li.user_id}

    await _leave(office, li, boss)
    assert await waiting(office, asked) == {head.user_id}
    assert (await timeline(office, asked))[-1] == "handed_over"
    await drain(office)  # delivered again: nothing more is handed over
    assert (await timeline(office, asked)).count("handed_over") == 1

    await decide(office, head, asked)
    assert await waiting(office, asked) == {zhao.user_id}
    await decide(office, zhao, asked)
    assert await request_status(office, asked) == "approved"


async def test_in_an_any_one_step_the_others_decide_and_without_a_manager_the_admins_do(
    office: Office,
) -> None:
    boss = await office.person("Boss", role=roles.OWNER)
    admin = await office.person("Admin", role=roles.ADMIN)
    wei = await office.person("Wei")
    li, zhao, chen = [await office.person(name) for name in ("Li", "Zhao", "Chen")]
    await office.flow(
        step("Either", member_ids=(li.user_id, zhao.user_id), mode="any"),
        step("Alone", member_ids=(chen.user_id,)),
    )
    asked = await office.ask(wei)

    await _leave(office, li, boss)
    assert await waiting(office, asked) == {zhao.user_id}
    assert (await timeline(office, asked))[-1] == "released"
    await decide(office, zhao, asked)

    await _leave(office, chen, boss)  # no manager: the owners and admins stand in
    async with office.session() as session:
        standing_in = set(await flows.admins(session))
    assert {boss.user_id, admin.user_id} <= standing_in
    assert await waiting(office, asked) == standing_in
    await decide(office, admin, asked)
    assert await request_status(office, asked) == "approved"


async def test_a_later_step_planned_with_someone_who_left_opens_with_their_stand_in(
    office: Office,
) -> None:
    boss = await office.person("Boss", role=roles.OWNER)
    wei = await office.person("Wei")
    head = await office.person("Head")
    li = await office.person("Li")
    zhao = await office.person("Zhao", manager=head)
    await office.flow(
        step("One", member_ids=(li.user_id,)), step("Two", member_ids=(zhao.user_id,))
    )
    asked = await office.ask(wei)
    await _leave(office, zhao, boss)  # nothing waits for Zhao yet
    instance = await instance_of(office, asked)
    assert [s["approver_ids"] for s in instance.plan][1] == [str(zhao.user_id)]

    await decide(office, li, asked)
    assert await waiting(office, asked) == {head.user_id}
    assert "handed_over" in await timeline(office, asked)
    async with office.session() as session:
        assert await engine.stand_ins(session, zhao.user_id) == (head.user_id,)
