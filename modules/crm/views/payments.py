"""Payment pages: ``/t/{slug}/crm/payments`` lists the overdue installments (the amount
overdue and the days late) and the payments received; the contract's page carries the form
that records a payment against one installment (posted to
``/crm/contracts/{id}/installments/{installment_id}/payments``).

With Finance on, the form is not shown and a post is refused: Finance records payments.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from modules.crm import permissions as codes
from modules.crm.schemas.contracts import PaymentIn, PaymentPage
from modules.crm.services import payments
from modules.crm.services.payments import FINANCE, METHODS
from modules.crm.views.common import page
from modules.crm.views.contracts import TAB as CONTRACTS
from modules.crm.views.contracts import listing, on_contract_page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import read_day, read_decimal, required, typed_in
from web.tenancy import requires

TAB = "/crm/payments"
PAYMENT_FIELDS = ("amount", "received_on", "method", "reference")


@get(TAB, guards=[requires(codes.PAYMENT_READ)])
async def payments_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    after: FromQuery[str | None] = None,
) -> Template:
    listed = await listing(
        lambda: payments.list_payments(session, actor, after=after),
        PaymentPage(items=[], next_cursor=None),
        f"/t/{tenant.slug}{TAB}",
        {},
        after,
    )
    return page(
        "crm/payments/index.html",
        tenant,
        actor,
        TAB,
        overdue=await payments.overdue_installments(session, actor) if after is None else [],
        **listed,
        methods=METHODS,
        finance_records=FINANCE in tenant.enabled,
    )


@post(
    f"{CONTRACTS}/{{contract_id:uuid}}/installments/{{installment_id:uuid}}/payments",
    guards=[requires(codes.PAYMENT_WRITE)],
)
async def pay_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    contract_id: FromPath[uuid.UUID],
    installment_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *PAYMENT_FIELDS)

    async def record() -> None:
        received = PaymentIn(
            installment_id=installment_id,
            amount=required("amount", read_decimal("amount", form["amount"])),
            received_on=required("received_on", read_day("received_on", form["received_on"])),
            method=form["method"],
            reference=form["reference"],
        )
        await payments.record_payment(session, tenant, actor, received, contract_id=contract_id)

    return await on_contract_page(
        session,
        tenant,
        actor,
        registry,
        contract_id,
        f"pay-{installment_id}",
        form,
        record,
    )


PAGES = [payments_page, pay_from_page]
