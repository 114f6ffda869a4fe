"""The billing provider: what the rest of Atrium asks of Stripe, or of the manual stand-in.

Settings choose it (:func:`provider_for`): with ``STRIPE_SECRET_KEY`` set, Stripe
(:mod:`billing.stripe_provider`); without, the manual provider (:mod:`billing.manual`),
for self-hosting and development, which reaches nothing outside Atrium. The interface
holds what callers use today; each part of billing adds what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class ProviderFailed(DomainError):
    """The provider refused a call or could not be reached (its message is an ``N_()``
    constant: :data:`REFUSED`, or one of the provider's own)."""

    status_code = 502
    code = "billing_provider_failed"


REFUSED = N_("The payment provider did not accept the change: {reason}")


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

    # --- subscribing (billing/subscriptions.py)

    # --- operator actions (billing/console.py, billing/reconcile.py)


def provider_for(settings: Settings) -> BillingProvider:
    """Stripe when a secret key is set, otherwise the manual provider."""
    if settings.stripe.secret_key:
        from billing.stripe_provider import StripeProvider

        return StripeProvider(settings.stripe)
    from billing.manual import ManualProvider

    return ManualProvider()
