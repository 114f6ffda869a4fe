"""Leads (线索) and how they reach a salesperson: sales teams, assignment rules, web forms."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
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

from core.orm import Owned, TenantModel, tenant_ref

#: A lead's life: new → contacted → qualified → converted, or disqualified on the way.
LEAD_STATUSES = ("new", "contacted", "qualified", "converted", "disqualified")
#: Where leads come from; a tenant's rules and reports group by these.
LEAD_SOURCES = ("manual", "web_form", "import", "referral", "exhibition", "advertising", "other")


class SalesTeam(TenantModel):
    """A group of salespeople that leads are shared among (round-robin)."""

    __tablename__ = "crm_sales_team"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[uuid.UUID | None] = tenant_ref("core_department", nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SalesTeamMember(TenantModel):
    """A salesperson in a team, with the most leads a day the rules may give them."""

    __tablename__ = "crm_sales_team_member"
    __table_args__ = (
        UniqueConstraint("tenant_id", "team_id", "user_id"),
        CheckConstraint("daily_cap IS NULL OR daily_cap >= 0", name="daily_cap"),
    )

    team_id: Mapped[uuid.UUID] = tenant_ref("crm_sales_team", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # None: no cap
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: When the round-robin last gave this member a lead: the next goes to the longest idle.
    last_assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: How many leads the rules gave this member on ``assigned_on`` (a UTC day): the count
    #: the daily cap is held against, kept on the row the round-robin locks.
    assigned_on: Mapped[date | None] = mapped_column(Date)
    assigned_today: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AssignmentRule(TenantModel):
    """Which team a new lead goes to: the first active rule, by ``priority``, whose
    source and region (each optional) match the lead."""

    __tablename__ = "crm_assignment_rule"

    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    source: Mapped[str | None] = mapped_column(String(20))
    region: Mapped[str | None] = mapped_column(String(100))
    team_id: Mapped[uuid.UUID] = tenant_ref("crm_sales_team", ondelete="CASCADE")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class WebForm(TenantModel):
    """A public web-to-lead form a tenant embeds on its site, found by its key."""

    __tablename__ = "crm_web_form"
    __table_args__ = (UniqueConstraint("form_key"),)

    name: Mapped[str] = mapped_column(String(100))
    #: Unguessable and unique across Atrium: the public URL names only the key.
    form_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20), default="web_form")
    team_id: Mapped[uuid.UUID | None] = tenant_ref("crm_sales_team", nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Lead(Owned, TenantModel):
    """Someone who may buy, not yet a customer. ``owner_id`` is the salesperson working it."""

    __tablename__ = "crm_lead"
    __table_args__ = (
        CheckConstraint(f"status IN {LEAD_STATUSES}", name="status"),
        UniqueConstraint("tenant_id", "number"),
        Index("ix_crm_lead_tenant_id_status_id", "tenant_id", "status", "id"),
        Index("ix_crm_lead_tenant_id_owner_id_id", "tenant_id", "owner_id", "id"),
        Index("ix_crm_lead_tenant_id_email", "tenant_id", "email_normalised"),
        Index("ix_crm_lead_tenant_id_phone", "tenant_id", "phone_normalised"),
        Index("ix_crm_lead_tenant_id_company", "tenant_id", "company_normalised"),
    )

    number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))  # the person
    company_name: Mapped[str] = mapped_column(String(200), default="")
    #: The company's name as duplicates are compared (core.parties.normalise.normalise_name).
    company_normalised: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(100), default="")  # their job title
    email: Mapped[str] = mapped_column(String(320), default="")
    email_normalised: Mapped[str] = mapped_column(String(320), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    phone_normalised: Mapped[str] = mapped_column(String(50), default="")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    region: Mapped[str] = mapped_column(String(100), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="new")
    disqualified_reason: Mapped[str] = mapped_column(String(500), default="")
    team_id: Mapped[uuid.UUID | None] = tenant_ref("crm_sales_team", nullable=True)
    web_form_id: Mapped[uuid.UUID | None] = tenant_ref("crm_web_form", nullable=True)
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What conversion made, so the lead's page leads on to them (its opportunity points
    # back with ``crm_opportunity.lead_id``).
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    customer_party_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    contact_party_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
