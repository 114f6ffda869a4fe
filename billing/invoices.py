"""The workspace's billing page: its subscription, its invoices, the way to Stripe's portal.

- :func:`overview` reads what the page shows: the subscription as Atrium keeps it
  (``billing_account``, ``billing_item`` with their prices; written by
  :mod:`billing.state`) and the invoices as Stripe has them now (the provider's
  :meth:`~billing.provider.BillingProvider.invoices`, read on each visit, never copied).
  Stripe failing to answer does not fail the page: it says the invoices could not be
  read, and why.
- :func:`portal_url` opens a customer portal session (payment methods, invoices, the
  card to update after a failed payment) that comes back to the billing page. Each visit
  is a new session, so its intent (``portal``) takes a new attempt, and with it a new
  idempotency key, once the previous one is done.

The page tells apart what there is to show (:attr:`Overview.situation`): the manual
provider (nothing at Stripe: payments are recorded by the operator), no Stripe customer
yet (nothing subscribed), or a customer with its subscription and invoices.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import catalogue, intents, state
from billing.models import BillingAccount, BillingItem, BillingPrice
from billing.provider import BillingProvider, Invoice, ProviderFailed
from core.db import Database
from core.errors import Conflict
from core.i18n import N_, gettext, money
from core.plugins.registry import ModuleRegistry

PORTAL_INTENT = "portal"
MANUAL, NO_CUSTOMER, CUSTOMER = "manual", "no_customer", "customer"

#: Stripe's subscription statuses, as the page names them.
SUBSCRIPTION_STATUS = {
    "active": N_("Active"),
    "trialing": N_("Trial"),
    "past_due": N_("Past due"),
    "unpaid": N_("Unpaid"),
    "canceled": N_("Canceled"),
    "incomplete": N_("Awaiting the first payment"),
    "incomplete_expired": N_("Expired before the first payment"),
    "paused": N_("Paused"),
}
#: Stripe's invoice statuses, as the page names them.
INVOICE_STATUS = {
    "draft": N_("Draft"),
    "open": N_("Awaiting payment"),
    "paid": N_("Paid in full"),
    "uncollectible": N_("Uncollectible"),
    "void": N_("Void"),
}


@dataclass(frozen=True, slots=True)
class ItemLine:
    """One paid module of the subscription, as the page lists it."""

    module_key: str
    module_name: str  # a msgid
    price: str  # "¥99.00 / month", in the request's language
    per_member: bool
    quantity: int
    total: str  # the price times the quantity
    ends_at: datetime | None  # removed: on until then


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    invoice: Invoice
    amount: str  # the amount due, in the request's language
    status: str  # a msgid


@dataclass(frozen=True, slots=True)
class Overview:
    situation: str  # MANUAL, NO_CUSTOMER or CUSTOMER
    account: BillingAccount | None = None
    status: str | None = None  # the subscription's status, a msgid
    interval: str | None = None  # a msgid
    items: list[ItemLine] = field(default_factory=list)
    invoices: list[InvoiceLine] = field(default_factory=list)
    invoices_failed: ProviderFailed | None = None  # Stripe did not answer: why


async def overview(
    session: AsyncSession, registry: ModuleRegistry, provider: BillingProvider
) -> Overview:
    """What the workspace's billing page shows (the session's workspace); see the module doc."""
    if not provider.external:
        return Overview(MANUAL)
    account = await state.account(session)
    if account is None or not account.stripe_customer_id:
        return Overview(NO_CUSTOMER)
    invoices: list[InvoiceLine] = []
    failed = None
    try:
        invoices = [_invoice_line(i) for i in await provider.invoices(account.stripe_customer_id)]
    except ProviderFailed as error:
        failed = error
    status = account.status
    return Overview(
        CUSTOMER,
        account=account,
        status=SUBSCRIPTION_STATUS.get(status, status) if status else None,
        interval=catalogue.INTERVAL_LABELS.get(account.interval),
        items=await _items(session, registry),
        invoices=invoices,
        invoices_failed=failed,
    )


async def _items(session: AsyncSession, registry: ModuleRegistry) -> list[ItemLine]:
    rows = await session.execute(
        select(BillingItem, BillingPrice)
        .join(BillingPrice, BillingPrice.id == BillingItem.price_id)
        .order_by(BillingItem.module_key)
    )
    return [
        ItemLine(
            module_key=item.module_key,
            module_name=(
                registry.manifest(item.module_key).name
                if item.module_key in registry.modules
                else item.module_key
            ),
            price=_per_interval(price),
            per_member=price.per_member,
            quantity=item.quantity,
            total=money(price.unit_amount * item.quantity, price.currency),
            ends_at=item.ends_at,
        )
        for item, price in rows
    ]


def _per_interval(price: BillingPrice) -> str:
    """ "¥99.00 / month": per member or not is a column of its own."""
    amount = money(price.unit_amount, price.currency)
    return gettext(catalogue.FLAT[price.interval]).format(amount=amount)


def _invoice_line(invoice: Invoice) -> InvoiceLine:
    return InvoiceLine(
        invoice,
        amount=money(invoice.amount_due, invoice.currency),
        status=INVOICE_STATUS.get(invoice.status or "", invoice.status or ""),
    )


async def portal_url(
    session: AsyncSession,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    return_url: str,
) -> str:
    """A new customer portal session's address for the session's workspace, coming back
    to ``return_url``. :class:`Conflict` without Stripe or without a Stripe customer;
    :class:`ProviderFailed` when Stripe refuses."""
    if not provider.external:
        raise Conflict(
            "No payment provider is configured: there is no customer portal. Payments are "
            "recorded by the operator."
        )
    account = await state.account(session)
    if account is None or not account.stripe_customer_id:
        raise Conflict(
            "This workspace has no payment account yet: it is made with the first "
            "subscription, in Apps."
        )
    key = await intents.attempt_key(Database.of(session), tenant_id, PORTAL_INTENT)
    url = await provider.portal(account.stripe_customer_id, return_url, key)
    await intents.finish(session, PORTAL_INTENT)
    return url
