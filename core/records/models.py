"""What hangs off any record: attachments, timeline entries, mentions, activities, notifications.

A record is addressed by ``(record_type, record_id)``: ``("crm.lead", <uuid>)``. There is
no foreign key to the record (it may live in any module's table, like Odoo's
``res_model``/``res_id``); the module that owns the record checks that it exists and
that the actor may see it before it lists or adds anything here.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.errors import ValidationFailed
from core.orm import TenantModel, tenant_ref

RECORD_TYPE_LENGTH = 63


class Attachment(TenantModel):
    """A file on a record. The bytes live in the file store under ``storage_key``."""

    __tablename__ = "core_attachment"
    __table_args__ = (
        Index("ix_core_attachment_record", "tenant_id", "record_type", "record_id"),
        UniqueConstraint("tenant_id", "storage_key"),  # one row per stored file
    )

    record_type: Mapped[str] = mapped_column(String(RECORD_TYPE_LENGTH))
    record_id: Mapped[uuid.UUID]
    file_name: Mapped[str] = mapped_column(String(255))  # for display only, sanitised
    content_type: Mapped[str] = mapped_column(String(127))  # detected from the bytes
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))


class TimelineEntry(TenantModel):
    """One line in a record's history: a comment, tracked field changes, or an activity done.

    ``changes`` lists ``{"field", "label", "from", "to"}`` with the values rendered
    as strings (or null), so the history reads the same after the record changes again.
    """

    __tablename__ = "core_timeline_entry"
    __table_args__ = (
        Index("ix_core_timeline_entry_record", "tenant_id", "record_type", "record_id", "id"),
        CheckConstraint("kind IN ('comment', 'change', 'activity')", name="kind"),
    )

    record_type: Mapped[str] = mapped_column(String(RECORD_TYPE_LENGTH))
    record_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    body: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    activity_id: Mapped[uuid.UUID | None] = tenant_ref("core_activity", nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Mention(TenantModel):
    """A member mentioned in a comment: makes "where was I mentioned" one indexed query."""

    __tablename__ = "core_mention"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entry_id", "user_id"),
        Index("ix_core_mention_user", "tenant_id", "user_id", "entry_id"),
    )

    # The unique (tenant_id, entry_id, user_id) key serves as the FK's index.
    entry_id: Mapped[uuid.UUID] = tenant_ref("core_timeline_entry", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))


class Activity(TenantModel):
    """A planned call, meeting, to-do or e-mail on a record, assigned to a member, due on a day.

    ``reminded_at`` is set once, when the assignee's local date reaches ``due_on``
    (:func:`core.records.timeline.remind_due_activities`); ``done_at`` closes it.
    """

    __tablename__ = "core_activity"
    __table_args__ = (
        Index("ix_core_activity_record", "tenant_id", "record_type", "record_id"),
        Index(
            "ix_core_activity_open_by_assignee",
            "tenant_id",
            "assignee_id",
            "due_on",
            postgresql_where=text("done_at IS NULL"),
        ),
        Index(
            "ix_core_activity_to_remind",
            "tenant_id",
            "due_on",
            postgresql_where=text("done_at IS NULL AND reminded_at IS NULL"),
        ),
        CheckConstraint("activity_type IN ('call', 'meeting', 'todo', 'email')", name="type"),
    )

    record_type: Mapped[str] = mapped_column(String(RECORD_TYPE_LENGTH))
    record_id: Mapped[uuid.UUID]
    activity_type: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    due_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(TenantModel):
    """Something a member should look at: a mention, an activity assigned or due.

    ``message`` is a msgid with ``{placeholders}`` filled from ``params`` when shown,
    in the reader's language.
    """

    __tablename__ = "core_notification"
    __table_args__ = (Index("ix_core_notification_user", "tenant_id", "user_id", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(31))  # mention | activity_assigned | activity_due
    record_type: Mapped[str] = mapped_column(String(RECORD_TYPE_LENGTH))
    record_id: Mapped[uuid.UUID]
    message: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


_RECORD_TYPE = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$")


def check_record_type(record_type: str) -> str:
    """A record type names its module and its kind of record: ``core.party``, ``crm.lead``."""
    if len(record_type) > RECORD_TYPE_LENGTH or not _RECORD_TYPE.match(record_type):
        raise ValidationFailed(
            "A record type looks like module.record (core.party), not {record_type}.",
            record_type=record_type[:RECORD_TYPE_LENGTH],
        )
    return record_type
