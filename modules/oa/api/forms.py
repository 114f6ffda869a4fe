"""The approval forms JSON API under ``/api/t/{slug}/oa``: the forms (``GET /forms``, ``GET
/forms/{code}``; admins ``POST /forms`` and ``PUT /forms/{code}``), filing a request
(``POST /forms/{code}/requests``) and reading one (``GET /form-requests/{id}``).

Filing takes JSON ``{"values": {...}}`` (a date range ``{"start", "end"}``, a table a list
of objects, numbers as strings or JSON numbers), or, for a form with attachment fields,
``multipart/form-data`` with a ``values`` part holding that JSON and the files as parts
named ``f.<key>``: a required attachment must come with the request. Refusals are 422 with
``errors`` by input name (``f.<key>``, ``f.<key>.start``, ``f.<key>.<n>.<column>``). More
files later go through core's attachments API on record type ``oa.form_request``.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Request, get, post, put
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.permissions import Actor
from core.records.api import declared_type, store_of
from modules.oa import permissions as codes
from modules.oa.models import Form
from modules.oa.services import form_requests, forms
from modules.oa.services.form_requests import FORM_BODY_LIMIT, Upload
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires


class FormIn(msgspec.Struct, frozen=True, kw_only=True):
    """A designed form; ``fields`` as ``services/forms.py`` describes them."""

    code: str
    name: str
    description: str = ""
    active: bool = True
    fields: list[dict[str, Any]] = msgspec.field(default_factory=list)


class FormOut(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    name: str
    description: str
    active: bool
    builtin: bool
    version: int
    flow_key: str
    fields: list[dict[str, Any]] | None = None  # labels in the reader's language


class RequestIn(msgspec.Struct, frozen=True, kw_only=True):
    values: dict[str, Any]


class FileOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    field: str
    file_name: str


class RequestOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    form_code: str
    form_version: int
    title: str
    values: dict[str, Any]
    amount: Decimal | None
    status: str
    approval_status: str | None  # pending, returned, approved, rejected, withdrawn
    approval_request_id: uuid.UUID | None
    approval_id: uuid.UUID | None
    files: list[FileOut]
    created_at: datetime


def _translated(form: Form, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown = []
    for field in fields:
        field = {**field, "label": forms.label(form, field["label"])}
        if "options" in field:
            field["options"] = [[v, forms.label(form, t)] for v, t in field["options"]]
        if "columns" in field:
            field["columns"] = _translated(form, field["columns"])
        shown.append(field)
    return shown


async def form_out(session: AsyncSession, form: Form, *, with_fields: bool) -> FormOut:
    fields = await forms.current_fields(session, form) if with_fields else None
    return FormOut(
        code=form.code,
        name=forms.form_name(form),
        description=forms.label(form, form.description),
        active=form.active,
        builtin=form.builtin_key is not None,
        version=form.version,
        flow_key=forms.flow_key(form.code),
        fields=None if fields is None else _translated(form, fields),
    )


@get("/oa/forms", guards=[requires(codes.APPROVAL_READ)], summary="The approval forms")
async def list_forms(session: DbSession, actor: CurrentActor) -> list[FormOut]:
    """The forms in use; for admins (``oa.form.manage``) those out of use too."""
    found = await forms.list_forms(session, active_only=not actor.can(codes.FORM_MANAGE))
    return [await form_out(session, form, with_fields=False) for form in found]


@get("/oa/forms/{code:str}", guards=[requires(codes.APPROVAL_READ)], summary="A form")
async def get_form(session: DbSession, actor: CurrentActor, code: FromPath[str]) -> FormOut:
    form = await forms.form_by_code(session, code)
    return await form_out(session, form, with_fields=True)


@post("/oa/forms", guards=[requires(codes.FORM_MANAGE)], summary="Design a form")
async def create_form(session: DbSession, actor: CurrentActor, data: JSONBody[FormIn]) -> FormOut:
    made = await forms.save_form(
        session,
        actor.user_id,
        code=data.code.strip(),
        name=data.name,
        description=data.description,
        active=data.active,
        fields=_checked_shape(data.fields),
    )
    return await form_out(session, made, with_fields=True)


@put("/oa/forms/{code:str}", guards=[requires(codes.FORM_MANAGE)], summary="Change a form")
async def update_form(
    session: DbSession, actor: CurrentActor, code: FromPath[str], data: JSONBody[FormIn]
) -> FormOut:
    """A new version when the name or fields change; a built-in form takes ``active`` only."""
    saved = await forms.save_form(
        session,
        actor.user_id,
        code=code,
        name=data.name,
        description=data.description,
        active=data.active,
        fields=_checked_shape(data.fields),
        existing=code,
    )
    return await form_out(session, saved, with_fields=True)


def _checked_shape(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fields with the keys the checks read (a missing one blank), options as pairs."""
    shaped = []
    for number, field in enumerate(fields, start=1):
        try:
            options = [
                [str(o), str(o)] if isinstance(o, str) else [str(o[0]), str(o[1])]
                for o in field.get("options") or []
            ]
            columns = _checked_shape(field.get("columns") or [])
        except (TypeError, IndexError, AttributeError):
            raise ValidationFailed(
                "Field {number}: options and columns are lists.", number=number, field="fields"
            ) from None
        shaped.append(
            {
                "key": str(field.get("key", "")),
                "label": str(field.get("label", "")),
                "type": str(field.get("type", "")),
                "required": bool(field.get("required", False)),
                "options": options,
                "columns": columns,
                "min": field.get("min"),
                "max": field.get("max"),
            }
        )
    return shaped


async def _filed_body(
    request: Request[Any, Any, Any],
) -> tuple[dict[str, Any], dict[str, list[Upload]]]:
    """The values (and files) of a filing: JSON, or multipart with a ``values`` part."""
    if request.content_type[0] != "multipart/form-data":
        try:
            return msgspec.json.decode(await request.body(), type=RequestIn).values, {}
        except msgspec.DecodeError as error:
            raise ValidationFailed(
                "The body is not valid JSON: {problem}", problem=str(error)
            ) from None
        except msgspec.ValidationError as error:
            raise ValidationFailed("The body is refused: {problem}", problem=str(error)) from None
    posted = await request.form()
    try:
        values = json.loads(str(posted.get("values") or "{}"))
    except ValueError:
        raise ValidationFailed("The values part is not valid JSON.", field="values") from None
    if not isinstance(values, dict):
        raise ValidationFailed("The values part is a JSON object.", field="values")
    uploads: dict[str, list[Upload]] = {}
    for name in posted:
        for given in posted.getall(name):
            if isinstance(given, UploadFile) and given.filename and name.startswith("f."):
                uploads.setdefault(name[2:], []).append(
                    Upload(given.filename, given.file, declared_type(given))
                )
    return values, uploads


@post(
    "/oa/forms/{code:str}/requests",
    guards=[requires(codes.APPROVAL_READ)],
    summary="File a request on a form",
    request_max_body_size=FORM_BODY_LIMIT,
)
async def file_request(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    code: FromPath[str],
) -> RequestOut:
    values, uploads = await _filed_body(request)
    form = await forms.form_by_code(session, code)
    typed = form_requests.typed_of_json(await forms.current_fields(session, form), values)
    row = await form_requests.file_request(
        session, tenant, registry, store_of(request), actor, code, typed, uploads
    )
    return await request_out(session, actor, row.id)


async def request_out(session: AsyncSession, actor: Actor, request_id: uuid.UUID) -> RequestOut:
    shown = await form_requests.shown(session, actor, request_id)
    row = shown.row
    return RequestOut(
        id=row.id,
        form_code=shown.form.code,
        form_version=row.form_version,
        title=row.title,
        values=row.values,
        amount=row.amount,
        status=row.status,
        approval_status=shown.instance_status,
        approval_request_id=row.approval_request_id,
        approval_id=shown.instance_id,
        files=[
            FileOut(id=a.id, field=key, file_name=a.file_name)
            for key, files in shown.files.items()
            for a in files
        ],
        created_at=row.created_at,
    )


@get(
    "/oa/form-requests/{request_id:uuid}",
    guards=[requires(codes.APPROVAL_READ)],
    summary="A form request",
)
async def get_request(
    session: DbSession, actor: CurrentActor, request_id: FromPath[uuid.UUID]
) -> RequestOut:
    return await request_out(session, actor, request_id)


ROUTERS = [list_forms, get_form, create_form, update_form, file_request, get_request]
