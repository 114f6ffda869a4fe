"""Contracts (合同): written from an accepted quote or directly, approved through core's
approval port, signed, then completed or terminated; and their payment plans (回款计划).

A contract's life: draft → pending_approval → approved → signed → completed, or
terminated from approved or signed. A rejected approval sends it back to draft. Only a
draft is edited; its payment plan may change while it is draft or approved, and always
adds up to the contract's amount. Every change of status goes on the contract's timeline.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import numbering
from core.approvals import (
    CORE_ENGINE,
    ApprovalDecided,
    decide,
    is_approver,
    request_approval,
)
from core.context import TenantContext
from core.errors import Conflict, ValidationFailed
from core.events import publish
from core.i18n import N_, gettext
from core.models import ApprovalRequest
from core.parties.models import Party
from core.permissions import Actor, visible
from core.plugins.registry import ModuleRegistry
from core.products.currency import base_currency, convert_amount, has_places, to_decimal
from core.products.services import MONEY_LIMIT
from core.records.models import TimelineEntry
from core.records.timeline import MAX_COMMENT, Money, track_changes
from modules.crm import events
from modules.crm import permissions as codes
from modules.crm.access import scoped_customer, scoped_get
from modules.crm.models import Contract, Installment, Opportunity, Quote
from modules.crm.schemas.contracts import ContractIn, ContractPage, ContractSummary
from modules.crm.services.profiles import ensure_customer
from modules.crm.services.quotes import event_lines, quote_for_contract

RECORD = "crm.contract"  # the record type, and the data scope's resource
#: The approval kind of the manifest (plugin.CONTRACT_APPROVAL): what OA's flows test.
APPROVAL_KIND = "crm.contract"
TITLE_MAX = 200
TERMS_MAX = 20_000
REASON_MAX = 500
PLAN_MAX = 120  # ten years of monthly installments
PAGE_SIZE = 50
CENT = Decimal("0.01")

STATUS_LABELS = {
    "draft": N_("Draft"),
    "pending_approval": N_("Pending approval"),
    "approved": N_("Approved"),
    "signed": N_("Signed"),
    "completed": N_("Completed"),
    "terminated": N_("Terminated"),
}
#: What a draft's edit tracks on the timeline, in display order.
TRACKED = {
    "title": N_("Title"),
    "amount": N_("Amount"),
    "discount_percent": N_("Discount, percent"),
    "contact": N_("Contact"),
    "starts_on": N_("Starts on"),
    "ends_on": N_("Ends on"),
    "terms": N_("Terms"),
}
STATUS_TRACKED = {"status": N_("Status")}
PLAN_EDITABLE = ("draft", "approved")
_QUOTE_TAKEN = N_("This quote already has a contract; terminate it to write another.")
TERMINABLE = ("approved", "signed")


# --- checks shared by the contract, payment and target rules ----------------------------------


def check_money(value: Decimal | int, field: str, *, zero_allowed: bool = False) -> Decimal:
    """An amount of money as the database keeps it (numeric(18,2)), refused by ``field``."""
    value = to_decimal(value)
    if not value.is_finite() or value < 0:
        raise ValidationFailed("Enter an amount of zero or more.", field=field)
    if value == 0 and not zero_allowed:
        raise ValidationFailed("Enter an amount greater than zero.", field=field)
    if value >= MONEY_LIMIT or not has_places(value, 2):
        raise ValidationFailed(
            "An amount has at most 2 decimal places and 16 digits before the point.",
            field=field,
        )
    return value.quantize(CENT)


def check_text(value: str, field: str, maximum: int, *, required: bool = False) -> str:
    """Text stripped of surrounding spaces, at most ``maximum`` characters."""
    value = value.strip()
    if required and not value:
        raise ValidationFailed("Fill this in.", field=field)
    if len(value) > maximum:
        raise ValidationFailed("This is longer than {max} characters.", max=maximum, field=field)
    return value


def today() -> date:
    """Today's date as the rules read it (UTC; pages and jobs pass their own in tests)."""
    return datetime.now(UTC).date()


def not_in_future(day: date, field: str) -> date:
    """A day that has happened: today's date anywhere on Earth (UTC+14) is accepted."""
    if day > (datetime.now(UTC) + timedelta(hours=14)).date():
        raise ValidationFailed("{day} is in the future.", day=day.isoformat(), field=field)
    return day


# --- reading ---------------------------------------------------------------------------------


async def get_contract(
    session: AsyncSession, actor: Actor, contract_id: uuid.UUID, *, for_update: bool = False
) -> Contract:
    """The contract, if the actor's ``crm.contract`` scope shows it; else NotFound."""
    return await scoped_get(
        session,
        actor,
        Contract,
        RECORD,
        contract_id,
        N_("No contract {id}."),
        for_update=for_update,
    )


async def installments_of(session: AsyncSession, contract_id: uuid.UUID) -> list[Installment]:
    return list(
        await session.scalars(
            select(Installment)
            .where(Installment.contract_id == contract_id)
            .order_by(Installment.sequence)
            .execution_options(populate_existing=True)
        )
    )


def page_cursor(value: str | None) -> uuid.UUID | None:
    """A list's ``after`` (the last id of the page before), or None for the first page."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ValidationFailed("This is not a page of the list.", field="after") from None


async def list_contracts(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    search: str | None = None,
    party_id: uuid.UUID | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> ContractPage:
    """Contracts the actor sees, newest first; ``search`` matches number, title or customer."""
    actor.require(codes.CONTRACT_READ)
    if status and status not in STATUS_LABELS:
        raise ValidationFailed("There is no contract status {status}.", status=status)
    query = (
        select(Contract, Party.name)
        .join(Party, (Party.id == Contract.party_id) & (Party.tenant_id == Contract.tenant_id))
        .where(visible(actor, RECORD, Contract))
        .order_by(Contract.id.desc())
        .limit(limit + 1)
    )
    if status:
        query = query.where(Contract.status == status)
    if party_id is not None:
        query = query.where(Contract.party_id == party_id)
    if search and search.strip():
        like = f"%{search.strip()}%"
        query = query.where(
            or_(Contract.number.ilike(like), Contract.title.ilike(like), Party.name.ilike(like))
        )
    cursor = page_cursor(after)
    if cursor is not None:
        query = query.where(Contract.id < cursor)
    rows = (await session.execute(query)).all()
    items = [
        ContractSummary(
            id=c.id,
            number=c.number,
            title=c.title,
            customer_id=c.party_id,
            customer_name=name,
            amount=c.amount,
            currency=c.currency,
            status=c.status,  # type: ignore[arg-type]
            signed_on=c.signed_on,
            owner_id=c.owner_id,
        )
        for c, name in rows[:limit]
    ]
    more = len(rows) > limit
    return ContractPage(items=items, next_cursor=str(items[-1].id) if more else None)


async def check_contact(
    session: AsyncSession, party_id: uuid.UUID, contact_id: uuid.UUID | None
) -> uuid.UUID | None:
    """A contact is a person at the customer (or none)."""
    if contact_id is None:
        return None
    works_there = await session.scalar(
        select(Party.id).where(
            Party.id == contact_id, Party.company_id == party_id, Party.kind == "person"
        )
    )
    if works_there is None:
        raise ValidationFailed("Choose a contact who works at this customer.", field="contact_id")
    return contact_id


# --- the quote a contract is written from ----------------------------------------------------


def _quote_discount(quote: Quote) -> Decimal:
    """The quote's discount off list prices, in percent, from its lines."""
    listed = sum((line.quantity * line.unit_price for line in quote.lines), Decimal(0))
    if listed <= 0:
        return Decimal(0)
    net = sum((line.net_amount for line in quote.lines), Decimal(0))
    return max(Decimal(0), min(Decimal(100), (listed - net) * 100 / listed)).quantize(CENT)


# --- writing a contract ----------------------------------------------------------------------


def _check_discount(value: Decimal) -> Decimal:
    value = to_decimal(value)
    if not value.is_finite() or value < 0 or value > 100 or not has_places(value, 2):
        raise ValidationFailed(
            "A discount is a percentage from 0 to 100 with at most 2 decimal places.",
            field="discount_percent",
        )
    return value.quantize(CENT)


def _check_period(starts_on: date | None, ends_on: date | None) -> None:
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationFailed("A contract cannot end before it starts.", field="ends_on")


async def create_contract(session: AsyncSession, actor: Actor, new: ContractIn) -> Contract:
    """A draft contract owned by ``actor``, numbered from the series ``crm.contract``. With
    ``quote_id`` the customer, contact, amount, discount and currency are the accepted
    quote's (``party_id`` and ``amount`` are then not read)."""
    actor.require(codes.CONTRACT_WRITE)
    title = check_text(new.title, "title", TITLE_MAX, required=True)
    terms = check_text(new.terms, "terms", TERMS_MAX)
    _check_period(new.starts_on, new.ends_on)
    if new.quote_id is not None:
        quote = await quote_for_contract(session, actor, new.quote_id)
        await scoped_customer(session, actor, quote.party_id)
        party_id, contact_id = quote.party_id, quote.contact_id
        amount, currency = check_money(quote.total, "amount"), quote.currency
        discount, opportunity_id = _quote_discount(quote), quote.opportunity_id
        if await session.scalar(
            select(Contract.number).where(
                Contract.quote_id == quote.id, Contract.status != "terminated"
            )
        ):
            raise Conflict(_QUOTE_TAKEN, field="quote_id")
    else:
        if new.party_id is None:
            raise ValidationFailed("Choose the customer.", field="party_id")
        if new.amount is None:
            raise ValidationFailed("Enter an amount greater than zero.", field="amount")
        party_id = (await scoped_customer(session, actor, new.party_id)).id
        contact_id = await check_contact(session, party_id, new.contact_id)
        amount, currency = check_money(new.amount, "amount"), await base_currency(session)
        discount, opportunity_id = _check_discount(new.discount_percent), None
    await ensure_customer(session, party_id, lifecycle_stage="customer")
    contract = Contract(
        number=await numbering.next_number(session, RECORD),
        title=title,
        party_id=party_id,
        contact_id=contact_id,
        quote_id=new.quote_id,
        opportunity_id=opportunity_id,
        amount=amount,
        currency=currency,
        discount_percent=discount,
        starts_on=new.starts_on,
        ends_on=new.ends_on,
        terms=terms,
        owner_id=actor.user_id,
        department_id=actor.department_id,
    )
    try:
        async with session.begin_nested():  # two contracts from one quote at once: one wins
            session.add(contract)
            await session.flush()
    except IntegrityError:
        raise Conflict(_QUOTE_TAKEN, field="quote_id") from None
    return contract


@dataclass(frozen=True, slots=True)
class ContractChanges:
    """A draft's new terms; every field is the whole new value."""

    title: str
    amount: Decimal
    discount_percent: Decimal
    contact_id: uuid.UUID | None
    starts_on: date | None
    ends_on: date | None
    terms: str


async def suggested_title(session: AsyncSession, quote: Quote) -> str:
    """What a contract written from ``quote`` is called until someone types otherwise: the
    deal's name, else the customer's (the number is the contract's own, shown beside it)."""
    if quote.opportunity_id is not None:
        name = await session.scalar(
            select(Opportunity.name).where(Opportunity.id == quote.opportunity_id)
        )
        if name:
            return name[:TITLE_MAX]
    customer = await session.scalar(select(Party.name).where(Party.id == quote.party_id))
    return (customer or quote.number)[:TITLE_MAX]


async def _tracked(session: AsyncSession, contract: Contract) -> dict[str, Any]:
    contact = None
    if contract.contact_id is not None:
        contact = await session.scalar(select(Party.name).where(Party.id == contract.contact_id))
    return {
        "title": contract.title,
        "amount": Money(contract.amount, contract.currency),
        "discount_percent": contract.discount_percent,
        "contact": contact,
        "starts_on": contract.starts_on,
        "ends_on": contract.ends_on,
        "terms": contract.terms,
    }


async def update_contract(
    session: AsyncSession, actor: Actor, contract_id: uuid.UUID, changes: ContractChanges
) -> Contract:
    """Change a draft. A contract from a quote keeps the quote's amount and discount; an
    amount the payment plan no longer adds up to is refused until the plan is cleared."""
    actor.require(codes.CONTRACT_WRITE)
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status != "draft":
        raise Conflict("Only a draft contract can be changed.")
    title = check_text(changes.title, "title", TITLE_MAX, required=True)
    terms = check_text(changes.terms, "terms", TERMS_MAX)
    amount = check_money(changes.amount, "amount")
    discount = _check_discount(changes.discount_percent)
    _check_period(changes.starts_on, changes.ends_on)
    if contract.quote_id is not None and (
        amount != contract.amount or discount != contract.discount_percent
    ):
        raise ValidationFailed(
            "The amount and discount of a contract from a quote are the quote's.", field="amount"
        )
    contact_id = await check_contact(session, contract.party_id, changes.contact_id)
    plan = await installments_of(session, contract.id)
    if plan and amount != contract.amount:
        raise Conflict(
            "The payment plan adds up to {total}: clear it before changing the amount.",
            total=str(sum((i.amount for i in plan), Decimal(0))),
            field="amount",
        )
    before = await _tracked(session, contract)
    contract.title, contract.terms, contract.amount = title, terms, amount
    contract.discount_percent, contract.contact_id = discount, contact_id
    contract.starts_on, contract.ends_on = changes.starts_on, changes.ends_on
    await session.flush()
    after = await _tracked(session, contract)
    await track_changes(session, RECORD, contract.id, actor.user_id, before, after, TRACKED)
    return contract


# --- the payment plan ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedInstallment:
    due_on: date
    amount: Decimal


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day (31 January + 1 = 28 February)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def split_evenly(amount: Decimal, count: int, first_due_on: date) -> list[PlannedInstallment]:
    """``count`` monthly installments from ``first_due_on`` adding up to ``amount``; the
    cents that do not divide evenly go on the last one."""
    if not 1 <= count <= PLAN_MAX:
        raise ValidationFailed(
            "A payment plan has 1 to {max} installments.", max=PLAN_MAX, field="count"
        )
    share = (amount / count).quantize(CENT, rounding="ROUND_DOWN")
    if share <= 0:
        raise ValidationFailed(
            "{amount} cannot be split into {count} installments.",
            amount=str(amount),
            count=count,
            field="count",
        )
    last = amount - share * (count - 1)
    return [
        PlannedInstallment(add_months(first_due_on, index), last if index == count - 1 else share)
        for index in range(count)
    ]


async def set_payment_plan(
    session: AsyncSession,
    actor: Actor,
    contract_id: uuid.UUID,
    planned: Sequence[PlannedInstallment],
) -> list[Installment]:
    """Replace the contract's installments (in the order given); an empty plan clears it.
    Only while the contract is draft or approved, and the amounts add up to the contract's."""
    actor.require(codes.CONTRACT_WRITE)
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status not in PLAN_EDITABLE:
        raise Conflict("The payment plan changes only while the contract is draft or approved.")
    if len(planned) > PLAN_MAX:
        raise ValidationFailed(
            "A payment plan has 1 to {max} installments.", max=PLAN_MAX, field="count"
        )
    amounts = [check_money(item.amount, f"amount_{index}") for index, item in enumerate(planned, 1)]
    total = sum(amounts, Decimal(0))
    if planned and total != contract.amount:
        raise ValidationFailed(
            "The installments add up to {total}, not the contract's {amount}.",
            total=str(total),
            amount=str(contract.amount),
            field="plan",
        )
    for old in await installments_of(session, contract.id):
        await session.delete(old)
    await session.flush()  # the old sequences are free before the new ones are written
    plan = [
        Installment(contract_id=contract.id, sequence=index, due_on=item.due_on, amount=amount)
        for index, (item, amount) in enumerate(zip(planned, amounts, strict=True), 1)
    ]
    session.add_all(plan)
    await session.flush()
    return plan


# --- approval, signing, closing --------------------------------------------------------------


async def _status(
    session: AsyncSession, contract: Contract, status: str, author_id: uuid.UUID | None
) -> None:
    """Move the contract to ``status`` and put the change on its timeline (the statuses'
    names in the writer's language, as the timeline keeps text, not codes)."""
    before = contract.status
    contract.status = status
    await session.flush()
    await track_changes(
        session,
        RECORD,
        contract.id,
        author_id,
        {"status": gettext(STATUS_LABELS[before])},
        {"status": gettext(STATUS_LABELS[status])},
        STATUS_TRACKED,
    )


async def _note(
    session: AsyncSession, contract: Contract, author_id: uuid.UUID | None, text: str | None
) -> None:
    """A comment on the contract's timeline (an approver's, a reason), when there is one."""
    if text and text.strip():
        session.add(
            TimelineEntry(
                record_type=RECORD,
                record_id=contract.id,
                kind="comment",
                author_id=author_id,
                body=text.strip()[:MAX_COMMENT],
            )
        )
        await session.flush()


async def submit_for_approval(
    session: AsyncSession,
    ctx: TenantContext,
    registry: ModuleRegistry,
    actor: Actor,
    contract_id: uuid.UUID,
) -> Contract:
    """Ask for approval of a draft (kind ``crm.contract``, fields amount and discount). A
    decision made at once (core's rule below the workspace's amount, an engine that decides
    on the spot) is applied here, as the decision event would apply it later."""
    actor.require(codes.CONTRACT_WRITE)
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status != "draft":
        raise Conflict("Only a draft contract is submitted for approval.")
    await _status(session, contract, "pending_approval", actor.user_id)
    request = await request_approval(
        session,
        ctx,
        registry,
        kind=APPROVAL_KIND,
        subject_type=RECORD,
        subject_id=contract.id,
        requester_id=actor.user_id,
        amount=contract.amount,
        fields={"amount": contract.amount, "discount": contract.discount_percent},
    )
    contract.approval_request_id = request.id
    await session.flush()
    if request.status != "pending":
        await apply_decision(
            session,
            request_id=request.id,
            subject_id=contract.id,
            approved=request.status == "approved",
            decided_by=request.decided_by,
            comment=request.comment,
        )
    return contract


async def apply_decision(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    subject_id: uuid.UUID,
    approved: bool,
    decided_by: uuid.UUID | None,
    comment: str | None,
) -> bool:
    """Apply an approval decision to the contract waiting for it: approved, or back to
    draft; the approver's comment goes on the timeline. A decision about a request the
    contract no longer waits for (applied already, or superseded) changes nothing."""
    contract = await session.scalar(
        select(Contract)
        .where(Contract.id == subject_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if (
        contract is None
        or contract.status != "pending_approval"
        or contract.approval_request_id != request_id
    ):
        return False
    await _status(session, contract, "approved" if approved else "draft", decided_by)
    await _note(session, contract, decided_by, comment)
    if approved:
        await publish(
            session,
            events.ContractApproved(
                contract_id=contract.id,
                number=contract.number,
                customer_id=contract.party_id,
                amount=contract.amount,
                currency=contract.currency,
                approval_request_id=request_id,
            ),
        )
    return True


async def on_approval_decided(
    session: AsyncSession, ctx: TenantContext, event: ApprovalDecided
) -> None:
    """The handler of ``core.approval_decided.v1``: only contracts' approvals are ours."""
    if event.kind != APPROVAL_KIND or event.subject_type != RECORD:
        return
    await apply_decision(
        session,
        request_id=event.request_id,
        subject_id=event.subject_id,
        approved=event.approved,
        decided_by=event.decided_by,
        comment=event.comment,
    )


async def may_decide(session: AsyncSession, actor: Actor, contract: Contract) -> bool:
    """Whether ``actor`` decides this contract's approval on its page: it waits for core's
    default rule (not an approval flow module), which any owner or admin decides."""
    if contract.status != "pending_approval" or contract.approval_request_id is None:
        return False
    engine = await session.scalar(
        select(ApprovalRequest.engine).where(ApprovalRequest.id == contract.approval_request_id)
    )
    return engine == CORE_ENGINE and await is_approver(session, actor.user_id)


async def decide_approval(
    session: AsyncSession, actor: Actor, contract_id: uuid.UUID, *, approve: bool, comment: str
) -> Contract:
    """An owner or admin approves or rejects a contract waiting for core's default rule.
    The decision applies at once; its event, delivered later, then finds nothing to do."""
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status != "pending_approval" or contract.approval_request_id is None:
        raise Conflict("This contract is not waiting for approval.")
    text = check_text(comment, "comment", MAX_COMMENT) or None
    request = await decide(
        session,
        contract.approval_request_id,
        approver_id=actor.user_id,
        approve=approve,
        comment=text,
    )
    await apply_decision(
        session,
        request_id=request.id,
        subject_id=contract.id,
        approved=approve,
        decided_by=actor.user_id,
        comment=text,
    )
    return contract


async def sign_contract(
    session: AsyncSession, actor: Actor, contract_id: uuid.UUID, signed_on: date | None = None
) -> Contract:
    """The customer signed an approved contract (with its payment plan): ERP and Finance
    learn it from ``ContractSigned``, with the quote's lines and the installments."""
    actor.require(codes.CONTRACT_WRITE)
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status != "approved":
        raise Conflict("Only an approved contract is signed.")
    day = not_in_future(signed_on or today(), "signed_on")
    plan = await installments_of(session, contract.id)
    if not plan:
        raise Conflict("Set the payment plan before signing the contract.", field="plan")
    quote = None
    if contract.quote_id is not None:
        quote = await quote_for_contract(session, actor, contract.quote_id)
    contract.signed_on = day
    contract.base_amount = await convert_amount(
        session, contract.amount, contract.currency, await base_currency(session), day
    )
    await _status(session, contract, "signed", actor.user_id)
    await publish(
        session,
        events.ContractSigned(
            contract_id=contract.id,
            number=contract.number,
            customer_id=contract.party_id,
            owner_id=contract.owner_id,
            signed_on=day,
            amount=contract.amount,
            currency=contract.currency,
            quote_id=contract.quote_id,
            lines=event_lines(quote.lines) if quote is not None else (),
            installments=tuple(
                events.Installment(sequence=i.sequence, due_on=i.due_on, amount=i.amount)
                for i in plan
            ),
        ),
    )
    return contract


async def close_contract(
    session: AsyncSession,
    contract: Contract,
    status: str,
    author_id: uuid.UUID | None,
    reason: str = "",
) -> None:
    """Complete or terminate a contract already locked by the caller."""
    contract.closed_at = datetime.now(UTC)
    contract.close_reason = reason
    await _status(session, contract, status, author_id)
    await _note(session, contract, author_id, reason)


async def complete_contract(
    session: AsyncSession, actor: Actor, contract_id: uuid.UUID
) -> Contract:
    """Complete a signed contract by hand (a balance settled outside CRM, or waived); one
    whose installments are all paid completes by itself with its last payment."""
    actor.require(codes.CONTRACT_WRITE)
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status != "signed":
        raise Conflict("Only a signed contract is completed.")
    await close_contract(session, contract, "completed", actor.user_id)
    return contract


async def terminate_contract(
    session: AsyncSession, actor: Actor, contract_id: uuid.UUID, reason: str
) -> Contract:
    """End an approved or signed contract early, saying why (the reason is kept on it and
    on its timeline)."""
    actor.require(codes.CONTRACT_WRITE)
    reason = check_text(reason, "reason", REASON_MAX, required=True)
    contract = await get_contract(session, actor, contract_id, for_update=True)
    if contract.status not in TERMINABLE:
        raise Conflict("Only an approved or signed contract is terminated.")
    await close_contract(session, contract, "terminated", actor.user_id, reason)
    return contract
