"""Contract pages under ``/t/{slug}/crm/contracts``: the list, the form for a new contract
(directly, or ``?quote_id=`` from an accepted quote) and for a draft's changes, and a
contract's page: its terms, the payment plan (typed, or split evenly), approval (an owner or
admin decides one waiting for core's default rule there), signing,
completing and terminating, the installments with what is overdue, the payments (and the
form to record one), the attachments and the timeline.

The same services and scopes as the JSON API. Each form posts to a path of its own and
comes back to the contract's page; a refusal is the page again with the reason beside its
input and what was typed (status 4xx, the request rolled back). Ending a contract early
and clearing its plan ask for a tick in a box first.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import DomainError, NotFound, ValidationFailed
from core.models import ApprovalRequest, User
from core.parties.models import Party
from core.permissions import Actor
from core.records import access
from core.records.views import record_sections
from modules.crm import permissions as codes
from modules.crm.models import Contract, Installment
from modules.crm.schemas.contracts import ContractIn, ContractPage
from modules.crm.services import contracts, payments
from modules.crm.services.contracts import STATUS_LABELS, PlannedInstallment
from modules.crm.services.payments import FINANCE, METHODS
from modules.crm.services.quotes import quote_for_contract
from modules.crm.views.common import page
from modules.crm.views.opportunities import choices_of_contacts, choices_of_customers
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import (
    Refusal,
    answer_form,
    maybe_id,
    read_count,
    read_day,
    read_decimal,
    read_id,
    required,
    typed_in,
)
from web.tenancy import requires

TAB = "/crm/contracts"
OA = "oa"  # the approval flow module, whose page a contract links to while it decides
FORM_FIELDS = (
    "title",
    "party_id",
    "contact_id",
    "amount",
    "discount_percent",
    "starts_on",
    "ends_on",
    "terms",
    "quote_id",
)
BLANK_ROWS = 3  # empty installment rows the plan form offers beyond the plan's own


def confirmed(form: dict[str, str]) -> None:
    """A destructive form's box ticked (``confirm=yes``)."""
    if form.get("confirm") != "yes":
        raise ValidationFailed("Tick the box to confirm.", field="confirm")


# --- the list --------------------------------------------------------------------------------


async def listing(
    fetch: Callable[[], Awaitable[Any]],
    empty: Any,
    here: str,
    query: dict[str, str],
    after: str | None,
) -> dict[str, Any]:
    """What a list page shows: ``found`` (a page of rows with ``next_cursor``), the
    ``more_url`` to the next page (``query``'s non-blank filters kept), ``first_page``, and
    the ``error`` of a cursor nobody gave out (shown over ``empty``)."""
    error: DomainError | None = None
    try:
        found = await fetch()
    except ValidationFailed as refused:
        found, error = empty, refused
    more_url = None
    if found.next_cursor:
        kept = {key: value for key, value in query.items() if value}
        more_url = f"{here}?{urlencode({**kept, 'after': found.next_cursor})}"
    return {"found": found, "more_url": more_url, "first_page": after is None, "error": error}


@get(TAB, guards=[requires(codes.CONTRACT_READ)])
async def contracts_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    chosen = status if status in STATUS_LABELS else ""
    return page(
        "crm/contracts/index.html",
        tenant,
        actor,
        TAB,
        **await listing(
            lambda: contracts.list_contracts(
                session, actor, status=chosen or None, search=q, after=after
            ),
            ContractPage(items=[], next_cursor=None),
            f"/t/{tenant.slug}{TAB}",
            {"q": q, "status": chosen},
            after,
        ),
        filters={"q": q, "status": chosen},
        statuses=STATUS_LABELS,
        can_write=actor.can(codes.CONTRACT_WRITE),
    )


# --- a new contract, a draft's changes -------------------------------------------------------


async def _form_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    contract: Contract | None = None,
    refusal: Refusal | None = None,
) -> Template:
    quote = None
    quote_id = maybe_id(form.get("quote_id", "")) if contract is None else None
    if quote_id is not None:
        quote = await quote_for_contract(session, actor, quote_id)
    party_id = contract.party_id if contract else maybe_id(form.get("party_id", ""))
    return page(
        "crm/contracts/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=form,
        refusal=refusal,
        contract=contract,
        quote=quote,
        customers=await choices_of_customers(session, actor) if not (contract or quote) else [],
        contacts=await choices_of_contacts(session, party_id) if party_id else [],
    )


@get(f"{TAB}/new", guards=[requires(codes.CONTRACT_WRITE)])
async def new_contract_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    quote_id: FromQuery[str] = "",
    customer_id: FromQuery[str] = "",
) -> Template:
    form = dict.fromkeys(FORM_FIELDS, "")
    quote, party = maybe_id(quote_id), maybe_id(customer_id)
    form.update(quote_id=str(quote or ""), party_id=str(party or ""), discount_percent="0")
    if quote is not None:
        written_from = await quote_for_contract(session, actor, quote)
        form["title"] = await contracts.suggested_title(session, written_from)
    return await _form_page(session, tenant, actor, form)


@get(f"{TAB}/{{contract_id:uuid}}/edit", guards=[requires(codes.CONTRACT_WRITE)])
async def edit_contract_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    contract_id: FromPath[uuid.UUID],
) -> Template:
    contract = await contracts.get_contract(session, actor, contract_id)
    form = {
        "title": contract.title,
        "contact_id": str(contract.contact_id or ""),
        "amount": str(contract.amount),
        "discount_percent": str(contract.discount_percent),
        "starts_on": contract.starts_on.isoformat() if contract.starts_on else "",
        "ends_on": contract.ends_on.isoformat() if contract.ends_on else "",
        "terms": contract.terms,
    }
    return await _form_page(session, tenant, actor, form, contract=contract)


@post(f"{TAB}/new", guards=[requires(codes.CONTRACT_WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = typed_in(data, *FORM_FIELDS)
    made: list[Contract] = []

    async def create() -> None:
        new = ContractIn(
            title=form["title"],
            party_id=read_id("party_id", form["party_id"]),
            contact_id=read_id("contact_id", form["contact_id"]),
            amount=read_decimal("amount", form["amount"]),
            discount_percent=read_decimal(
                "discount_percent", form["discount_percent"], blank=Decimal(0)
            )
            or Decimal(0),
            starts_on=read_day("starts_on", form["starts_on"]),
            ends_on=read_day("ends_on", form["ends_on"]),
            terms=form["terms"],
            quote_id=read_id("quote_id", form["quote_id"]),
        )
        made.append(await contracts.create_contract(session, actor, new))

    async def again(refusal: Refusal) -> Template:
        return await _form_page(session, tenant, actor, form, refusal=refusal)

    return await answer_form(
        session,
        "contract",
        form,
        create,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0].id}",
        refused=again,
    )


@post(f"{TAB}/{{contract_id:uuid}}/edit", guards=[requires(codes.CONTRACT_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    contract_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    contract = await contracts.get_contract(session, actor, contract_id)
    form = typed_in(data, *FORM_FIELDS[:-1])

    async def update() -> None:
        changes = contracts.ContractChanges(
            title=form["title"],
            amount=required("amount", read_decimal("amount", form["amount"])),
            discount_percent=read_decimal(
                "discount_percent", form["discount_percent"], blank=Decimal(0)
            )
            or Decimal(0),
            contact_id=read_id("contact_id", form["contact_id"]),
            starts_on=read_day("starts_on", form["starts_on"]),
            ends_on=read_day("ends_on", form["ends_on"]),
            terms=form["terms"],
        )
        await contracts.update_contract(session, actor, contract_id, changes)

    async def again(refusal: Refusal) -> Template:
        return await _form_page(session, tenant, actor, form, contract=contract, refusal=refusal)

    done = f"/t/{tenant.slug}{TAB}/{contract_id}"
    return await answer_form(session, "contract", form, update, back=done, refused=again)


# --- a contract's page -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownInstallment:
    installment: Installment
    open_amount: Decimal
    days_late: int


@dataclass(frozen=True, slots=True)
class ContractView:
    contract: Contract
    status_label: str
    customer: str
    contact: str | None
    owner: str | None
    installments: list[ShownInstallment]
    planned_total: Decimal
    received: Decimal
    overdue_count: int
    overdue_amount: Decimal
    today: date


async def _view(session: AsyncSession, contract: Contract) -> ContractView:
    on = contracts.today()
    plan = await contracts.installments_of(session, contract.id)
    shown = [
        ShownInstallment(i, payments.open_amount(i), payments.days_late(i, contract.status, on))
        for i in plan
    ]
    late = [s for s in shown if s.days_late]

    async def name_of(party_id: uuid.UUID | None) -> str | None:
        if party_id is None:
            return None
        return await session.scalar(select(Party.name).where(Party.id == party_id))

    owner = None
    if contract.owner_id is not None:
        owner = await session.scalar(select(User.display_name).where(User.id == contract.owner_id))
    return ContractView(
        contract=contract,
        status_label=STATUS_LABELS[contract.status],
        customer=await name_of(contract.party_id) or "",
        contact=await name_of(contract.contact_id),
        owner=owner,
        installments=shown,
        planned_total=sum((i.amount for i in plan), Decimal(0)),
        received=await payments.received_total(session, contract.id),
        overdue_count=len(late),
        overdue_amount=sum((s.open_amount for s in late), Decimal(0)),
        today=on,
    )


def _plan_form(view: ContractView) -> dict[str, str]:
    """The plan's rows as the plan form shows them, with blank rows to add more."""
    form: dict[str, str] = {}
    rows = [
        (s.installment.due_on.isoformat(), str(s.installment.amount)) for s in view.installments
    ]
    rows += [("", "")] * BLANK_ROWS
    for index, (due_on, amount) in enumerate(rows, 1):
        form[f"due_on_{index}"], form[f"amount_{index}"] = due_on, amount
    return form


async def _approval_flow_href(
    session: AsyncSession, tenant: TenantContext, contract: Contract
) -> str | None:
    """The page of the approval flow deciding the contract, when OA's flow (not core's rule,
    decided here) holds its request: OA's page for a request, by the request's id."""
    if contract.status != "pending_approval" or contract.approval_request_id is None:
        return None
    engine = await session.scalar(
        select(ApprovalRequest.engine).where(ApprovalRequest.id == contract.approval_request_id)
    )
    if engine != OA or OA not in tenant.enabled:
        return None
    return f"/t/{tenant.slug}/oa/approvals/requests/{contract.approval_request_id}"


async def contract_detail(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    contract_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    """The contract's page, with a refused form's reason and typing when there is one."""
    contract = await contracts.get_contract(session, actor, contract_id)
    view = await _view(session, contract)
    here = f"/t/{tenant.slug}{TAB}/{contract.id}"
    sections = await record_sections(
        session,
        tenant,
        actor,
        access.record_type(registry, tenant, contracts.RECORD),
        contract.id,
        back=here,
    )
    plan_form = _plan_form(view)
    if refusal is not None and refusal.form == "plan":
        plan_form = refusal.typed
    received = None
    if actor.can(codes.PAYMENT_READ):
        received = await payments.list_payments(session, actor, contract_id=contract.id, limit=200)
    can_write = actor.can(codes.CONTRACT_WRITE)
    return page(
        "crm/contracts/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        view=view,
        here=here,
        refusal=refusal,
        plan_form=plan_form,
        plan_rows=len(plan_form) // 2,
        plan_editable=can_write and contract.status in contracts.PLAN_EDITABLE,
        payments=received,
        methods=METHODS,
        can_write=can_write,
        can_decide=await contracts.may_decide(session, actor, contract),
        approval_flow_href=await _approval_flow_href(session, tenant, contract),
        can_pay=actor.can(codes.PAYMENT_WRITE) and contract.status == "signed",
        finance_records=FINANCE in tenant.enabled,
        **sections,
    )


@get(f"{TAB}/{{contract_id:uuid}}", guards=[requires(codes.CONTRACT_READ)])
async def contract_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    contract_id: FromPath[uuid.UUID],
) -> Template:
    return await contract_detail(session, tenant, actor, registry, contract_id)


async def on_contract_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: Any,
    contract_id: uuid.UUID,
    form: str,
    form_typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    """A form of the contract's page: back to the page, or the page with the refusal."""

    async def again(refusal: Refusal) -> Template:
        return await contract_detail(session, tenant, actor, registry, contract_id, refusal=refusal)

    done = f"/t/{tenant.slug}{TAB}/{contract_id}"
    return await answer_form(session, form, form_typed, action, back=done, refused=again)


def _planned(form: dict[str, str]) -> list[PlannedInstallment]:
    """The typed rows that hold anything, in order; a row half filled in is refused."""
    rows = []
    for key in sorted((k for k in form if k.startswith("due_on_")), key=lambda k: int(k[7:])):
        index = key[7:]
        due_text, amount_text = form[key], form.get(f"amount_{index}", "")
        if not due_text.strip() and not amount_text.strip():
            continue
        due_on = required(key, read_day(key, due_text))
        amount = required(f"amount_{index}", read_decimal(f"amount_{index}", amount_text))
        rows.append(PlannedInstallment(due_on, amount))
    if not rows:
        raise ValidationFailed("Enter at least one installment: its due date and amount.")
    return rows


def _plan_fields(data: FormData) -> dict[str, str]:
    """The plan form's rows (``due_on_1``, ``amount_1``, …) as typed."""
    count = sum(1 for key in data if key.startswith("due_on_") and key[7:].isdigit())
    names = [
        name for index in range(1, count + 1) for name in (f"due_on_{index}", f"amount_{index}")
    ]
    return typed_in(data, *names)


@dataclass(frozen=True, slots=True)
class Posted:
    """A form posted on a contract's page (a step, :data:`STEPS`) and what it acts with."""

    session: AsyncSession
    tenant: TenantContext
    registry: Any
    actor: Actor
    contract_id: uuid.UUID
    form: dict[str, str]


async def _save_plan(on: Posted) -> None:
    await contracts.set_payment_plan(on.session, on.actor, on.contract_id, _planned(on.form))


async def _split_plan(on: Posted) -> None:
    count = read_count("count", on.form["count"])
    first = required("first_due_on", read_day("first_due_on", on.form["first_due_on"]))
    contract = await contracts.get_contract(on.session, on.actor, on.contract_id)
    planned = contracts.split_evenly(contract.amount, count, first)
    await contracts.set_payment_plan(on.session, on.actor, on.contract_id, planned)


async def _clear_plan(on: Posted) -> None:
    confirmed(on.form)
    await contracts.set_payment_plan(on.session, on.actor, on.contract_id, [])


async def _submit(on: Posted) -> None:
    await contracts.submit_for_approval(
        on.session, on.tenant, on.registry, on.actor, on.contract_id
    )


async def _decide(on: Posted) -> None:
    """The approve (``approve=1``) or reject (``approve=0``) button, and the comment."""
    if on.form["approve"] not in ("1", "0"):
        raise ValidationFailed("Choose to approve or to reject.")
    approve = on.form["approve"] == "1"
    await contracts.decide_approval(
        on.session, on.actor, on.contract_id, approve=approve, comment=on.form["comment"]
    )


async def _sign(on: Posted) -> None:
    day = required("signed_on", read_day("signed_on", on.form["signed_on"]))
    await contracts.sign_contract(on.session, on.actor, on.contract_id, day)


async def _complete(on: Posted) -> None:
    confirmed(on.form)
    await contracts.complete_contract(on.session, on.actor, on.contract_id)


async def _terminate(on: Posted) -> None:
    confirmed(on.form)
    await contracts.terminate_contract(on.session, on.actor, on.contract_id, on.form["reason"])


#: step → (the inputs it reads, None for the plan's rows; what it does)
STEPS: dict[str, tuple[tuple[str, ...] | None, Callable[[Posted], Awaitable[None]]]] = {
    "plan": (None, _save_plan),
    "split": (("count", "first_due_on"), _split_plan),
    "clear": (("confirm",), _clear_plan),
    "submit": ((), _submit),
    "decide": (("approve", "comment"), _decide),
    "sign": (("signed_on",), _sign),
    "complete": (("confirm",), _complete),
    "terminate": (("reason", "confirm"), _terminate),
}


@post(f"{TAB}/{{contract_id:uuid}}/{{step:str}}", guards=[requires(codes.CONTRACT_WRITE)])
async def step_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    contract_id: FromPath[uuid.UUID],
    step: FromPath[str],
    data: FormData,
) -> Response[Any]:
    """One of the contract page's forms (:data:`STEPS`)."""
    if step not in STEPS:
        raise NotFound("No contract form {step}.", step=step)
    fields, run = STEPS[step]
    form = _plan_fields(data) if fields is None else typed_in(data, *fields)

    posted = Posted(session, tenant, registry, actor, contract_id, form)
    return await on_contract_page(
        session, tenant, actor, registry, contract_id, step, form, lambda: run(posted)
    )


PAGES = [
    contracts_page,
    new_contract_page,
    create_from_page,
    contract_page,
    edit_contract_page,
    update_from_page,
    step_from_page,
]
