"""Payments: typed against a signed contract's installment (never beyond what is open, even
two at once), or taken from Finance once per Finance payment; the contract completes when
all is paid; overdue installments listed and their owners told once; two workspaces."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from core import roles
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.permissions import Actor
from core.records.models import Notification
from modules.crm.models import Contract, Installment, Payment
from modules.crm.schemas.contracts import PaymentIn
from modules.crm.services import contracts, payments
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_contracts import (
    approved_contract,
    customer,
    history,
    published,
    signed_contract,
    status_of,
)


async def first_installments(floor: SalesFloor, contract: Contract) -> list[Installment]:
    async with floor.session() as session:
        return await contracts.installments_of(session, contract.id)


async def pay(
    floor: SalesFloor, actor: Actor, installment: Installment, amount: str, **fields
) -> Payment:
    received = PaymentIn(
        installment_id=installment.id,
        amount=Decimal(amount),
        received_on=date(2026, 2, 1),
        **fields,
    )
    async with floor.session() as session:
        return await payments.record_payment(session, floor.ctx, actor, received)


async def paid(floor: SalesFloor, installment: Installment) -> Decimal:
    async with floor.session() as session:
        found = await session.get(Installment, (floor.tenant_id, installment.id))
        assert found is not None
        return found.paid_amount


async def test_a_payment_pays_its_installment_and_the_last_one_completes_the_contract(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    signed = await signed_contract(floor, wei, await customer(floor, wei), "1000.00")
    first, second = await first_installments(floor, signed)
    made = await pay(floor, cashier, first, "200.00", method="cash", reference="R-1")
    assert (made.source, made.recorded_by, made.method) == ("manual", cashier.user_id, "cash")
    assert await paid(floor, first) == Decimal("200.00")
    await pay(floor, cashier, first, "300.00")
    await pay(floor, cashier, second, "500.00")
    assert await status_of(floor, signed.id) == "completed"
    recorded = await published(floor, "crm.payment_recorded.v1")
    assert [(e["amount"], e["source"], e["installment_id"]) for e in recorded] == [
        ("200.00", "manual", str(first.id)),
        ("300.00", "manual", str(first.id)),
        ("500.00", "manual", str(second.id)),
    ]
    assert (await history(floor, signed.id))[-4:] == [
        ("change", [("received", "0", "200.00")]),
        ("change", [("received", "200.00", "500.00")]),
        ("change", [("received", "500.00", "1000.00")]),
        ("change", [("status", "Signed", "Completed")]),
    ]


async def test_a_payment_never_exceeds_what_is_open_and_needs_a_signed_contract(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    party_id = await customer(floor, wei)
    signed = await signed_contract(floor, wei, party_id, "1000.00")
    first, _ = await first_installments(floor, signed)
    await pay(floor, cashier, first, "400.00")
    with pytest.raises(ValidationFailed) as refused:
        await pay(floor, cashier, first, "100.01")
    assert (refused.value.params["field"], refused.value.params["open"]) == ("amount", "100.00")
    for bad, field in (("0", "amount"), ("1.001", "amount")):
        with pytest.raises(ValidationFailed) as refused:
            await pay(floor, cashier, first, bad)
        assert refused.value.params["field"] == field
    with pytest.raises(ValidationFailed) as refused:
        await pay(floor, cashier, first, "1", method="gold bars")
    assert refused.value.params["field"] == "method"
    approved = await approved_contract(floor, wei, party_id)
    unsigned, _ = await first_installments(floor, approved)
    with pytest.raises(Conflict):
        await pay(floor, cashier, unsigned, "1")
    with pytest.raises(PermissionDenied):  # a Member lacks crm.payment.write
        await pay(floor, wei, first, "1")


async def test_two_payments_at_once_cannot_pay_an_installment_beyond_its_amount(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    signed = await signed_contract(floor, wei, await customer(floor, wei), "1000.00")
    first, _ = await first_installments(floor, signed)

    async def try_paying() -> str:
        try:
            await pay(floor, cashier, first, "300.00")
        except ValidationFailed:
            return "refused"
        return "paid"

    assert sorted(await asyncio.gather(try_paying(), try_paying())) == ["paid", "refused"]
    assert await paid(floor, first) == Decimal("300.00")


async def test_with_finance_on_payments_come_from_finance_once_each(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    signed = await signed_contract(floor, wei, await customer(floor, wei), "1000.00")
    first, second = await first_installments(floor, signed)
    with_finance = dataclasses.replace(floor.ctx, enabled=floor.ctx.enabled | {"finance"})
    async with floor.session() as session:
        with pytest.raises(Conflict):
            await payments.record_payment(
                session,
                with_finance,
                cashier,
                PaymentIn(installment_id=first.id, amount=Decimal(1), received_on=date(2026, 2, 1)),
            )

    async def from_finance(external_id: str, amount: str, **fields) -> Payment | None:
        async with floor.session() as session:
            return await payments.record_from_finance(
                session,
                with_finance,
                external_id=external_id,
                contract_id=signed.id,
                amount=Decimal(amount),
                currency="USD",
                received_on=date(2026, 2, 3),
                **fields,
            )

    made = await from_finance("FIN-PAY-1", "700.00", reference="bank 123")
    assert made is not None
    assert (made.source, made.external_id, made.installment_id) == (
        "finance",
        "FIN-PAY-1",
        first.id,
    )
    assert [await paid(floor, first), await paid(floor, second)] == [
        Decimal("500.00"),
        Decimal("200.00"),
    ]
    assert await from_finance("FIN-PAY-1", "700.00") is None  # delivered again: no effect
    assert await paid(floor, second) == Decimal("200.00")
    await from_finance("FIN-PAY-2", "400.00", installment_id=second.id)  # 100 beyond the plan
    assert await paid(floor, second) == Decimal("500.00")
    assert await status_of(floor, signed.id) == "completed"
    async with floor.session() as session:
        assert await payments.received_total(session, signed.id) == Decimal("1100.00")
        with pytest.raises(ValidationFailed):
            await payments.record_from_finance(
                session,
                with_finance,
                external_id="FIN-PAY-3",
                contract_id=signed.id,
                amount=Decimal(1),
                currency="EUR",
                received_on=date(2026, 2, 3),
            )


async def test_two_deliveries_of_one_finance_payment_at_once_count_once(
    floor: SalesFloor,
) -> None:
    wei = await floor.member("Wei")
    signed = await signed_contract(floor, wei, await customer(floor, wei), "1000.00")
    first, _ = await first_installments(floor, signed)

    async def deliver() -> Payment | None:
        async with floor.session() as session:
            return await payments.record_from_finance(
                session,
                floor.ctx,
                external_id="FIN-9",
                contract_id=signed.id,
                amount=Decimal("100.00"),
                currency="USD",
                received_on=date(2026, 2, 3),
            )

    results = await asyncio.gather(deliver(), deliver())
    assert sorted(result is None for result in results) == [False, True]
    assert await paid(floor, first) == Decimal("100.00")


async def test_overdue_installments_are_listed_and_their_owner_told_once(
    floor: SalesFloor, other_floor: SalesFloor
) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    signed = await signed_contract(floor, wei, await customer(floor, wei), "1000.00")
    first, _ = await first_installments(floor, signed)  # due 15 Jan and 15 Feb 2026
    await pay(floor, cashier, first, "100.00")
    async with floor.session() as session:
        overdue = await payments.overdue_installments(session, cashier, date(2026, 2, 1))
        assert [(o.sequence, o.overdue_amount, o.days_late) for o in overdue] == [
            (1, Decimal("400.00"), 17)
        ]
        assert (await payments.overdue_installments(session, li, date(2026, 2, 1))) == []
        later = await payments.overdue_installments(session, cashier, date(2026, 3, 1))
        assert [(o.sequence, o.days_late) for o in later] == [(1, 45), (2, 14)]
        assert payments.days_late(first, "signed", date(2026, 2, 1)) == 17
        assert payments.days_late(first, "terminated", date(2026, 2, 1)) == 0
        assert payments.days_late(first, "signed", date(2026, 1, 15)) == 0
        told = await payments.notify_overdue(session, date(2026, 2, 1))
        assert [(n.user_id, n.params["sequence"], n.params["amount"]) for n in told] == [
            (wei.user_id, 1, "400.00 USD")
        ]
    async with floor.session() as session:
        assert await payments.notify_overdue(session, date(2026, 2, 1)) == []  # once
        told = await payments.notify_overdue(session, date(2026, 3, 1))
        assert [n.params["sequence"] for n in told] == [2]
        assert len((await session.scalars(select(Notification))).all()) == 2
    async with other_floor.session() as session:
        stranger = await other_floor.member("Stranger", role=roles.OWNER)
        assert await payments.overdue_installments(session, stranger, date(2026, 3, 1)) == []
        assert await payments.notify_overdue(session, date(2026, 3, 1)) == []
        assert (await payments.list_payments(session, stranger)).items == []
        with pytest.raises(NotFound):
            await payments.record_payment(
                session,
                other_floor.ctx,
                stranger,
                PaymentIn(installment_id=first.id, amount=Decimal(1), received_on=date(2026, 2, 1)),
            )


async def test_payments_are_listed_through_their_contracts_scope(floor: SalesFloor) -> None:
    wei = await floor.member("Wei")
    li = await floor.member("Li")
    cashier = await floor.member("Cashier", role=roles.ADMIN)
    elsewhere = await floor.manager("Other boss", await floor.department("Elsewhere"))
    signed = await signed_contract(floor, wei, await customer(floor, wei), "1000.00")
    first, _ = await first_installments(floor, signed)
    await pay(floor, cashier, first, "100.00", reference="R-7")
    async with floor.session() as session:
        [row] = (await payments.list_payments(session, wei)).items
        assert (row.contract_number, row.installment_sequence, row.reference) == (
            signed.number,
            1,
            "R-7",
        )
        assert (await payments.list_payments(session, li)).items == []
        with pytest.raises(NotFound):
            await payments.record_payment(
                session,
                floor.ctx,
                elsewhere,
                PaymentIn(installment_id=first.id, amount=Decimal(1), received_on=date(2026, 2, 1)),
            )
