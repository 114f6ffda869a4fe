"""The announcements JSON API under ``/api/t/{slug}/oa/announcements``.

Reading needs ``oa.announcement.read``; writing, publishing, withdrawing and the receipts
need ``oa.announcement.publish`` (a guard answers 403 naming the code). An announcement the
actor may not see is 404. ``GET /{id}`` opens it: for a member of its audience that records
their read, as opening its page does.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from modules.oa import permissions as codes
from modules.oa.models import Announcement
from modules.oa.services import announcements
from modules.oa.services.announcements import AnnouncementDraft
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

Status = Literal["draft", "published", "withdrawn"]


class AnnouncementIn(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    body: str = ""
    pinned: bool = False
    everyone: bool = True
    department_ids: list[uuid.UUID] = []


class PublishIn(msgspec.Struct, frozen=True, kw_only=True):
    publish_at: datetime | None = None  # a later time, with its offset; None: now


class AnnouncementOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    title: str
    body: str
    pinned: bool
    everyone: bool
    department_ids: list[uuid.UUID]
    status: Status
    author_id: uuid.UUID
    published_at: datetime | None
    scheduled: bool  # published for a time still to come
    withdrawn_at: datetime | None
    created_at: datetime


class AnnouncementSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    title: str
    pinned: bool
    status: Status
    author_name: str
    published_at: datetime | None
    unread: bool
    read_count: int | None  # publishers only


class AnnouncementPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[AnnouncementSummary]
    unread: int
    next_cursor: str | None


class ReaderOut(msgspec.Struct, frozen=True, kw_only=True):
    user_id: uuid.UUID
    name: str
    department: str | None
    read_at: datetime | None


class ReceiptsOut(msgspec.Struct, frozen=True, kw_only=True):
    audience: int
    read: list[ReaderOut]
    not_read: list[ReaderOut]


async def announcement_out(session: AsyncSession, found: Announcement) -> AnnouncementOut:
    return AnnouncementOut(
        id=found.id,
        title=found.title,
        body=found.body,
        pinned=found.pinned,
        everyone=found.everyone,
        department_ids=await announcements.department_ids(session, found.id),
        status=found.status,  # type: ignore[arg-type]
        author_id=found.author_id,
        published_at=found.published_at,
        scheduled=announcements.is_scheduled(found),
        withdrawn_at=found.withdrawn_at,
        created_at=found.created_at,
    )


def _draft(data: AnnouncementIn) -> AnnouncementDraft:
    return AnnouncementDraft(
        title=data.title,
        body=data.body,
        pinned=data.pinned,
        everyone=data.everyone,
        department_ids=data.department_ids,
    )


def _readers(members: list[announcements.AudienceMember]) -> list[ReaderOut]:
    return [
        ReaderOut(user_id=m.user_id, name=m.name, department=m.department, read_at=m.read_at)
        for m in members
    ]


class AnnouncementApi(Controller):
    path = "/oa/announcements"
    tags = ("oa",)

    @get("/", guards=[requires(codes.ANNOUNCEMENT_READ)])
    async def list_announcements(
        self,
        session: DbSession,
        actor: CurrentActor,
        q: FromQuery[str] = "",
        status: FromQuery[str] = "",
        after: FromQuery[str | None] = None,
    ) -> AnnouncementPage:
        listed = await announcements.list_announcements(
            session, actor, status=status or None, search=q, after=after
        )
        return AnnouncementPage(
            items=[
                AnnouncementSummary(
                    id=item.announcement.id,
                    title=item.announcement.title,
                    pinned=item.announcement.pinned,
                    status=item.announcement.status,  # type: ignore[arg-type]
                    author_name=item.author,
                    published_at=item.announcement.published_at,
                    unread=item.unread,
                    read_count=item.read_count,
                )
                for item in listed.items
            ],
            unread=listed.unread,
            next_cursor=listed.next_cursor,
        )

    @post("/", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
    async def write_draft(
        self, session: DbSession, actor: CurrentActor, data: JSONBody[AnnouncementIn]
    ) -> AnnouncementOut:
        made = await announcements.write_draft(session, actor, _draft(data))
        return await announcement_out(session, made)

    @get("/{announcement_id:uuid}", guards=[requires(codes.ANNOUNCEMENT_READ)])
    async def read_announcement(
        self, session: DbSession, actor: CurrentActor, announcement_id: FromPath[uuid.UUID]
    ) -> AnnouncementOut:
        found = await announcements.open_announcement(session, actor, announcement_id)
        return await announcement_out(session, found)

    @put("/{announcement_id:uuid}", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
    async def change_draft(
        self,
        session: DbSession,
        actor: CurrentActor,
        announcement_id: FromPath[uuid.UUID],
        data: JSONBody[AnnouncementIn],
    ) -> AnnouncementOut:
        changed = await announcements.change_draft(session, actor, announcement_id, _draft(data))
        return await announcement_out(session, changed)

    @post(
        "/{announcement_id:uuid}/publish",
        guards=[requires(codes.ANNOUNCEMENT_PUBLISH)],
        status_code=200,
    )
    async def publish(
        self,
        session: DbSession,
        actor: CurrentActor,
        announcement_id: FromPath[uuid.UUID],
        data: JSONBody[PublishIn | None] = None,
    ) -> AnnouncementOut:
        at = data.publish_at if data is not None else None
        found = await announcements.publish(session, actor, announcement_id, at)
        return await announcement_out(session, found)

    @post(
        "/{announcement_id:uuid}/withdraw",
        guards=[requires(codes.ANNOUNCEMENT_PUBLISH)],
        status_code=200,
    )
    async def withdraw(
        self, session: DbSession, actor: CurrentActor, announcement_id: FromPath[uuid.UUID]
    ) -> AnnouncementOut:
        found = await announcements.withdraw(session, actor, announcement_id)
        return await announcement_out(session, found)

    @get("/{announcement_id:uuid}/receipts", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
    async def receipts(
        self, session: DbSession, actor: CurrentActor, announcement_id: FromPath[uuid.UUID]
    ) -> ReceiptsOut:
        found = await announcements.receipts(session, actor, announcement_id)
        return ReceiptsOut(
            audience=found.audience, read=_readers(found.read), not_read=_readers(found.not_read)
        )


ROUTERS = (AnnouncementApi,)
