"""The operator console's billing pages (behind the operator guard, like the rest of it).

- ``GET /operator/billing``: revenue (MRR per currency and its change against 30 days
  ago), subscriptions by module, trials ending in the next 7 days, past-due workspaces,
  the last reconciliation run and what it repaired;
- ``GET /operator/tenants/{id}/billing``: a workspace's subscription, items, trials,
  invoices and billing actions. The workspace's console page loads it into itself with
  htmx (a partial for that request), so a slow or failing Stripe never holds that page
  back; opened directly it is a page of its own, where the actions come back to;
- ``GET|POST /operator/tenants/{id}/billing/{extend|cancel|refund|credit|payment}``: a
  confirmation page each, whose form (CSRF-checked like every form) makes the change; a
  refusal shows the form again with its reason and its status (409, 422, 502).

The rules live in :mod:`billing.console` (reading) and :mod:`billing.console_actions`;
these handlers parse forms and render.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from billing import catalogue, console, console_actions, invoices, reconcile
from billing.provider import BillingProvider, provider_for
from billing.views import DEFAULT_CURRENCY
from core.errors import DomainError, ValidationFailed
from core.i18n import N_
from tenants.operator import SOURCE_LABELS, STATUS_LABELS
from web.auth import FormData, client_ip
from web.forms import read_count, read_day, read_decimal, required
from web.htmx import wants_partial
from web.operator import OPERATOR_KEY, operator_guard

BILLING = "/operator/billing"
#: action → the ``done`` its redirect carries, for the workspace's billing page to say.
DONE = {
    "extend": "extended",
    "cancel": "canceled",
    "refund": "refunded",
    "credit": "credited",
    "payment": "paid",
}
DEFAULT_EXTENSION = timedelta(days=14)
DEFAULT_PAID_PERIOD = timedelta(days=30)


def _provider(request: Request[Any, Any, Any]) -> BillingProvider:
    return provider_for(request.app.state.settings)


def _grace_days(request: Request[Any, Any, Any]) -> int:
    return request.app.state.settings.billing_grace_days


def _operator_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    return request.scope["state"][OPERATOR_KEY]


def _page(template: str, context: dict[str, Any], status: int = 200) -> Template:
    """A console page; every one may name a workspace's status, a module's source, a
    subscription's or an invoice's status, or a repair."""
    labels = {
        "statuses": STATUS_LABELS,
        "sources": SOURCE_LABELS,
        "subscription_statuses": invoices.SUBSCRIPTION_STATUS,
        "invoice_statuses": invoices.INVOICE_STATUS,
        "intervals": catalogue.INTERVAL_LABELS,
        "aspects": reconcile.ASPECT_LABELS,
        "reasons": reconcile.REASON_LABELS,
    }
    return Template(template, context={**labels, **context}, status_code=status)


def _module_names(request: Request[Any, Any, Any]) -> dict[str, str]:
    return {k: m.manifest.name for k, m in request.app.state.registry.modules.items()}


@get(BILLING, include_in_schema=False, guards=[operator_guard])
async def billing_page(request: Request[Any, Any, Any]) -> Template:
    view = await console.overview(
        request.app.state.db, request.app.state.registry, grace_days=_grace_days(request)
    )
    context = {
        "view": view,
        "provider": _provider(request),
        "module_names": _module_names(request),
        "grace_days": _grace_days(request),
    }
    return _page("operator/billing.html", context)


async def _tenant_billing(
    request: Request[Any, Any, Any], tenant_id: uuid.UUID
) -> console.TenantBilling:
    return await console.tenant_billing(
        request.app.state.db,
        request.app.state.registry,
        _provider(request),
        tenant_id,
        grace_days=_grace_days(request),
    )


@get("/operator/tenants/{tenant_id:uuid}/billing", include_in_schema=False, guards=[operator_guard])
async def tenant_billing_page(
    request: Request[Any, Any, Any],
    tenant_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Template:
    summary = await _tenant_billing(request, tenant_id)
    context = {
        "summary": summary,
        "provider": _provider(request),
        "done": done if done in DONE.values() else None,
    }
    if wants_partial(request):
        return _page("operator/_billing_tenant.html", context)
    return _page("operator/billing_tenant.html", context)


# --- the actions: a confirmation page each, its form posts the change --------------------------


def _tenant_path(tenant_id: uuid.UUID, action: str | None = None) -> str:
    path = f"/operator/tenants/{tenant_id}/billing"
    return f"{path}/{action}" if action else path


async def _form_context(
    request: Request[Any, Any, Any], summary: console.TenantBilling, action: str
) -> dict[str, Any]:
    """What the action's confirmation page needs beyond the workspace's billing."""
    db, tenant_id = request.app.state.db, summary.tenant.id
    if action == "refund":
        return {"offer": await console_actions.refund_offer(db, _provider(request), summary)}
    if action == "credit":
        return {"offer": await console_actions.credit_offer(db, _provider(request), tenant_id)}
    if action == "extend":
        return {"trials": [t for t in summary.trials if t.extendable]}
    if action == "payment":
        return {"module_names": _module_names(request), "currency": DEFAULT_CURRENCY}
    return {}


async def _action_form(
    request: Request[Any, Any, Any],
    tenant_id: uuid.UUID,
    action: str,
    *,
    form: dict[str, str] | None = None,
    error: DomainError | None = None,
) -> Template:
    summary = await _tenant_billing(request, tenant_id)
    context: dict[str, Any] = {
        "summary": summary,
        "provider": _provider(request),
        "form": form or {},
        "error": error,
    }
    try:
        context.update(await _form_context(request, summary, action))
    except DomainError as refused:  # nothing to refund or credit: the page says why
        error = error or refused
        context["error"] = error
    default_end = datetime.now(UTC).date() + (
        DEFAULT_PAID_PERIOD if action == "payment" else DEFAULT_EXTENSION
    )
    context["default_until"] = default_end.isoformat()
    status = error.status_code if error else 200
    return _page(f"operator/billing_{action}.html", context, status)


@get(
    [f"/operator/tenants/{{tenant_id:uuid}}/billing/{action}" for action in DONE],
    include_in_schema=False,
    guards=[operator_guard],
)
async def action_page(request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID]) -> Template:
    """The confirmation page of the action the path ends with."""
    action = request.url.path.rstrip("/").rsplit("/", 1)[1]
    chosen = {"module": request.query_params.get("module", "")}
    return await _action_form(request, tenant_id, action, form=chosen)


def _end_of(field: str, value: str) -> datetime:
    """The end of the (UTC) day typed: a period "until 31 March" runs through that day."""
    last_day: date = required(field, read_day(field, value), N_("Choose the last day."))
    return datetime.combine(last_day + timedelta(days=1), time.min, UTC)


def _attempt(data: FormData) -> int:
    try:
        return read_count("attempt", data.get("attempt", ""))
    except ValidationFailed:
        raise ValidationFailed("The form is incomplete: open the page again.") from None


def _amount(data: FormData) -> Decimal:
    return required("amount", read_decimal("amount", data.get("amount", "")))


Req = Request[Any, Any, Any]
Who = dict[str, Any]  # the operator and their address, as every action records them


async def _extend(request: Req, tenant_id: uuid.UUID, data: FormData, who: Who) -> None:
    until = _end_of("until", data.get("until", ""))
    await console_actions.extend_trial(
        request.app.state.db,
        request.app.state.registry,
        tenant_id,
        data.get("module", ""),
        until=until,
        **who,
    )


async def _cancel(request: Req, tenant_id: uuid.UUID, data: FormData, who: Who) -> None:
    if data.get("when") not in ("now", "period_end"):
        raise ValidationFailed("Choose when the subscription ends.", field="when")
    await console_actions.cancel_subscription(
        request.app.state.db,
        request.app.state.registry,
        _provider(request),
        tenant_id,
        at_period_end=data["when"] == "period_end",
        grace_days=_grace_days(request),
        **who,
    )


async def _refund(request: Req, tenant_id: uuid.UUID, data: FormData, who: Who) -> None:
    await console_actions.refund(
        request.app.state.db,
        _provider(request),
        tenant_id,
        data.get("invoice", ""),
        amount=read_decimal("amount", data.get("amount", "")),  # blank: in full
        attempt=_attempt(data),
        **who,
    )


async def _credit(request: Req, tenant_id: uuid.UUID, data: FormData, who: Who) -> None:
    await console_actions.credit(
        request.app.state.db,
        _provider(request),
        tenant_id,
        amount=_amount(data),
        description=data.get("description", ""),
        attempt=_attempt(data),
        **who,
    )


async def _payment(request: Req, tenant_id: uuid.UUID, data: FormData, who: Who) -> None:
    await console_actions.record_payment(
        request.app.state.db,
        request.app.state.registry,
        _provider(request),
        tenant_id,
        data.get("module", ""),
        amount=_amount(data),
        currency=data.get("currency", ""),
        until=_end_of("until", data.get("until", "")),
        **who,
    )


#: action → what its form does.
HANDLERS = {
    "extend": _extend,
    "cancel": _cancel,
    "refund": _refund,
    "credit": _credit,
    "payment": _payment,
}


@post(
    [f"/operator/tenants/{{tenant_id:uuid}}/billing/{action}" for action in DONE],
    include_in_schema=False,
    guards=[operator_guard],
)
async def take_action(
    request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], data: FormData
) -> Response[Any]:
    """Back to the workspace's billing, or the form again with the reason it was refused."""
    action = request.url.path.rstrip("/").rsplit("/", 1)[1]
    who = {"operator_id": _operator_id(request), "ip": client_ip(request)}
    try:
        await HANDLERS[action](request, tenant_id, data, who)
    except DomainError as error:
        return await _action_form(request, tenant_id, action, form=data, error=error)
    back = f"{_tenant_path(tenant_id)}?done={DONE[action]}"
    return Redirect(back, status_code=HTTP_303_SEE_OTHER)


PAGES = [billing_page, tenant_billing_page, action_page, take_action]
