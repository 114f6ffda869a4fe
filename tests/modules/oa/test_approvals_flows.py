"""Approval flow templates: who each step resolves to (members, a role, the department
head, the manager chain level by level), all-must-approve and any-one steps, steps
included only when their condition holds, a step with nobody skipped or sent to the
admins, an approver of an earlier step approving again automatically, the preview of a
flow for a requester before it is saved, versions (a running approval keeps its own),
copies to named members, and the refusals of a flow that cannot run."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import roles
from core.errors import NotFound, ValidationFailed
from core.models import AuditEntry
from modules.oa.services import approval_inbox, flows
from modules.oa.services.flows import Condition, FlowIn
from tests.modules.oa.conftest import (
    KIND,
    Office,
    decide,
    instance_of,
    request_status,
    step,
    timeline,
    waiting,
)


async def test_a_step_of_named_members_where_everyone_must_approve(office: Office) -> None:
    wei = await office.person("Wei")
    li, zhao = await office.person("Li"), await office.person("Zhao")
    await office.flow(step("Finance", member_ids=(li.user_id, zhao.user_id), mode="all"))
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {li.user_id, zhao.user_id}
    await decide(office, li, asked)
    assert await waiting(office, asked) == {zhao.user_id}
    assert await request_status(office, asked) == "pending"
    await decide(office, zhao, asked)
    assert await request_status(office, asked) == "approved"


async def test_an_any_one_step_is_decided_by_the_first_and_the_others_are_released(
    office: Office,
) -> None:
    wei = await office.person("Wei")
    li, zhao = await office.person("Li"), await office.person("Zhao")
    await office.flow(step("Finance", member_ids=(li.user_id, zhao.user_id), mode="any"))
    asked = await office.ask(wei)
    await decide(office, zhao, asked)
    assert await request_status(office, asked) == "approved"
    assert await waiting(office, asked) == set()


async def test_a_role_step_goes_to_everyone_holding_the_role(office: Office) -> None:
    wei = await office.person("Wei")
    boss = await office.person("Boss", role=roles.ADMIN)
    await office.flow(step("Admins", approvers="role", role="admin"))
    asked = await office.ask(wei)
    # The test owner of every workspace is an owner, not an admin: only Boss.
    assert await waiting(office, asked) == {boss.user_id}


async def test_a_custom_role_step(office: Office) -> None:
    wei = await office.person("Wei")
    auditor = await office.member("Auditor", custom=["oa.approval.read"])
    async with office.session() as session:
        role_id = next(r.id for r in await roles.roles(session))
    await office.flow(step("Audit", approvers="role", role=str(role_id)))
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {auditor.user_id}


async def test_the_department_head_is_the_top_of_its_reporting_lines(office: Office) -> None:
    sales = await office.department("Sales")
    east = await office.department("East", sales)
    head = await office.person("Head", department=sales)
    lead = await office.person("Lead", department=east, manager=head)
    wei = await office.person("Wei", department=east, manager=lead)
    await office.flow(step("Head", approvers="head"))
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {lead.user_id}
    # The head of East asks: their own department's head is themselves, so Sales' decides.
    asked = await office.ask(lead)
    assert await waiting(office, asked) == {head.user_id}


async def test_the_manager_chain_is_one_step_per_level(office: Office) -> None:
    ceo = await office.person("Ceo")
    director = await office.person("Director", manager=ceo)
    lead = await office.person("Lead", manager=director)
    wei = await office.person("Wei", manager=lead)
    await office.flow(step("Managers", approvers="manager", levels=2))
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {lead.user_id}
    await decide(office, lead, asked)
    assert await waiting(office, asked) == {director.user_id}
    await decide(office, director, asked)
    assert await request_status(office, asked) == "approved"  # Ceo is three levels up


@pytest.mark.parametrize(
    ("op", "value", "amount", "included"),
    [
        (">", "10000", "10000.01", True),
        (">", "10000", "10000", False),
        (">=", "10000", "10000", True),
        ("<", "10000", "9999.99", True),
        ("<=", "10000", "10000.01", False),
        ("=", "10000", "10000.00", True),
        ("≠", "10000", "10000.00", False),
    ],
)
async def test_a_step_applies_only_when_its_condition_holds(
    office: Office, op: str, value: str, amount: str, included: bool
) -> None:
    wei = await office.person("Wei")
    li, ceo = await office.person("Li"), await office.person("Ceo")
    await office.flow(
        step("Finance", member_ids=(li.user_id,)),
        step("Ceo", member_ids=(ceo.user_id,), condition=Condition("amount", op, value)),
    )
    asked = await office.ask(wei, amount)
    await decide(office, li, asked)
    assert await waiting(office, asked) == ({ceo.user_id} if included else set())
    assert await request_status(office, asked) == ("pending" if included else "approved")


def test_choices_compare_by_equality_and_a_missing_field_never_holds() -> None:
    region = Condition("region", "=", "East")
    assert flows.holds(region, {"region": "East"})
    assert not flows.holds(region, {"region": "West"})
    assert flows.holds(Condition("region", "≠", "East"), {"region": "West"})
    assert not flows.holds(Condition("region", ">", "East"), {"region": "West"})
    assert not flows.holds(region, {})
    assert flows.holds(Condition("amount", ">", "1"), {"amount": Decimal("1.5")})


async def test_a_step_with_nobody_is_skipped_or_goes_to_the_admins(office: Office) -> None:
    wei = await office.person("Wei")  # no manager
    boss = await office.person("Boss", role=roles.ADMIN)
    li = await office.person("Li")
    await office.flow(
        step("Manager", approvers="manager"),
        step("Finance", member_ids=(li.user_id,)),
        missing_approver="skip",
    )
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {li.user_id}
    assert (await timeline(office, asked))[:2] == ["submitted", "skipped"]

    await office.flow(step("Manager", approvers="manager"), missing_approver="admins")
    asked = await office.ask(wei)
    owner_and_admin = await waiting(office, asked)
    assert boss.user_id in owner_and_admin
    assert len(owner_and_admin) == 2


async def test_someone_who_approved_an_earlier_step_approves_again_automatically(
    office: Office,
) -> None:
    wei = await office.person("Wei")
    li, zhao = await office.person("Li"), await office.person("Zhao")
    await office.flow(
        step("Finance", member_ids=(li.user_id,)),
        step("Board", member_ids=(li.user_id, zhao.user_id), mode="all"),
    )
    asked = await office.ask(wei)
    await decide(office, li, asked)
    assert await waiting(office, asked) == {zhao.user_id}
    assert "auto_approved" in await timeline(office, asked)

    await office.flow(
        step("Finance", member_ids=(li.user_id,)),
        step("Board", member_ids=(li.user_id,)),
        auto_approve_repeat=False,
    )
    asked = await office.ask(wei)
    await decide(office, li, asked)
    assert await waiting(office, asked) == {li.user_id}


async def test_the_preview_shows_the_steps_and_people_without_saving(office: Office) -> None:
    ceo = await office.person("Ceo")
    wei = await office.person("Wei", manager=ceo)
    li = await office.person("Li")
    typed = FlowIn(
        steps=(
            step("Manager", approvers="manager"),
            step("Finance", member_ids=(li.user_id,), condition=Condition("amount", ">", "10000")),
        )
    )
    async with office.session() as session:
        small = await flows.preview(
            session, office.registry, KIND, typed, wei.user_id, {"amount": "500"}
        )
        large = await flows.preview(
            session, office.registry, KIND, typed, wei.user_id, {"amount": "20000"}
        )
        unsaved = await flows.current_version(session, KIND)
        default = await flows.preview(session, office.registry, KIND, None, wei.user_id, {})
    assert [(s.name, s.people) for s in small] == [("Manager", ["Ceo"])]
    assert [(s.name, s.people) for s in large] == [("Manager", ["Ceo"]), ("Finance", ["Li"])]
    assert unsaved is None
    assert [(s.name, s.people) for s in default] == [("Direct manager", ["Ceo"])]


async def test_a_running_approval_keeps_the_version_it_started_with(office: Office) -> None:
    wei = await office.person("Wei")
    li, zhao = await office.person("Li"), await office.person("Zhao")
    first = await office.flow(step("Finance", member_ids=(li.user_id,)))
    asked = await office.ask(wei)
    second = await office.flow(
        step("Finance", member_ids=(zhao.user_id,)), step("More", member_ids=(zhao.user_id,))
    )
    assert (first, second) == (1, 2)
    assert await waiting(office, asked) == {li.user_id}
    await decide(office, li, asked)
    assert await request_status(office, asked) == "approved"  # one step, as in version 1
    later = await office.ask(wei)
    assert await waiting(office, later) == {zhao.user_id}
    started = await instance_of(office, later)
    async with office.session() as session:
        current = await flows.current_version(session, KIND)
    assert current is not None
    assert started.flow_version_id == current.id
    async with office.session() as session:
        saved = list(
            await session.scalars(
                select(AuditEntry.detail).where(AuditEntry.action == "oa.approval_flow.saved")
            )
        )
    assert sorted(d["version"] for d in saved) == [1, 2]


async def test_without_a_flow_the_requesters_manager_decides_else_the_admins(
    office: Office,
) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    loner = await office.person("Loner")
    boss = await office.person("Boss", role=roles.ADMIN)
    asked = await office.ask(wei)
    assert await waiting(office, asked) == {lead.user_id}
    alone = await office.ask(loner)
    assert boss.user_id in await waiting(office, alone)


@pytest.mark.parametrize(
    ("flow", "field"),
    [
        (FlowIn(steps=()), "steps"),
        (FlowIn(steps=(step(""),)), "step_1"),
        (FlowIn(steps=(step("Nobody"),)), "step_1"),
        (FlowIn(steps=(step("Odd", approvers="astrologer"),)), "step_1"),
        (FlowIn(steps=(step("Deep", approvers="manager", levels=9),)), "step_1"),
        (
            FlowIn(
                steps=(step("If", approvers="head", condition=Condition("colour", "=", "red")),)
            ),
            "step_1",
        ),
        (
            FlowIn(
                steps=(step("If", approvers="head", condition=Condition("amount", ">", "lots")),)
            ),
            "step_1",
        ),
        (FlowIn(steps=(step("Head", approvers="head"),), missing_approver="shrug"), "missing"),
        (FlowIn(steps=(step("Head", approvers="head"),), cc_ids=(uuid.uuid4(),)), "cc"),
    ],
)
async def test_a_flow_that_cannot_run_is_refused_and_nothing_is_saved(
    office: Office, flow: FlowIn, field: str
) -> None:
    async with office.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await flows.save_flow(session, office.registry, KIND, flow)
        assert refused.value.params["field"] == field
        assert await flows.current_version(session, KIND) is None


async def test_copies_go_to_the_named_members_who_may_then_follow_it(office: Office) -> None:
    wei = await office.person("Wei")
    li, hr = await office.person("Li"), await office.person("Hr")
    await office.flow(step("Finance", member_ids=(li.user_id,)), cc_ids=(hr.user_id,))
    asked = await office.ask(wei)
    instance = await instance_of(office, asked)
    async with office.session() as session:
        copied = await approval_inbox.inbox(session, office.registry, hr, "copied")
        todo = await approval_inbox.inbox(session, office.registry, hr, "todo")
        seen = await approval_inbox.visible_instance(session, hr, instance.id)
        outsider = await office.person("Outsider")
        with pytest.raises(NotFound):
            await approval_inbox.visible_instance(session, outsider, instance.id)
    assert [item.instance.id for item in copied] == [instance.id]
    assert todo == []
    assert seen.id == instance.id
    assert "copied" in await timeline(office, asked)
