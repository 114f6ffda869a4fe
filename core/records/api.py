"""JSON API for what hangs off any record: attachments, the timeline, activities and the
member's notifications, mounted under ``/api/t/{slug}``.

A record is ``/records/{record_type}/{record_id}`` (``core.party``, ``crm.lead``).
Reading its attachments or timeline needs the record type's read permission,
uploading, deleting, commenting and planning or closing activities its write
permission (403 naming the code); a record that does not exist, lies outside
the member's data scope, or whose type is unknown or belongs to a disabled
module is 404. An attachment or an activity is checked through the record it is
on (:mod:`core.records.access`). A refused file (its type, its size) is a 422
and nothing is stored.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Request, delete, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import gettext
from core.models import User
from core.permissions import Actor
from core.records import access, attachments, timeline
from core.records.attachments import DEFAULT_LIMITS, KIB
from core.records.models import Activity, Attachment, Notification, TimelineEntry
from core.records.storage import FileStore, file_store
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry

MAX_PAGE = 100
#: The largest request an upload may be: the largest file plus room for the multipart
#: envelope. A bigger body is refused (413) before it is read; within it, the file
#: itself is measured against AttachmentLimits (422 past the limit).
UPLOAD_BODY_LIMIT = DEFAULT_LIMITS.max_bytes + 64 * KIB
_UNSAFE_IN_QUOTES = re.compile(r"[^A-Za-z0-9 ._()-]")


class AttachmentOut(msgspec.Struct, frozen=True, kw_only=True):
    """A file on a record; ``content_type`` is what its bytes are, not what the client said."""

    id: uuid.UUID
    record_type: str
    record_id: uuid.UUID
    file_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: uuid.UUID | None
    created_at: datetime


class ActivityOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    record_type: str
    record_id: uuid.UUID
    activity_type: str  # call, meeting, todo or email
    summary: str
    note: str
    assignee_id: uuid.UUID
    assignee_name: str
    due_on: date
    created_by: uuid.UUID | None
    done_at: datetime | None
    created_at: datetime


class ChangeOut(msgspec.Struct, frozen=True, kw_only=True):
    """One tracked field: its label in the reader's language, and the values as kept."""

    field: str
    label: str
    old: str | None = msgspec.field(name="from")
    new: str | None = msgspec.field(name="to")
    boolean: bool = False  # a yes/no field, kept as "true" and "false"
    currency: str | None = None  # a money field: its values are amounts in this currency


class TimelineEntryOut(msgspec.Struct, frozen=True, kw_only=True):
    """A comment (``body`` keeps its ``@[Name](user:<id>)`` mentions), tracked changes,
    or an activity done (``activity``, with the feedback as ``body``)."""

    id: uuid.UUID
    kind: str  # comment, change or activity
    author_id: uuid.UUID | None
    author_name: str
    body: str
    changes: list[ChangeOut]
    activity: ActivityOut | None
    at: datetime


class TimelinePage(msgspec.Struct, frozen=True, kw_only=True):
    """Newest first; pass ``next_cursor`` back as ``before`` for older ones, None at the end."""

    items: list[TimelineEntryOut]
    next_cursor: uuid.UUID | None


class CommentIn(msgspec.Struct, frozen=True, kw_only=True):
    body: str


class ActivityIn(msgspec.Struct, frozen=True, kw_only=True):
    """A planned activity; without ``assignee_id`` it is the author's own."""

    activity_type: str
    summary: str
    due_on: date
    assignee_id: uuid.UUID | None = None
    note: str = ""


class ActivityDone(msgspec.Struct, frozen=True, kw_only=True):
    feedback: str = ""


class NotificationOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: str  # mention, activity_assigned or activity_due
    record_type: str
    record_id: uuid.UUID
    message: str  # in the reader's language
    created_at: datetime


class NotificationsRead(msgspec.Struct, frozen=True, kw_only=True):
    """Which notifications to mark read; none given: all of the member's."""

    ids: list[uuid.UUID] | None = None


class MarkedRead(msgspec.Struct, frozen=True, kw_only=True):
    marked: int


@dataclass
class FileUpload:
    file: UploadFile


# --- shaping answers (also what the pages show) ----------------------------------------------


async def display_names(
    session: AsyncSession, user_ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str]:
    """Display names by user id, in one query."""
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return dict(rows.all())


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        record_type=attachment.record_type,
        record_id=attachment.record_id,
        file_name=attachment.file_name,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        uploaded_by=attachment.uploaded_by,
        created_at=attachment.created_at,
    )


def _activity_out(activity: Activity, names: dict[uuid.UUID, str]) -> ActivityOut:
    return ActivityOut(
        id=activity.id,
        record_type=activity.record_type,
        record_id=activity.record_id,
        activity_type=activity.activity_type,
        summary=activity.summary,
        note=activity.note,
        assignee_id=activity.assignee_id,
        assignee_name=names.get(activity.assignee_id, ""),
        due_on=activity.due_on,
        created_by=activity.created_by,
        done_at=activity.done_at,
        created_at=activity.created_at,
    )


async def activity_outs(session: AsyncSession, activities: list[Activity]) -> list[ActivityOut]:
    names = await display_names(session, (a.assignee_id for a in activities))
    return [_activity_out(activity, names) for activity in activities]


async def _entry_outs(
    session: AsyncSession, entries: list[TimelineEntry]
) -> list[TimelineEntryOut]:
    activity_ids = [e.activity_id for e in entries if e.activity_id is not None]
    done: dict[uuid.UUID, Activity] = {}
    if activity_ids:
        done = {
            a.id: a
            for a in await session.scalars(select(Activity).where(Activity.id.in_(activity_ids)))
        }
    names = await display_names(
        session, [*(e.author_id for e in entries), *(a.assignee_id for a in done.values())]
    )
    return [
        TimelineEntryOut(
            id=entry.id,
            kind=entry.kind,
            author_id=entry.author_id,
            author_name=names.get(entry.author_id, "") if entry.author_id else "",
            body=entry.body,
            changes=[
                ChangeOut(
                    field=c["field"],
                    label=gettext(c["label"]),
                    old=c["from"],
                    new=c["to"],
                    boolean=c.get("boolean", False),
                    currency=c.get("currency"),
                )
                for c in entry.changes
            ],
            activity=_activity_out(done[entry.activity_id], names)
            if entry.activity_id in done
            else None,
            at=entry.at,
        )
        for entry in entries
    ]


async def timeline_page(
    session: AsyncSession,
    record_type: str,
    record_id: uuid.UUID,
    before: uuid.UUID | None = None,
    limit: int = 50,
) -> TimelinePage:
    """A page of the record's timeline, one entry more asked for to know whether one follows."""
    limit = min(max(limit, 1), MAX_PAGE)
    entries = await timeline.timeline(session, record_type, record_id, before, limit + 1)
    items = await _entry_outs(session, entries[:limit])
    return TimelinePage(items=items, next_cursor=items[-1].id if len(entries) > limit else None)


def notification_out(notification: Notification) -> NotificationOut:
    """The notification in the reader's language: its message, and each parameter named
    ``…_label`` (a msgid such as an approval kind's label, or typed text, left as it is)."""
    text = gettext(notification.message)
    params = {
        name: gettext(value) if name.endswith("_label") and isinstance(value, str) else value
        for name, value in notification.params.items()
    }
    try:
        message = text.format(**params)
    except (KeyError, IndexError):  # a translation that dropped a placeholder
        message = notification.message.format(**params)
    return NotificationOut(
        id=notification.id,
        kind=notification.kind,
        record_type=notification.record_type,
        record_id=notification.record_id,
        message=message,
        created_at=notification.created_at,
    )


def store_of(request: Request[Any, Any, Any]) -> FileStore:
    return file_store(request.app.state.settings)


def declared_type(upload: UploadFile) -> str | None:
    """The part's own Content-Type, or None when it sent none (Litestar then says
    text/plain, which would make every other file look disguised)."""
    sent = {name.lower() for name in upload.headers}
    return upload.content_type if "content-type" in sent else None


def content_disposition(file_name: str) -> str:
    """``attachment`` with an ASCII ``filename`` for old clients and the exact name as
    RFC 5987 ``filename*`` (UTF-8, percent-encoded)."""
    fallback = _UNSAFE_IN_QUOTES.sub("_", file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def download(attachment: Attachment, chunks: AsyncIterator[bytes]) -> Stream:
    """The file as a download, streamed, typed by its bytes, never rendered by sniffing."""
    return Stream(
        chunks,
        media_type=attachment.content_type,
        headers={
            "content-disposition": content_disposition(attachment.file_name),
            "content-length": str(attachment.size),
            "x-content-type-options": "nosniff",
            "cache-control": "private",
        },
    )


async def add_activity(
    session: AsyncSession, actor: Actor, record_type: str, record_id: uuid.UUID, data: ActivityIn
) -> Activity:
    return await timeline.schedule_activity(
        session,
        record_type,
        record_id,
        activity_type=data.activity_type,
        summary=data.summary,
        assignee_id=data.assignee_id or actor.user_id,
        due_on=data.due_on,
        note=data.note,
        created_by=actor.user_id,
    )


# --- attachments -------------------------------------------------------------------------------

RECORD = "/records/{record_type:str}/{record_id:uuid}"


@get(f"{RECORD}/attachments", summary="A record's attachments, newest first")
async def list_attachments(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
) -> list[AttachmentOut]:
    await access.open_record(session, registry, tenant, actor, record_type, record_id)
    found = await attachments.list_attachments(session, record_type, record_id)
    return [attachment_out(a) for a in found]


@post(
    f"{RECORD}/attachments",
    summary="Attach a file to a record (multipart, field file)",
    request_max_body_size=UPLOAD_BODY_LIMIT,
)
async def upload_attachment(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    data: Annotated[FileUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> AttachmentOut:
    """The type is read from the bytes: a file whose name or declared type says otherwise
    (an ``.exe`` renamed ``.pdf``), of a type not accepted, empty, or over the size limit
    is refused with 422."""
    await access.open_record(session, registry, tenant, actor, record_type, record_id, write=True)
    attachment = await attachments.attach(
        session,
        store_of(request),
        record_type,
        record_id,
        data.file.filename,
        data.file.file,
        declared_type(data.file),
        actor.user_id,
    )
    return attachment_out(attachment)


@get("/attachments/{attachment_id:uuid}", summary="Download an attachment")
async def download_attachment(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    attachment_id: FromPath[uuid.UUID],
) -> Stream:
    await access.open_attachment_record(session, registry, tenant, actor, attachment_id)
    attachment, chunks = await attachments.open_attachment(
        session, store_of(request), attachment_id
    )
    return download(attachment, chunks)


@delete("/attachments/{attachment_id:uuid}", summary="Remove an attachment from its record")
async def delete_attachment(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    attachment_id: FromPath[uuid.UUID],
) -> None:
    await access.open_attachment_record(session, registry, tenant, actor, attachment_id, write=True)
    await attachments.delete_attachment(session, attachment_id)


# --- the timeline ------------------------------------------------------------------------------


@get(f"{RECORD}/timeline", summary="A record's timeline, newest first")
async def get_timeline(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    before: FromQuery[uuid.UUID | None] = None,
    limit: FromQuery[int] = 50,
) -> TimelinePage:
    """Comments, tracked changes and activities done; at most 100 a page."""
    await access.open_record(session, registry, tenant, actor, record_type, record_id)
    return await timeline_page(session, record_type, record_id, before, limit)


@post(f"{RECORD}/comments", summary="Comment on a record; the members it mentions are notified")
async def add_comment(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    data: JSONBody[CommentIn],
) -> TimelineEntryOut:
    """Mention a member as ``@[Name](user:<user id>)``; only active members are notified."""
    await access.open_record(session, registry, tenant, actor, record_type, record_id, write=True)
    entry = await timeline.add_comment(session, record_type, record_id, actor.user_id, data.body)
    [out] = await _entry_outs(session, [entry])
    return out


@get(f"{RECORD}/activities", summary="A record's open activities, soonest due first")
async def list_record_activities(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
) -> list[ActivityOut]:
    await access.open_record(session, registry, tenant, actor, record_type, record_id)
    return await activity_outs(
        session, await timeline.list_activities(session, record_type, record_id)
    )


@post(f"{RECORD}/activities", summary="Plan an activity on a record for a member")
async def plan_activity(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    data: JSONBody[ActivityIn],
) -> ActivityOut:
    """``activity_type`` is call, meeting, todo or email; the assignee is notified unless
    they planned it themselves."""
    await access.open_record(session, registry, tenant, actor, record_type, record_id, write=True)
    activity = await add_activity(session, actor, record_type, record_id, data)
    [out] = await activity_outs(session, [activity])
    return out


@post(
    "/activities/{activity_id:uuid}/done",
    status_code=HTTP_200_OK,
    summary="Mark an activity done; it goes on the record's timeline",
)
async def mark_done(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    activity_id: FromPath[uuid.UUID],
    data: JSONBody[ActivityDone | None] = None,
) -> TimelineEntryOut:
    await access.open_activity_record(session, registry, tenant, actor, activity_id)
    feedback = data.feedback if data else ""
    entry = await timeline.mark_activity_done(session, activity_id, actor.user_id, feedback)
    [out] = await _entry_outs(session, [entry])
    return out


@post(
    "/activities/{activity_id:uuid}/cancel",
    status_code=HTTP_204_NO_CONTENT,
    summary="Drop an activity that is not done",
)
async def cancel_activity(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    activity_id: FromPath[uuid.UUID],
) -> None:
    await access.open_activity_record(session, registry, tenant, actor, activity_id)
    await timeline.cancel_activity(session, activity_id)


@get("/activities", summary="My open activities, soonest due first")
async def my_activities(session: DbSession, actor: CurrentActor) -> list[ActivityOut]:
    return await activity_outs(session, await timeline.activities_of(session, actor.user_id))


# --- notifications -----------------------------------------------------------------------------


@get("/notifications", summary="My unread notifications, newest first")
async def my_notifications(
    session: DbSession, actor: CurrentActor, limit: FromQuery[int] = 50
) -> list[NotificationOut]:
    unread = await timeline.unread_notifications(session, actor.user_id, limit)
    return [notification_out(n) for n in unread]


@post(
    "/notifications/read",
    status_code=HTTP_200_OK,
    summary="Mark my notifications read (the given ones, or all)",
)
async def mark_notifications_read(
    session: DbSession, actor: CurrentActor, data: JSONBody[NotificationsRead | None] = None
) -> MarkedRead:
    ids = data.ids if data else None
    return MarkedRead(marked=await timeline.mark_notifications_read(session, actor.user_id, ids))


API = [
    list_attachments,
    upload_attachment,
    download_attachment,
    delete_attachment,
    get_timeline,
    add_comment,
    list_record_activities,
    plan_activity,
    mark_done,
    cancel_activity,
    my_activities,
    my_notifications,
    mark_notifications_read,
]
