"""Approval form pages: "New request" (``/t/{slug}/oa/forms``, the forms a member may file
and their own latest requests), a form to fill in (``/oa/forms/{code}/new``), a returned
request to fix and resubmit (``/oa/forms/requests/{id}/edit``), and the designer for admins
(``/oa/form-designer``).

Every page works without JavaScript: "Add a line" and the designer's "Add a field", "Up",
"Down" and "Remove" post the form (``do=...``) and come back with what was typed, changed.
A refusal shows each message beside its input (``errors`` by input name), with everything
typed kept; chosen files are not (a browser never keeps them), and the page says so.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import DomainError
from core.models import Department
from core.permissions import Actor
from core.records.api import declared_type, store_of
from modules.oa import permissions as codes
from modules.oa.models import Form
from modules.oa.services import engine, flows, form_requests, forms
from modules.oa.services.form_requests import FORM_BODY_LIMIT, Upload, line_numbers, name_of
from modules.oa.services.forms import FormRefused
from modules.oa.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.errors import error_text
from web.forms import attempt
from web.tenancy import requires

TAB = "/oa/forms"
DESIGNER = "/oa/form-designer"
SPARE_LINES = 1


def _errors_of(error: DomainError | None) -> dict[str, str]:
    """The refusals by input name; a refusal of the whole form is under ``""``."""
    if error is None:
        return {}
    if isinstance(error, FormRefused):
        return error.errors
    return {"": str(error_text(error))}


async def _choices(session: AsyncSession, fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The members and departments a form's member and department fields choose from."""
    kinds = {f["type"] for f in fields}
    members = await flows.members(session) if "member" in kinds else []
    departments = (
        list(
            (
                await session.execute(
                    select(Department.id, Department.name).order_by(Department.path)
                )
            ).all()
        )
        if "department" in kinds
        else []
    )
    return {"members": members, "departments": departments}


def _line_rows(
    fields: list[dict[str, Any]], typed: dict[str, str], more: str = ""
) -> dict[str, int]:
    """How many line inputs each table shows: its typed lines (at least one), one more for
    the table whose "Add a line" was pressed."""
    rows = {}
    for field in fields:
        if field["type"] == "lines":
            rows[field["key"]] = max(line_numbers(field, typed) or [0]) or 1
            rows[field["key"]] += 1 if more == field["key"] else 0
    return rows


async def _posted(
    request: Request[Any, Any, Any],
) -> tuple[dict[str, str], dict[str, list[Upload]], set[str]]:
    """What a form page posted: the typed inputs, the chosen files by attachment field key,
    and the attachment ids ticked "Remove"."""
    posted = await request.form()
    typed: dict[str, str] = {}
    uploads: dict[str, list[Upload]] = {}
    removed: set[str] = set()
    for name in posted:
        for given in posted.getall(name):
            if isinstance(given, UploadFile):
                if given.filename and name.startswith("f."):
                    uploads.setdefault(name[2:], []).append(
                        Upload(given.filename, given.file, declared_type(given))
                    )
            elif name == "remove":
                removed.add(str(given))
            else:
                typed[name] = str(given)
    return typed, uploads, removed


# --- "New request": the forms to file ---------------------------------------------------------


@get(TAB, guards=[requires(codes.APPROVAL_READ)])
async def forms_page(session: DbSession, tenant: CurrentTenant, actor: CurrentActor) -> Template:
    return page(
        "oa/forms/index.html",
        tenant,
        actor,
        TAB,
        forms=[
            (f, forms.form_name(f), forms.label(f, f.description))
            for f in await forms.list_forms(session, active_only=True)
        ],
        mine=await form_requests.mine(session, actor),
        statuses=engine.STATUS_LABELS,
        can_design=actor.can(codes.FORM_MANAGE),
    )


async def _form_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: Form,
    fields: list[dict[str, Any]],
    typed: dict[str, str],
    *,
    action: str,
    more: str = "",
    error: DomainError | None = None,
    files_chosen: bool = False,
    editing: form_requests.Shown | None = None,
) -> Template:
    return page(
        "oa/forms/form.html",
        tenant,
        actor,
        TAB,
        status_code=error.status_code if error else 200,
        form=form,
        form_title=forms.form_name(form),
        fields=fields,
        label=lambda text: forms.label(form, text),
        typed=typed,
        rows=_line_rows(fields, typed, more),
        errors=_errors_of(error),
        files_again=error is not None and files_chosen,
        editing=editing,
        action=action,
        name_of=name_of,
        **await _choices(session, fields),
    )


@get(f"{TAB}/{{code:str}}/new", guards=[requires(codes.APPROVAL_READ)])
async def new_request_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, code: FromPath[str]
) -> Template:
    form = await forms.form_by_code(session, code)
    fields = await forms.current_fields(session, form)
    action = f"/t/{tenant.slug}{TAB}/{code}/new"
    return await _form_page(session, tenant, actor, form, fields, {}, action=action)


@post(
    f"{TAB}/{{code:str}}/new",
    guards=[requires(codes.APPROVAL_READ)],
    request_max_body_size=FORM_BODY_LIMIT,
)
async def file_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    code: FromPath[str],
) -> Response[Any]:
    """``do=line:<key>`` adds a line to a table; anything else files the request and opens
    its approval."""
    typed, uploads, _removed = await _posted(request)
    form = await forms.form_by_code(session, code)
    fields = await forms.current_fields(session, form)
    action = f"/t/{tenant.slug}{TAB}/{code}/new"
    do = typed.get("do", "")
    if do.startswith("line:"):
        return await _form_page(
            session,
            tenant,
            actor,
            form,
            fields,
            typed,
            action=action,
            more=do[5:],
            files_chosen=bool(uploads),
        )
    made: list[uuid.UUID] = []

    async def file() -> None:
        row = await form_requests.file_request(
            session, tenant, registry, store_of(request), actor, code, typed, uploads
        )
        made.append(row.id)

    error = await attempt(session, file)
    if error is not None:
        return await _form_page(
            session,
            tenant,
            actor,
            form,
            fields,
            typed,
            action=action,
            error=error,
            files_chosen=bool(uploads),
        )
    return Redirect(f"/t/{tenant.slug}{TAB}/requests/{made[0]}", status_code=HTTP_303_SEE_OTHER)


@get(f"{TAB}/requests/{{request_id:uuid}}", guards=[requires(codes.APPROVAL_READ)])
async def request_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, request_id: FromPath[uuid.UUID]
) -> Redirect:
    """A request's page is its approval's (which shows the form's values)."""
    row = await form_requests.get_request(session, actor, request_id)
    instance_id = await form_requests.instance_id_of(session, row)
    return Redirect(f"/t/{tenant.slug}/oa/approvals/{instance_id}")


# --- fixing a returned request ----------------------------------------------------------------


@get(f"{TAB}/requests/{{request_id:uuid}}/edit", guards=[requires(codes.APPROVAL_READ)])
async def edit_request_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, request_id: FromPath[uuid.UUID]
) -> Template:
    found = await form_requests.editable(session, actor, request_id)
    typed = form_requests.typed_of_json(found.fields, found.row.values)
    action = f"/t/{tenant.slug}{TAB}/requests/{request_id}/edit"
    return await _form_page(
        session, tenant, actor, found.form, found.fields, typed, action=action, editing=found
    )


@post(
    f"{TAB}/requests/{{request_id:uuid}}/edit",
    guards=[requires(codes.APPROVAL_READ)],
    request_max_body_size=FORM_BODY_LIMIT,
)
async def resubmit_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    request_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """``do=line:<key>`` adds a line; anything else saves the changes and resubmits."""
    typed, uploads, removed = await _posted(request)
    found = await form_requests.editable(session, actor, request_id)
    action = f"/t/{tenant.slug}{TAB}/requests/{request_id}/edit"
    do = typed.get("do", "")

    async def again(error: DomainError | None = None, more: str = "") -> Template:
        return await _form_page(
            session,
            tenant,
            actor,
            found.form,
            found.fields,
            typed,
            action=action,
            more=more,
            error=error,
            files_chosen=bool(uploads),
            editing=found,
        )

    if do.startswith("line:"):
        return await again(more=do[5:])
    error = await attempt(
        session,
        lambda: form_requests.resubmit_request(
            session,
            store_of(request),
            actor,
            request_id,
            typed,
            uploads,
            removed,
            typed.get("comment", ""),
        ),
    )
    if error is not None:
        return await again(error)
    return Redirect(
        f"/t/{tenant.slug}/oa/approvals/{found.instance_id}", status_code=HTTP_303_SEE_OTHER
    )


# --- the designer -----------------------------------------------------------------------------

FIELD_PARTS = ("key", "label", "type", "required", "options", "columns", "min", "max")


@get(DESIGNER, guards=[requires(codes.FORM_MANAGE)])
async def designer_page(session: DbSession, tenant: CurrentTenant, actor: CurrentActor) -> Template:
    return page(
        "oa/forms/designer.html",
        tenant,
        actor,
        TAB,
        forms=[(f, forms.form_name(f)) for f in await forms.list_forms(session)],
    )


def _design_typed(form: Form | None, fields: list[dict[str, Any]]) -> dict[str, str]:
    """A saved design as the designer's inputs."""
    typed = {
        "code": form.code if form else "",
        "name": form.name if form else "",
        "description": form.description if form else "",
        "active": "on" if form is None or form.active else "",
    }
    for number, field in enumerate(fields, start=1):
        where = f"field_{number}"
        typed |= {
            f"{where}_key": field["key"],
            f"{where}_label": field["label"],
            f"{where}_type": field["type"],
            f"{where}_required": "on" if field.get("required") else "",
            f"{where}_options": "\n".join(t for _v, t in field.get("options") or []),
            f"{where}_columns": forms.columns_as_text(field.get("columns") or []),
            f"{where}_min": field.get("min") or "",
            f"{where}_max": field.get("max") or "",
        }
    return typed


def _field_rows(typed: dict[str, str]) -> list[dict[str, str]]:
    """The designer's field rows as typed, in order (a row left wholly blank is none)."""
    numbers = sorted(
        {
            int(k.split("_")[1])
            for k in typed
            if k.startswith("field_") and k.split("_")[1].isdigit()
        }
    )
    rows = []
    for number in numbers:
        row = {part: typed.get(f"field_{number}_{part}", "") for part in FIELD_PARTS}
        if row["key"].strip() or row["label"].strip():
            rows.append(row)
    return rows


def _renumbered(typed: dict[str, str], rows: list[dict[str, str]]) -> dict[str, str]:
    kept = {k: v for k, v in typed.items() if not k.startswith("field_")}
    for number, row in enumerate(rows, start=1):
        kept |= {f"field_{number}_{part}": value for part, value in row.items()}
    return kept


def _fields_of(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "key": row["key"].strip(),
            "label": row["label"],
            "type": row["type"],
            "required": row["required"] == "on",
            "options": forms.options_from_text(row["options"]),
            "columns": forms.columns_from_text(row["columns"]),
            "min": row["min"].strip() or None,
            "max": row["max"].strip() or None,
        }
        for row in rows
    ]


def _design_page(
    tenant: TenantContext,
    actor: Actor,
    typed: dict[str, str],
    *,
    form: Form | None,
    action: str,
    spare: int = 0,
    error: DomainError | None = None,
) -> Template:
    rows = len(_field_rows(typed)) + spare
    return page(
        "oa/forms/design.html",
        tenant,
        actor,
        TAB,
        status_code=error.status_code if error else 200,
        form=form,
        builtin=bool(form and form.builtin_key),
        form_title=forms.form_name(form) if form else "",
        typed=typed,
        rows=range(1, max(rows, 1) + 1),
        row_count=max(rows, 1),
        types=forms.FIELD_TYPES,
        errors=_errors_of(error),
        action=action,
        flow_key=forms.flow_key(form.code) if form else "",
    )


@get(f"{DESIGNER}/new", guards=[requires(codes.FORM_MANAGE)])
async def new_design_page(tenant: CurrentTenant, actor: CurrentActor) -> Template:
    return _design_page(
        tenant,
        actor,
        _design_typed(None, []),
        form=None,
        action=f"/t/{tenant.slug}{DESIGNER}/new",
        spare=1,
    )


@get(f"{DESIGNER}/{{code:str}}", guards=[requires(codes.FORM_MANAGE)])
async def design_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, code: FromPath[str]
) -> Template:
    form = await forms.form_by_code(session, code)
    typed = _design_typed(form, await forms.current_fields(session, form))
    return _design_page(
        tenant, actor, typed, form=form, action=f"/t/{tenant.slug}{DESIGNER}/{code}"
    )


async def _design_post(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    data: dict[str, str],
    form: Form | None,
) -> Response[Any]:
    """``do``: ``add`` (one more field row), ``up:N``, ``down:N``, ``remove:N``, or ``save``."""
    action = f"/t/{tenant.slug}{DESIGNER}/{form.code if form else 'new'}"
    typed = dict(data)
    rows = _field_rows(typed)
    do = typed.pop("do", "save")
    verb, _, number = do.partition(":")
    if verb in ("up", "down", "remove") and number.isdigit() and 1 <= int(number) <= len(rows):
        index = int(number) - 1
        if verb == "remove":
            rows.pop(index)
        else:
            other = index - 1 if verb == "up" else index + 1
            if 0 <= other < len(rows):
                rows[index], rows[other] = rows[other], rows[index]
        return _design_page(tenant, actor, _renumbered(typed, rows), form=form, action=action)
    if verb == "add":
        return _design_page(
            tenant, actor, _renumbered(typed, rows), form=form, action=action, spare=1
        )
    saved: list[Form] = []

    async def save() -> None:
        saved.append(
            await forms.save_form(
                session,
                actor.user_id,
                code=typed.get("code", "").strip(),
                name=typed.get("name", ""),
                description=typed.get("description", ""),
                active=typed.get("active") == "on",
                fields=_fields_of(rows),
                existing=form.code if form else None,
            )
        )

    error = await attempt(session, save)
    if error is not None:
        return _design_page(
            tenant, actor, _renumbered(typed, rows), form=form, action=action, error=error
        )
    return Redirect(f"/t/{tenant.slug}{DESIGNER}/{saved[0].code}", status_code=HTTP_303_SEE_OTHER)


@post(f"{DESIGNER}/new", guards=[requires(codes.FORM_MANAGE)])
async def create_design(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    return await _design_post(session, tenant, actor, data, None)


@post(f"{DESIGNER}/{{code:str}}", guards=[requires(codes.FORM_MANAGE)])
async def save_design(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    code: FromPath[str],
    data: FormData,
) -> Response[Any]:
    form = await forms.form_by_code(session, code, for_update=True)
    return await _design_post(session, tenant, actor, data, form)


PAGES = [
    forms_page,
    new_request_page,
    file_from_page,
    request_page,
    edit_request_page,
    resubmit_from_page,
    designer_page,
    new_design_page,
    create_design,
    design_page,
    save_design,
]
