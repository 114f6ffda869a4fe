"""Dunning: a payment Stripe could not collect, told to the owners until it is paid.

The webhook handlers (:mod:`billing.webhooks`) call these *after* refreshing the
workspace's subscription from Stripe (:func:`billing.state.refresh`), with its
``billing_account`` row locked, so what they decide rests on Stripe's current status,
not on the order events arrive in:

- **a failed payment** (``invoice.payment_failed``) while Stripe still says money is owed
  (:data:`OWING`) sets ``payment_failed_at`` and mails the active owners, each in their
  language (:func:`billing.notify.mail_owners`), **once per invoice**: Stripe sends the
  event again on every retry of the same invoice, and those are new events. A failure
  reported after the subscription was paid again (a late delivery) changes nothing.
- **the bank asks to confirm** (``invoice.payment_action_required``): ``payment_action_url``
  is the invoice's hosted page, where the owner confirms; mailed once per invoice too.
- **settled** (:func:`settle`, after every refresh): once Stripe's subscription no longer
  owes anything (``invoice.paid``, or any event that finds it active, trialing or ended),
  both are cleared, and with them the banner.

The banner (:mod:`web.shell`, ``base.html``) shows owners and admins, on every workspace
page, "Payment failed: update your card" with the portal link (:func:`portal_path`), or
"Your bank asks you to confirm the payment" with the hosted invoice link.

Which invoices were mailed about is read from the webhook log itself
(:func:`billing.notify.mailed_before`), under the account's lock, so two events for one
invoice handled at once mail once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import notify
from billing.models import BillingAccount
from core import mail
from core.context import TenantContext
from core.i18n import N_, when

#: Stripe's subscription statuses while a payment is owed: a failure stands in these.
OWING = frozenset({"past_due", "unpaid", "incomplete"})
PAYMENT_FAILED = "invoice.payment_failed"
ACTION_REQUIRED = "invoice.payment_action_required"

FAILED_SUBJECT = N_("Payment for {workspace} failed")
FAILED_BODY = N_(
    "Hello {name},\n\n"
    "The payment for the subscription of {workspace} did not go through. Its modules stay "
    "on until {date}; after that their data is kept and can still be read, but nothing "
    "can be added or changed until the payment is made.\n\n"
    "Update your card here: {link}\n\n"
    "Atrium"
)
ACTION_SUBJECT = N_("Your bank asks you to confirm the payment for {workspace}")
ACTION_BODY = N_(
    "Hello {name},\n\n"
    "Your bank asks you to confirm the payment for the subscription of {workspace}. "
    "Until it is confirmed, the payment is not made.\n\n"
    "Confirm it here: {link}\n\n"
    "Atrium"
)


@dataclass(frozen=True, slots=True)
class Notices:
    """Where the mail's links lead and how long the grace lasts (the settings')."""

    mailer: mail.Mailer
    base_url: str
    grace_days: int


def portal_path(slug: str) -> str:
    """The workspace's way to Stripe's portal, where an owner updates the card."""
    return f"/t/{slug}/billing/portal"


def owing(acct: BillingAccount) -> bool:
    return acct.status in OWING


def safe_link(url: object) -> str | None:
    """A link from Stripe fit for an ``href`` (http or https only), else None."""
    text = str(url or "")
    return text if text.startswith(("https://", "http://")) else None


async def payment_failed(
    session: AsyncSession,
    ctx: TenantContext,
    acct: BillingAccount,
    notices: Notices,
    invoice: Mapping[str, Any],
    at: datetime,
) -> dict[str, Any]:
    """An invoice's payment failed: dunning while Stripe says it is owed; the owners
    mailed the first time for this invoice. Returns what the webhook log notes."""
    if not owing(acct):
        return {"about": invoice["id"], "stale": True}  # paid again since
    acct.payment_failed_at = at
    if await notify.mailed_before(session, ctx, PAYMENT_FAILED, invoice["id"]):
        return {"about": invoice["id"], "mailed": 0}
    until = (acct.past_due_since or at) + timedelta(days=notices.grace_days)
    sent = await notify.mail_owners(
        session,
        ctx,
        notices.mailer,
        FAILED_SUBJECT,
        FAILED_BODY,
        link=f"{notices.base_url}{portal_path(ctx.slug)}",
        localised=lambda: {"date": when(until)},
    )
    return {"about": invoice["id"], "mailed": len(sent)}


async def action_required(
    session: AsyncSession,
    ctx: TenantContext,
    acct: BillingAccount,
    notices: Notices,
    invoice: Mapping[str, Any],
) -> dict[str, Any]:
    """The bank wants the payment confirmed on the invoice's hosted page: that link in the
    banner, and the owners mailed the first time for this invoice."""
    link = safe_link(invoice.get("hosted_invoice_url"))
    if not owing(acct) or link is None:
        return {"about": invoice["id"], "stale": True}
    acct.payment_action_url = link
    if await notify.mailed_before(session, ctx, ACTION_REQUIRED, invoice["id"]):
        return {"about": invoice["id"], "mailed": 0}
    sent = await notify.mail_owners(
        session, ctx, notices.mailer, ACTION_SUBJECT, ACTION_BODY, link=link
    )
    return {"about": invoice["id"], "mailed": len(sent)}


def settle(acct: BillingAccount) -> bool:
    """Clear the dunning once Stripe's subscription owes nothing; True if it was cleared."""
    if owing(acct) or (acct.payment_failed_at is None and acct.payment_action_url is None):
        return False
    acct.payment_failed_at = None
    acct.payment_action_url = None
    return True
