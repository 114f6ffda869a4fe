"""Billing's tables.

Global (operator data): ``billing_price`` (the catalogue), ``billing_webhook_event`` (every
Stripe event, stored once by its id), ``billing_reconcile_run``, ``billing_repair`` and
``billing_revenue_snapshot`` (reconciliation's runs, what they repaired, the revenue they
found). A workspace's (``tenant_id``, RLS):
``billing_trial`` (one per module, ever), ``billing_account`` (its Stripe customer and its
one subscription), ``billing_item`` (one per paid module), ``billing_intent`` (the attempt
counter every Stripe write's idempotency key is derived from).

Billing's tables live in core's migration branch (billing is part of the platform, not
a module), so :mod:`core.migrate` imports this file with core's models.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Money
from core.orm import GlobalModel, TenantModel

MONTH, YEAR = "month", "year"
INTERVALS = (MONTH, YEAR)
MAX_TRIAL_DAYS = 365


class BillingPrice(GlobalModel):
    """One version of a module's price for one interval; never edited in place.

    A change is a new row with the next ``version`` and the previous one made inactive,
    so new subscriptions take the new price and existing ones keep the Stripe price they
    were made with. ``lookup_key`` (``atrium.<module>.<interval>.v<version>``) is what
    finds the row's Stripe Price again; the Stripe ids are empty until it is synced.
    """

    __tablename__ = "billing_price"
    __table_args__ = (
        # One current price per module and interval; older versions stay as history.
        Index(
            "uq_billing_price_active_module_key_interval",
            "module_key",
            "interval",
            unique=True,
            postgresql_where=text("active"),
        ),
        CheckConstraint("interval IN ('month', 'year')", name="interval"),
        CheckConstraint("unit_amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint(f"trial_days BETWEEN 0 AND {MAX_TRIAL_DAYS}", name="trial_days"),
        CheckConstraint("version > 0", name="version_positive"),
    )

    module_key: Mapped[str] = mapped_column(String(31))
    interval: Mapped[str] = mapped_column(String(5))
    currency: Mapped[str] = mapped_column(String(3))
    unit_amount: Mapped[Decimal] = mapped_column(Money)
    per_member: Mapped[bool] = mapped_column(Boolean, default=False)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Unique: it spells module, interval and version, so no version repeats.
    lookup_key: Mapped[str] = mapped_column(String(100), unique=True)
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_id: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))

    @property
    def synced(self) -> bool:
        return self.stripe_price_id is not None


class BillingTrial(TenantModel):
    """A workspace's free trial of one module: at most one per module, ever.

    ``UNIQUE (tenant_id, module_key)`` is the rule itself, so two owners starting the same
    trial at once make one trial and one refusal. The module's access (on until
    ``ends_at``, read-only from it) is in ``core_tenant_module``, written by
    :mod:`billing.entitlements`; this row is the history the daily job works from:
    ``warned_at`` once the owners are told the end is near, ``ended_at`` once the end is
    noted.
    """

    __tablename__ = "billing_trial"
    __table_args__ = (
        UniqueConstraint("tenant_id", "module_key"),
        CheckConstraint("ends_at > started_at", name="ends_after_start"),
    )

    module_key: Mapped[str] = mapped_column(String(31))
    started_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingAccount(TenantModel):
    """A workspace's billing: its one Stripe customer and its one subscription.

    One row per workspace (``UNIQUE (tenant_id)``), made when first needed. The
    subscription fields are a copy of Stripe's current subscription object, written only
    by :func:`billing.state.record` (from a webhook, the return from Checkout, or the
    reconciliation job), which locks this row first: the one place a tenant's billing
    changes is serialised by it.
    """

    __tablename__ = "billing_account"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("interval IN ('month', 'year')", name="interval"),
    )

    interval: Mapped[str] = mapped_column(String(5), default=MONTH)  # chosen per tenant
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str | None] = mapped_column(String(31))  # Stripe's subscription status
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    past_due_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Dunning: the last failed payment not yet followed by a success.
    payment_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_action_url: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingItem(TenantModel):
    """One paid module in the workspace's subscription (a Stripe subscription item).

    ``ends_at`` is set when the module is removed: it stays on until then (the period's
    end) and is taken out of the subscription at that moment.
    """

    __tablename__ = "billing_item"
    __table_args__ = (
        UniqueConstraint("tenant_id", "module_key"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    module_key: Mapped[str] = mapped_column(String(31))
    price_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_price.id"))
    stripe_item_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingIntent(TenantModel):
    """The attempt counter of one intent (``add:crm``, ``quantity:crm``, ...).

    A Stripe write's idempotency key is ``sha256(tenant, intent, attempt)``. The attempt
    is committed before the call and marked done after ours commits: a retry after a
    crash between Stripe's answer and our commit finds it not done and sends the same
    key (Stripe answers what it answered before); a new, deliberate attempt of a done
    intent takes the next number.
    """

    __tablename__ = "billing_intent"
    __table_args__ = (
        UniqueConstraint("tenant_id", "intent"),
        CheckConstraint("attempt > 0", name="attempt_positive"),
    )

    intent: Mapped[str] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BillingWebhookEvent(GlobalModel):
    """A Stripe event we received, stored once by its id (``stripe_event_id`` unique): a
    duplicate delivery hits the key and does nothing. Inserted in the transaction that
    handles it, so a crash stores nothing and Stripe's retry handles it again."""

    __tablename__ = "billing_webhook_event"

    stripe_event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    stripe_created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Not ``tenant_id``: this is a global table; the workspace the event was for, if any.
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_tenant.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(31))  # handled, ignored
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)


class BillingReconcileRun(GlobalModel):
    """One run of the reconciliation job (:mod:`billing.reconcile`): how many workspaces
    it compared with Stripe, how many repairs it made and how many checks failed."""

    __tablename__ = "billing_reconcile_run"

    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked: Mapped[int] = mapped_column(Integer, default=0)
    repaired: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)


class BillingRepair(GlobalModel):
    """One thing a reconciliation run changed in a workspace (or a check it could not make),
    for the operator: global, since the operator reads every workspace's at once.

    ``aspect`` says what was repaired (``access``, ``item``, ``status``, ``subscription``,
    ``period_end``, ``cancel_at_period_end``; ``check`` for a failed check, its message in
    ``detail``), ``reason`` why (``stripe_differs``, ``subscription_missing``,
    ``no_subscription``, ``check_failed``).
    """

    __tablename__ = "billing_repair"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billing_reconcile_run.id", ondelete="CASCADE"), index=True
    )
    # Not ``tenant_id``: this is a global table; the workspace repaired.
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_tenant.id", ondelete="SET NULL"), index=True
    )
    module_key: Mapped[str | None] = mapped_column(String(31))
    aspect: Mapped[str] = mapped_column(String(31))
    before: Mapped[str | None] = mapped_column(String(255))
    after: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(31))
    detail: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)


class BillingRevenueSnapshot(GlobalModel):
    """Monthly recurring revenue in one currency as a reconciliation run found it: the
    console's "change against 30 days ago" compares today's figure with these."""

    __tablename__ = "billing_revenue_snapshot"
    __table_args__ = (UniqueConstraint("run_id", "currency"),)

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("billing_reconcile_run.id", ondelete="CASCADE")
    )
    currency: Mapped[str] = mapped_column(String(3))
    mrr: Mapped[Decimal] = mapped_column(Money)
    subscriptions: Mapped[int] = mapped_column(Integer)  # workspaces paying in it
