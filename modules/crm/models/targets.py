"""Monthly sales targets (业绩目标) per salesperson or per team."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref
from modules.crm.models.sales import MONEY


class Target(TenantModel):
    """What a salesperson (``user_id``) or a team (``team_id``) should sign in a month
    (``month`` is its first day). Attainment is read from signed contracts."""

    __tablename__ = "crm_target"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_holder"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("EXTRACT(DAY FROM month) = 1", name="first_of_month"),
        Index(
            "uq_crm_target_user_month",
            "tenant_id",
            "user_id",
            "month",
            unique=True,
            postgresql_where="user_id IS NOT NULL",
        ),
        Index(
            "uq_crm_target_team_month",
            "tenant_id",
            "team_id",
            "month",
            unique=True,
            postgresql_where="team_id IS NOT NULL",
        ),
    )

    month: Mapped[date] = mapped_column(Date)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("core_user.id"))
    team_id: Mapped[uuid.UUID | None] = tenant_ref("crm_sales_team", nullable=True, index=False)
    amount: Mapped[Decimal] = mapped_column(MONEY)
