"""OA calendars, events and meetings, their invitees, and meeting rooms.

An event with no ``calendar_id`` is on its organiser's personal calendar (private to
them and to whom they invite); a shared calendar ("Sales team") has members who may see
it and, with ``can_write``, add to it. A meeting is an event with invitees. Times are
stored in UTC (timestamptz); an all-day event runs from the organiser's local midnight
to the midnight after its last day.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
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

#: What an invitee has answered.
PENDING, ACCEPTED, DECLINED = "pending", "accepted", "declined"


class SharedCalendar(TenantModel):
    """A shared calendar; its creator is its first writing member."""

    __tablename__ = "oa_calendar"
    __table_args__ = (Index("uq_oa_calendar_name", "tenant_id", "name", unique=True),)

    name: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))


class CalendarMember(TenantModel):
    """Who sees a shared calendar; ``can_write`` also adds and changes its events."""

    __tablename__ = "oa_calendar_member"
    __table_args__ = (
        Index("uq_oa_calendar_member", "tenant_id", "calendar_id", "user_id", unique=True),
        Index("ix_oa_calendar_member_user", "tenant_id", "user_id"),
    )

    calendar_id: Mapped[uuid.UUID] = tenant_ref("oa_calendar", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    can_write: Mapped[bool] = mapped_column(Boolean, default=False)


class MeetingRoom(TenantModel):
    """A meeting room; an inactive one keeps its past bookings and takes no new ones."""

    __tablename__ = "oa_room"
    __table_args__ = (
        Index("uq_oa_room_name", "tenant_id", "name", unique=True),
        CheckConstraint("capacity > 0", name="capacity"),
    )

    name: Mapped[str] = mapped_column(String(100))
    capacity: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CalendarEvent(TenantModel):
    """An event on a calendar; with invitees, a meeting; with a room, its booking.

    ``reminded_at`` is the reminder's sent marker (cleared when the time changes)."""

    __tablename__ = "oa_event"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("remind_minutes IS NULL OR remind_minutes >= 0", name="remind_minutes"),
        Index("ix_oa_event_organiser", "tenant_id", "organiser_id", "starts_at"),
        Index("ix_oa_event_calendar", "tenant_id", "calendar_id", "starts_at"),
        Index("ix_oa_event_room", "tenant_id", "room_id", "starts_at"),
        Index(
            "ix_oa_event_to_remind",
            "tenant_id",
            "starts_at",
            postgresql_where="remind_minutes IS NOT NULL AND reminded_at IS NULL",
        ),
    )

    calendar_id: Mapped[uuid.UUID | None] = tenant_ref(
        "oa_calendar", nullable=True, ondelete="CASCADE", index=False
    )
    organiser_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    room_id: Mapped[uuid.UUID | None] = tenant_ref("oa_room", nullable=True, index=False)
    remind_minutes: Mapped[int | None] = mapped_column(Integer)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MeetingInvitee(TenantModel):
    """A member invited to a meeting, and what they answered."""

    __tablename__ = "oa_invitee"
    __table_args__ = (
        Index("uq_oa_invitee", "tenant_id", "event_id", "user_id", unique=True),
        Index("ix_oa_invitee_user", "tenant_id", "user_id"),
        CheckConstraint("response IN ('pending', 'accepted', 'declined')", name="response"),
    )

    event_id: Mapped[uuid.UUID] = tenant_ref("oa_event", ondelete="CASCADE", index=False)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("core_user.id"))
    response: Mapped[str] = mapped_column(String(10), default=PENDING)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
