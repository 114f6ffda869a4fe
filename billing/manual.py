"""The manual provider: self-hosting and development, with no payment service at all.

Prices are kept in Atrium's database only; the operator records payments by hand. There
are no subscriptions outside Atrium to read: a workspace with the manual provider has no
Stripe customer, so nothing calls the reading methods (they refuse, loudly). Nothing here
reaches outside Atrium.
"""

from __future__ import annotations

from typing import Any

from billing.models import BillingPrice
from billing.provider import ProviderFailed, ProviderPrice
from core.i18n import N_

NO_PROVIDER = N_(
    "No payment provider is configured (STRIPE_SECRET_KEY is not set): there is nothing "
    "to read from or send to Stripe."
)


class ManualProvider:
    label = N_(
        "Manual: no payment provider is configured (STRIPE_SECRET_KEY is not set); prices "
        "are kept in Atrium only and payments are recorded by the operator."
    )
    external = False

    async def sync_price(self, price: BillingPrice, module_name: str) -> ProviderPrice | None:
        """Nothing to sync: there is no provider to copy the price to."""
        return None

    # --- reading subscriptions ---------------------------------------------------------

    async def subscription(self, subscription_id: str) -> dict[str, Any]:
        raise ProviderFailed(NO_PROVIDER)

    async def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        raise ProviderFailed(NO_PROVIDER)

    # --- subscribing (billing/subscriptions.py) ----------------------------------------

    # --- operator actions (billing/console.py, billing/reconcile.py) -------------------
