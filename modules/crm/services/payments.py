"""Payments (回款): money received against a signed contract's installments, typed in CRM or
taken from Finance's payment event; overdue installments and the owner's reminder.

Payments of one contract are serialised by a lock on the contract row, then on the
installment's: two payments at once cannot pay an installment beyond its amount (and the
table's check refuses it anyway). When the workspace has Finance, CRM does not take
payments typed by hand: Finance records them once and CRM follows its event.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import publish
from core.i18n import N_
from core.orm import uuid7
from core.parties.models import Party
from core.permissions import Actor, visible
from core.records.models import Notification
from core.records.timeline import Money, track_changes
from modules.crm import events
from modules.crm import permissions as codes
from modules.crm.models import Contract, Installment, Payment
from modules.crm.schemas.contracts import OverdueOut, PaymentIn, PaymentPage, PaymentSummary
from modules.crm.services.contracts import (
    PAGE_SIZE,
    RECORD,
    check_money,
    check_text,
    close_contract,
    not_in_future,
    page_cursor,
    today,
)

RESOURCE = "crm.payment"  # payments are seen through their contract's owner and department
FINANCE = "finance"
#: How a payment came in: the methods a person picks from (labels are msgids).
METHODS = {
    "bank_transfer": N_("Bank transfer"),
    "cash": N_("Cash"),
    "cheque": N_("Cheque"),
    "card": N_("Card"),
    "alipay": N_("Alipay"),
    "wechat_pay": N_("WeChat Pay"),
    "other": N_("Other"),
}
REFERENCE_MAX = 100
METHOD_MAX = 30
EXTERNAL_ID_MAX = 100
#: Statuses whose unpaid installments can be overdue: money is owed only once signed.
OWING = ("signed",)
OVERDUE_NOTICE = N_(
    "Installment {sequence} of contract {number} is overdue: {amount} was due on {due_on}."
)
RECEIVED_TRACKED = {"received": N_("Received")}


def open_amount(installment: Installment) -> Decimal:
    return installment.amount - installment.paid_amount


def days_late(installment: Installment, contract_status: str, on: date) -> int:
    """How many days an installment is overdue on ``on``; 0 when it is not."""
    if contract_status not in OWING or open_amount(installment) <= 0 or installment.due_on >= on:
        return 0
    return (on - installment.due_on).days


async def _locked_contract(session: AsyncSession, contract_id: uuid.UUID) -> Contract | None:
    return await session.scalar(
        select(Contract)
        .where(Contract.id == contract_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def _locked_installments(session: AsyncSession, contract_id: uuid.UUID) -> list[Installment]:
    return list(
        await session.scalars(
            select(Installment)
            .where(Installment.contract_id == contract_id)
            .order_by(Installment.sequence)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


async def received_total(session: AsyncSession, contract_id: uuid.UUID) -> Decimal:
    total = await session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.contract_id == contract_id)
    )
    return Decimal(total)


async def _after_receipt(
    session: AsyncSession,
    contract: Contract,
    payment: Payment,
    plan: list[Installment],
    received_before: Decimal,
) -> None:
    """What every payment does next: the contract's timeline, the event, and completing a
    signed contract whose installments are now all paid."""
    await track_changes(
        session,
        RECORD,
        contract.id,
        payment.recorded_by,
        {"received": Money(received_before, contract.currency)},
        {"received": Money(received_before + payment.amount, contract.currency)},
        RECEIVED_TRACKED,
    )
    await publish(
        session,
        events.PaymentRecorded(
            payment_id=payment.id,
            contract_id=contract.id,
            installment_id=payment.installment_id,
            customer_id=contract.party_id,
            amount=payment.amount,
            currency=contract.currency,
            received_on=payment.received_on,
            source=payment.source,
        ),
    )
    if contract.status == "signed" and plan and all(open_amount(i) <= 0 for i in plan):
        await close_contract(session, contract, "completed", payment.recorded_by)


async def record_payment(
    session: AsyncSession,
    ctx: TenantContext,
    actor: Actor,
    received: PaymentIn,
    *,
    contract_id: uuid.UUID | None = None,
) -> Payment:
    """Money typed in CRM against an installment (of ``contract_id``, when given) of a
    signed contract, at most what is still open on it. Refused when the workspace has
    Finance (Finance records payments)."""
    actor.require(codes.PAYMENT_WRITE)
    if FINANCE in ctx.enabled:
        raise Conflict(
            "Finance records this workspace's payments: enter the receipt in Finance and it "
            "shows here by itself."
        )
    amount = check_money(received.amount, "amount")
    day = not_in_future(received.received_on, "received_on")
    if received.method not in METHODS:
        raise ValidationFailed("Choose how the money came in.", field="method")
    reference = check_text(received.reference, "reference", REFERENCE_MAX)
    query = (
        select(Installment.contract_id)
        .join(
            Contract,
            (Contract.id == Installment.contract_id)
            & (Contract.tenant_id == Installment.tenant_id),
        )
        .where(Installment.id == received.installment_id, visible(actor, RESOURCE, Contract))
    )
    if contract_id is not None:
        query = query.where(Installment.contract_id == contract_id)
    owning = await session.scalar(query)
    if owning is None:
        raise NotFound("No installment {id}.", id=str(received.installment_id))
    contract = await _locked_contract(session, owning)  # contract first, then its plan
    assert contract is not None  # it has this installment
    if contract.status != "signed":
        raise Conflict("Payments are recorded against signed contracts.")
    plan = await _locked_installments(session, contract.id)
    installment = next(i for i in plan if i.id == received.installment_id)
    if amount > open_amount(installment):
        raise ValidationFailed(
            "At most {open} is still open on installment {sequence}.",
            open=str(open_amount(installment)),
            sequence=installment.sequence,
            field="amount",
        )
    received_before = await received_total(session, contract.id)
    installment.paid_amount += amount
    payment = Payment(
        contract_id=contract.id,
        installment_id=installment.id,
        amount=amount,
        received_on=day,
        method=received.method,
        reference=reference,
        source="manual",
        recorded_by=actor.user_id,
    )
    session.add(payment)
    await session.flush()
    await _after_receipt(session, contract, payment, plan, received_before)
    return payment


async def record_from_finance(
    session: AsyncSession,
    ctx: TenantContext,
    *,
    external_id: str,
    contract_id: uuid.UUID,
    amount: Decimal,
    currency: str,
    received_on: date,
    installment_id: uuid.UUID | None = None,
    method: str = "",
    reference: str = "",
) -> Payment | None:
    """A payment Finance received for a contract (its ``finance.payment_received.v1``
    event), recorded once: the same Finance payment again changes nothing (None).

    Money received is a fact, so nothing is refused for being too much: it pays the named
    installment first, then the others in order, each up to its amount; what is left over
    stays on the contract's payments as received beyond the plan.
    """
    external_id = external_id.strip()
    if not external_id or len(external_id) > EXTERNAL_ID_MAX:
        raise ValidationFailed(
            "A Finance payment id has 1 to {max} characters.", max=EXTERNAL_ID_MAX
        )
    contract = await _locked_contract(session, contract_id)
    if contract is None:
        raise NotFound("No contract {id}.", id=str(contract_id))
    if currency != contract.currency:
        raise ValidationFailed(
            "Contract {number} is in {currency}, not {given}.",
            number=contract.number,
            currency=contract.currency,
            given=currency,
        )
    amount = check_money(amount, "amount")
    plan = await _locked_installments(session, contract.id)
    if installment_id is not None and installment_id not in {i.id for i in plan}:
        raise NotFound("No installment {id}.", id=str(installment_id))
    received_before = await received_total(session, contract.id)
    inserted = await session.scalar(
        insert(Payment)
        .values(
            tenant_id=session.info["tenant_id"],
            id=uuid7(),
            contract_id=contract.id,
            installment_id=installment_id,
            amount=amount,
            received_on=received_on,
            method=method[:METHOD_MAX],
            reference=reference[:REFERENCE_MAX],
            source=FINANCE,
            external_id=external_id,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "source", "external_id"])
        .returning(Payment.id)
    )
    if inserted is None:
        return None  # this Finance payment is here already
    payment = await session.scalar(select(Payment).where(Payment.id == inserted))
    assert payment is not None
    remaining = amount
    ordered = sorted(plan, key=lambda i: (i.id != installment_id, i.sequence))
    for installment in ordered:
        share = min(remaining, open_amount(installment))
        if share > 0:
            installment.paid_amount += share
            remaining -= share
            if payment.installment_id is None:
                payment.installment_id = installment.id
    await session.flush()
    await _after_receipt(session, contract, payment, plan, received_before)
    return payment


# --- lists -----------------------------------------------------------------------------------


async def list_payments(
    session: AsyncSession,
    actor: Actor,
    *,
    contract_id: uuid.UUID | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> PaymentPage:
    """Payments of the contracts the actor's ``crm.payment`` scope shows, newest first."""
    actor.require(codes.PAYMENT_READ)
    query = (
        select(Payment, Contract.number, Contract.currency, Party.name, Installment.sequence)
        .join(
            Contract,
            (Contract.id == Payment.contract_id) & (Contract.tenant_id == Payment.tenant_id),
        )
        .join(Party, (Party.id == Contract.party_id) & (Party.tenant_id == Contract.tenant_id))
        .outerjoin(
            Installment,
            (Installment.id == Payment.installment_id)
            & (Installment.tenant_id == Payment.tenant_id),
        )
        .where(visible(actor, RESOURCE, Contract))
        .order_by(Payment.id.desc())
        .limit(limit + 1)
    )
    if contract_id is not None:
        query = query.where(Payment.contract_id == contract_id)
    cursor = page_cursor(after)
    if cursor is not None:
        query = query.where(Payment.id < cursor)
    rows = (await session.execute(query)).all()
    items = [
        PaymentSummary(
            id=p.id,
            contract_id=p.contract_id,
            contract_number=number,
            customer_name=customer,
            installment_sequence=sequence,
            amount=p.amount,
            currency=currency,
            received_on=p.received_on,
            method=p.method,
            reference=p.reference,
            source=p.source,  # type: ignore[arg-type]
        )
        for p, number, currency, customer, sequence in rows[:limit]
    ]
    more = len(rows) > limit
    return PaymentPage(items=items, next_cursor=str(items[-1].id) if more else None)


def _overdue_query(on: date) -> Select[Any]:
    return (
        select(Installment, Contract.number, Contract.currency, Contract.owner_id, Party.name)
        .join(
            Contract,
            (Contract.id == Installment.contract_id)
            & (Contract.tenant_id == Installment.tenant_id),
        )
        .join(Party, (Party.id == Contract.party_id) & (Party.tenant_id == Contract.tenant_id))
        .where(
            Contract.status.in_(OWING),
            Installment.due_on < on,
            Installment.paid_amount < Installment.amount,
        )
        .order_by(Installment.due_on, Contract.number, Installment.sequence)
    )


async def overdue_installments(
    session: AsyncSession, actor: Actor, on: date | None = None, *, limit: int = 500
) -> list[OverdueOut]:
    """Installments of signed contracts due before ``on`` (today) and not fully paid, in
    the actor's ``crm.payment`` scope, longest overdue first."""
    actor.require(codes.PAYMENT_READ)
    day = on or today()
    rows = await session.execute(
        _overdue_query(day).where(visible(actor, RESOURCE, Contract)).limit(limit)
    )
    return [
        OverdueOut(
            installment_id=i.id,
            contract_id=i.contract_id,
            contract_number=number,
            customer_name=customer,
            owner_id=owner_id,
            sequence=i.sequence,
            due_on=i.due_on,
            amount=i.amount,
            paid_amount=i.paid_amount,
            overdue_amount=open_amount(i),
            currency=currency,
            days_late=(day - i.due_on).days,
        )
        for i, number, currency, owner_id, customer in rows
    ]


async def notify_overdue(session: AsyncSession, on: date | None = None) -> list[Notification]:
    """Tell each contract's owner, once per installment, that it became overdue. The
    UPDATE claims the installments not yet told about, so a second run (or one running at
    the same time) tells nobody twice; one that did not run for days catches up."""
    day = on or today()
    claimed = await session.execute(
        update(Installment)
        .where(
            Installment.overdue_notified_at.is_(None),
            Installment.due_on < day,
            Installment.paid_amount < Installment.amount,
            Installment.contract_id.in_(select(Contract.id).where(Contract.status.in_(OWING))),
        )
        .values(overdue_notified_at=func.now())
        .returning(
            Installment.contract_id,
            Installment.sequence,
            Installment.due_on,
            Installment.amount - Installment.paid_amount,
        )
        .execution_options(synchronize_session=False)
    )
    rows = claimed.all()
    if not rows:
        return []
    contracts = {
        c.id: c
        for c in await session.scalars(
            select(Contract).where(Contract.id.in_({row[0] for row in rows}))
        )
    }
    notices = [
        Notification(
            user_id=contracts[contract_id].owner_id,
            kind="crm_installment_overdue",
            record_type=RECORD,
            record_id=contract_id,
            message=OVERDUE_NOTICE,
            params={
                "sequence": sequence,
                "number": contracts[contract_id].number,
                "amount": f"{open_amount_value} {contracts[contract_id].currency}",
                "due_on": due_on.isoformat(),
            },
        )
        for contract_id, sequence, due_on, open_amount_value in rows
        if contracts[contract_id].owner_id is not None
    ]
    session.add_all(notices)
    await session.flush()
    return notices


async def overdue_job(session: AsyncSession, ctx: TenantContext) -> None:
    """The daily job (``contracts.overdue``): reminders of installments that became overdue."""
    await notify_overdue(session)
