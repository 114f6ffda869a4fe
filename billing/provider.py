"""The billing provider: what the rest of Atrium asks of Stripe, or of the manual stand-in.

Settings choose it (:func:`provider_for`): with ``STRIPE_SECRET_KEY`` set, Stripe
(:mod:`billing.stripe_provider`); without, the manual provider (:mod:`billing.manual`),
for self-hosting and development, which reaches nothing outside Atrium. The interface
holds what callers use today; each part of billing adds what it needs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from core.errors import DomainError
from core.i18n import N_
from core.settings import Settings

if TYPE_CHECKING:
    from billing.models import BillingPrice


@dataclass(frozen=True, slots=True)
class ProviderPrice:
    """Where a price lives at the provider."""

    product_id: str
    price_id: str


@dataclass(frozen=True, slots=True)
class Invoice:
    """One of a customer's invoices, as the provider has it (amounts in major units)."""

    id: str
    number: str | None  # None while a draft
    created: datetime
    amount_due: Decimal
    amount_paid: Decimal
    currency: str  # ISO 4217, upper case
    status: str | None  # draft, open, paid, uncollectible, void
    invoice_pdf: str | None  # the PDF's address at the provider
    hosted_invoice_url: str | None  # the provider's page for it (and for paying it)


class ProviderFailed(DomainError):
    """The provider refused a call or could not be reached (its message is an ``N_()``
    constant: :data:`REFUSED`, or one of the provider's own)."""

    status_code = 502
    code = "billing_provider_failed"


REFUSED = N_("The payment provider did not accept the change: {reason}")

#: The key of a workspace's Stripe customer's metadata holding the workspace's id: every
#: customer Atrium makes carries it, and the webhooks find an event's workspace by it.
WORKSPACE_METADATA = "atrium_tenant"
#: The key of a Checkout Session's metadata naming the module it subscribes to.
MODULE_METADATA = "atrium_module"


class BillingProvider(Protocol):
    #: Shown in the console: which provider this installation uses (a msgid).
    label: str
    #: Whether prices are copied to the provider (False: they live in Atrium only).
    external: bool

    async def sync_price(self, price: BillingPrice, module_name: str) -> ProviderPrice | None:
        """Make sure the provider has ``price`` (and its module's product), finding what an
        earlier call made instead of making it twice; None when there is nothing outside
        Atrium to sync. Raises :class:`ProviderFailed`."""
        ...

    # --- reading subscriptions (billing.state's callers: webhooks, Checkout, reconciliation)

    async def subscription(self, subscription_id: str) -> dict[str, Any]:
        """Stripe's current subscription object, as a plain dict (items, prices, status)."""
        ...

    async def subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        """Every subscription of the customer, ended ones included, newest first."""
        ...

    async def customer(self, customer_id: str) -> dict[str, Any]:
        """Stripe's customer object, as a plain dict; its ``metadata`` names the workspace
        (:data:`WORKSPACE_METADATA`), which is how a webhook finds whose event it is."""
        ...

    # --- subscribing (billing/subscriptions.py)

    async def create_customer(self, tenant_id: uuid.UUID, name: str, email: str, key: str) -> str:
        """Make the workspace's customer (metadata :data:`WORKSPACE_METADATA`); its id."""
        ...

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
        """Start a Checkout Session in subscription mode for ``lines`` (price id, quantity),
        the workspace as its ``client_reference_id`` and in the metadata of the session and
        of the subscription it makes; its ``(id, url)``."""
        ...

    async def checkout_session(self, session_id: str) -> dict[str, Any]:
        """A Checkout Session as a plain dict (status, customer, subscription, metadata)."""
        ...

    async def expire_open_checkouts(self, customer_id: str, keep: str) -> None:
        """Expire the customer's other open Checkout Sessions than ``keep``: one payable
        checkout per workspace, so two tabs cannot make two subscriptions."""
        ...

    async def add_item(
        self, subscription_id: str, price_id: str, quantity: int, key: str
    ) -> dict[str, Any]:
        """Add a price to the subscription, the rest of the period prorated; the item."""
        ...

    async def remove_item(self, item_id: str, key: str) -> None:
        """Take an item out of its subscription (one already gone counts as removed)."""
        ...

    async def cancel_at_period_end(self, subscription_id: str, flag: bool, key: str) -> None:
        """End the whole subscription at its period's end (``flag``), or not any more."""
        ...

    # --- members and invoices (billing/members.py, billing/invoices.py)

    async def set_quantity(self, item_id: str, quantity: int, key: str) -> None:
        """Set a subscription item's quantity, prorated, with the idempotency ``key``."""
        ...

    async def invoices(self, customer_id: str) -> list[Invoice]:
        """The customer's invoices, newest first (the latest 100)."""
        ...

    async def portal(self, customer_id: str, return_url: str, key: str) -> str:
        """A customer portal session's address (payment methods, invoices), which comes
        back to ``return_url``."""
        ...

    # --- operator actions (billing/console.py, billing/reconcile.py)

    async def cancel_subscription(
        self, subscription_id: str, at_period_end: bool, key: str
    ) -> None:
        """Cancel the subscription at once, or at the end of its period (it stays active
        until then), with the idempotency ``key``."""
        ...

    async def refundable(self, invoice_id: str) -> Refundable:
        """What of the invoice's payment can still be refunded."""
        ...

    async def refund(self, refundable: Refundable, amount: Decimal, key: str) -> str:
        """Refund ``amount`` (major units, at most ``refundable.remaining``) of the
        invoice's payment; returns the refund's id."""
        ...

    async def credit(
        self, customer_id: str, amount: Decimal, currency: str, description: str, key: str
    ) -> str:
        """Credit ``amount`` (major units, more than 0) to the customer's balance, which
        the next invoices use up first; returns the balance transaction's id."""
        ...


@dataclass(frozen=True, slots=True)
class Refundable:
    """An invoice's payment as far as refunds go (amounts in major units)."""

    invoice_id: str
    currency: str  # ISO 4217, upper case
    paid: Decimal
    refunded: Decimal  # refunded so far
    payment_intent: str  # what a refund names at Stripe

    @property
    def remaining(self) -> Decimal:
        return self.paid - self.refunded


def provider_for(settings: Settings) -> BillingProvider:
    """Stripe when a secret key is set, otherwise the manual provider."""
    if settings.stripe.secret_key:
        from billing.stripe_provider import StripeProvider

        return StripeProvider(settings.stripe)
    from billing.manual import ManualProvider

    return ManualProvider()
