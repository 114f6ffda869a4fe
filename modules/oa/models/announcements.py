"""OA announcements (公告): what a publisher says to everyone or to chosen departments, and
who has read it (one receipt per member, kept by a unique key)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import TenantModel, tenant_ref

ANNOUNCEMENT_STATUSES = ("draft", "published", "withdrawn")


class Announcement(TenantModel):
    """``everyone`` or the departments in :class:`AnnouncementDepartment` (each with those
    below it) are the audience; the body is plain text, shown escaped."""

    __tablename__ = "oa_announcement"
    __table_args__ = (
        CheckConstraint(f"status IN {ANNOUNCEMENT_STATUSES}", name="status"),
        Index("ix_oa_announcement_listed", "tenant_id", "status", "pinned", "published_at"),
    )

    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    everyone: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id"))
    #: When it is (or, scheduled, will be) published: its audience sees it from then on.
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When its audience was notified (at publishing, or by the job once a scheduled time came).
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AnnouncementDepartment(TenantModel):
    """A department an announcement is for (with every department below it)."""

    __tablename__ = "oa_announcement_department"
    __table_args__ = (UniqueConstraint("tenant_id", "announcement_id", "department_id"),)

    announcement_id: Mapped[uuid.UUID] = tenant_ref(
        "oa_announcement", ondelete="CASCADE", index=False
    )
    department_id: Mapped[uuid.UUID] = tenant_ref("core_department", ondelete="CASCADE")


class AnnouncementRead(TenantModel):
    """A member opened the announcement (``created_at`` is when, the first time)."""

    __tablename__ = "oa_announcement_read"
    __table_args__ = (UniqueConstraint("tenant_id", "announcement_id", "user_id"),)

    announcement_id: Mapped[uuid.UUID] = tenant_ref(
        "oa_announcement", ondelete="CASCADE", index=False
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
