"""The manual provider: self-hosting and development, with no payment service at all.

Prices are kept in Atrium's database only; the operator records payments by hand. There
are no subscriptions outside Atrium to read: a workspace with the manual provider has no
Stripe customer, so nothing calls the reading methods (they refuse, loudly). Nothing here
reaches outside Atrium.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from billing.models import BillingPrice
from billing.provider import Invoice, ProviderFailed, ProviderPrice, Refundable
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

    async def customer(self, customer_id: str) -> dict[str, Any]:
        raise ProviderFailed(NO_PROVIDER)

    # --- subscribing (billing/subscriptions.py) ----------------------------------------

    async def create_customer(self, tenant_id: uuid.UUID, name: str, email: str, key: str) -> str:
        raise ProviderFailed(NO_PROVIDER)

    async def checkout(
        self,
        customer_id: str,
        lines: Sequence[tuple[str, int]],
        success_url: str,
        cancel_url: str,
        tenant_id: uuid.UUID,
        module_key: str,
        key: str,
    ) -> tuple[str, str]:
        raise ProviderFailed(NO_PROVIDER)

    async def checkout_session(self, session_id: str) -> dict[str, Any]:
        raise ProviderFailed(NO_PROVIDER)

    async def expire_open_checkouts(self, customer_id: str, keep: str) -> None:
        raise ProviderFailed(NO_PROVIDER)

    async def add_item(
        self, subscription_id: str, price_id: str, quantity: int, key: str
    ) -> dict[str, Any]:
        raise ProviderFailed(NO_PROVIDER)

    async def remove_item(self, item_id: str, key: str) -> None:
        raise ProviderFailed(NO_PROVIDER)

    async def cancel_at_period_end(self, subscription_id: str, flag: bool, key: str) -> None:
        raise ProviderFailed(NO_PROVIDER)

    # --- members and invoices (billing/members.py, billing/invoices.py) ----------------

    async def set_quantity(self, item_id: str, quantity: int, key: str) -> None:
        raise ProviderFailed(NO_PROVIDER)

    async def invoices(self, customer_id: str) -> list[Invoice]:
        raise ProviderFailed(NO_PROVIDER)

    async def portal(self, customer_id: str, return_url: str, key: str) -> str:
        raise ProviderFailed(NO_PROVIDER)

    # --- operator actions (billing/console.py, billing/reconcile.py) -------------------

    async def cancel_subscription(
        self, subscription_id: str, at_period_end: bool, key: str
    ) -> None:
        raise ProviderFailed(NO_PROVIDER)

    async def refundable(self, invoice_id: str) -> Refundable:
        raise ProviderFailed(NO_PROVIDER)

    async def refund(self, refundable: Refundable, amount: Decimal, key: str) -> str:
        raise ProviderFailed(NO_PROVIDER)

    async def credit(
        self, customer_id: str, amount: Decimal, currency: str, description: str, key: str
    ) -> str:
        raise ProviderFailed(NO_PROVIDER)
