"""The Stripe provider: the official SDK's ``StripeClient``, on Stripe or on a stand-in.

Every write carries an idempotency key derived from its intent (:func:`intent_key`), so
a retry after a crash or a timeout gets Stripe's first answer instead of a second
object. Objects are found again by stable names before anything is made:

- a module's Product has the id ``atrium_<module>`` (and ``metadata.atrium_module``);
- a price version's Price has the lookup key ``atrium.<module>.<interval>.v<version>``
  (listed by ``lookup_keys`` first, created only when missing).
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import stripe

from billing.models import BillingPrice
from billing.provider import REFUSED, ProviderFailed, ProviderPrice
from core.i18n import N_
from core.products.currency import decimals
from core.settings import StripeSettings

NOT_FOUND = 404
PRICE_MISMATCH = N_(
    "Stripe already has a price ({price_id}) under the lookup key {lookup_key} with another "
    "amount or currency, and Atrium does not reuse it. Remove that lookup key in Stripe, "
    "then sync again."
)


def intent_key(intent: str) -> str:
    """The idempotency key of one intent (``price:crm:month:v2``): the same intent always
    sends the same key, another intent never does."""
    return hashlib.sha256(intent.encode()).hexdigest()


def product_id(module_key: str) -> str:
    return f"atrium_{module_key}"


def minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` in the currency's smallest unit, as Stripe counts it (¥99.00 → 9900)."""
    return int(amount.scaleb(decimals(currency)))


class StripeProvider:
    label = N_("Stripe")
    external = True

    def __init__(self, settings: StripeSettings) -> None:
        assert settings.secret_key, "the Stripe provider needs STRIPE_SECRET_KEY"
        addresses = {"api": settings.api_base} if settings.api_base else None
        self.client = stripe.StripeClient(settings.secret_key, base_addresses=addresses or {})

    async def sync_price(self, price: BillingPrice, module_name: str) -> ProviderPrice:
        try:
            product = await self._product(price.module_key, module_name)
            found = await self.client.v1.prices.list_async(
                params={"lookup_keys": [price.lookup_key], "limit": 1}
            )
            stripe_price = found.data[0] if found.data else await self._create_price(price, product)
        except stripe.StripeError as error:
            raise ProviderFailed(REFUSED, reason=error.user_message or str(error)) from error
        expected = (minor_units(price.unit_amount, price.currency), price.currency.lower())
        if (stripe_price.unit_amount, stripe_price.currency) != expected:
            raise ProviderFailed(
                PRICE_MISMATCH, lookup_key=price.lookup_key, price_id=stripe_price.id
            )
        return ProviderPrice(product_id=product, price_id=stripe_price.id)

    async def _product(self, module_key: str, module_name: str) -> str:
        """The module's Product id: found by its stable id, or created with it."""
        try:
            return (await self.client.v1.products.retrieve_async(product_id(module_key))).id
        except stripe.InvalidRequestError as error:
            if error.http_status != NOT_FOUND:
                raise
        created = await self.client.v1.products.create_async(
            params={
                "id": product_id(module_key),
                "name": f"Atrium {module_name}",
                "metadata": {"atrium_module": module_key},
            },
            options={"idempotency_key": intent_key(f"product:{module_key}")},
        )
        return created.id

    async def _create_price(self, price: BillingPrice, product: str) -> stripe.Price:
        return await self.client.v1.prices.create_async(
            params={
                "product": product,
                "currency": price.currency.lower(),
                "unit_amount": minor_units(price.unit_amount, price.currency),
                "recurring": {"interval": price.interval},  # type: ignore[typeddict-item]
                "lookup_key": price.lookup_key,
                "nickname": price.lookup_key,
                "metadata": {
                    "atrium_module": price.module_key,
                    "atrium_version": str(price.version),
                    "atrium_per_member": "true" if price.per_member else "false",
                },
            },
            options={"idempotency_key": intent_key(price_intent(price))},
        )

    # --- reading subscriptions ---------------------------------------------------------

    async def subscription(self, subscription_id: str) -> dict[str, Any]:
        try:
            found = await self.client.v1.subscriptions.retrieve_async(subscription_id)
        except stripe.StripeError as error:
            raise ProviderFailed(REFUSED, reason=error.user_message or str(error)) from error
        return found.to_dict()

    async def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        try:
            page = await self.client.v1.subscriptions.list_async(
                params={"customer": customer_id, "status": "all", "limit": 100}
            )
        except stripe.StripeError as error:
            raise ProviderFailed(REFUSED, reason=error.user_message or str(error)) from error
        return [sub.to_dict() for sub in page.data]

    # --- subscribing (billing/subscriptions.py) ----------------------------------------

    # --- operator actions (billing/console.py, billing/reconcile.py) -------------------


def price_intent(price: BillingPrice) -> str:
    return f"price:{price.module_key}:{price.interval}:v{price.version}"
