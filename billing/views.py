"""The operator console's price pages (behind the operator guard, like the rest of it).

- ``GET /operator/prices``: every module's current monthly and yearly price, whether it
  is synced to the provider, earlier versions, and the form that sets a price;
- ``POST /operator/prices``: set a price (a new version), then sync it to Stripe when
  Stripe is the provider; a refusal shows the page again, the reason beside its input;
- ``POST /operator/prices/{id}/sync``: "Sync again" for a version Stripe did not take.

The rules live in :mod:`billing.catalogue`; these handlers parse forms and render.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select

from billing import catalogue
from billing.models import INTERVALS, BillingPrice
from billing.provider import BillingProvider, ProviderFailed, provider_for
from core.errors import DomainError
from core.models import SecurityEvent
from web.auth import FormData, client_ip
from web.forms import Refusal, read_count, read_decimal, required, typed_in
from web.operator import OPERATOR_KEY, operator_guard

PRICES = "/operator/prices"
PRICE_FORM = "price"
FIELDS = ("module", "interval", "currency", "unit_amount", "per_member", "trial_days")
DEFAULT_CURRENCY = "CNY"
#: What the page says after a change, by the ``done`` its redirect carries.
DONE = ("saved", "synced", "unsynced")


def _provider(request: Request[Any, Any, Any]) -> BillingProvider:
    return provider_for(request.app.state.settings)


def _operator_id(request: Request[Any, Any, Any]) -> uuid.UUID:
    return request.scope["state"][OPERATOR_KEY]


async def _sync_errors(session: Any, prices: list[BillingPrice]) -> dict[str, ProviderFailed]:
    """The latest refusal the provider gave each unsynced price, by lookup key."""
    keys = [p.lookup_key for p in prices if not p.synced]
    if not keys:
        return {}
    rows = await session.scalars(
        select(SecurityEvent)
        .where(
            SecurityEvent.action == catalogue.PRICE_SYNC_FAILED,
            SecurityEvent.detail["lookup_key"].astext.in_(keys),
        )
        .order_by(SecurityEvent.at)
    )
    return {
        row.detail["lookup_key"]: ProviderFailed(row.detail["message"], **row.detail["params"])
        for row in rows
    }


async def _page(
    request: Request[Any, Any, Any],
    *,
    refusal: Refusal | None = None,
    done: str | None = None,
) -> Template:
    registry = request.app.state.registry
    provider = _provider(request)
    async with request.app.state.db.global_transaction() as session:
        current = await catalogue.current_prices(session)
        earlier = await catalogue.earlier_prices(session)
        sync_errors = await _sync_errors(session, current) if provider.external else {}
    by_key = {(p.module_key, p.interval): p for p in current}
    modules = [
        {
            "key": key,
            "name": loaded.manifest.name,
            "prices": [(interval, by_key.get((key, interval))) for interval in INTERVALS],
        }
        for key, loaded in registry.modules.items()
    ]
    context = {
        "modules": modules,
        "earlier": earlier,
        "module_names": {key: m.manifest.name for key, m in registry.modules.items()},
        "provider": provider,
        "sync_errors": sync_errors,
        "intervals": catalogue.INTERVAL_LABELS,
        "refusal": refusal,
        "form_id": PRICE_FORM,
        "default_currency": DEFAULT_CURRENCY,
        "done": done if done in DONE else None,
    }
    status = refusal.error.status_code if refusal else 200
    return Template("operator/prices.html", context=context, status_code=status)


def _to_prices(done: str) -> Redirect:
    return Redirect(f"{PRICES}?done={done}", status_code=HTTP_303_SEE_OTHER)


@get(PRICES, include_in_schema=False, guards=[operator_guard])
async def prices_page(
    request: Request[Any, Any, Any], done: FromQuery[str | None] = None
) -> Template:
    return await _page(request, done=done)


def _change(data: dict[str, str]) -> catalogue.PriceChange:
    """The form as a price change; a refusal names the input it is about."""
    amount = required("unit_amount", read_decimal("unit_amount", data.get("unit_amount", "")))
    trial = data.get("trial_days", "").strip()
    return catalogue.PriceChange(
        module_key=data.get("module", ""),
        interval=data.get("interval", ""),
        currency=data.get("currency", ""),
        unit_amount=amount,
        per_member=data.get("per_member") == "on",
        trial_days=read_count("trial_days", trial) if trial else 0,
    )


@post(PRICES, include_in_schema=False, guards=[operator_guard])
async def set_price(request: Request[Any, Any, Any], data: FormData) -> Response[Any]:
    """Save the price (committed first), then sync it: a provider's refusal leaves it
    saved and marked "not synced" on the page."""
    try:
        _price, failure = await catalogue.save_price(
            request.app.state.db,
            request.app.state.registry,
            _provider(request),
            _change(data),
            operator_id=_operator_id(request),
            ip=client_ip(request),
        )
    except DomainError as error:
        return await _page(request, refusal=Refusal.of(PRICE_FORM, typed_in(data, *FIELDS), error))
    if failure is not None:
        return _to_prices("unsynced")
    return _to_prices("synced" if _provider(request).external else "saved")


@post(f"{PRICES}/{{price_id:uuid}}/sync", include_in_schema=False, guards=[operator_guard])
async def sync_price(
    request: Request[Any, Any, Any], price_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """Sync again; a refusal is shown beside the price it concerns."""
    try:
        await catalogue.sync_price(
            request.app.state.db,
            request.app.state.registry,
            _provider(request),
            price_id,
            operator_id=_operator_id(request),
            ip=client_ip(request),
        )
    except ProviderFailed:
        return _to_prices("unsynced")
    return _to_prices("synced")


PAGES = [prices_page, set_price, sync_price]
