"""OA approval forms (审批表单): a form's definition (its fields, saved as versions) and the
requests filed on it. A request keeps the version it was filed under, so an old request
still renders after the form was edited."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref

REQUEST_STATUSES = ("pending", "approved", "rejected", "withdrawn")


class Form(TenantModel):
    """A form of the workspace; ``builtin_key`` names the built-in form it is (else custom).
    ``version`` is its current version (``FormVersion``)."""

    __tablename__ = "oa_form"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "builtin_key"),
    )

    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin_key: Mapped[str | None] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer, default=1)


class FormVersion(TenantModel):
    """One saved version of a form's fields: never changed once written."""

    __tablename__ = "oa_form_version"
    __table_args__ = (UniqueConstraint("tenant_id", "form_id", "version"),)

    form_id: Mapped[uuid.UUID] = tenant_ref("oa_form", ondelete="CASCADE", index=False)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("core_user.id"))


class FormRequest(TenantModel):
    """A request filed on a form: its values (JSON, as ``services/form_requests`` stores
    them), the approval request it started, and the decision's status as a mirror."""

    __tablename__ = "oa_form_request"
    __table_args__ = (
        CheckConstraint(f"status IN {REQUEST_STATUSES}", name="status"),
        ForeignKeyConstraint(
            ["tenant_id", "form_id", "form_version"],
            ["oa_form_version.tenant_id", "oa_form_version.form_id", "oa_form_version.version"],
            name="fk_oa_form_request_form_version",
        ),
        Index("ix_oa_form_request_requester", "tenant_id", "requester_id"),
    )

    form_id: Mapped[uuid.UUID] = tenant_ref("oa_form")
    form_version: Mapped[int] = mapped_column(Integer)
    requester_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    title: Mapped[str] = mapped_column(String(200))
    values: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    approval_request_id: Mapped[uuid.UUID | None] = tenant_ref(
        "core_approval_request", nullable=True, index=False
    )
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
