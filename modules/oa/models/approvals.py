"""OA approvals: flow templates per approval kind with their versions, and the running
instances with their approvers' tasks and their timeline of actions.

A version's ``steps`` is the flow as the admin wrote it (who approves, how, under which
condition); an instance keeps the resolved plan it started with (``plan``: the steps that
apply and their people), so editing the flow never changes a running approval.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

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
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref

MISSING_POLICIES = ("skip", "admins")
INSTANCE_STATUSES = ("pending", "returned", "approved", "rejected", "withdrawn")
TASK_STATUSES = ("pending", "approved", "rejected", "cancelled", "transferred", "copied")


class ApprovalFlow(TenantModel):
    """The flow template of one approval kind; ``version`` is its current version."""

    __tablename__ = "oa_approval_flow"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)

    kind: Mapped[str] = mapped_column(String(63))
    version: Mapped[int] = mapped_column(Integer, default=0)


class ApprovalFlowVersion(TenantModel):
    """One saved version of a flow: never changed once written."""

    __tablename__ = "oa_approval_flow_version"
    __table_args__ = (
        UniqueConstraint("tenant_id", "flow_id", "version"),
        CheckConstraint(f"missing_approver IN {MISSING_POLICIES}", name="missing_approver"),
    )

    flow_id: Mapped[uuid.UUID] = tenant_ref("oa_approval_flow", ondelete="CASCADE", index=False)
    version: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    cc_ids: Mapped[list[str]] = mapped_column(JSONB, default=list)
    missing_approver: Mapped[str] = mapped_column(String(10), default="admins")
    auto_approve_repeat: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))


class ApprovalInstance(TenantModel):
    """An approval running for one core request (``core_approval_request``), step by step."""

    __tablename__ = "oa_approval_instance"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_id"),
        CheckConstraint(f"status IN {INSTANCE_STATUSES}", name="status"),
        Index("ix_oa_approval_instance_requester", "tenant_id", "requester_id", "id"),
    )

    # The unique key (tenant_id, request_id) is the foreign key's index.
    request_id: Mapped[uuid.UUID] = tenant_ref("core_approval_request", index=False)
    flow_version_id: Mapped[uuid.UUID | None] = tenant_ref(
        "oa_approval_flow_version", nullable=True
    )
    kind: Mapped[str] = mapped_column(String(63))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    urged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApprovalTask(TenantModel):
    """One person's part in a step (``role`` approve), or a copy sent to them (``cc``)."""

    __tablename__ = "oa_approval_task"
    __table_args__ = (
        CheckConstraint(f"status IN {TASK_STATUSES}", name="status"),
        CheckConstraint("role IN ('approve', 'cc')", name="role"),
        Index("ix_oa_approval_task_inbox", "tenant_id", "assignee_id", "status"),
        # One open task per person and step: a double click never makes two.
        Index(
            "uq_oa_approval_task_open",
            "tenant_id",
            "instance_id",
            "step",
            "assignee_id",
            unique=True,
            postgresql_where="status = 'pending'",
        ),
    )

    instance_id: Mapped[uuid.UUID] = tenant_ref("oa_approval_instance", ondelete="CASCADE")
    step: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(10), default="approve")
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When its approver was reminded that it waits (once per task: a step asked again is a
    # new task); see services/approval_reminders.py.
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApprovalAction(TenantModel):
    """One line of an instance's timeline: who did what, at which step, with what comment."""

    __tablename__ = "oa_approval_action"
    __table_args__ = (Index("ix_oa_approval_action_instance", "tenant_id", "instance_id", "id"),)

    instance_id: Mapped[uuid.UUID] = tenant_ref(
        "oa_approval_instance", ondelete="CASCADE", index=False
    )
    action: Mapped[str] = mapped_column(String(20))
    step: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    target_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ApprovalDelegation(TenantModel):
    """While ``user_id`` is away (``starts_on``..``ends_on``), their new tasks go to
    ``delegate_id`` (委托)."""

    __tablename__ = "oa_approval_delegation"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="dates"),
        CheckConstraint("user_id <> delegate_id", name="not_self"),
        Index("ix_oa_approval_delegation_user", "tenant_id", "user_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    delegate_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)


# --- the workspace's approval settings -------------------------------------------------------


class ApprovalSettings(TenantModel):
    """The workspace's approval settings (one row, made when an admin first saves them):
    after how many hours a waiting step reminds its approver (0: never), and how often
    again while it still waits (0: once)."""

    __tablename__ = "oa_approval_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("remind_after_hours BETWEEN 0 AND 720", name="remind_after_hours"),
        CheckConstraint("remind_every_hours BETWEEN 0 AND 720", name="remind_every_hours"),
    )

    remind_after_hours: Mapped[int] = mapped_column(Integer, default=24)
    remind_every_hours: Mapped[int] = mapped_column(Integer, default=0)
