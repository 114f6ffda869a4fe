"""The timeline of any record: comments with @mentions, tracked changes, activities, reminders.

Mentions are written by the editor as ``@[Display Name](user:<uuid>)``: the id is
what counts, the name is only how the comment reads. A mention resolves only to
an active member of the workspace; any other id (a stranger, another tenant's
user, a member who left) stays plain text and notifies no one.

Notifications are rows for a member to read in the app: ``message`` is a msgid
with ``{placeholders}`` filled from ``params`` in the reader's language.

As with attachments, the module that owns a record checks that the actor may see
it before reading or adding to its timeline.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_
from core.models import Membership, User
from core.records.models import Activity, Mention, Notification, TimelineEntry, check_record_type

MAX_COMMENT = 10_000
MAX_SUMMARY = 200
MAX_PAGE = 200
ACTIVITY_TYPES = {
    "call": N_("Call"),
    "meeting": N_("Meeting"),
    "todo": N_("To-do"),
    "email": N_("E-mail"),
}
MENTION = re.compile(
    r"@\[(?P<name>[^\[\]\n]{1,200})\]\(user:(?P<id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)"
)
# The earliest local date on Earth is UTC+14's: no assignee's "today" is later than this.
_MAX_UTC_OFFSET = timedelta(hours=14)

MENTIONED = N_("{author} mentioned you.")
ASSIGNED = N_("{author} assigned you an activity: {summary}")
DUE = N_("Activity due: {summary}")


# --- notifications -----------------------------------------------------------------------


def _notification(
    user_id: uuid.UUID,
    kind: str,
    record_type: str,
    record_id: uuid.UUID,
    message: str,
    params: dict[str, Any],
) -> Notification:
    return Notification(
        user_id=user_id,
        kind=kind,
        record_type=record_type,
        record_id=record_id,
        message=message,
        params=params,
    )


async def unread_notifications(
    session: AsyncSession, user_id: uuid.UUID, limit: int = 50
) -> list[Notification]:
    """The member's unread notifications in this workspace, newest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .order_by(Notification.id.desc())
        .limit(min(max(limit, 1), MAX_PAGE))
    )
    return list(await session.scalars(query))


async def mark_notifications_read(
    session: AsyncSession, user_id: uuid.UUID, notification_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Mark the member's notifications read (the given ones, or all); return how many."""
    statement = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    if notification_ids is not None:
        statement = statement.where(Notification.id.in_(notification_ids))
    return (await session.execute(statement)).rowcount


async def _display_name(session: AsyncSession, user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return ""
    return await session.scalar(select(User.display_name).where(User.id == user_id)) or ""


async def _active_members(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``user_ids`` who are active members of the session's workspace."""
    wanted = set(user_ids)
    if not wanted:
        return set()
    query = select(Membership.user_id).where(
        Membership.user_id.in_(wanted), Membership.active.is_(True)
    )
    return set(await session.scalars(query))


# --- comments and mentions ---------------------------------------------------------------


def mentioned_ids(body: str) -> list[uuid.UUID]:
    """The user ids of ``@[Name](user:<uuid>)`` tokens, first mention first, each once."""
    return list(dict.fromkeys(uuid.UUID(m["id"]) for m in MENTION.finditer(body)))


async def add_comment(
    session: AsyncSession,
    record_type: str,
    record_id: uuid.UUID,
    author_id: uuid.UUID,
    body: str,
) -> TimelineEntry:
    """Post a comment (plain text; the page escapes it) and notify the members it mentions."""
    check_record_type(record_type)
    body = body.strip()
    if not body or len(body) > MAX_COMMENT:
        raise ValidationFailed("A comment has 1 to {max} characters.", max=MAX_COMMENT)
    entry = TimelineEntry(
        record_type=record_type, record_id=record_id, kind="comment", author_id=author_id, body=body
    )
    session.add(entry)
    await session.flush()
    candidates = mentioned_ids(body)
    members = await _active_members(session, candidates)
    mentioned = [user_id for user_id in candidates if user_id in members]
    session.add_all(Mention(entry_id=entry.id, user_id=user_id) for user_id in mentioned)
    others = [user_id for user_id in mentioned if user_id != author_id]
    if others:
        params = {"author": await _display_name(session, author_id)}
        session.add_all(
            _notification(user_id, "mention", record_type, record_id, MENTIONED, params)
            for user_id in others
        )
    await session.flush()
    return entry


async def mentions_of(
    session: AsyncSession, user_id: uuid.UUID, before: uuid.UUID | None = None, limit: int = 50
) -> list[TimelineEntry]:
    """Comments that mention the member, newest first; ``before`` is the keyset cursor."""
    query = (
        select(TimelineEntry)
        .join(Mention, Mention.entry_id == TimelineEntry.id)
        .where(Mention.user_id == user_id)
        .order_by(TimelineEntry.id.desc())
        .limit(min(max(limit, 1), MAX_PAGE))
    )
    if before is not None:
        query = query.where(TimelineEntry.id < before)
    return list(await session.scalars(query))


# --- tracked changes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    """A tracked amount with its currency: kept as the plain number, shown as money in the
    reader's locale (``¥6,780.00``), as a yes/no field is shown as a word."""

    amount: Decimal
    currency: str


def render_value(value: Any) -> str | None:
    """A field's value as the timeline keeps it: a string (or None), the same in every locale."""
    if value is None:
        return None
    if isinstance(value, Money):
        value = value.amount
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # 1E+2 reads as 100
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        items = [render_value(v) or "" for v in value]
        return ", ".join(sorted(items) if isinstance(value, set | frozenset) else items)
    return str(value)


def _is_boolean(*values: Any) -> bool:
    return any(isinstance(value, bool) for value in values)


def _currency(*values: Any) -> dict[str, str]:
    """``{"currency": code}`` for a money field, so readers show its values as money."""
    found = next((value.currency for value in values if isinstance(value, Money)), None)
    return {"currency": found} if found else {}


async def referenced_name(
    session: AsyncSession, column: Any, row_id: uuid.UUID | None
) -> str | None:
    """What the mapped attribute ``column`` (``Party.name``) holds for the row ``row_id``:
    how a tracked change shows a reference, so the history reads the same after the
    row is renamed or removed."""
    if row_id is None:
        return None
    return await session.scalar(select(column).where(column.class_.id == row_id))


async def track_changes(
    session: AsyncSession,
    record_type: str,
    record_id: uuid.UUID,
    author_id: uuid.UUID | None,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    labels: Mapping[str, str] | None = None,
) -> TimelineEntry | None:
    """Write one 'change' entry listing the fields whose value differs; None if none does.

    ``labels`` maps the tracked fields to their labels (msgids, shown translated)
    in display order; without it every field in ``before`` or ``after`` is tracked.
    A field missing from one side counts as None there.
    """
    check_record_type(record_type)
    fields = list(labels or dict.fromkeys([*before, *after]))
    changes = [
        {
            "field": name,
            "label": (labels or {}).get(name, name),
            "from": render_value(before.get(name)),
            "to": render_value(after.get(name)),
            # A yes/no field: readers show its "true" and "false" as words of their language.
            **({"boolean": True} if _is_boolean(before.get(name), after.get(name)) else {}),
            **_currency(before.get(name), after.get(name)),
        }
        for name in fields
        if before.get(name) != after.get(name)
    ]
    if not changes:
        return None
    entry = TimelineEntry(
        record_type=record_type,
        record_id=record_id,
        kind="change",
        author_id=author_id,
        changes=changes,
    )
    session.add(entry)
    await session.flush()
    return entry


async def timeline(
    session: AsyncSession,
    record_type: str,
    record_id: uuid.UUID,
    before: uuid.UUID | None = None,
    limit: int = 50,
) -> list[TimelineEntry]:
    """The record's entries, newest first; ``before`` is the keyset cursor (an entry id)."""
    check_record_type(record_type)
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.record_type == record_type, TimelineEntry.record_id == record_id)
        .order_by(TimelineEntry.id.desc())
        .limit(min(max(limit, 1), MAX_PAGE))
    )
    if before is not None:
        query = query.where(TimelineEntry.id < before)
    return list(await session.scalars(query))


# --- activities --------------------------------------------------------------------------


async def schedule_activity(
    session: AsyncSession,
    record_type: str,
    record_id: uuid.UUID,
    *,
    activity_type: str,
    summary: str,
    assignee_id: uuid.UUID,
    due_on: date,
    note: str = "",
    created_by: uuid.UUID | None = None,
) -> Activity:
    """Plan an activity for a member; they are notified unless they planned it themselves."""
    check_record_type(record_type)
    if activity_type not in ACTIVITY_TYPES:
        raise ValidationFailed(
            "An activity is one of {types}.", types=", ".join(sorted(ACTIVITY_TYPES))
        )
    summary = summary.strip()
    if not summary or len(summary) > MAX_SUMMARY:
        raise ValidationFailed("A summary has 1 to {max} characters.", max=MAX_SUMMARY)
    if assignee_id not in await _active_members(session, [assignee_id]):
        raise ValidationFailed("Activities are assigned to active members of this workspace.")
    activity = Activity(
        record_type=record_type,
        record_id=record_id,
        activity_type=activity_type,
        summary=summary,
        note=note.strip(),
        assignee_id=assignee_id,
        due_on=due_on,
        created_by=created_by,
    )
    session.add(activity)
    if assignee_id != created_by:
        params = {"author": await _display_name(session, created_by), "summary": summary}
        session.add(
            _notification(
                assignee_id, "activity_assigned", record_type, record_id, ASSIGNED, params
            )
        )
    await session.flush()
    return activity


async def _open_activity(session: AsyncSession, activity_id: uuid.UUID) -> Activity:
    activity = await session.scalar(
        select(Activity).where(Activity.id == activity_id).with_for_update()
    )
    if activity is None:
        raise NotFound("No activity {id}.", id=str(activity_id))
    if activity.done_at is not None:
        raise Conflict("This activity is already done.")
    return activity


async def mark_activity_done(
    session: AsyncSession, activity_id: uuid.UUID, user_id: uuid.UUID, feedback: str = ""
) -> TimelineEntry:
    """Close an activity and put it on the record's timeline, with the feedback as its body."""
    if len(feedback.strip()) > MAX_COMMENT:
        raise ValidationFailed("This is longer than {max} characters.", max=MAX_COMMENT)
    activity = await _open_activity(session, activity_id)
    activity.done_at = datetime.now(UTC)
    activity.done_by = user_id
    entry = TimelineEntry(
        record_type=activity.record_type,
        record_id=activity.record_id,
        kind="activity",
        author_id=user_id,
        body=feedback.strip(),
        activity_id=activity.id,
    )
    session.add(entry)
    await session.flush()
    return entry


async def cancel_activity(session: AsyncSession, activity_id: uuid.UUID) -> None:
    """Drop an activity that is not done (a done one stays, as the timeline refers to it)."""
    await session.delete(await _open_activity(session, activity_id))
    await session.flush()


async def list_activities(
    session: AsyncSession, record_type: str, record_id: uuid.UUID
) -> list[Activity]:
    """The record's open activities, soonest due first (done ones are on its timeline)."""
    check_record_type(record_type)
    query = (
        select(Activity)
        .where(
            Activity.record_type == record_type,
            Activity.record_id == record_id,
            Activity.done_at.is_(None),
        )
        .order_by(Activity.due_on, Activity.id)
    )
    return list(await session.scalars(query))


async def activities_of(session: AsyncSession, user_id: uuid.UUID) -> list[Activity]:
    """The member's open activities across all records, soonest due first."""
    query = (
        select(Activity)
        .where(Activity.assignee_id == user_id, Activity.done_at.is_(None))
        .order_by(Activity.due_on, Activity.id)
    )
    return list(await session.scalars(query))


def _local_date(now: datetime, time_zone: str) -> date:
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # an unknown zone must not stop everyone's reminders
    return now.astimezone(zone).date()


async def remind_due_activities(session: AsyncSession, now: datetime) -> list[Notification]:
    """Remind each assignee once of open activities due on or before their local today.

    Run per tenant by a scheduled job (hourly keeps reminders near the start of
    each assignee's day). Idempotent: the UPDATE claims only rows not yet
    reminded, so a second run, or a concurrent one blocked on the same rows,
    reminds no one twice.
    """
    if now.tzinfo is None:
        raise ValueError("remind_due_activities needs an aware datetime")
    candidates = await session.execute(
        select(Activity.id, Activity.due_on, User.time_zone)
        .join(User, User.id == Activity.assignee_id)
        .where(
            Activity.done_at.is_(None),
            Activity.reminded_at.is_(None),
            Activity.due_on <= (now.astimezone(UTC) + _MAX_UTC_OFFSET).date(),
        )
    )
    due = [row.id for row in candidates if row.due_on <= _local_date(now, row.time_zone)]
    if not due:
        return []
    claimed = await session.execute(
        update(Activity)
        .where(Activity.id.in_(due), Activity.done_at.is_(None), Activity.reminded_at.is_(None))
        .values(reminded_at=now)
        .returning(
            Activity.assignee_id,
            Activity.record_type,
            Activity.record_id,
            Activity.summary,
            Activity.due_on,
        )
        .execution_options(synchronize_session=False)
    )
    notifications = [
        _notification(
            row.assignee_id,
            "activity_due",
            row.record_type,
            row.record_id,
            DUE,
            {"summary": row.summary, "due_on": row.due_on.isoformat()},
        )
        for row in claimed
    ]
    session.add_all(notifications)
    await session.flush()
    return notifications
