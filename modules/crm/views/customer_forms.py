"""The customer's form pages under ``/t/{slug}/crm/customers``, each a page of its own: a
new customer (a party that looks like an existing one is shown and created only once the
user confirms), the edit page of its profile, a contact's edit page, and the page that
asks before a customer is released to the public pool; and what every customer page
shares (the tab, the profile's options, the notices after a form).

A form's action runs in a savepoint (``web.forms.attempt``): a refusal writes nothing and
is shown beside its input with what was typed, with the error's status; an accepted one
answers 303.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import NotFound
from core.i18n import N_
from core.parties.schemas import DuplicateCandidate
from core.parties.services import DuplicateSuspected
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.schemas.customers import ContactChanges, CustomerChanges, CustomerIn, CustomerOut
from modules.crm.services import contacts, customers, pool
from modules.crm.services.customers import LEVEL_LABELS, SOURCES, STAGES
from modules.crm.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, attempt, typed_in
from web.tenancy import requires

TAB = "/crm/customers"
CUSTOMER = "/crm/customers/{party_id:uuid}"
TAG_SEPARATORS = re.compile(r"[,，、;；]")
PROFILE_FIELDS = ("name", "tags", "industry", "lifecycle_stage", "level", "source")
NEW_FIELDS = ("kind", "email", "phone", *PROFILE_FIELDS)
CONTACT_FIELDS = ("name", "email", "phone", "notes")
#: What a page says after an accepted form (``?notice=``), msgids.
NOTICES = {
    "saved": N_("Saved."),
    "recorded": N_("The follow-up is recorded."),
    "transferred": N_("The customer has a new owner."),
    "released": N_("The customer is in the public pool now."),
    "claimed": N_("The customer is yours now."),
}


def choices() -> dict[str, Any]:
    """The profile's options for selects: (code, msgid label)."""
    return {
        "stages": list(STAGES.items()),
        "levels": list(LEVEL_LABELS.items()),
        "sources": list(SOURCES.items()),
    }


def candidates_of(refusal: Refusal | None) -> list[DuplicateCandidate]:
    """The parties a refused new customer or contact looks like (core's list shows them)."""
    if refusal is None or not isinstance(refusal.error, DuplicateSuspected):
        return []
    return refusal.error.candidates


def notice_of(notice: str | None) -> str | None:
    return NOTICES.get(notice or "")


def tags_in(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in TAG_SEPARATORS.split(text) if t.strip())


# --- a new customer --------------------------------------------------------------------------


def _form_page(
    template: str,
    tenant: TenantContext,
    actor: Actor,
    form: dict[str, str],
    *,
    refusal: Refusal | None = None,
    **context: Any,
) -> Template:
    """A form page of its own: the form with what was typed, a refusal beside its input."""
    return page(
        template,
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        form=form,
        refusal=refusal,
        candidates=candidates_of(refusal),
        **choices(),
        **context,
    )


@get(f"{TAB}/new", guards=[requires(codes.CUSTOMER_WRITE)])
async def new_customer_page(tenant: CurrentTenant, actor: CurrentActor) -> Template:
    form = {"kind": "company", "lifecycle_stage": "prospect", "source": "manual"}
    return _form_page("crm/customers/new.html", tenant, actor, form)


@post(f"{TAB}/new", guards=[requires(codes.CUSTOMER_WRITE)])
async def create_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    typed = typed_in(data, *NEW_FIELDS)
    made: list[CustomerOut] = []

    async def create() -> None:
        new = CustomerIn(
            kind="person" if typed["kind"] == "person" else "company",
            name=typed["name"],
            email=typed["email"],
            phone=typed["phone"],
            tags=tags_in(typed["tags"]),
            industry=typed["industry"],
            lifecycle_stage=typed["lifecycle_stage"],
            level=typed["level"] or None,
            source=typed["source"],
            allow_duplicates=data.get("allow_duplicates") == "1",
        )
        made.append(await customers.create_customer(session, actor, new))

    error = await attempt(session, create)
    if error is not None:
        refusal = Refusal.of("customer", typed, error)
        return _form_page("crm/customers/new.html", tenant, actor, typed, refusal=refusal)
    return Redirect(f"/t/{tenant.slug}{TAB}/{made[0].id}", status_code=HTTP_303_SEE_OTHER)


async def where_now(
    session: AsyncSession, tenant: TenantContext, actor: Actor, party_id: uuid.UUID, notice: str
) -> Redirect:
    """After a transfer or a release the member may no longer see the customer: its page
    if they still may, else the list."""
    target = f"/t/{tenant.slug}{TAB}"
    try:
        await customers.get_customer(session, actor, party_id)
        target = f"{target}/{party_id}"
    except NotFound:
        pass  # no longer theirs to see
    return Redirect(f"{target}?notice={notice}", status_code=HTTP_303_SEE_OTHER)


@get(f"{CUSTOMER}/release", guards=[requires(codes.CUSTOMER_WRITE)])
async def release_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, party_id: FromPath[uuid.UUID]
) -> Template:
    """What releasing does, the reason to type, and the button: the page asks first."""
    customer = await customers.get_customer(session, actor, party_id)
    return _form_page("crm/customers/release.html", tenant, actor, {}, customer=customer)


@post(f"{CUSTOMER}/release", guards=[requires(codes.CUSTOMER_WRITE)])
async def release_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    customer = await customers.get_customer(session, actor, party_id)
    typed = typed_in(data, "reason")
    error = await attempt(session, lambda: pool.release(session, actor, party_id, typed["reason"]))
    if error is None:
        return await where_now(session, tenant, actor, party_id, "released")
    refusal = Refusal.of("release", typed, error)
    return _form_page(
        "crm/customers/release.html", tenant, actor, typed, refusal=refusal, customer=customer
    )


# --- a customer's edit page, a contact's edit page ------------------------------------------


def _profile_form(customer: CustomerOut) -> dict[str, str]:
    return {
        "name": customer.name,
        "tags": ", ".join(customer.tags),
        "industry": customer.industry,
        "lifecycle_stage": customer.lifecycle_stage,
        "level": customer.level or "",
        "source": customer.source,
    }


@get(f"{CUSTOMER}/edit", guards=[requires(codes.CUSTOMER_WRITE)])
async def edit_customer_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, party_id: FromPath[uuid.UUID]
) -> Template:
    customer = await customers.get_customer(session, actor, party_id)
    form = _profile_form(customer)
    return _form_page("crm/customers/edit.html", tenant, actor, form, customer=customer)


@post(f"{CUSTOMER}/edit", guards=[requires(codes.CUSTOMER_WRITE)])
async def update_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    customer = await customers.get_customer(session, actor, party_id)
    typed = typed_in(data, *PROFILE_FIELDS)

    async def update() -> None:
        changes = CustomerChanges(
            name=typed["name"],
            tags=tags_in(typed["tags"]),
            industry=typed["industry"],
            lifecycle_stage=typed["lifecycle_stage"],
            level=typed["level"] or None,
            source=typed["source"],
        )
        await customers.update_customer(session, actor, party_id, changes)

    error = await attempt(session, update)
    if error is not None:
        refusal = Refusal.of("customer", typed, error)
        return _form_page(
            "crm/customers/edit.html", tenant, actor, typed, refusal=refusal, customer=customer
        )
    here = f"/t/{tenant.slug}{TAB}/{party_id}"
    return Redirect(f"{here}?notice=saved", status_code=HTTP_303_SEE_OTHER)


@get(f"{CUSTOMER}/contacts/{{contact_id:uuid}}/edit", guards=[requires(codes.CUSTOMER_WRITE)])
async def edit_contact_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    contact_id: FromPath[uuid.UUID],
) -> Template:
    customer = await customers.get_customer(session, actor, party_id)
    contact = await contacts.get_contact(session, actor, party_id, contact_id)
    form = {
        "name": contact.name,
        "email": contact.email or "",
        "phone": contact.phone or "",
        "notes": contact.notes,
    }
    return _form_page(
        "crm/customers/contact.html", tenant, actor, form, customer=customer, contact=contact
    )


@post(f"{CUSTOMER}/contacts/{{contact_id:uuid}}/edit", guards=[requires(codes.CUSTOMER_WRITE)])
async def update_contact_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    party_id: FromPath[uuid.UUID],
    contact_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    customer = await customers.get_customer(session, actor, party_id)
    contact = await contacts.get_contact(session, actor, party_id, contact_id)
    typed = typed_in(data, *CONTACT_FIELDS)

    async def update() -> None:
        changes = ContactChanges(**typed, allow_duplicates=data.get("allow_duplicates") == "1")
        await contacts.update_contact(session, actor, party_id, contact_id, changes)

    error = await attempt(session, update)
    if error is not None:
        refusal = Refusal.of("contact", typed, error)
        return _form_page(
            "crm/customers/contact.html",
            tenant,
            actor,
            typed,
            refusal=refusal,
            customer=customer,
            contact=contact,
        )
    here = f"/t/{tenant.slug}{TAB}/{party_id}"
    return Redirect(f"{here}?notice=saved", status_code=HTTP_303_SEE_OTHER)


PAGES = [
    new_customer_page,
    create_from_page,
    release_page,
    release_from_page,
    edit_customer_page,
    update_from_page,
    edit_contact_page,
    update_contact_from_page,
]
