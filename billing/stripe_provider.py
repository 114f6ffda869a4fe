"""The Stripe provider: the official SDK's ``StripeClient``, on Stripe or on a stand-in.

Every write carries an idempotency key derived from its intent (:func:`intent_key`), so
a retry after a crash or a timeout gets Stripe's first answer instead of a second
object. Objects are found again by stable names before anything is made:

- a module's Product has the id ``atrium_<module>`` (and ``metadata.atrium_module``);
- a price version's Price has the lookup key ``atrium.<module>.<interval>.v<version>``
  (listed by ``lookup_keys`` first, created only when missing).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe

from billing.models import BillingPrice
from billing.provider import (
    MODULE_METADATA,
    REFUSED,
    WORKSPACE_METADATA,
    Invoice,
    ProviderFailed,
    ProviderPrice,
    Refundable,
)
from core.errors import Conflict, NotFound
from core.i18n import N_
from core.products.currency import decimals
from core.settings import StripeSettings

NOT_FOUND = 404
PRICE_MISMATCH = N_(
    "Stripe already has a price ({price_id}) under the lookup key {lookup_key} with another "
    "amount or currency, and Atrium does not reuse it. Remove that lookup key in Stripe, "
    "then sync again."
)
NOTHING_PAID = N_("Invoice {invoice} has no card payment at Stripe: there is nothing to refund.")
#: The refunds that take money back (a failed or canceled one does not count).
REFUND_COUNTS = frozenset({"pending", "requires_action", "succeeded"})


def intent_key(intent: str) -> str:
    """The idempotency key of one intent (``price:crm:month:v2``): the same intent always
    sends the same key, another intent never does."""
    return hashlib.sha256(intent.encode()).hexdigest()


def product_id(module_key: str) -> str:
    return f"atrium_{module_key}"


def refused(error: stripe.StripeError) -> ProviderFailed:
    """What a refusal or failure of Stripe's becomes for Atrium: 502, with Stripe's reason."""
    return ProviderFailed(REFUSED, reason=error.user_message or str(error))


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
            raise refused(error) from error
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
            raise refused(error) from error
        return found.to_dict()

    async def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        try:
            page = await self.client.v1.subscriptions.list_async(
                params={"customer": customer_id, "status": "all", "limit": 100}
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        return [sub.to_dict() for sub in page.data]

    async def customer(self, customer_id: str) -> dict[str, Any]:
        try:
            found = await self.client.v1.customers.retrieve_async(customer_id)
        except stripe.StripeError as error:
            raise refused(error) from error
        return found.to_dict()

    # --- subscribing (billing/subscriptions.py) ----------------------------------------

    async def create_customer(self, tenant_id: uuid.UUID, name: str, email: str, key: str) -> str:
        try:
            created = await self.client.v1.customers.create_async(
                params={
                    "name": name,
                    "email": email,
                    "metadata": {WORKSPACE_METADATA: str(tenant_id)},
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        return created.id

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
        workspace = {WORKSPACE_METADATA: str(tenant_id)}
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params={
                    "mode": "subscription",
                    "customer": customer_id,
                    "line_items": [{"price": price, "quantity": qty} for price, qty in lines],
                    "success_url": success_url,
                    "cancel_url": cancel_url,
                    "client_reference_id": str(tenant_id),
                    "metadata": {**workspace, MODULE_METADATA: module_key},
                    "subscription_data": {"metadata": workspace},
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        assert session.url, "a Checkout Session in subscription mode has a page"
        return session.id, session.url

    async def checkout_session(self, session_id: str) -> dict[str, Any]:
        try:
            found = await self.client.v1.checkout.sessions.retrieve_async(session_id)
        except stripe.InvalidRequestError as error:
            if error.http_status == NOT_FOUND:  # a made-up or mistyped id in the return URL
                raise NotFound("There is no such checkout.") from error
            raise refused(error) from error
        except stripe.StripeError as error:
            raise refused(error) from error
        return found.to_dict()

    async def expire_open_checkouts(self, customer_id: str, keep: str) -> None:
        sessions = self.client.v1.checkout.sessions
        try:
            page = await sessions.list_async(
                params={"customer": customer_id, "status": "open", "limit": 100}
            )
            for other in page.data:
                if other.id == keep:
                    continue
                # Refused when it was completed or expired meanwhile: not open either way.
                with contextlib.suppress(stripe.InvalidRequestError):
                    await sessions.expire_async(  # always the same write: a stable key
                        other.id, options={"idempotency_key": intent_key(f"expire:{other.id}")}
                    )
        except stripe.StripeError as error:
            raise refused(error) from error

    async def add_item(
        self, subscription_id: str, price_id: str, quantity: int, key: str
    ) -> dict[str, Any]:
        try:
            item = await self.client.v1.subscription_items.create_async(
                params={
                    "subscription": subscription_id,
                    "price": price_id,
                    "quantity": quantity,
                    "proration_behavior": "create_prorations",
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        return item.to_dict()

    async def remove_item(self, item_id: str, key: str) -> None:
        # Called once the period the workspace paid for has ended, when Stripe has already
        # renewed the subscription with this item in it: prorating credits the new period's
        # charge for it (and nothing, were it called a moment before the renewal).
        try:
            await self.client.v1.subscription_items.delete_async(
                item_id,
                params={"proration_behavior": "create_prorations"},
                options={"idempotency_key": key},
            )
        except stripe.InvalidRequestError as error:
            if error.http_status != NOT_FOUND:  # gone already: a retry after a crash
                raise refused(error) from error
        except stripe.StripeError as error:
            raise refused(error) from error

    async def cancel_at_period_end(self, subscription_id: str, flag: bool, key: str) -> None:
        try:
            await self.client.v1.subscriptions.update_async(
                subscription_id,
                params={"cancel_at_period_end": flag},
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error

    # --- members and invoices (billing/members.py, billing/invoices.py) ----------------

    async def set_quantity(self, item_id: str, quantity: int, key: str) -> None:
        try:
            await self.client.v1.subscription_items.update_async(
                item_id,
                params={"quantity": quantity, "proration_behavior": "create_prorations"},
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error

    async def invoices(self, customer_id: str) -> list[Invoice]:
        try:
            page = await self.client.v1.invoices.list_async(
                params={"customer": customer_id, "limit": 100}
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        found = [_invoice(invoice.to_dict()) for invoice in page.data]
        return sorted(found, key=lambda invoice: invoice.created, reverse=True)

    async def portal(self, customer_id: str, return_url: str, key: str) -> str:
        try:
            session = await self.client.v1.billing_portal.sessions.create_async(
                params={"customer": customer_id, "return_url": return_url},
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        return session.url

    # --- operator actions (billing/console.py, billing/reconcile.py) -------------------

    async def cancel_subscription(
        self, subscription_id: str, at_period_end: bool, key: str
    ) -> None:
        subscriptions = self.client.v1.subscriptions
        try:
            if at_period_end:
                await subscriptions.update_async(
                    subscription_id,
                    params={"cancel_at_period_end": True},
                    options={"idempotency_key": key},
                )
            else:
                await subscriptions.cancel_async(subscription_id, options={"idempotency_key": key})
        except stripe.StripeError as error:
            raise refused(error) from error

    async def refundable(self, invoice_id: str) -> Refundable:
        """The invoice's paid payment (its Invoice Payment, today's API) and the refunds
        of its payment intent so far."""
        try:
            payments = await self.client.v1.invoice_payments.list_async(
                params={"invoice": invoice_id, "status": "paid", "limit": 1}
            )
            if not payments.data or not payments.data[0].payment.payment_intent:
                raise Conflict(NOTHING_PAID, invoice=invoice_id)
            payment = payments.data[0]
            intent = str(payment.payment.payment_intent)
            refunds = await self.client.v1.refunds.list_async(
                params={"payment_intent": intent, "limit": 100}
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        currency = payment.currency.upper()
        refunded = sum(r.amount for r in refunds.data if r.status in REFUND_COUNTS)
        return Refundable(
            invoice_id=invoice_id,
            currency=currency,
            paid=major_units(payment.amount_paid or 0, currency),
            refunded=major_units(refunded, currency),
            payment_intent=intent,
        )

    async def refund(self, refundable: Refundable, amount: Decimal, key: str) -> str:
        try:
            made = await self.client.v1.refunds.create_async(
                params={
                    "payment_intent": refundable.payment_intent,
                    "amount": minor_units(amount, refundable.currency),
                    "metadata": {"atrium_invoice": refundable.invoice_id},
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        return made.id

    async def credit(
        self, customer_id: str, amount: Decimal, currency: str, description: str, key: str
    ) -> str:
        try:
            made = await self.client.v1.customers.balance_transactions.create_async(
                customer_id,
                # A negative amount is a credit: it reduces what the next invoices ask for.
                params={
                    "amount": -minor_units(amount, currency),
                    "currency": currency.lower(),
                    "description": description,
                },
                options={"idempotency_key": key},
            )
        except stripe.StripeError as error:
            raise refused(error) from error
        return made.id


def price_intent(price: BillingPrice) -> str:
    return f"price:{price.module_key}:{price.interval}:v{price.version}"


def major_units(amount: int, currency: str) -> Decimal:
    """Stripe's ``amount`` in the currency's smallest unit as a Decimal (9900 → ¥99.00)."""
    return Decimal(amount).scaleb(-decimals(currency))


def _invoice(invoice: dict[str, Any]) -> Invoice:
    """Stripe's invoice object (a dict: a draft lacks some fields) as an :class:`Invoice`."""
    currency = str(invoice["currency"]).upper()
    return Invoice(
        id=invoice["id"],
        number=invoice.get("number"),
        created=datetime.fromtimestamp(invoice["created"], UTC),
        amount_due=major_units(invoice["amount_due"], currency),
        amount_paid=major_units(invoice["amount_paid"], currency),
        currency=currency,
        status=invoice.get("status"),
        invoice_pdf=invoice.get("invoice_pdf"),
        hosted_invoice_url=invoice.get("hosted_invoice_url"),
    )
