"""Contracts: written directly or from an accepted quote, edited while draft, their payment
plan, approval through core's port (decided at once or later, approved or rejected, the
decision applied once), signing with the quote's lines and the installments, completing
and terminating; data scopes and two workspaces."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import approvals, roles
from core.approvals import ApprovalDecided
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import ApprovalRequest, OutboxEvent
from core.parties import services as parties
from core.parties.schemas import PartyIn
from core.permissions import Actor
from core.products import services as catalogue
from core.records.timeline import timeline
from core.worker import Worker
from modules.crm.models import Contract, Customer, Installment, Quote, QuoteLine
from modules.crm.schemas.contracts import ContractIn
from modules.crm.services import contracts
from modules.crm.services.contracts import (
    ContractChanges,
    PlannedInstallment,
    add_months,
    split_evenly,
)
from tests.modules.crm.conftest import SalesFloor


async def customer(floor: SalesFloor, actor: Actor, name: str = "Hangzhou Tea Co.") -> uuid.UUID:
    async with floor.session() as session:
        party = await parties.create_party(
            session,
            actor,
            PartyIn(kind="company", name=name, is_customer=True),
            allow_duplicates=True,
        )
        return party.id


async def contact(floor: SalesFloor, actor: Actor, company_id: uuid.UUID, name: str) -> uuid.UUID:
    async with floor.session() as session:
        person = await parties.create_party(
            session,
            actor,
            PartyIn(kind="person", name=name, company_id=company_id),
            allow_duplicates=True,
        )
        return person.id


async def draft(
    floor: SalesFloor, actor: Actor, party_id: uuid.UUID, amount: str = "12000.00", **fields
) -> Contract:
    async with floor.session() as session:
        return await contracts.create_contract(
            session,
            actor,
            ContractIn(
                title="Annual tea supply", party_id=party_id, amount=Decimal(amount), **fields
            ),
        )


async def plan(floor: SalesFloor, actor: Actor, contract_id: uuid.UUID, *amounts: str) -> None:
    async with floor.session() as session:
        await contracts.set_payment_plan(
            session,
            actor,
            contract_id,
            [
                PlannedInstallment(add_months(date(2026, 1, 15), index), Decimal(amount))
                for index, amount in enumerate(amounts)
            ],
        )


async def submit(floor: SalesFloor, actor: Actor, contract_id: uuid.UUID) -> Contract:
    async with floor.session() as session:
        return await contracts.submit_for_approval(
            session, floor.ctx, floor.registry, actor, contract_id
        )


async def auto_approve_below(floor: SalesFloor, amount: str) -> None:
    async with floor.session() as session:
        await approvals.set_policy(session, Decimal(amount), kind="crm.contract")


async def approved_contract(
    floor: SalesFloor, actor: Actor, party_id: uuid.UUID, amount: str = "12000.00"
) -> Contract:
    """A contract approved at once by core's rule, with two equal installments."""
    await auto_approve_below(floor, "1000000")
    made = await draft(floor, actor, party_id, amount)
    half = str(Decimal(amount) / 2)
    await plan(floor, actor, made.id, half, half)
    return await submit(floor, actor, made.id)


async def signed_contract(
    floor: SalesFloor, actor: Actor, party_id: uuid.UUID, amount: str = "12000.00", **sign
) -> Contract:
    made = await approved_contract(floor, actor, party_id, amount)
    async with floor.session() as session:
        return await contracts.sign_contract(session, actor, made.id, **sign)


async def status_of(floor: SalesFloor, contract_id: uuid.UUID) -> str:
    async with floor.session() as session:
        found = await session.get(Contract, (floor.tenant_id, contract_id))
        assert found is not None
        return found.status


async def published(floor: SalesFloor, event_type: str) -> list[dict]:
    async with floor.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.id)
        )
        return list(rows)


async def history(floor: SalesFloor, contract_id: uuid.UUID) -> list[tuple[str, object]]:
    """The contract's timeline, oldest first: ("change", [(field, from, to)]) or
    ("comment", body)."""
    async with floor.session() as session:
        entries = await timeline(session, "crm.contract", contract_id)
    shown: list[tuple[str, object]] = []
    for entry in reversed(entries):
        if entry.kind == "change":
            shown.append(("change", [(c["field"], c["from"], c["to"]) for c in entry.changes]))
        else:
            shown.append((entry.kind, entry.body))
    return shown


async def drain(floor: SalesFloor) -> None:
    worker = Worker(floor.db, floor.registry)
    for _ in range(20):
        if await worker.run_once() == 0:
            return
    raise AssertionError("the outbox did not drain")


# --- writing a contract ----------------------------------------------------------------------


async def test_a_direct_contract_is_a_numbered_draft_of_a_customer_with_a_profile(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    person = await contact(floor, wei, party_id, "Zhang San")
    made = await draft(
        floor,
        wei,
        party_id,
        "12000.50",
        discount_percent=Decimal("5"),
        contact_id=person,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        terms="Delivery monthly.",
    )
    assert made.number.startswith("CT-")
    assert made.number.endswith("000001")
    assert (made.status, made.amount, made.currency) == ("draft", Decimal("12000.50"), "USD")
    assert (made.owner_id, made.contact_id) == (wei.user_id, person)
    async with floor.session() as session:
        profile = await session.scalar(select(Customer).where(Customer.party_id == party_id))
        assert profile is not None
        assert profile.lifecycle_stage == "customer"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": " "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("-1")}, "amount"),
        ({"amount": Decimal("1.005")}, "amount"),
        ({"amount": Decimal("1e16")}, "amount"),
        ({"discount_percent": Decimal("100.01")}, "discount_percent"),
        ({"starts_on": date(2026, 2, 1), "ends_on": date(2026, 1, 1)}, "ends_on"),
        ({"terms": "x" * 20_001}, "terms"),
        ({"party_id": None}, "party_id"),
    ],
)
async def test_a_contract_with_bad_terms_is_refused_by_its_input(
    floor: SalesFloor, fields: dict, field: str
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    values = {"title": "Supply", "party_id": party_id, "amount": Decimal("100"), **fields}
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await contracts.create_contract(session, wei, ContractIn(**values))
    assert refused.value.params["field"] == field


async def test_a_contact_must_work_at_the_customer_and_the_customer_be_in_scope(
    floor: SalesFloor,
) -> None:
    wei, li = await floor.member("Wei"), await floor.member("Li")
    weis, lis = await customer(floor, wei), await customer(floor, li, "Li's client")
    elsewhere = await contact(floor, wei, await customer(floor, wei, "Other Co."), "Wang Wu")
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await contracts.create_contract(
                session,
                wei,
                ContractIn(title="T", party_id=weis, amount=Decimal(1), contact_id=elsewhere),
            )
        assert refused.value.params["field"] == "contact_id"
        with pytest.raises(NotFound):
            await contracts.create_contract(
                session, wei, ContractIn(title="T", party_id=lis, amount=Decimal(1))
            )


async def test_only_a_draft_is_edited_and_each_change_is_on_its_timeline(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    person = await contact(floor, wei, party_id, "Zhang San")
    made = await draft(floor, wei, party_id)
    changes = ContractChanges(
        title="Tea supply 2026",
        amount=Decimal("15000"),
        discount_percent=Decimal("2.5"),
        contact_id=person,
        starts_on=date(2026, 1, 1),
        ends_on=None,
        terms="",
    )
    async with floor.session() as session:
        changed = await contracts.update_contract(session, wei, made.id, changes)
        assert (changed.title, changed.amount) == ("Tea supply 2026", Decimal("15000.00"))
    assert await history(floor, made.id) == [
        (
            "change",
            [
                ("title", "Annual tea supply", "Tea supply 2026"),
                ("amount", "12000.00", "15000.00"),
                ("discount_percent", "0.00", "2.50"),
                ("contact", None, "Zhang San"),
                ("starts_on", None, "2026-01-01"),
            ],
        )
    ]
    await plan(floor, wei, made.id, "15000")
    async with floor.session() as session:
        with pytest.raises(Conflict) as refused:
            await contracts.update_contract(
                session, wei, made.id, dataclasses.replace(changes, amount=Decimal("16000"))
            )
        assert refused.value.params["field"] == "amount"  # the plan says 15000
    await auto_approve_below(floor, "1000000")
    await submit(floor, wei, made.id)
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await contracts.update_contract(session, wei, made.id, changes)


# --- from a quote ----------------------------------------------------------------------------


async def accepted_quote(
    floor: SalesFloor, actor: Actor, party_id: uuid.UUID, status: str = "accepted"
) -> uuid.UUID:
    """A quote as the sales area leaves it: two lines, 10 % off the first, 13 % VAT."""
    async with floor.session() as session:
        pieces = await catalogue.unit_by_code(session, "pcs")
        kettle = await catalogue.create_product(
            session, sku=f"K-{uuid.uuid4().hex[:6]}", name="Kettle", uom_id=pieces.id
        )
        quote = Quote(
            number=f"QT-{uuid.uuid4().hex[:6]}",
            party_id=party_id,
            status=status,
            currency="USD",
            subtotal=Decimal("1500.00"),
            discount_total=Decimal("100.00"),
            tax_total=Decimal("182.00"),
            total=Decimal("1582.00"),
            owner_id=actor.user_id,
            department_id=actor.department_id,
        )
        quote.lines = [
            QuoteLine(
                sequence=1,
                product_id=kettle.id,
                description="Kettle, steel",
                quantity=Decimal("10"),
                unit_price=Decimal("100.00"),
                discount_percent=Decimal("10"),
                tax_rate=Decimal("0.13"),
                net_amount=Decimal("900.00"),
                tax_amount=Decimal("117.00"),
            ),
            QuoteLine(
                sequence=2,
                product_id=kettle.id,
                description="Kettle, copper",
                quantity=Decimal("1"),
                unit_price=Decimal("500.00"),
                tax_rate=Decimal("0.13"),
                net_amount=Decimal("500.00"),
                tax_amount=Decimal("65.00"),
            ),
        ]
        session.add(quote)
        await session.flush()
        return quote.id


async def test_a_contract_from_an_accepted_quote_takes_its_customer_amount_and_discount(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    quote_id = await accepted_quote(floor, wei, party_id)
    async with floor.session() as session:
        made = await contracts.create_contract(
            session, wei, ContractIn(title="Kettles", quote_id=quote_id)
        )
    assert (made.party_id, made.quote_id, made.amount) == (party_id, quote_id, Decimal("1582.00"))
    assert made.discount_percent == Decimal("6.67")  # 100 off 1,500 listed
    async with floor.session() as session:
        with pytest.raises(Conflict) as refused:  # one live contract per quote
            await contracts.create_contract(
                session, wei, ContractIn(title="Again", quote_id=quote_id)
            )
        assert refused.value.params["field"] == "quote_id"
    sent = await accepted_quote(floor, wei, party_id, status="sent")
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await contracts.create_contract(session, wei, ContractIn(title="T", quote_id=sent))


async def test_two_contracts_from_one_quote_at_once_make_one(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    quote_id = await accepted_quote(floor, wei, await customer(floor, wei))

    async def write() -> str:
        try:
            async with floor.session() as session:
                await contracts.create_contract(
                    session, wei, ContractIn(title="Kettles", quote_id=quote_id)
                )
        except Conflict:
            return "refused"
        return "written"

    assert sorted(await asyncio.gather(write(), write())) == ["refused", "written"]


async def test_signing_a_contract_from_a_quote_publishes_its_lines_and_installments(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    quote_id = await accepted_quote(floor, wei, party_id)
    await auto_approve_below(floor, "1000000")
    async with floor.session() as session:
        made = await contracts.create_contract(
            session, wei, ContractIn(title="Kettles", quote_id=quote_id)
        )
    await plan(floor, wei, made.id, "1000.00", "582.00")
    await submit(floor, wei, made.id)
    async with floor.session() as session:
        signed = await contracts.sign_contract(session, wei, made.id, date(2026, 3, 2))
        assert (signed.status, signed.signed_on, signed.base_amount) == (
            "signed",
            date(2026, 3, 2),
            Decimal("1582.00"),
        )
    [event] = await published(floor, "crm.contract_signed.v1")
    assert event["quote_id"] == str(quote_id)
    assert event["owner_id"] == str(wei.user_id)
    assert [(line["description"], line["net_amount"]) for line in event["lines"]] == [
        ("Kettle, steel", "900.00"),
        ("Kettle, copper", "500.00"),
    ]
    assert event["installments"] == [
        {"sequence": 1, "due_on": "2026-01-15", "amount": "1000.00"},
        {"sequence": 2, "due_on": "2026-02-15", "amount": "582.00"},
    ]


# --- the payment plan ------------------------------------------------------------------------


def test_splitting_evenly_gives_monthly_installments_with_the_odd_cents_last() -> None:
    assert split_evenly(Decimal("100.00"), 3, date(2026, 1, 31)) == [
        PlannedInstallment(date(2026, 1, 31), Decimal("33.33")),
        PlannedInstallment(date(2026, 2, 28), Decimal("33.33")),
        PlannedInstallment(date(2026, 3, 31), Decimal("33.34")),
    ]
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    with pytest.raises(ValidationFailed):
        split_evenly(Decimal("0.02"), 3, date(2026, 1, 1))
    with pytest.raises(ValidationFailed):
        split_evenly(Decimal("100"), 0, date(2026, 1, 1))


async def test_a_plan_adds_up_to_the_amount_and_changes_only_while_draft_or_approved(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    made = await draft(floor, wei, await customer(floor, wei), "1000.00")
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await contracts.set_payment_plan(
                session,
                wei,
                made.id,
                [PlannedInstallment(date(2026, 1, 1), Decimal("600"))] * 2,
            )
        assert refused.value.params["field"] == "plan"
        assert refused.value.params["total"] == "1200.00"
        with pytest.raises(ValidationFailed) as refused:
            await contracts.set_payment_plan(
                session, wei, made.id, [PlannedInstallment(date(2026, 1, 1), Decimal("0"))]
            )
        assert refused.value.params["field"] == "amount_1"
    await plan(floor, wei, made.id, "600", "400")
    await plan(floor, wei, made.id, "250", "250", "500")  # replaced whole
    async with floor.session() as session:
        rows = await contracts.installments_of(session, made.id)
        assert [(i.sequence, i.due_on, i.amount) for i in rows] == [
            (1, date(2026, 1, 15), Decimal("250.00")),
            (2, date(2026, 2, 15), Decimal("250.00")),
            (3, date(2026, 3, 15), Decimal("500.00")),
        ]
    await auto_approve_below(floor, "1000000")
    await submit(floor, wei, made.id)
    await plan(floor, wei, made.id, "1000")  # approved: still open to change
    async with floor.session() as session:
        await contracts.sign_contract(session, wei, made.id)
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await contracts.set_payment_plan(session, wei, made.id, [])


async def test_a_contract_without_a_plan_is_not_signed(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    await auto_approve_below(floor, "1000000")
    made = await draft(floor, wei, await customer(floor, wei))
    await submit(floor, wei, made.id)
    async with floor.session() as session:
        with pytest.raises(Conflict) as refused:
            await contracts.sign_contract(session, wei, made.id)
    assert refused.value.params["field"] == "plan"


# --- approval --------------------------------------------------------------------------------


async def test_a_contract_below_the_auto_approval_amount_is_approved_at_once_and_only_once(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    await auto_approve_below(floor, "50000")
    made = await draft(floor, wei, await customer(floor, wei))
    submitted = await submit(floor, wei, made.id)
    assert submitted.status == "approved"
    async with floor.session() as session:
        request = await session.get(
            ApprovalRequest, (floor.tenant_id, submitted.approval_request_id)
        )
        assert request is not None
        assert (request.kind, request.amount, request.fields) == (
            "crm.contract",
            Decimal("12000.00"),
            {"amount": "12000.00", "discount": "0.00"},
        )
    await drain(floor)  # the decision's event arrives too: already applied, nothing happens
    [approved] = await published(floor, "crm.contract_approved.v1")
    assert approved["contract_id"] == str(made.id)
    assert approved["amount"] == "12000.00"
    assert await history(floor, made.id) == [
        ("change", [("status", "Draft", "Pending approval")]),
        ("change", [("status", "Pending approval", "Approved")]),
        ("comment", "Approved automatically: the amount is below the workspace's limit."),
    ]


async def test_a_pending_contract_is_approved_or_rejected_by_the_decision_event(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    boss = await floor.member("Boss", role=roles.OWNER)
    party_id = await customer(floor, wei)
    first, second = await draft(floor, wei, party_id), await draft(floor, wei, party_id)
    for made in (first, second):
        assert (await submit(floor, wei, made.id)).status == "pending_approval"
    async with floor.session() as session:
        for made, approve, comment in ((first, True, None), (second, False, "Discount too deep")):
            found = await session.get(Contract, (floor.tenant_id, made.id))
            assert found is not None
            assert found.approval_request_id is not None
            await approvals.decide(
                session,
                found.approval_request_id,
                approver_id=boss.user_id,
                approve=approve,
                comment=comment,
            )
    await drain(floor)
    assert [await status_of(floor, first.id), await status_of(floor, second.id)] == [
        "approved",
        "draft",
    ]
    assert (await history(floor, second.id))[-2:] == [
        ("change", [("status", "Pending approval", "Draft")]),
        ("comment", "Discount too deep"),
    ]
    [approved] = await published(floor, "crm.contract_approved.v1")
    assert approved["contract_id"] == str(first.id)
    # The rejected draft is submitted again: a new request; the old decision changes nothing.
    async with floor.session() as session:
        old = await session.get(Contract, (floor.tenant_id, second.id))
        assert old is not None
        old_request = old.approval_request_id
    await submit(floor, wei, second.id)
    async with floor.session() as session:
        assert old_request is not None
        changed = await contracts.apply_decision(
            session,
            request_id=old_request,
            subject_id=second.id,
            approved=True,
            decided_by=boss.user_id,
            comment=None,
        )
        assert changed is False
        await contracts.on_approval_decided(  # another kind's decision is not ours
            session,
            floor.ctx,
            ApprovalDecided(
                request_id=uuid.uuid4(),
                kind="oa.leave",
                subject_type="crm.contract",
                subject_id=second.id,
                approved=True,
            ),
        )
    assert await status_of(floor, second.id) == "pending_approval"


async def test_only_a_draft_is_submitted(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    made = await draft(floor, wei, await customer(floor, wei))
    await submit(floor, wei, made.id)
    with pytest.raises(Conflict):
        await submit(floor, wei, made.id)


# --- signing, completing, terminating --------------------------------------------------------


async def test_signing_needs_an_approved_contract_and_a_day_that_has_come(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    made = await draft(floor, wei, party_id)
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await contracts.sign_contract(session, wei, made.id)
    approved = await approved_contract(floor, wei, party_id)
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await contracts.sign_contract(session, wei, approved.id, date(2999, 1, 1))
        assert refused.value.params["field"] == "signed_on"
    signed = await signed_contract(floor, wei, party_id)
    [event] = list(await published(floor, "crm.contract_signed.v1"))
    assert event["contract_id"] == str(signed.id)
    assert event["lines"] == []


async def test_a_contract_is_completed_by_hand_or_terminated_with_a_reason(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    signed = await signed_contract(floor, wei, party_id)
    approved = await approved_contract(floor, wei, party_id)
    async with floor.session() as session:
        with pytest.raises(ValidationFailed) as refused:
            await contracts.terminate_contract(session, wei, approved.id, "  ")
        assert refused.value.params["field"] == "reason"
        ended = await contracts.terminate_contract(
            session, wei, approved.id, "The customer went bankrupt."
        )
        assert (ended.status, ended.close_reason) == ("terminated", "The customer went bankrupt.")
        assert ended.closed_at is not None
        done = await contracts.complete_contract(session, wei, signed.id)
        assert done.status == "completed"
    async with floor.session() as session:
        for closed in (ended, done):
            with pytest.raises(Conflict):
                await contracts.terminate_contract(session, wei, closed.id, "again")
            with pytest.raises(Conflict):
                await contracts.complete_contract(session, wei, closed.id)
    assert (await history(floor, approved.id))[-2:] == [
        ("change", [("status", "Approved", "Terminated")]),
        ("comment", "The customer went bankrupt."),
    ]


# --- who sees what ---------------------------------------------------------------------------


async def test_scopes_and_workspaces_decide_who_sees_and_changes_a_contract(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    sales = await floor.department("Sales")
    wei = await floor.member("Wei", department=sales)
    li = await floor.member("Li", department=sales)
    boss = await floor.manager("Boss", sales)
    made = await draft(floor, wei, await customer(floor, wei))
    async with floor.session() as session:
        assert [c.id for c in (await contracts.list_contracts(session, wei)).items] == [made.id]
        assert (await contracts.list_contracts(session, li)).items == []
        assert [c.id for c in (await contracts.list_contracts(session, boss)).items] == [made.id]
        with pytest.raises(NotFound):
            await contracts.get_contract(session, li, made.id)
        with pytest.raises(NotFound):
            await contracts.set_payment_plan(session, li, made.id, [])
        found = await contracts.list_contracts(session, boss, search="tea", status="draft")
        assert [c.customer_name for c in found.items] == ["Hangzhou Tea Co."]
    stranger = await other_floor.member("Stranger", role=roles.OWNER)
    async with other_floor.session() as session:
        assert (await contracts.list_contracts(session, stranger)).items == []
        with pytest.raises(NotFound):
            await contracts.get_contract(session, stranger, made.id)
        with pytest.raises(NotFound):
            await contracts.submit_for_approval(
                session, other_floor.ctx, other_floor.registry, stranger, made.id
            )
        assert (await session.scalars(select(Installment))).all() == []


async def test_the_contract_list_pages_by_id(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    party_id = await customer(floor, wei)
    made = [await draft(floor, wei, party_id) for _ in range(3)]
    async with floor.session() as session:
        first = await contracts.list_contracts(session, wei, limit=2)
        assert [c.id for c in first.items] == [made[2].id, made[1].id]
        rest = await contracts.list_contracts(session, wei, limit=2, after=first.next_cursor)
        assert ([c.id for c in rest.items], rest.next_cursor) == ([made[0].id], None)
        with pytest.raises(ValidationFailed):
            await contracts.list_contracts(session, wei, after="page-two")


async def test_an_engine_that_decides_on_the_spot_is_applied_the_same_way(
    db, make_tenant, registry
) -> None:
    """The sample add-on's engine rejects at once what lacks ``ok``: back to draft."""
    shop = SalesFloor(db, registry, await make_tenant("shop", "crm", "sampleaddon", seed=True))
    wei = await shop.member("Wei")
    made = await draft(shop, wei, await customer(shop, wei))
    submitted = await submit(shop, wei, made.id)
    assert submitted.status == "draft"
    assert (await history(shop, made.id))[-2:] == [
        ("change", [("status", "Pending approval", "Draft")]),
        ("comment", "decided by the addon"),
    ]
    async with shop.session() as session:
        request = await session.get(
            ApprovalRequest, (shop.tenant_id, submitted.approval_request_id)
        )
        assert request is not None
        assert (request.engine, request.status) == ("sampleaddon", "rejected")
    assert await published(shop, "crm.contract_approved.v1") == []
