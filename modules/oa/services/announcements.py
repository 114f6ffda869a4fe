"""Announcements (公告): written by a publisher, sent to everyone or to chosen departments,
read with receipts.

An announcement is a draft (editable, seen only by publishers), then published (its audience
sees it, is notified in the app, and each member's first opening is recorded), then perhaps
withdrawn (gone from the audience's list; publishers still see it and its receipts).
Publishing and withdrawing are audited. Publishing may name a later time (定时发布): the
audience sees the announcement from then on, and the scheduled job
(:func:`notify_due_job`) notifies them once that time has come.

The audience is worked out when asked, not stored: every active member when ``everyone``,
else the active members placed in a chosen department or any department below it. A
member who moves into a targeted department later sees the announcement then; a member
outside the audience neither sees it nor counts in its receipts.

Who sees what: holders of ``oa.announcement.publish`` see every announcement of the
workspace (they manage them); everyone else sees the published ones whose audience they are
in. Outside that, an announcement is not found (404), never "forbidden".
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, true, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, organisation
from core.context import TenantContext
from core.db import add_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.i18n import N_
from core.models import Department, Membership, User
from core.permissions import Actor
from core.records.models import Notification
from modules.oa import permissions as codes
from modules.oa.models import Announcement, AnnouncementDepartment, AnnouncementRead

RECORD = "oa.announcement"  # the record type (attachments, notifications) and audit subject
TITLE_MAX = 200
BODY_MAX = 20_000
PAGE_SIZE = 30
STATUS_LABELS = {
    "draft": N_("Draft"),
    "published": N_("Published"),
    "withdrawn": N_("Withdrawn"),
}
PUBLISHED_NOTICE = N_("{author} published an announcement: {title}")
MISSING = N_("No announcement {id}.")
#: A publish time this close to now (a form filled in a minute ago) is now, not the past.
CLOCK_SLACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class AnnouncementDraft:
    """What a publisher writes: the text, whether it is pinned, and who it is for."""

    title: str
    body: str = ""
    pinned: bool = False
    everyone: bool = True
    department_ids: Sequence[uuid.UUID] = ()


# --- who may see an announcement -----------------------------------------------------------


async def _member_departments(session: AsyncSession, actor: Actor) -> list[uuid.UUID]:
    """The actor's department and every department above it: an announcement for any of
    them is for the actor."""
    if actor.department_id is None:
        return []
    path = await session.scalar(select(Department.path).where(Department.id == actor.department_id))
    return organisation.path_ids(path) if path else []


def _for_departments(departments: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """The announcement targets one of ``departments``."""
    return exists().where(
        AnnouncementDepartment.announcement_id == Announcement.id,
        AnnouncementDepartment.department_id.in_(departments),
    )


def _out() -> ColumnElement[bool]:
    """Published, and its publish time has come (by the clock publishing stamps it with)."""
    now = datetime.now(UTC)
    return and_(Announcement.status == "published", Announcement.published_at <= now)


async def _for_actor(session: AsyncSession, actor: Actor) -> ColumnElement[bool]:
    """Out, and the actor is in its audience."""
    departments = await _member_departments(session, actor)
    audience = Announcement.everyone.is_(True)
    if departments:
        audience = or_(audience, _for_departments(departments))
    return and_(_out(), audience)


def is_scheduled(announcement: Announcement, now: datetime | None = None) -> bool:
    """Published for a time still to come."""
    return (
        announcement.status == "published"
        and announcement.published_at is not None
        and announcement.published_at > (now or datetime.now(UTC))
    )


async def _visible(session: AsyncSession, actor: Actor) -> ColumnElement[bool]:
    actor.require(codes.ANNOUNCEMENT_READ)
    if actor.can(codes.ANNOUNCEMENT_PUBLISH):
        return true()
    return await _for_actor(session, actor)


async def get_announcement(
    session: AsyncSession, actor: Actor, announcement_id: uuid.UUID, *, for_update: bool = False
) -> Announcement:
    """The announcement, if the actor may see it; else NotFound."""
    query = select(Announcement).where(
        Announcement.id == announcement_id, await _visible(session, actor)
    )
    found = await session.scalar(query.with_for_update() if for_update else query)
    if found is None:
        raise NotFound(MISSING, id=str(announcement_id))
    return found


async def targets_actor(session: AsyncSession, actor: Actor, announcement_id: uuid.UUID) -> bool:
    """Whether the announcement is published and the actor is in its audience."""
    query = select(Announcement.id).where(
        Announcement.id == announcement_id, await _for_actor(session, actor)
    )
    return await session.scalar(query) is not None


async def department_ids(session: AsyncSession, announcement_id: uuid.UUID) -> list[uuid.UUID]:
    """The departments the announcement is for (empty when it is for everyone)."""
    query = select(AnnouncementDepartment.department_id).where(
        AnnouncementDepartment.announcement_id == announcement_id
    )
    return list(await session.scalars(query))


# --- writing, publishing, withdrawing ------------------------------------------------------


def _checked_text(draft: AnnouncementDraft) -> tuple[str, str]:
    title = draft.title.strip()
    if not title:
        raise ValidationFailed("Give the announcement a title.", field="title")
    if len(title) > TITLE_MAX:
        raise ValidationFailed(
            "A title has at most {max} characters.", max=TITLE_MAX, field="title"
        )
    body = draft.body.strip()
    if len(body) > BODY_MAX:
        raise ValidationFailed("The text has at most {max} characters.", max=BODY_MAX, field="body")
    return title, body


async def _checked_departments(session: AsyncSession, draft: AnnouncementDraft) -> list[uuid.UUID]:
    if draft.everyone:
        return []
    wanted = list(dict.fromkeys(draft.department_ids))
    if not wanted:
        raise ValidationFailed(
            "Choose the departments it is for, or send it to everyone.", field="department_ids"
        )
    found = set(await session.scalars(select(Department.id).where(Department.id.in_(wanted))))
    if len(found) != len(wanted):
        raise ValidationFailed("Choose departments from the list.", field="department_ids")
    return wanted


async def _set_departments(
    session: AsyncSession, announcement: Announcement, departments: list[uuid.UUID]
) -> None:
    for row in await session.scalars(
        select(AnnouncementDepartment).where(
            AnnouncementDepartment.announcement_id == announcement.id
        )
    ):
        await session.delete(row)
    await session.flush()
    session.add_all(
        AnnouncementDepartment(announcement_id=announcement.id, department_id=department_id)
        for department_id in departments
    )
    await session.flush()


async def write_draft(
    session: AsyncSession, actor: Actor, draft: AnnouncementDraft
) -> Announcement:
    """A new draft, seen only by publishers until it is published."""
    actor.require(codes.ANNOUNCEMENT_PUBLISH)
    title, body = _checked_text(draft)
    departments = await _checked_departments(session, draft)
    announcement = Announcement(
        title=title,
        body=body,
        pinned=draft.pinned,
        everyone=draft.everyone,
        status="draft",
        author_id=actor.user_id,
    )
    session.add(announcement)
    await session.flush()
    await _set_departments(session, announcement, departments)
    return announcement


async def change_draft(
    session: AsyncSession, actor: Actor, announcement_id: uuid.UUID, draft: AnnouncementDraft
) -> Announcement:
    """Rewrite a draft. A published announcement is withdrawn and written anew instead, so
    what its readers acknowledged never changes under them."""
    actor.require(codes.ANNOUNCEMENT_PUBLISH)
    announcement = await get_announcement(session, actor, announcement_id, for_update=True)
    if announcement.status != "draft":
        raise Conflict("Only a draft can be changed; withdraw it and write a new one.")
    title, body = _checked_text(draft)
    departments = await _checked_departments(session, draft)
    announcement.title, announcement.body = title, body
    announcement.pinned, announcement.everyone = draft.pinned, draft.everyone
    await _set_departments(session, announcement, departments)
    return announcement


async def set_pinned(
    session: AsyncSession, actor: Actor, announcement_id: uuid.UUID, pinned: bool
) -> Announcement:
    """Pin an announcement to the top of the list, or unpin it (drafts and published)."""
    actor.require(codes.ANNOUNCEMENT_PUBLISH)
    announcement = await get_announcement(session, actor, announcement_id, for_update=True)
    announcement.pinned = pinned
    await session.flush()
    return announcement


async def publish(
    session: AsyncSession,
    actor: Actor,
    announcement_id: uuid.UUID,
    at: datetime | None = None,
) -> Announcement:
    """Publish a draft now, or at ``at`` (a later time, with its offset): from then on its
    audience sees it, and each member but the author is notified in the app; audited."""
    actor.require(codes.ANNOUNCEMENT_PUBLISH)
    now = datetime.now(UTC)
    if at is not None and at.tzinfo is None:
        raise ValidationFailed("Give the time with its UTC offset.", field="publish_at")
    if at is not None and at < now - CLOCK_SLACK:
        raise ValidationFailed(
            "Choose a time from now on, or leave it blank to publish now.", field="publish_at"
        )
    announcement = await get_announcement(session, actor, announcement_id, for_update=True)
    if announcement.status != "draft":
        raise Conflict("Only a draft can be published.")
    announcement.status = "published"
    announcement.published_at = max(at or now, now)
    await session.flush()
    if announcement.published_at <= now:
        await _notify(session, announcement, now)
    await audit.record(
        session,
        "oa.announcement.published",
        actor_id=actor.user_id,
        subject_type=RECORD,
        subject_id=announcement.id,
        detail={
            "title": announcement.title,
            "everyone": announcement.everyone,
            "published_at": announcement.published_at.isoformat(),
        },
    )
    return announcement


async def _notify(session: AsyncSession, announcement: Announcement, now: datetime) -> None:
    """Tell the audience (but the author) in the app, once."""
    author = await session.scalar(
        select(User.display_name).where(User.id == announcement.author_id)
    )
    params = {"author": author or "", "title": announcement.title}
    session.add_all(
        Notification(
            user_id=member.user_id,
            kind="oa_announcement",
            record_type=RECORD,
            record_id=announcement.id,
            message=PUBLISHED_NOTICE,
            params=params,
        )
        for member in await audience(session, announcement)
        if member.user_id != announcement.author_id
    )
    announcement.notified_at = now
    await session.flush()


async def notify_due(session: AsyncSession, now: datetime) -> int:
    """Notify the audiences of scheduled announcements whose time has come; how many.
    Rows another run holds are skipped, so two runs at once notify each audience once."""
    due = await session.scalars(
        select(Announcement)
        .where(
            Announcement.status == "published",
            Announcement.notified_at.is_(None),
            Announcement.published_at <= now,
        )
        .with_for_update(skip_locked=True)
    )
    found = list(due)
    for announcement in found:
        await _notify(session, announcement, now)
    return len(found)


async def notify_due_job(session: AsyncSession, ctx: TenantContext) -> None:
    """The scheduled job: scheduled announcements due as of now."""
    await notify_due(session, datetime.now(UTC))


async def withdraw(session: AsyncSession, actor: Actor, announcement_id: uuid.UUID) -> Announcement:
    """Take a published announcement back from its audience; audited. Its receipts stay."""
    actor.require(codes.ANNOUNCEMENT_PUBLISH)
    announcement = await get_announcement(session, actor, announcement_id, for_update=True)
    if announcement.status != "published":
        raise Conflict("Only a published announcement can be withdrawn.")
    announcement.status, announcement.withdrawn_at = "withdrawn", datetime.now(UTC)
    await session.flush()
    await audit.record(
        session,
        "oa.announcement.withdrawn",
        actor_id=actor.user_id,
        subject_type=RECORD,
        subject_id=announcement.id,
        detail={"title": announcement.title},
    )
    return announcement


# --- reading and receipts ------------------------------------------------------------------


async def open_announcement(
    session: AsyncSession, actor: Actor, announcement_id: uuid.UUID
) -> Announcement:
    """The announcement, as its page or the API shows it; for a member of its audience this
    records their read, once (the unique key settles two opens at the same moment), and
    marks the notification that told them of it read."""
    announcement = await get_announcement(session, actor, announcement_id)
    if await targets_actor(session, actor, announcement.id) and not await _has_read(
        session, announcement.id, actor.user_id
    ):
        await add_unique(
            session, AnnouncementRead(announcement_id=announcement.id, user_id=actor.user_id)
        )
        await session.execute(
            update(Notification)
            .where(
                Notification.user_id == actor.user_id,
                Notification.record_type == RECORD,
                Notification.record_id == announcement.id,
                Notification.read_at.is_(None),
            )
            .values(read_at=datetime.now(UTC))
            .execution_options(synchronize_session=False)
        )
    return announcement


async def _has_read(session: AsyncSession, announcement_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    query = select(AnnouncementRead.id).where(
        AnnouncementRead.announcement_id == announcement_id, AnnouncementRead.user_id == user_id
    )
    return await session.scalar(query) is not None


@dataclass(frozen=True, slots=True)
class AudienceMember:
    user_id: uuid.UUID
    name: str
    department: str | None
    read_at: datetime | None


async def audience(session: AsyncSession, announcement: Announcement) -> list[AudienceMember]:
    """The active members the announcement is for, by name, with when each first read it."""
    query = (
        select(Membership.user_id, User.display_name, Department.name, AnnouncementRead.created_at)
        .join(User, User.id == Membership.user_id)
        .outerjoin(Department, Department.id == Membership.department_id)
        .outerjoin(
            AnnouncementRead,
            (AnnouncementRead.announcement_id == announcement.id)
            & (AnnouncementRead.user_id == Membership.user_id),
        )
        .where(Membership.active.is_(True))
        .order_by(User.display_name, Membership.user_id)
    )
    if not announcement.everyone:
        departments: set[uuid.UUID] = set()
        for target in await department_ids(session, announcement.id):
            departments.update(await organisation.subtree_ids(session, target))
        query = query.where(Membership.department_id.in_(departments))
    return [AudienceMember(*row) for row in (await session.execute(query)).all()]


@dataclass(frozen=True, slots=True)
class Receipts:
    audience: int
    read: list[AudienceMember]
    not_read: list[AudienceMember]


async def receipts(session: AsyncSession, actor: Actor, announcement_id: uuid.UUID) -> Receipts:
    """Who of the audience has read the announcement and who has not (publishers only)."""
    actor.require(codes.ANNOUNCEMENT_PUBLISH)
    announcement = await get_announcement(session, actor, announcement_id)
    members = await audience(session, announcement)
    return Receipts(
        audience=len(members),
        read=[m for m in members if m.read_at is not None],
        not_read=[m for m in members if m.read_at is None],
    )


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    announcement: Announcement
    author: str
    unread: bool  # for the actor's audience, published and not yet opened
    read_count: int | None  # publishers see how many have read it


@dataclass(frozen=True, slots=True)
class AnnouncementList:
    items: list[Listed]
    unread: int  # every unread announcement for the actor, not just this page's
    next_cursor: str | None


def _sort_time() -> ColumnElement[datetime]:
    return func.coalesce(Announcement.published_at, Announcement.created_at)


def _cursor(listed: Listed) -> str:
    a = listed.announcement
    return f"{int(a.pinned)}|{(a.published_at or a.created_at).isoformat()}|{a.id}"


def _after(cursor: str | None) -> ColumnElement[bool] | None:
    """The rows after ``cursor`` in the list's order (pinned first, newest first)."""
    if not cursor:
        return None
    try:
        pinned, moment, last = cursor.split("|")
        key = (pinned == "1", datetime.fromisoformat(moment), uuid.UUID(last))
    except ValueError:
        raise ValidationFailed("That page of announcements does not exist.") from None
    return tuple_(Announcement.pinned, _sort_time(), Announcement.id) < tuple_(*key)


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    """How many announcements for the actor they have not opened yet."""
    query = (
        select(func.count())
        .select_from(Announcement)
        .where(await _for_actor(session, actor), ~_read_by(actor.user_id))
    )
    return await session.scalar(query) or 0


def _read_by(user_id: uuid.UUID) -> ColumnElement[bool]:
    return exists().where(
        AnnouncementRead.announcement_id == Announcement.id, AnnouncementRead.user_id == user_id
    )


async def list_announcements(
    session: AsyncSession,
    actor: Actor,
    *,
    status: str | None = None,
    search: str | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> AnnouncementList:
    """What the actor sees, pinned first, then newest first; each marked unread or not;
    ``search`` matches the title or the text."""
    if status and status not in STATUS_LABELS:
        raise ValidationFailed("There is no announcement status {status}.", status=status)
    visible = await _visible(session, actor)
    mine = await _for_actor(session, actor)
    publisher = actor.can(codes.ANNOUNCEMENT_PUBLISH)
    read_count = (
        select(func.count())
        .where(AnnouncementRead.announcement_id == Announcement.id)
        .correlate(Announcement)
        .scalar_subquery()
    )
    query = (
        select(Announcement, User.display_name, and_(mine, ~_read_by(actor.user_id)), read_count)
        .join(User, User.id == Announcement.author_id)
        .where(visible)
        .order_by(Announcement.pinned.desc(), _sort_time().desc(), Announcement.id.desc())
        .limit(limit + 1)
    )
    if status:
        query = query.where(Announcement.status == status)
    if search and search.strip():
        like = f"%{search.strip()}%"
        query = query.where(or_(Announcement.title.ilike(like), Announcement.body.ilike(like)))
    later = _after(after)
    if later is not None:
        query = query.where(later)
    rows = (await session.execute(query)).all()
    items = [
        Listed(a, author, bool(unread), count if publisher else None)
        for a, author, unread, count in rows[:limit]
    ]
    more = len(rows) > limit
    return AnnouncementList(
        items=items,
        unread=await unread_count(session, actor),
        next_cursor=_cursor(items[-1]) if more else None,
    )


async def check_visible(session: AsyncSession, actor: Actor, announcement_id: uuid.UUID) -> None:
    """The record type's check (attachments, notifications' links): NotFound unless the
    actor may see the announcement."""
    await get_announcement(session, actor, announcement_id)
