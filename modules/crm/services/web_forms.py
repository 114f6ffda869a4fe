"""Web-to-lead forms: a page a workspace embeds on its own site, whose posts become leads.

A form is found by its key alone (``/public/crm/forms/{form_key}``): 32 random hex
characters, unique across Atrium. The public page has no workspace in its address and
no one signed in, so it cannot run as a tenant to look the key up; instead the
``crm_web_form_tenant`` function (SECURITY DEFINER, migration crm_0001) turns a key into
its tenant id, a key and nothing more, and everything after runs in that tenant's
transaction under row-level security, like any other request (the invitation link does
the same, ``core_invitation_tenant``).

A post is refused with the same plain page when the workspace is suspended or deleted,
does not have CRM on, or the form is switched off: a stranger learns nothing about which.

Spam, since a cross-site post cannot carry our CSRF token:

- the throttle (:data:`WEB_FORM_POSTS`, core's sign-in throttle table under ``form:``
  keys): 5 posts per form and client address and 30 per client address within 10
  minutes; then that key is refused for 10 minutes (429, what was typed kept). Counted
  are the posts that pass the form's checks (on the side pool, so they hold whatever the
  post's transaction does); one refused for its input writes nothing and is not counted,
  so a visitor correcting a typo is not locked out (the sign-up form does the same);
- the honeypot: an input people never see (hidden, out of the tab order, hidden from
  screen readers) that form-filling bots fill; such a post is counted, thanked and
  dropped.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from msgspec import UNSET
from sqlalchemy import Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database, add_unique
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.i18n import N_
from core.identity import throttle
from core.models import Tenant
from core.permissions import Actor
from core.tenancy import enabled_modules
from modules.crm import permissions as codes
from modules.crm.models import WebForm
from modules.crm.models.leads import LEAD_SOURCES
from modules.crm.schemas.leads import WebFormChanges, WebFormIn, WebFormOut, WebLeadIn
from modules.crm.services import assignment, leads

FORM_PATH = "/public/crm/forms/{key}"
KEY_BYTES = 16  # 32 hex characters: unguessable, and lower-case (the throttle folds case)
#: The honeypot: an input people never see and leave empty, that form-filling bots fill.
HONEYPOT = "website"
WEB_FORM_POSTS = throttle.Policy(
    "form:",
    throttle.Limit(failures=5, window=timedelta(minutes=10), lockout=timedelta(minutes=10)),
    throttle.Limit(failures=30, window=timedelta(minutes=10), lockout=timedelta(minutes=10)),
    N_("Too many forms were sent from your network. Try again in {minutes} minutes."),
)


def form_url(base_url: str, form_key: str) -> str:
    return base_url.rstrip("/") + FORM_PATH.format(key=form_key)


def embed_snippet(url: str) -> str:
    """The HTML a workspace pastes into its own site to show the form."""
    return f'<iframe src="{url}" width="100%" height="640" style="border:0"></iframe>'


# --- the settings: making and changing forms -----------------------------------------------


def form_out(form: WebForm, base_url: str) -> WebFormOut:
    return WebFormOut(
        id=form.id,
        name=form.name,
        form_key=form.form_key,
        source=form.source,
        team_id=form.team_id,
        active=form.active,
        url=form_url(base_url, form.form_key),
    )


async def forms(session: AsyncSession) -> list[WebForm]:
    return list(await session.scalars(select(WebForm).order_by(WebForm.name, WebForm.id)))


def _source(source: str) -> str:
    if source not in LEAD_SOURCES:
        raise ValidationFailed("Choose a source from the list.", field="source")
    return source


async def _team(session: AsyncSession, team_id: uuid.UUID | None) -> uuid.UUID | None:
    return None if team_id is None else (await assignment.get_team(session, team_id)).id


async def create_form(session: AsyncSession, actor: Actor, data: WebFormIn) -> WebForm:
    """A new, active form with a fresh key."""
    actor.require(codes.SETTINGS_MANAGE)
    form = WebForm(
        name=assignment.checked_name(data.name),
        source=_source(data.source),
        team_id=await _team(session, data.team_id),
        active=True,
    )
    # A key another workspace already has (one in 2^128) is drawn again.
    while not await add_unique(session, _with_key(form)):
        pass
    return form


def _with_key(form: WebForm) -> WebForm:
    form.form_key = secrets.token_hex(KEY_BYTES)
    return form


async def get_form(session: AsyncSession, form_id: uuid.UUID) -> WebForm:
    form = await session.scalar(select(WebForm).where(WebForm.id == form_id))
    if form is None:
        raise NotFound("No web form {id}.", id=str(form_id))
    return form


async def update_form(
    session: AsyncSession, actor: Actor, form_id: uuid.UUID, changes: WebFormChanges
) -> WebForm:
    """Rename a form, change where its leads go, or switch it off (its page then says it
    takes no entries; the key stays, so switching it on again revives the embedded page)."""
    actor.require(codes.SETTINGS_MANAGE)
    form = await get_form(session, form_id)
    if changes.name is not UNSET:
        form.name = assignment.checked_name(changes.name)
    if changes.source is not UNSET:
        form.source = _source(changes.source)
    if changes.team_id is not UNSET:
        form.team_id = await _team(session, changes.team_id)
    if changes.active is not UNSET:
        form.active = changes.active
    await session.flush()
    return form


# --- the public page -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenForm:
    """A form that takes entries, in the workspace's session."""

    form: WebForm
    locale: str  # the workspace's: the page speaks it unless the visitor asks otherwise
    session: AsyncSession


def closed() -> PermissionDenied:
    return PermissionDenied("This form is not taking entries at the moment.")


@asynccontextmanager
async def open_form(db: Database, form_key: str) -> AsyncIterator[OpenForm]:
    """The form behind ``form_key`` in a transaction of its workspace (committed when the
    block ends, rolled back on an error). NotFound for a key nobody has; the same refusal
    (:func:`closed`) for a suspended or deleted workspace, one without CRM, an inactive
    form."""
    async with db.global_transaction() as lookup:
        tenant_id = await lookup.scalar(select(func.crm_web_form_tenant(form_key, type_=Uuid)))
    if tenant_id is None:
        raise NotFound("There is no form at this address.")
    async with db.tenant_transaction(tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None or tenant.status != "active":
            raise closed()
        if "crm" not in await enabled_modules(session):
            raise closed()
        form = await session.scalar(select(WebForm).where(WebForm.form_key == form_key))
        if form is None or not form.active:
            raise closed()
        yield OpenForm(form, tenant.locale, session)


def _typed(form: WebForm, data: WebLeadIn) -> leads.Checked:
    return leads.Checked(
        name=data.name,
        company_name=data.company_name,
        title="",
        email=data.email,
        phone=data.phone,
        source=form.source,
        region="",
        notes=data.notes,
    )


async def submit(
    db: Database, opened: OpenForm, data: WebLeadIn, *, ip: str | None, honeypot: str
) -> None:
    """Take a visitor's post: throttled, a honeypot post dropped, the rest a new lead in
    the form's team or placed by the rules. A refusal names its input."""
    # What the throttle counts as one sender: one address posting one form.
    sender = f"{opened.form.form_key} {ip or ''}"
    await throttle.check(opened.session, sender, ip, WEB_FORM_POSTS)
    if honeypot.strip():
        await throttle.count(db, sender, ip, WEB_FORM_POSTS)
        return
    if not data.email.strip() and not data.phone.strip():
        raise ValidationFailed(
            "Leave an e-mail address or a phone number, so that we can reach you.",
            field="email",
        )
    await leads.capture(
        opened.session,
        _typed(opened.form, data),
        team_id=opened.form.team_id,
        web_form_id=opened.form.id,
    )
    await throttle.count(db, sender, ip, WEB_FORM_POSTS)  # only once it passed the checks
