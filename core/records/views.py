"""Attachments and the timeline on a record's page, as htmx partials under ``/t/{slug}``.

A record page (the party page, a module's lead page) puts :func:`record_sections`
in its context and includes ``records/_attachments.html`` and
``records/_timeline.html``; their forms post here and get the section back
(``#record-attachments``, ``#record-timeline``) to swap in. The same access rule
as the JSON API applies (:mod:`core.records.access`).

A form that is accepted answers, without htmx, with a redirect back to the page it
came from (``back``, a local path) and, with htmx, with its section. A refused form (a
disguised file, a blank comment) is rolled back to a savepoint and shown again with the
reason beside it and what was typed: with htmx as the section, status 200 because htmx
swaps only 2xx answers; without it as a page of its own holding the section (422) with a
link back. A refusal of access (403, 404) is never shown in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import ValidationFailed
from core.i18n import gettext, money, number
from core.permissions import Actor
from core.records import access, attachments, timeline
from core.records.access import RecordType
from core.records.api import (
    RECORD,
    UPLOAD_BODY_LIMIT,
    ActivityIn,
    ActivityOut,
    AttachmentOut,
    ChangeOut,
    TimelineEntryOut,
    activity_outs,
    add_activity,
    attachment_out,
    declared_type,
    display_names,
    store_of,
    timeline_page,
)
from core.records.attachments import DEFAULT_LIMITS, KIB, KINDS, MIB, size_label
from core.records.timeline import ACTIVITY_TYPES, MENTION
from web.auth import FormData, local_target
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal, attempt
from web.htmx import wants_partial
from web.members import member_page

ATTACHMENTS = "records/_attachments.html"
TIMELINE = "records/_timeline.html"
ENTRIES = "records/_entries.html"
REFUSED_PAGE = "records/refused.html"
MultipartForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


def file_size(size: int) -> str:
    """A file's size for people: ``12.5 KB``, ``3 MB``, in the reader's number format."""
    for unit, factor in (("MB", MIB), ("KB", KIB)):
        if size >= factor:
            return f"{number(round(Decimal(size) / factor, 1))} {unit}"
    return f"{number(size)} B"


@dataclass(frozen=True, slots=True)
class RecordOnPage:
    """The record a page shows, and where its forms send the browser back to."""

    slug: str
    key: str
    id: uuid.UUID
    back: str
    can_write: bool


@dataclass(frozen=True, slots=True)
class ShownAttachment:
    attachment: AttachmentOut
    size: str
    uploader: str


@dataclass(frozen=True, slots=True)
class ShownChange:
    label: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class ShownEntry:
    entry: TimelineEntryOut
    text: str  # the body with each mention shown as @Name
    changes: list[ShownChange]


def _shown_value(value: str | None, change: ChangeOut) -> str:
    if value is None or value == "":
        return "–"
    if change.boolean:
        return gettext("Yes") if value == "true" else gettext("No")
    if change.currency:
        return money(Decimal(value), change.currency)
    return value


def _record(
    tenant: TenantContext, actor: Actor, found: RecordType, record_id: uuid.UUID, back: str
) -> RecordOnPage:
    return RecordOnPage(
        slug=tenant.slug,
        key=found.key,
        id=record_id,
        back=local_target(back, f"/t/{tenant.slug}/"),
        can_write=actor.can(found.write_permission),
    )


async def _files(
    session: AsyncSession, record: RecordOnPage, refused: Refusal | None = None
) -> dict[str, Any]:
    found = [
        attachment_out(a)
        for a in await attachments.list_attachments(session, record.key, record.id)
    ]
    names = await display_names(session, (a.uploaded_by for a in found))
    allowed = [kind.label for key, kind in KINDS.items() if key in DEFAULT_LIMITS.allowed]
    return {
        "record": record,
        "shown": [
            ShownAttachment(
                a, file_size(a.size), names.get(a.uploaded_by, "") if a.uploaded_by else ""
            )
            for a in found
        ],
        "allowed": ", ".join(allowed),
        "limit": size_label(DEFAULT_LIMITS.max_bytes),
        "refused": refused,
    }


def _shown(entries: list[TimelineEntryOut]) -> list[ShownEntry]:
    return [
        ShownEntry(
            e,
            MENTION.sub(lambda m: f"@{m['name']}", e.body),
            [
                ShownChange(c.label, _shown_value(c.old, c), _shown_value(c.new, c))
                for c in e.changes
            ],
        )
        for e in entries
    ]


def _more_url(record: RecordOnPage, cursor: uuid.UUID | None) -> str | None:
    if cursor is None:
        return None
    return f"/t/{record.slug}/records/{record.key}/{record.id}/timeline?before={cursor}"


async def _timeline(
    session: AsyncSession, actor: Actor, record: RecordOnPage, refused: Refusal | None = None
) -> dict[str, Any]:
    page = await timeline_page(session, record.key, record.id)
    open_activities: list[ActivityOut] = await activity_outs(
        session, await timeline.list_activities(session, record.key, record.id)
    )
    members = (await member_page(session, active=True, limit=200)).items if record.can_write else []
    return {
        "record": record,
        "entries": _shown(page.items),
        "first_page": True,
        "more_url": _more_url(record, page.next_cursor),
        "activities": open_activities,
        "activity_types": ACTIVITY_TYPES,
        "members": members,
        "me": actor.user_id,
        "refused": refused,
    }


async def record_sections(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    found: RecordType,
    record_id: uuid.UUID,
    back: str,
) -> dict[str, Any]:
    """What a record page's context needs for both sections, as ``files`` and ``timeline``.

    The page has already checked that the actor may see the record.
    """
    record = _record(tenant, actor, found, record_id, back)
    return {
        "files": await _files(session, record),
        "timeline": await _timeline(session, actor, record),
    }


async def _act(
    session: AsyncSession, form: str, typed: dict[str, str], action: Callable[[], Awaitable[Any]]
) -> Refusal | None:
    """Run a form's action; a refusal is rolled back and returned, with what was typed."""
    error = await attempt(session, action)
    return Refusal.of(form, typed, error) if error else None


def _redirect(record: RecordOnPage) -> Redirect:
    return Redirect(record.back, status_code=HTTP_303_SEE_OTHER)


def _answer(
    request: Request[Any, Any, Any],
    record: RecordOnPage,
    refused: Refusal | None,
    section: str,
    context: dict[str, Any],
) -> Response[Any]:
    """The section for htmx; without it, back to the record, or the refusal on a page."""
    if wants_partial(request):
        return Template(section, context=context)
    if refused is None:
        return _redirect(record)
    page = {**context, "section": section, "record": record}
    return Template(REFUSED_PAGE, context=page, status_code=HTTP_422_UNPROCESSABLE_ENTITY)


async def _files_answer(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    record: RecordOnPage,
    refused: Refusal | None,
) -> Response[Any]:
    files = (
        {"files": await _files(session, record, refused)}
        if wants_partial(request) or refused
        else {}
    )
    return _answer(request, record, refused, ATTACHMENTS, files)


async def _timeline_answer(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    actor: Actor,
    record: RecordOnPage,
    refused: Refusal | None,
) -> Response[Any]:
    shown = wants_partial(request) or refused
    context = {"timeline": await _timeline(session, actor, record, refused)} if shown else {}
    return _answer(request, record, refused, TIMELINE, context)


# --- attachments -------------------------------------------------------------------------------


@get(f"{RECORD}/attachments")
async def attachments_section(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    back: FromQuery[str] = "",
) -> Template:
    found = await access.open_record(session, registry, tenant, actor, record_type, record_id)
    record = _record(tenant, actor, found, record_id, back)
    return Template(ATTACHMENTS, context={"files": await _files(session, record)})


@post(f"{RECORD}/attachments", request_max_body_size=UPLOAD_BODY_LIMIT)
async def upload_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    data: MultipartForm,
) -> Response[Any]:
    found = await access.open_record(
        session, registry, tenant, actor, record_type, record_id, write=True
    )
    record = _record(tenant, actor, found, record_id, str(data.get("back", "")))
    upload = data.get("file")

    async def attach() -> None:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed("Choose a file to attach.")
        await attachments.attach(
            session,
            store_of(request),
            record.key,
            record.id,
            upload.filename,
            upload.file,
            declared_type(upload),
            actor.user_id,
        )

    refused = await _act(session, "upload", {}, attach)
    return await _files_answer(request, session, record, refused)


@post("/attachments/{attachment_id:uuid}/delete")
async def delete_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    attachment_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    attachment = await access.open_attachment_record(
        session, registry, tenant, actor, attachment_id, write=True
    )
    found = access.record_type(registry, tenant, attachment.record_type)
    record = _record(tenant, actor, found, attachment.record_id, data.get("back", ""))
    refused = await _act(
        session, "delete", {}, lambda: attachments.delete_attachment(session, attachment_id)
    )
    return await _files_answer(request, session, record, refused)


# --- the timeline ------------------------------------------------------------------------------


@get(f"{RECORD}/timeline")
async def timeline_section(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    before: FromQuery[uuid.UUID | None] = None,
    back: FromQuery[str] = "",
) -> Template:
    """The whole section, or with ``before`` the older entries for the "Older" link."""
    found = await access.open_record(session, registry, tenant, actor, record_type, record_id)
    record = _record(tenant, actor, found, record_id, back)
    if before is None:
        return Template(TIMELINE, context={"timeline": await _timeline(session, actor, record)})
    page = await timeline_page(session, record.key, record.id, before)
    older = {
        "record": record,
        "entries": _shown(page.items),
        "first_page": False,
        "more_url": _more_url(record, page.next_cursor),
    }
    return Template(ENTRIES, context={"timeline": older})


@post(f"{RECORD}/comments")
async def comment_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    return await _add_to_timeline(
        request,
        session,
        registry,
        tenant,
        actor,
        record_type,
        record_id,
        "comment",
        data,
        lambda record: timeline.add_comment(
            session, record.key, record.id, actor.user_id, data.get("body", "")
        ),
    )


async def _add_to_timeline(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    registry: Registry,
    tenant: TenantContext,
    actor: Actor,
    record_type: str,
    record_id: uuid.UUID,
    form_name: str,
    form: dict[str, str],
    action: Callable[[RecordOnPage], Awaitable[Any]],
) -> Response[Any]:
    """Add to a record's timeline from its page (a comment, an activity), once the actor
    may change the record; answer with the timeline section."""
    found = await access.open_record(
        session, registry, tenant, actor, record_type, record_id, write=True
    )
    record = _record(tenant, actor, found, record_id, form.get("back", ""))
    refused = await _act(session, form_name, form, lambda: action(record))
    return await _timeline_answer(request, session, actor, record, refused)


def _activity_in(form: dict[str, str]) -> ActivityIn:
    try:
        due_on = date.fromisoformat(form.get("due_on", ""))
    except ValueError:
        raise ValidationFailed("Enter the day the activity is due.") from None
    try:
        assignee_id = uuid.UUID(form["assignee_id"]) if form.get("assignee_id") else None
    except ValueError:
        raise ValidationFailed(
            "Activities are assigned to active members of this workspace."
        ) from None
    return ActivityIn(
        activity_type=form.get("activity_type", ""),
        summary=form.get("summary", ""),
        due_on=due_on,
        assignee_id=assignee_id,
        note=form.get("note", ""),
    )


@post(f"{RECORD}/activities")
async def plan_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    record_type: FromPath[str],
    record_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    return await _add_to_timeline(
        request,
        session,
        registry,
        tenant,
        actor,
        record_type,
        record_id,
        "activity",
        data,
        lambda record: add_activity(session, actor, record.key, record.id, _activity_in(data)),
    )


async def _close_activity(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    registry: Registry,
    tenant: TenantContext,
    actor: Actor,
    activity_id: uuid.UUID,
    form: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    activity = await access.open_activity_record(session, registry, tenant, actor, activity_id)
    found = access.record_type(registry, tenant, activity.record_type)
    record = _record(tenant, actor, found, activity.record_id, form.get("back", ""))
    refused = await _act(session, f"activity-{activity_id}", form, action)
    return await _timeline_answer(request, session, actor, record, refused)


@post("/activities/{activity_id:uuid}/done")
async def done_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    activity_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    return await _close_activity(
        request,
        session,
        registry,
        tenant,
        actor,
        activity_id,
        data,
        lambda: timeline.mark_activity_done(
            session, activity_id, actor.user_id, data.get("feedback", "")
        ),
    )


@post("/activities/{activity_id:uuid}/cancel")
async def cancel_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    activity_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    return await _close_activity(
        request,
        session,
        registry,
        tenant,
        actor,
        activity_id,
        data,
        lambda: timeline.cancel_activity(session, activity_id),
    )


PAGES = [
    attachments_section,
    upload_from_page,
    delete_from_page,
    timeline_section,
    comment_from_page,
    plan_from_page,
    done_from_page,
    cancel_from_page,
]
