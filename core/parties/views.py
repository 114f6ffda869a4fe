"""Party pages under ``/t/{slug}``: the list (search, filters, "more" rows by htmx), a party's
page (with the panels enabled modules contribute), and the form for a new party that shows
suspected duplicates as the user types and asks before creating one anyway.

The same services and guards as the JSON API: the data scope applies to every
row shown, and a party outside it is a 404 page.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import contributions
from core.errors import DomainError
from core.exchange.imports import IMPORT_PERMISSION
from core.models import Department, User
from core.parties import services
from core.parties.models import Party
from core.parties.schemas import ContactPointIn, DuplicateCandidate, PartyIn
from core.parties.services import READ, RESOURCE, WRITE, DuplicateSuspected
from core.permissions import Actor, visible
from core.records import access
from core.records.views import record_sections
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.htmx import wants_partial
from web.tenancy import requires

_TAG_SEPARATORS = re.compile(r"[,，、;；]")
_FORM_FIELDS = ("kind", "name", "email", "phone", "tax_id", "website", "tags", "notes")


# --- the list ----------------------------------------------------------------------------------


@get("/parties", guards=[requires(READ)])
async def parties_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    q: FromQuery[str] = "",
    role: FromQuery[str] = "",
    tag: FromQuery[str] = "",
    after: FromQuery[str | None] = None,
) -> Template:
    filters = {"q": q, "role": role, "tag": tag}
    page = await services.list_parties(
        session, actor, search=q or None, role=role or None, tag=tag or None, cursor=after
    )
    more_url = None
    if page.next_cursor:
        more = {**{k: v for k, v in filters.items() if v}, "after": page.next_cursor}
        more_url = f"/t/{tenant.slug}/parties?{urlencode(more)}"
    context = {
        "page": page,
        "slug": tenant.slug,
        "filters": filters,
        "first_page": after is None,
        "more_url": more_url,
        "can_write": actor.can(WRITE),
        "can_import": actor.can(IMPORT_PERMISSION) and actor.can(WRITE),
    }
    return Template(
        "parties/_rows.html" if wants_partial(request) else "parties/index.html", context=context
    )


# --- a new party -------------------------------------------------------------------------------


def _party_in(form: dict[str, str]) -> PartyIn:
    points = [
        ContactPointIn(kind=kind, value=form[kind])  # type: ignore[arg-type]
        for kind in ("email", "phone")
        if form.get(kind, "").strip()
    ]
    return PartyIn(
        kind="person" if form.get("kind") == "person" else "company",
        name=form.get("name", ""),
        is_customer=bool(form.get("is_customer")),
        is_supplier=bool(form.get("is_supplier")),
        tax_id=form.get("tax_id") or None,
        website=form.get("website") or None,
        notes=form.get("notes", ""),
        contact_points=tuple(points),
        tags=tuple(t.strip() for t in _TAG_SEPARATORS.split(form.get("tags", "")) if t.strip()),
    )


def _form_page(
    tenant: CurrentTenant,
    form: dict[str, str],
    *,
    candidates: list[DuplicateCandidate] | None = None,
    error: DomainError | None = None,
) -> Template:
    return Template(
        "parties/new.html",
        context={
            "slug": tenant.slug,
            "form": form,
            "candidates": candidates or [],
            "error": error,
        },
        status_code=error.status_code if error else 200,
    )


@get("/parties/new", guards=[requires(WRITE)])
async def new_party_page(tenant: CurrentTenant) -> Template:
    return _form_page(tenant, {"kind": "company", "is_customer": "on"})


@post("/parties/new", guards=[requires(WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = {k: v for k, v in data.items() if k in (*_FORM_FIELDS, "is_customer", "is_supplier")}
    try:
        party = await services.create_party(
            session, actor, _party_in(form), allow_duplicates=data.get("allow_duplicates") == "1"
        )
    except DuplicateSuspected as suspected:
        return _form_page(tenant, form, candidates=suspected.candidates, error=suspected)
    except DomainError as error:
        return _form_page(tenant, form, error=error)
    return Redirect(f"/t/{tenant.slug}/parties/{party.id}", status_code=HTTP_303_SEE_OTHER)


@get("/parties/duplicates", guards=[requires(READ)])
async def duplicates_fragment(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    kind: FromQuery[str] = "company",
    name: FromQuery[str] = "",
    email: FromQuery[str] = "",
    phone: FromQuery[str] = "",
) -> Template:
    """What the form shows as the user types: parties that look like the one entered.

    Half-typed input (an e-mail address without its domain) shows nothing
    rather than an error: the form says what is wrong when it is sent.
    """
    candidates: list[DuplicateCandidate] = []
    if name.strip() or email.strip() or phone.strip():
        try:
            candidates = await services.find_duplicates(
                session,
                actor,
                kind="person" if kind == "person" else "company",
                name=name,
                emails=[email] if email.strip() else [],
                phones=[phone] if phone.strip() else [],
            )
        except DomainError:
            candidates = []
    return Template(
        "parties/_duplicates.html", context={"slug": tenant.slug, "candidates": candidates}
    )


# --- a party's page ----------------------------------------------------------------------------


async def _related_names(session: AsyncSession, actor: Actor, party: Party) -> dict[str, Any]:
    """What the page shows for the ids on the party: the employer (only if the member may
    see it), the owner, the department, and the party it was merged into."""

    async def visible_name(party_id: uuid.UUID | None) -> str | None:
        if party_id is None:
            return None
        return await session.scalar(
            select(Party.name).where(Party.id == party_id, visible(actor, RESOURCE, Party))
        )

    owner = department = None
    if party.owner_id is not None:
        owner = await session.scalar(select(User.display_name).where(User.id == party.owner_id))
    if party.department_id is not None:
        department = await session.scalar(
            select(Department.name).where(Department.id == party.department_id)
        )
    return {
        "company": await visible_name(party.company_id),
        "merged_into": await visible_name(party.merged_into_id),
        "owner": owner,
        "department": department,
    }


@get("/parties/{party_id:uuid}", guards=[requires(READ)])
async def party_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    party_id: FromPath[uuid.UUID],
) -> Template:
    party = await services.get_party(session, actor, party_id)
    panels = await contributions.record_panels(registry, tenant, session, actor, RESOURCE, party.id)
    sections = await record_sections(
        session,
        tenant,
        actor,
        access.record_type(registry, tenant, RESOURCE),
        party.id,
        back=f"/t/{tenant.slug}/parties/{party.id}",
    )
    return Template(
        "parties/detail.html",
        context={
            "slug": tenant.slug,
            "party": party,
            "names": await _related_names(session, actor, party),
            "panels": panels,
            **sections,
        },
    )


PAGES = [parties_page, new_party_page, create_from_page, duplicates_fragment, party_page]
