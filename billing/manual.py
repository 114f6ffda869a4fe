"""The manual provider: self-hosting and development, with no payment service at all.

Prices are kept in Atrium's database only; the operator records payments by hand (that
comes with subscriptions). Nothing here reaches outside Atrium.
"""

from __future__ import annotations

from billing.models import BillingPrice
from billing.provider import ProviderPrice
from core.i18n import N_


class ManualProvider:
    label = N_(
        "Manual: no payment provider is configured (STRIPE_SECRET_KEY is not set); prices "
        "are kept in Atrium only and payments are recorded by the operator."
    )
    external = False

    async def sync_price(self, price: BillingPrice, module_name: str) -> ProviderPrice | None:
        """Nothing to sync: there is no provider to copy the price to."""
        return None
