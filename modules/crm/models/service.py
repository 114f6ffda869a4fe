"""Service tickets (工单): a customer's problem, its priority and SLA, who works on it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import Owned, TenantModel, tenant_ref

PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")


class Ticket(Owned, TenantModel):
    """``owner_id`` is the assignee; the conversation is the ticket's core timeline."""

    __tablename__ = "crm_ticket"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        CheckConstraint(f"priority IN {PRIORITIES}", name="priority"),
        CheckConstraint(f"status IN {TICKET_STATUSES}", name="status"),
        Index(
            "ix_crm_ticket_due",
            "tenant_id",
            "sla_due_at",
            postgresql_where="status IN ('open', 'in_progress')",
        ),
        Index("ix_crm_ticket_party", "tenant_id", "party_id"),
    )

    number: Mapped[str] = mapped_column(String(40))
    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", index=False)
    contact_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(20), default="open")
    sla_due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
