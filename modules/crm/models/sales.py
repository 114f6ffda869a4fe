"""Pipelines and their stages, opportunities (商机) with product lines, quotes (报价) with
revisions and lines. Amounts are numeric(18,2), quantities numeric(18,4)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import Owned, TenantModel, tenant_ref, tenant_relationship

STAGE_KINDS = ("open", "won", "lost")
OPPORTUNITY_STATUSES = ("open", "won", "lost")
QUOTE_STATUSES = ("draft", "sent", "accepted", "rejected", "superseded")
MONEY = Numeric(18, 2)
QUANTITY = Numeric(18, 4)
PERCENT = Numeric(5, 2)


class Pipeline(TenantModel):
    """A sales process with its stages; a tenant may run several (new business, renewals)."""

    __tablename__ = "crm_pipeline"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        # One default pipeline per workspace, whatever two settings pages do at once.
        Index("uq_crm_pipeline_default", "tenant_id", unique=True, postgresql_where="is_default"),
    )

    name: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    stages: Mapped[list[Stage]] = tenant_relationship(
        "Stage", "Stage.pipeline_id", order_by="Stage.sequence"
    )


class Stage(TenantModel):
    """A step of a pipeline with the chance that a deal there is won (weighted forecast)."""

    __tablename__ = "crm_stage"
    __table_args__ = (
        UniqueConstraint("tenant_id", "pipeline_id", "name"),
        CheckConstraint(f"kind IN {STAGE_KINDS}", name="kind"),
        CheckConstraint("probability >= 0 AND probability <= 100", name="probability"),
    )

    pipeline_id: Mapped[uuid.UUID] = tenant_ref("crm_pipeline", ondelete="CASCADE")
    name: Mapped[str] = mapped_column(String(100))
    sequence: Mapped[int] = mapped_column(Integer)
    probability: Mapped[Decimal] = mapped_column(PERCENT)  # percent, 0 to 100
    kind: Mapped[str] = mapped_column(String(10), default="open")


class Opportunity(Owned, TenantModel):
    """A deal being worked with a customer; ``owner_id`` is the salesperson."""

    __tablename__ = "crm_opportunity"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        CheckConstraint(f"status IN {OPPORTUNITY_STATUSES}", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_crm_opportunity_board", "tenant_id", "pipeline_id", "stage_id", "id"),
        Index("ix_crm_opportunity_tenant_id_owner_id_id", "tenant_id", "owner_id", "id"),
        Index("ix_crm_opportunity_close", "tenant_id", "status", "expected_close_on"),
    )

    number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    party_id: Mapped[uuid.UUID] = tenant_ref("core_party")
    contact_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    pipeline_id: Mapped[uuid.UUID] = tenant_ref("crm_pipeline", index=False)
    stage_id: Mapped[uuid.UUID] = tenant_ref("crm_stage")
    amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3))
    expected_close_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str] = mapped_column(String(500), default="")  # why won or lost
    lead_id: Mapped[uuid.UUID | None] = tenant_ref("crm_lead", nullable=True)
    # Every change bumps it (SQLAlchemy checks it in the UPDATE); an edit made on an older
    # version is refused (services/opportunities.py), so nobody overwrites unseen work.
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}
    lines: Mapped[list[OpportunityLine]] = tenant_relationship(
        "OpportunityLine", "OpportunityLine.opportunity_id", order_by="OpportunityLine.sequence"
    )


class OpportunityLine(TenantModel):
    """A product the customer may buy in the deal, at an expected price."""

    __tablename__ = "crm_opportunity_line"
    __table_args__ = (CheckConstraint("quantity > 0 AND unit_price >= 0", name="line"),)

    opportunity_id: Mapped[uuid.UUID] = tenant_ref("crm_opportunity", ondelete="CASCADE")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[uuid.UUID] = tenant_ref("core_product")
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)


class Quote(Owned, TenantModel):
    """An offer to a customer. A revision is a new row with the same ``number`` and the
    next ``revision``; the one it replaces becomes ``superseded``."""

    __tablename__ = "crm_quote"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number", "revision"),
        CheckConstraint(f"status IN {QUOTE_STATUSES}", name="status"),
        CheckConstraint("revision >= 1", name="revision"),
        Index("ix_crm_quote_opportunity", "tenant_id", "opportunity_id"),
        # One live revision per quote number: revising twice at once cannot leave two.
        Index(
            "uq_crm_quote_live_revision",
            "tenant_id",
            "number",
            unique=True,
            postgresql_where="status <> 'superseded'",
        ),
    )

    number: Mapped[str] = mapped_column(String(40))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    party_id: Mapped[uuid.UUID] = tenant_ref("core_party")
    contact_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    opportunity_id: Mapped[uuid.UUID | None] = tenant_ref(
        "crm_opportunity", nullable=True, index=False
    )
    status: Mapped[str] = mapped_column(String(20), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    valid_until: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Totals, computed from the lines in Decimal when the quote is saved.
    subtotal: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    discount_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    tax_total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lines: Mapped[list[QuoteLine]] = tenant_relationship(
        "QuoteLine", "QuoteLine.quote_id", order_by="QuoteLine.sequence"
    )


class QuoteLine(TenantModel):
    """A product at a quantity, unit price, discount and tax; amounts kept as computed."""

    __tablename__ = "crm_quote_line"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND unit_price >= 0", name="line"),
        CheckConstraint("discount_percent >= 0 AND discount_percent <= 100", name="discount"),
    )

    quote_id: Mapped[uuid.UUID] = tenant_ref("crm_quote", ondelete="CASCADE")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[uuid.UUID] = tenant_ref("core_product")
    description: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(MONEY)
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0"))
    tax_rate_id: Mapped[uuid.UUID | None] = tenant_ref("core_tax_rate", nullable=True)
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4), default=Decimal("0"))  # 0.13
    net_amount: Mapped[Decimal] = mapped_column(MONEY)  # after discount, before tax
    tax_amount: Mapped[Decimal] = mapped_column(MONEY)
