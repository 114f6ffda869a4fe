"""Billing's tables. ``billing_price`` is global operator data (the price catalogue);
``billing_trial`` is a workspace's (its trials, one per module ever).

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
    UniqueConstraint,
    text,
)
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
