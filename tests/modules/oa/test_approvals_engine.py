"""OA's engine behind core's approval port: a request becomes an instance with its tasks;
approving the last step or rejecting finishes the request, and the decision reaches the
requesting module as ``core.approval_decided.v1`` (CRM's contract approved or back to
draft); two approvers acting at once on an any-one step make one decision (the second
gets a 409); a request submitted twice starts one instance; a CRM workspace uses core's
rule with OA off and OA's flow with it on; and two workspaces never see each other's."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from core import approvals, roles
from core.db import Database
from core.errors import Conflict, NotFound
from core.models import ApprovalRequest, OutboxEvent
from core.plugins.registry import ModuleRegistry
from modules.crm.services import contracts
from modules.oa.models import ApprovalInstance, ApprovalTask
from modules.oa.services import approval_inbox, engine
from modules.oa.services.flows import Condition
from tenants.services import disable_module, enable_module
from tests.modules.crm.test_contracts import customer, draft, drain, history, status_of, submit
from tests.modules.oa.conftest import (
    Office,
    decide,
    instance_of,
    request_status,
    step,
    timeline,
    waiting,
)


@pytest.fixture
async def shop(db: Database, make_tenant, registry: ModuleRegistry) -> Office:
    """Workspace "shop" with CRM and OA on."""
    return Office(db, registry, await make_tenant("shop", "crm", "oa", seed=True))


async def decisions(office: Office) -> list[dict]:
    async with office.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.event_type == "core.approval_decided.v1")
            .order_by(OutboxEvent.id)
        )
        return list(rows)


async def test_a_contract_approved_through_the_flow_reaches_crm_as_the_event(
    shop: Office,
) -> None:
    lead = await shop.person("Lead")
    wei = await shop.person("Wei", manager=lead)
    ceo = await shop.person("Ceo")
    await shop.flow(step("Manager", approvers="manager"), step("Ceo", member_ids=(ceo.user_id,)))
    made = await draft(shop, wei, await customer(shop, wei))
    submitted = await submit(shop, wei, made.id)
    async with shop.session() as session:
        request = await session.get(
            ApprovalRequest, (shop.tenant_id, submitted.approval_request_id)
        )
        assert request is not None
        assert request.engine == "oa"
    assert await waiting(shop, request) == {lead.user_id}
    await decide(shop, lead, request, comment="Fine by me")
    assert await request_status(shop, request) == "pending"
    await decide(shop, ceo, request, comment="Go ahead")
    assert await request_status(shop, request) == "approved"
    [decided] = await decisions(shop)
    assert decided["approved"] is True
    assert decided["decided_by"] == str(ceo.user_id)
    assert await status_of(shop, made.id) == "pending_approval"  # until the event arrives
    await drain(shop)
    assert await status_of(shop, made.id) == "approved"
    assert (await history(shop, made.id))[-1] == ("comment", "Go ahead")
    assert await timeline(shop, request) == ["submitted", "approved", "approved"]


async def test_a_rejection_ends_the_approval_and_sends_the_contract_back(shop: Office) -> None:
    lead = await shop.person("Lead")
    wei = await shop.person("Wei", manager=lead)
    ceo = await shop.person("Ceo")
    await shop.flow(step("Manager", approvers="manager"), step("Ceo", member_ids=(ceo.user_id,)))
    made = await draft(shop, wei, await customer(shop, wei))
    submitted = await submit(shop, wei, made.id)
    async with shop.session() as session:
        request = await session.get(
            ApprovalRequest, (shop.tenant_id, submitted.approval_request_id)
        )
    assert request is not None
    await decide(shop, lead, request, approve=False, comment="Discount too deep")
    assert await request_status(shop, request) == "rejected"
    assert await waiting(shop, request) == set()
    await drain(shop)
    assert await status_of(shop, made.id) == "draft"
    async with shop.session() as session:
        with pytest.raises(Conflict):  # nothing waits any more, not even the next step
            await engine.decide(
                session, (await instance_of(shop, request)).id, ceo.user_id, approve=True
            )


async def test_crm_uses_cores_rule_with_oa_off_and_the_flow_with_it_on(shop: Office) -> None:
    lead = await shop.person("Lead")
    wei = await shop.person("Wei", manager=lead)
    boss = await shop.person("Boss", role=roles.ADMIN)
    party_id = await customer(shop, wei)
    async with shop.session() as session:
        shop.ctx = await disable_module(session, shop.registry, shop.ctx, "oa")
    under_core = await submit(shop, wei, (await draft(shop, wei, party_id)).id)
    async with shop.session() as session:
        shown = await contracts.get_contract(session, boss, under_core.id)
        assert await contracts.may_decide(session, boss, shown)
        await contracts.decide_approval(session, boss, under_core.id, approve=True, comment="")
    assert await status_of(shop, under_core.id) == "approved"

    async with shop.session() as session:
        shop.ctx = await enable_module(session, shop.registry, shop.ctx, "oa")
    under_oa = await submit(shop, wei, (await draft(shop, wei, party_id)).id)
    async with shop.session() as session:
        shown = await contracts.get_contract(session, boss, under_oa.id)
        assert not await contracts.may_decide(session, boss, shown)  # OA's flow decides
        with pytest.raises(Conflict):
            await contracts.decide_approval(session, boss, under_oa.id, approve=True, comment="")
        request = await session.get(ApprovalRequest, (shop.tenant_id, under_oa.approval_request_id))
    assert request is not None
    assert request.engine == "oa"
    await decide(shop, lead, request)
    await drain(shop)
    assert await status_of(shop, under_oa.id) == "approved"


async def test_two_approvers_at_once_on_an_any_one_step_make_one_decision(
    office: Office,
) -> None:
    wei = await office.person("Wei")
    li, zhao = await office.person("Li"), await office.person("Zhao")
    await office.flow(step("Finance", member_ids=(li.user_id, zhao.user_id), mode="any"))
    asked = await office.ask(wei)
    instance = await instance_of(office, asked)

    async def approve(who) -> None:
        async with office.session() as session:
            await engine.decide(session, instance.id, who.user_id, approve=True)

    results = await asyncio.gather(approve(li), approve(zhao), return_exceptions=True)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1
    assert isinstance(refused[0], Conflict)
    assert refused[0].status_code == 409
    assert await request_status(office, asked) == "approved"
    assert len(await decisions(office)) == 1
    assert (await timeline(office, asked)).count("approved") == 1


async def test_a_request_submitted_twice_starts_one_instance(office: Office) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    asked = await office.ask(wei)
    async with office.session() as session:
        request = await session.get(ApprovalRequest, (office.tenant_id, asked.id))
        assert request is not None
        await engine.ENGINE.submit(session, office.ctx, request)
    async with office.session() as session:
        instances = await session.scalar(select(func.count()).select_from(ApprovalInstance))
        tasks = await session.scalar(select(func.count()).select_from(ApprovalTask))
    assert (instances, tasks) == (1, 1)
    assert await timeline(office, asked) == ["submitted"]


async def test_a_flow_with_nothing_to_approve_decides_at_once(office: Office) -> None:
    wei = await office.person("Wei")
    li = await office.person("Li")
    await office.flow(
        step("Large", member_ids=(li.user_id,), condition=Condition("amount", ">", "10000"))
    )
    asked = await office.ask(wei, "100")
    assert asked.status == "approved"  # the requesting module sees it decided at once
    assert len(await decisions(office)) == 1


async def test_two_workspaces_never_see_each_others_approvals(
    office: Office, other_office: Office
) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    asked = await office.ask(wei)
    instance = await instance_of(office, asked)
    stranger = await other_office.person("Stranger", role=roles.ADMIN)
    async with other_office.session() as session:
        assert await session.scalar(select(func.count()).select_from(ApprovalInstance)) == 0
        assert await session.scalar(select(func.count()).select_from(ApprovalTask)) == 0
        with pytest.raises(NotFound):
            await approval_inbox.visible_instance(session, stranger, instance.id)
        with pytest.raises(NotFound):
            await engine.decide(session, instance.id, lead.user_id, approve=True)
    assert await request_status(office, asked) == "pending"


async def test_cores_waiting_list_leaves_oas_requests_to_oa(office: Office) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    boss = await office.person("Boss", role=roles.ADMIN)
    await office.ask(wei)
    async with office.session() as session:
        assert await approvals.waiting(session, boss.user_id) == []
