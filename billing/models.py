"""Billing's tables. ``billing_price`` is global operator data (the price catalogue).

Billing's tables live in core's migration branch (billing is part of the platform, not
a module), so :mod:`core.migrate` imports this file with core's models.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Money
from core.orm import GlobalModel

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
