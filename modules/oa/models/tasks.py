"""OA tasks (任务): a piece of work assigned to a member, with a due date, a priority and a
status; one level of subtasks under a task; optionally linked to the record it was created
from (any record type, ``core.records``). Comments live on the task's own timeline
(``core.records.timeline``, record type ``oa.task``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref
from core.records.models import RECORD_TYPE_LENGTH

TASK_STATUSES = ("todo", "in_progress", "done", "canceled")
OPEN_STATUSES = ("todo", "in_progress")
TASK_PRIORITIES = ("low", "normal", "high", "urgent")


class Task(TenantModel):
    """A task; ``parent_id`` makes it a subtask (of a task that is not one itself)."""

    __tablename__ = "oa_task"
    __table_args__ = (
        CheckConstraint(f"status IN {TASK_STATUSES}", name="status"),
        CheckConstraint(f"priority IN {TASK_PRIORITIES}", name="priority"),
        CheckConstraint("(record_type IS NULL) = (record_id IS NULL)", name="record"),
        Index("ix_oa_task_assignee", "tenant_id", "assignee_id", "status", "due_on"),
        Index("ix_oa_task_creator", "tenant_id", "creator_id", "status"),
        Index("ix_oa_task_record", "tenant_id", "record_type", "record_id"),
        Index(
            "ix_oa_task_due",
            "tenant_id",
            "due_on",
            postgresql_where="status IN ('todo', 'in_progress')",
        ),
    )

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    creator_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    due_on: Mapped[date | None] = mapped_column(Date)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(12), default="todo")
    parent_id: Mapped[uuid.UUID | None] = tenant_ref("oa_task", nullable=True, ondelete="CASCADE")
    # The record the task was created from (a party, a lead...), by type and id as the
    # timeline addresses records: no foreign key, the record may live in any module.
    record_type: Mapped[str | None] = mapped_column(String(RECORD_TYPE_LENGTH))
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The day the due-today reminder went out: the daily job reminds each task once a day.
    reminded_on: Mapped[date | None] = mapped_column(Date)
    # Every change bumps it (SQLAlchemy checks it in the UPDATE); an edit made on an older
    # version is refused with 409 (services/tasks.py), so nobody overwrites unseen work.
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}
