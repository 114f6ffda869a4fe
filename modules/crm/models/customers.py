"""Customers (a CRM profile on a core party), follow-ups (跟进记录) and the public pool (公海)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import Owned, TenantModel, tenant_ref

#: A customer's lifecycle stage.
LIFECYCLE_STAGES = ("prospect", "customer", "repeat", "churned")
LEVELS = ("A", "B", "C")
FOLLOW_UP_KINDS = ("call", "visit", "meeting", "message", "email")


class Customer(TenantModel):
    """CRM's facts about a customer party. Its owner is the party's (``core_party.owner_id``);
    a customer in the pool has none."""

    __tablename__ = "crm_customer"
    __table_args__ = (
        UniqueConstraint("tenant_id", "party_id"),
        CheckConstraint(f"lifecycle_stage IN {LIFECYCLE_STAGES}", name="lifecycle_stage"),
        CheckConstraint("level IS NULL OR level IN ('A', 'B', 'C')", name="level"),
        Index("ix_crm_customer_pool", "tenant_id", "pooled_at", postgresql_where="in_pool"),
    )

    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", ondelete="CASCADE", index=False)
    lifecycle_stage: Mapped[str] = mapped_column(String(20), default="prospect")
    level: Mapped[str | None] = mapped_column(String(1))
    source: Mapped[str] = mapped_column(String(20), default="manual")
    industry: Mapped[str] = mapped_column(String(100), default="")
    # The public pool: set when nobody owns the customer (released, taken back, never owned).
    in_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    pooled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Why it is in the pool: released (by hand), no_follow_up or no_deal (taken back).
    pool_reason: Mapped[str] = mapped_column(String(30), default="")
    #: What the person who released it wrote.
    pool_note: Mapped[str] = mapped_column(String(500), default="")
    #: When the current owner got it (created it, claimed it, was given it): the take-back
    #: rules count from here at the earliest.
    owned_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Kept by follow-ups and won deals, for the pool's take-back rules.
    last_follow_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_won_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the owner was told the customer goes back to the pool (once per warning).
    pool_notice_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FollowUp(Owned, TenantModel):
    """A call, visit, meeting, message or e-mail with a customer; ``owner_id`` is who did it.
    ``next_on`` becomes a reminder (a core activity) for the customer's owner."""

    __tablename__ = "crm_follow_up"
    __table_args__ = (
        CheckConstraint(f"kind IN {FOLLOW_UP_KINDS}", name="kind"),
        Index("ix_crm_follow_up_party", "tenant_id", "party_id", "happened_at"),
    )

    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", ondelete="CASCADE", index=False)
    contact_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    opportunity_id: Mapped[uuid.UUID | None] = tenant_ref("crm_opportunity", nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text)
    happened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_on: Mapped[date | None] = mapped_column(Date)
    next_activity_id: Mapped[uuid.UUID | None] = tenant_ref("core_activity", nullable=True)


class PoolSettings(TenantModel):
    """The tenant's public-pool rules (one row): when customers go back, and claim limits."""

    __tablename__ = "crm_pool_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("no_follow_up_days IS NULL OR no_follow_up_days > 0", name="follow_up"),
        CheckConstraint("no_deal_days IS NULL OR no_deal_days > 0", name="deal"),
        CheckConstraint("notice_days >= 0 AND claim_limit >= 0", name="limits"),
    )

    no_follow_up_days: Mapped[int | None] = mapped_column(Integer, default=30)
    no_deal_days: Mapped[int | None] = mapped_column(Integer, default=90)
    notice_days: Mapped[int] = mapped_column(Integer, default=3)
    #: The most customers one salesperson may own (客户拥有上限): a claim beyond it is refused.
    claim_limit: Mapped[int] = mapped_column(Integer, default=50)
