"""The operator's actions on one workspace's billing (the console's confirmation pages),
each audited twice in its transaction: in the workspace's audit log (its admins read it;
the operator as actor) and in the global security log (like prices):

- :func:`extend_trial`: a billing trial ends later (``billing_trial.ends_at`` and the
  module's ``read_only_from``, with the dependencies that came along); a trial already
  ended opens again. Refused (409) for a module not on a billing trial;
- :func:`cancel_subscription`: at Stripe, at once or at the period's end, then
  :func:`billing.state.refresh` writes what Stripe answers (modules off, or on until the
  end);
- :func:`refund`: a paid invoice's payment, in full or a part (a Decimal at most what is
  left to refund: 422 above it), through Stripe Refunds;
- :func:`credit`: a credit on the customer's balance at Stripe (a negative balance
  transaction with a description), which the next invoices use up first;
- :func:`record_payment` (the manual provider only): a module paid until a date, as the
  operator was paid outside Atrium.

Every Stripe write carries an idempotency key from :mod:`billing.intents`. A refund's
intent is ``refund:<invoice>`` and a credit's ``credit``: each new refund or credit is a
deliberate new attempt, so the confirmation form carries the attempt it was shown for;
a form sent twice (a double click, a reload) finds that attempt done and is refused (409)
instead of refunding twice, while a retry after a crash before our commit sends the same
key and gets Stripe's first answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing import intents, state
from billing.catalogue import MAX_AMOUNT
from billing.console import TenantBilling, is_paid, module_row, on_billing_trial
from billing.entitlements import (
    GRANTED,
    PAID,
    READ_ONLY_ACCESS,
    Access,
    Level,
    SubscriptionState,
    apply,
    derive,
)
from billing.models import BillingAccount, BillingIntent, BillingItem, BillingPrice, BillingTrial
from billing.provider import BillingProvider, Invoice, Refundable
from billing.trials import WARN_BEFORE
from core import audit
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import SecurityEvent, Tenant, TenantModule
from core.plugins.registry import ModuleRegistry
from core.products.currency import check_code, decimals, has_places
from core.tenancy import tenant_context
from tenants.operator import TENANT_SUBJECT

TRIAL_EXTENDED = "operator.billing.trial_extended"
SUBSCRIPTION_CANCELED = "operator.billing.subscription_canceled"
REFUNDED = "operator.billing.refunded"
CREDITED = "operator.billing.credited"
PAYMENT_RECORDED = "operator.billing.payment_recorded"

MAX_TRIAL = timedelta(days=365)
MAX_PAID_PERIOD = timedelta(days=366)
MAX_DESCRIPTION = 350  # Stripe's limit for a balance transaction's description


async def next_attempt(db: Database, tenant_id: uuid.UUID, intent: str) -> int:
    """The attempt a new call of ``intent`` would make: what a confirmation form carries."""
    async with db.tenant_transaction(tenant_id) as session:
        row = await session.scalar(select(BillingIntent).where(BillingIntent.intent == intent))
    if row is None:
        return 1
    return row.attempt + 1 if row.done_at is not None else row.attempt


def refund_intent(invoice_id: str) -> str:
    return f"refund:{invoice_id}"


CREDIT_INTENT = "credit"


@dataclass(frozen=True, slots=True)
class RefundOffer:
    """What the refund page offers: the latest paid invoice, what is left of it to refund,
    and the attempt its form is for."""

    invoice: Invoice
    refundable: Refundable
    attempt: int


async def _still_refundable(provider: BillingProvider, invoice_id: str) -> Refundable:
    refundable = await provider.refundable(invoice_id)
    if refundable.remaining <= 0:
        raise Conflict("This invoice is refunded in full already.")
    return refundable


async def refund_offer(
    db: Database, provider: BillingProvider, billing: TenantBilling
) -> RefundOffer:
    invoice = billing.latest_paid
    if invoice is None:
        raise Conflict("This workspace has no paid invoice to refund.")
    refundable = await _still_refundable(provider, invoice.id)
    attempt = await next_attempt(db, billing.tenant.id, refund_intent(invoice.id))
    return RefundOffer(invoice, refundable, attempt)


@dataclass(frozen=True, slots=True)
class CreditOffer:
    """What the credit page offers: the balance's currency and the attempt of its form."""

    currency: str
    attempt: int


async def credit_offer(
    db: Database, provider: BillingProvider, tenant_id: uuid.UUID
) -> CreditOffer:
    _account, currency = await credit_currency(db, provider, tenant_id)
    return CreditOffer(currency, await next_attempt(db, tenant_id, CREDIT_INTENT))


# --- changing ----------------------------------------------------------------------------------


async def _audited(
    session: AsyncSession,
    action: str,
    tenant_id: uuid.UUID,
    operator_id: uuid.UUID,
    ip: str | None,
    detail: dict[str, Any],
) -> None:
    """The workspace's audit log and the global security log, in the action's transaction."""
    await audit.record(
        session,
        action,
        actor_id=operator_id,
        subject_type=TENANT_SUBJECT,
        subject_id=tenant_id,
        detail=detail,
        ip=ip,
    )
    session.add(
        SecurityEvent(
            action=action,
            user_id=operator_id,
            ip=ip,
            detail={"tenant_id": str(tenant_id), **detail},
        )
    )


async def _locked_workspace(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    """The workspace, locked: one operator change to its billing at a time."""
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise NotFound("No workspace {id}.", id=str(tenant_id))
    return tenant


def _known_module(registry: ModuleRegistry, module_key: str) -> None:
    if module_key not in registry.modules:
        raise NotFound("There is no module {module}.", module=module_key)


def _amount(amount: Decimal, currency: str, *, at_most: Decimal = MAX_AMOUNT) -> Decimal:
    """A positive amount in the currency's decimals, at most ``at_most``."""
    if amount <= 0:
        raise ValidationFailed("Enter an amount above zero.", field="amount")
    if not has_places(amount, decimals(currency)):
        raise ValidationFailed(
            "{currency} amounts have at most {places} decimals.",
            currency=currency,
            places=decimals(currency),
            field="amount",
        )
    if amount > at_most:
        raise ValidationFailed("Enter at most {limit}.", limit=str(at_most), field="amount")
    return amount


async def extend_trial(
    db: Database,
    registry: ModuleRegistry,
    tenant_id: uuid.UUID,
    module_key: str,
    *,
    until: datetime,
    operator_id: uuid.UUID,
    ip: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Let the workspace's billing trial of ``module_key`` run until ``until``; returns the
    modules extended (the module, then what came along on its trial)."""
    _known_module(registry, module_key)
    now = now or datetime.now(UTC)
    async with db.tenant_transaction(tenant_id) as session:
        await _locked_workspace(session, tenant_id)
        trial = await session.scalar(
            select(BillingTrial).where(BillingTrial.module_key == module_key).with_for_update()
        )
        row = await module_row(session, module_key)
        if trial is None or row is None or not on_billing_trial(row):
            raise Conflict(
                "{module} is not on a trial: only a trial still unpaid can be extended.",
                module=module_key,
            )
        if until <= max(now, trial.ends_at):
            raise ValidationFailed(
                "The new end must be later than the trial's current end and than now.",
                field="until",
            )
        if until > now + MAX_TRIAL:
            raise ValidationFailed("A trial ends within a year.", field="until")
        along = [
            key
            for key in registry.closure(module_key)
            if key != module_key and await _came_along(session, key, trial)
        ]
        previous = trial.ends_at
        trial.ends_at, trial.ended_at = until, None
        if until - WARN_BEFORE > now:
            trial.warned_at = None  # the owners hear of the new end, three days before it
        ctx = await tenant_context(session, tenant_id)
        access = derive(SubscriptionState("trialing", trial_end=until), now)
        for key in [*along, module_key]:  # dependencies first
            ctx = await apply(session, registry, ctx, key, access)
        await _audited(
            session,
            TRIAL_EXTENDED,
            tenant_id,
            operator_id,
            ip,
            {
                "module": module_key,
                "also": along,
                "until": until.isoformat(),
                "previous_until": previous.isoformat(),
            },
        )
    return [module_key, *along]


async def _came_along(session: AsyncSession, key: str, trial: BillingTrial) -> bool:
    """A dependency still on the trial its dependant brought it on: ending with it, or
    read-only since a trial's end."""
    row = await module_row(session, key)
    return (
        row is not None
        and on_billing_trial(row)
        and (row.read_only_from == trial.ends_at or row.access == READ_ONLY_ACCESS)
    )


async def _account(db: Database, tenant_id: uuid.UUID) -> BillingAccount:
    async with db.tenant_transaction(tenant_id) as session:
        if await session.get(Tenant, tenant_id) is None:
            raise NotFound("No workspace {id}.", id=str(tenant_id))
        account = await state.account(session)
    if account is None or account.stripe_customer_id is None:
        raise Conflict("This workspace has no Stripe customer: it never subscribed.")
    return account


async def cancel_subscription(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    *,
    at_period_end: bool,
    operator_id: uuid.UUID,
    grace_days: int,
    ip: str | None = None,
) -> list[state.Change]:
    """Cancel the workspace's subscription at Stripe (at once, or at the period's end),
    then record what Stripe has; returns the modules whose access changed."""
    account = await _account(db, tenant_id)
    subscription_id = account.stripe_subscription_id
    if subscription_id is None or account.status in state.ENDED:
        raise Conflict("This workspace has no subscription to cancel.")
    if at_period_end and account.cancel_at_period_end:
        raise Conflict("The subscription already ends at the end of its period.")
    intent = f"cancel:{subscription_id}:{'period_end' if at_period_end else 'now'}"
    key = await intents.attempt_key(db, tenant_id, intent)
    await provider.cancel_subscription(subscription_id, at_period_end, key)
    async with db.tenant_transaction(tenant_id) as session:
        ctx = await tenant_context(session, tenant_id)
        changes = await state.refresh(
            session, registry, ctx, provider, subscription_id, grace_days=grace_days
        )
        await intents.finish(session, intent)
        await _audited(
            session,
            SUBSCRIPTION_CANCELED,
            tenant_id,
            operator_id,
            ip,
            {
                "subscription": subscription_id,
                "at_period_end": at_period_end,
                "off": [c.module_key for c in changes if c.after == Level.OFF.value],
            },
        )
    return changes


async def refund(
    db: Database,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    invoice_id: str,
    *,
    amount: Decimal | None,
    attempt: int,
    operator_id: uuid.UUID,
    ip: str | None = None,
) -> str:
    """Refund a paid invoice of the workspace, in full (``amount`` None: what is left) or
    in part; ``attempt`` is the one its form was shown for. Returns the refund's id."""
    account = await _account(db, tenant_id)
    assert account.stripe_customer_id is not None  # _account refuses a workspace without
    invoices = await provider.invoices(account.stripe_customer_id)
    if not any(i.id == invoice_id and is_paid(i) for i in invoices):
        raise NotFound("This workspace has no paid invoice {invoice}.", invoice=invoice_id)
    refundable = await _still_refundable(provider, invoice_id)
    if amount is None:
        amount = refundable.remaining
    else:
        amount = _amount(amount, refundable.currency, at_most=refundable.remaining)
    intent = refund_intent(invoice_id)
    if attempt != await next_attempt(db, tenant_id, intent):  # this form's refund is made
        raise Conflict(
            "This form was sent already and its refund is made: open the page again for another."
        )
    key = await intents.attempt_key(db, tenant_id, intent)
    refund_id = await provider.refund(refundable, amount, key)
    async with db.tenant_transaction(tenant_id) as session:
        await intents.finish(session, intent)
        await _audited(
            session,
            REFUNDED,
            tenant_id,
            operator_id,
            ip,
            {
                "invoice": invoice_id,
                "refund": refund_id,
                "amount": str(amount),
                "currency": refundable.currency,
                "full": amount == refundable.remaining,
            },
        )
    return refund_id


async def credit_currency(
    db: Database, provider: BillingProvider, tenant_id: uuid.UUID
) -> tuple[BillingAccount, str]:
    """The workspace's account and the currency its balance is in: its subscription's
    prices', else its latest invoice's."""
    account = await _account(db, tenant_id)
    async with db.tenant_transaction(tenant_id) as session:
        currency = await session.scalar(
            select(BillingPrice.currency).join(BillingItem).order_by(BillingItem.id).limit(1)
        )
    if currency is None:
        assert account.stripe_customer_id is not None
        invoices = await provider.invoices(account.stripe_customer_id)
        currency = invoices[0].currency if invoices else None
    if currency is None:
        raise Conflict("This workspace has no subscription or invoice: its currency is unknown.")
    return account, currency


async def credit(
    db: Database,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    *,
    amount: Decimal,
    description: str,
    attempt: int,
    operator_id: uuid.UUID,
    ip: str | None = None,
) -> str:
    """Credit ``amount`` to the workspace's customer balance at Stripe (its next invoices
    use it up first); returns the balance transaction's id."""
    account, currency = await credit_currency(db, provider, tenant_id)
    amount = _amount(amount, currency)
    description = description.strip()
    if not description:
        raise ValidationFailed(
            "Say what the credit is for: the customer sees it.", field="description"
        )
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            "A description has at most {limit} characters.",
            limit=MAX_DESCRIPTION,
            field="description",
        )
    if attempt != await next_attempt(db, tenant_id, CREDIT_INTENT):  # this form's credit is made
        raise Conflict(
            "This form was sent already and its credit is made: open the page again for another."
        )
    key = await intents.attempt_key(db, tenant_id, CREDIT_INTENT)
    assert account.stripe_customer_id is not None
    made = await provider.credit(account.stripe_customer_id, amount, currency, description, key)
    async with db.tenant_transaction(tenant_id) as session:
        await intents.finish(session, CREDIT_INTENT)
        await _audited(
            session,
            CREDITED,
            tenant_id,
            operator_id,
            ip,
            {
                "balance_transaction": made,
                "amount": str(amount),
                "currency": currency,
                "description": description,
            },
        )
    return made


def _paid_along(row: TenantModule | None, until: datetime, now: datetime) -> bool:
    """Whether a module the paid one depends on is paid with it: when it is off, would
    stop before ``until``, or is read-only; not when it is on for good already."""
    if row is None or not row.enabled or (row.until is not None and row.until <= now):
        return True
    if row.access == READ_ONLY_ACCESS or row.read_only_from is not None:
        return True
    return row.until is not None and row.until < until


async def record_payment(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    tenant_id: uuid.UUID,
    module_key: str,
    *,
    amount: Decimal,
    currency: str,
    until: datetime,
    operator_id: uuid.UUID,
    ip: str | None = None,
) -> list[str]:
    """The operator was paid outside Atrium: ``module_key`` is on as paid until ``until``
    (it switches off then, as the operator's trials do), with what it needs that would
    stop sooner. Only with the manual provider: with Stripe, payments come through it.
    Returns the modules paid, dependencies first."""
    if provider.external:
        raise Conflict(
            "Payments come through Stripe on this installation: record them there, not here."
        )
    _known_module(registry, module_key)
    currency = check_code(currency)
    amount = _amount(amount, currency)
    now = datetime.now(UTC)
    if until <= now:
        raise ValidationFailed("The paid period ends in the future.", field="until")
    if until > now + MAX_PAID_PERIOD:
        raise ValidationFailed("A paid period ends within a year and a day.", field="until")
    needed = registry.closure(module_key)
    async with db.tenant_transaction(tenant_id) as session:
        await _locked_workspace(session, tenant_id)
        rows = {
            row.module_key: row
            for row in await session.scalars(
                select(TenantModule).where(TenantModule.module_key.in_(needed))
            )
        }
        main = rows.get(module_key)
        if main is not None and main.enabled and main.source == GRANTED:
            raise Conflict("{module} is complimentary: there is nothing to pay.", module=module_key)
        paid = [k for k in needed if k == module_key or _paid_along(rows.get(k), until, now)]
        ctx = await tenant_context(session, tenant_id)
        for key in paid:
            ctx = await apply(session, registry, ctx, key, Access(Level.ON, PAID))
            row = await module_row(session, key)
            assert row is not None  # apply has just written it
            row.until = until
        await session.flush()
        await _audited(
            session,
            PAYMENT_RECORDED,
            tenant_id,
            operator_id,
            ip,
            {
                "module": module_key,
                "also": [k for k in paid if k != module_key],
                "amount": str(amount),
                "currency": currency,
                "until": until.isoformat(),
            },
        )
    return paid
