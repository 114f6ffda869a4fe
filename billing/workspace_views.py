"""The workspace's billing page, for its owners (``core.billing.manage``; 403 otherwise).

- ``GET /t/{slug}/billing``: the subscription (interval, status, period end), each paid
  module (price, per member or flat, quantity, the end date of one removed), the invoices
  from Stripe (number, date, amount, status, PDF and Stripe's page), and the button to
  Stripe's customer portal; with the manual provider or no Stripe customer yet, it says
  so instead;
- ``GET /t/{slug}/billing/portal``: a new portal session, answered with a 303 to it; it
  comes back to the billing page. The dunning banner links here.

The rules are in :mod:`billing.invoices`; these handlers pick the provider and render.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from billing import invoices
from billing.provider import BillingProvider, provider_for
from billing.trials import MANAGE
from core.settings import Settings
from web.deps import CurrentTenant, DbSession, Registry
from web.tenancy import requires


def _settings(request: Request[Any, Any, Any]) -> Settings:
    return request.app.state.settings


def _provider(request: Request[Any, Any, Any]) -> BillingProvider:
    return provider_for(_settings(request))


def billing_url(slug: str) -> str:
    return f"/t/{slug}/billing"


@get("/billing", guards=[requires(MANAGE)])
async def billing_page(
    request: Request[Any, Any, Any], session: DbSession, registry: Registry, tenant: CurrentTenant
) -> Template:
    view = await invoices.overview(session, registry, _provider(request))
    return Template(
        "billing/workspace.html",
        context={"slug": tenant.slug, "view": view},
    )


@get("/billing/portal", guards=[requires(MANAGE)])
async def portal(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant
) -> Redirect:
    back = f"{_settings(request).base_url}{billing_url(tenant.slug)}"
    url = await invoices.portal_url(session, _provider(request), tenant.tenant_id, back)
    return Redirect(url, status_code=HTTP_303_SEE_OTHER)


PAGES = [billing_page, portal]
