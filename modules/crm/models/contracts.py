"""Contracts (合同), their payment plans of installments (回款计划) and payments (回款)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import Owned, TenantModel, tenant_ref, tenant_relationship
from modules.crm.models.sales import MONEY, PERCENT

#: draft → pending_approval → approved → signed → completed, or terminated; a rejected
#: approval sends the contract back to draft.
CONTRACT_STATUSES = ("draft", "pending_approval", "approved", "signed", "completed", "terminated")
PAYMENT_SOURCES = ("manual", "finance")


class Contract(Owned, TenantModel):
    """A signed (or to be signed) agreement with a customer; ``owner_id`` is the salesperson."""

    __tablename__ = "crm_contract"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        CheckConstraint(f"status IN {CONTRACT_STATUSES}", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("discount_percent >= 0 AND discount_percent <= 100", name="discount"),
        Index("ix_crm_contract_party", "tenant_id", "party_id"),
        # Targets read what was signed in a month.
        Index("ix_crm_contract_signed", "tenant_id", "signed_on"),
        # One live contract per quote: a second is refused until the first is terminated.
        Index(
            "uq_crm_contract_quote",
            "tenant_id",
            "quote_id",
            unique=True,
            postgresql_where="quote_id IS NOT NULL AND status <> 'terminated'",
        ),
    )

    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", index=False)
    contact_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    quote_id: Mapped[uuid.UUID | None] = tenant_ref("crm_quote", nullable=True)
    opportunity_id: Mapped[uuid.UUID | None] = tenant_ref("crm_opportunity", nullable=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    #: The discount off list prices (from the quote, or typed): an approval rule tests it.
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    signed_on: Mapped[date | None] = mapped_column(Date)
    #: ``amount`` in the workspace's base currency at the signing day's rate: what targets add.
    base_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    terms: Mapped[str] = mapped_column(Text, default="")
    approval_request_id: Mapped[uuid.UUID | None] = tenant_ref(
        "core_approval_request", nullable=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_reason: Mapped[str] = mapped_column(String(500), default="")
    installments: Mapped[list[Installment]] = tenant_relationship(
        "Installment", "Installment.contract_id", order_by="Installment.sequence"
    )


class Installment(TenantModel):
    """One planned payment of a contract: an amount due on a day; ``paid_amount`` is kept
    by the payments recorded against it."""

    __tablename__ = "crm_installment"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contract_id", "sequence"),
        # Never paid beyond its amount, whatever the services do.
        CheckConstraint(
            "amount > 0 AND paid_amount >= 0 AND paid_amount <= amount", name="amounts"
        ),
        Index("ix_crm_installment_due", "tenant_id", "due_on"),
    )

    contract_id: Mapped[uuid.UUID] = tenant_ref("crm_contract", ondelete="CASCADE", index=False)
    sequence: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    paid_amount: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    #: When the contract's owner was told it is overdue: once per installment.
    overdue_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Payment(TenantModel):
    """Money received against an installment: typed in CRM, or taken from Finance's payment
    event (``source`` = finance, ``external_id`` its payment, unique: once per payment)."""

    __tablename__ = "crm_payment"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint(f"source IN {PAYMENT_SOURCES}", name="source"),
        UniqueConstraint("tenant_id", "source", "external_id"),
        Index("ix_crm_payment_contract", "tenant_id", "contract_id", "received_on"),
    )

    contract_id: Mapped[uuid.UUID] = tenant_ref("crm_contract", index=False)
    installment_id: Mapped[uuid.UUID | None] = tenant_ref("crm_installment", nullable=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    received_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(30), default="")  # bank transfer, cash, ...
    reference: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(10), default="manual")
    external_id: Mapped[str | None] = mapped_column(String(100))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("core_user.id"))
