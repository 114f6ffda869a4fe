"""Announcement pages under ``/t/{slug}/oa/announcements``: the list (pinned first, unread
marked and counted), an announcement's page (opening it records the member's read; its
attachments; publish, withdraw, pin for publishers), the form that writes or changes a draft
(refusals beside their inputs), and the read report (who of the audience has not read it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.context import TenantContext
from core.errors import ValidationFailed
from core.identity.profile import time_zone_of
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.records import access
from core.records.views import record_sections
from modules.oa import permissions as codes
from modules.oa.models import Announcement
from modules.oa.services import announcements
from modules.oa.services.announcements import STATUS_LABELS, AnnouncementDraft, is_scheduled
from modules.oa.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import Refusal, answer_form, read_id, typed_in
from web.tenancy import requires

TAB = "/oa/announcements"
FIELDS = ("title", "body", "pinned", "audience", "department_ids")


@get(TAB, guards=[requires(codes.ANNOUNCEMENT_READ)])
async def announcements_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    status: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    chosen = status if status in STATUS_LABELS else ""
    listed = await announcements.list_announcements(
        session, actor, status=chosen or None, search=q, after=after
    )
    return page(
        "oa/announcements/index.html",
        tenant,
        actor,
        TAB,
        listed=listed,
        scheduled={
            item.announcement.id for item in listed.items if is_scheduled(item.announcement)
        },
        status=chosen,
        q=q,
        statuses=STATUS_LABELS,
        can_publish=actor.can(codes.ANNOUNCEMENT_PUBLISH),
    )


# --- writing a draft -----------------------------------------------------------------------


async def _typed(request: Request[Any, Any, Any]) -> tuple[dict[str, str], list[str]]:
    """The form as typed, and the departments ticked (a refusal shows both again)."""
    form = await request.form()
    ticked = [str(value) for value in form.getall("department_ids", [])]
    typed = {name: str(form.get(name, "")) for name in FIELDS}
    typed["department_ids"] = ",".join(ticked)
    return typed, ticked


def _draft(typed: dict[str, str], ticked: list[str]) -> AnnouncementDraft:
    return AnnouncementDraft(
        title=typed["title"],
        body=typed["body"],
        pinned=typed["pinned"] == "on",
        everyone=typed["audience"] != "departments",
        department_ids=[d for value in ticked if (d := read_id("department_ids", value))],
    )


async def _form_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    typed: dict[str, str],
    *,
    action: str,
    refusal: Refusal | None = None,
) -> Template:
    return page(
        "oa/announcements/form.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=typed,
        ticked=typed["department_ids"].split(","),
        refusal=refusal,
        action=action,
        departments=await organisation.departments(session),
    )


@get(f"{TAB}/new", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
async def new_page(session: DbSession, tenant: CurrentTenant, actor: CurrentActor) -> Template:
    typed = dict.fromkeys(FIELDS, "")
    typed["audience"] = "everyone"
    return await _form_page(session, tenant, actor, typed, action=f"/t/{tenant.slug}{TAB}/new")


@post(f"{TAB}/new", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
async def write_from_page(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response[Any]:
    typed, ticked = await _typed(request)
    made: list[Announcement] = []

    async def write() -> None:
        made.append(await announcements.write_draft(session, actor, _draft(typed, ticked)))

    async def again(refusal: Refusal) -> Template:
        here = f"/t/{tenant.slug}{TAB}/new"
        return await _form_page(session, tenant, actor, typed, action=here, refusal=refusal)

    return await answer_form(
        session,
        "announcement",
        typed,
        write,
        back=lambda: f"/t/{tenant.slug}{TAB}/{made[0].id}",
        refused=again,
    )


@get(f"{TAB}/{{announcement_id:uuid}}/edit", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
async def edit_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    announcement_id: FromPath[uuid.UUID],
) -> Template:
    found = await announcements.get_announcement(session, actor, announcement_id)
    chosen = await announcements.department_ids(session, found.id)
    typed = {
        "title": found.title,
        "body": found.body,
        "pinned": "on" if found.pinned else "",
        "audience": "everyone" if found.everyone else "departments",
        "department_ids": ",".join(str(d) for d in chosen),
    }
    here = f"/t/{tenant.slug}{TAB}/{found.id}/edit"
    return await _form_page(session, tenant, actor, typed, action=here)


@post(f"{TAB}/{{announcement_id:uuid}}/edit", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
async def change_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    announcement_id: FromPath[uuid.UUID],
) -> Response[Any]:
    typed, ticked = await _typed(request)

    async def change() -> None:
        await announcements.change_draft(session, actor, announcement_id, _draft(typed, ticked))

    async def again(refusal: Refusal) -> Template:
        here = f"/t/{tenant.slug}{TAB}/{announcement_id}/edit"
        return await _form_page(session, tenant, actor, typed, action=here, refusal=refusal)

    done = f"/t/{tenant.slug}{TAB}/{announcement_id}"
    return await answer_form(session, "announcement", typed, change, back=done, refused=again)


# --- an announcement's page ----------------------------------------------------------------


async def _detail(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    announcement_id: uuid.UUID,
    *,
    refusal: Refusal | None = None,
) -> Template:
    found = await announcements.open_announcement(session, actor, announcement_id)
    here = f"/t/{tenant.slug}{TAB}/{found.id}"
    sections = await record_sections(
        session,
        tenant,
        actor,
        access.record_type(registry, tenant, announcements.RECORD),
        found.id,
        back=here,
    )
    return page(
        "oa/announcements/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        announcement=found,
        scheduled=is_scheduled(found),
        here=here,
        refusal=refusal,
        statuses=STATUS_LABELS,
        can_publish=actor.can(codes.ANNOUNCEMENT_PUBLISH),
        files=sections["files"],
    )


@get(f"{TAB}/{{announcement_id:uuid}}", guards=[requires(codes.ANNOUNCEMENT_READ)])
async def announcement_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    announcement_id: FromPath[uuid.UUID],
) -> Template:
    return await _detail(session, tenant, actor, registry, announcement_id)


def _action(name: str, run: Any, fields: tuple[str, ...] = ()) -> Any:
    """A publisher's button on the announcement's page (publish, withdraw, pin); ``fields``
    are its inputs, shown again with a refusal beside them."""

    @post(
        f"{TAB}/{{announcement_id:uuid}}/{name}",
        guards=[requires(codes.ANNOUNCEMENT_PUBLISH)],
        name=f"oa_announcement_{name}",
    )
    async def act(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        registry: Registry,
        announcement_id: FromPath[uuid.UUID],
        data: FormData,
    ) -> Response[Any]:
        typed = typed_in(data, *fields)

        async def go() -> None:
            await run(session, actor, announcement_id, data)

        async def again(refusal: Refusal) -> Template:
            return await _detail(session, tenant, actor, registry, announcement_id, refusal=refusal)

        done = f"/t/{tenant.slug}{TAB}/{announcement_id}"
        return await answer_form(session, "act", typed, go, back=done, refused=again)

    return act


async def _publish(
    session: AsyncSession, actor: Actor, announcement_id: uuid.UUID, data: Any
) -> None:
    """Now, or at the time typed (in the publisher's time zone)."""
    typed = data.get("publish_at", "").strip()
    at = None
    if typed:
        try:
            at = datetime.fromisoformat(typed)
        except ValueError:
            raise ValidationFailed(
                "{value} is not a time; use the form {example}.",
                value=typed,
                example="2026-03-05T09:00",
                field="publish_at",
            ) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=await time_zone_of(session, actor.user_id))
    await announcements.publish(session, actor, announcement_id, at)


publish_from_page = _action("publish", _publish, ("publish_at",))
withdraw_from_page = _action("withdraw", lambda s, a, i, _data: announcements.withdraw(s, a, i))
pin_from_page = _action(
    "pin", lambda s, a, i, data: announcements.set_pinned(s, a, i, data.get("pinned") == "on")
)


@get(f"{TAB}/{{announcement_id:uuid}}/receipts", guards=[requires(codes.ANNOUNCEMENT_PUBLISH)])
async def receipts_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    announcement_id: FromPath[uuid.UUID],
) -> Template:
    found = await announcements.get_announcement(session, actor, announcement_id)
    return page(
        "oa/announcements/receipts.html",
        tenant,
        actor,
        TAB,
        announcement=found,
        receipts=await announcements.receipts(session, actor, found.id),
    )


PAGES = [
    announcements_page,
    new_page,
    write_from_page,
    edit_page,
    change_from_page,
    announcement_page,
    publish_from_page,
    withdraw_from_page,
    pin_from_page,
    receipts_page,
]
