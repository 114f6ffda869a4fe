"""Import pages under ``/t/{slug}``: a spreadsheet of parties, products or an enabled
module's records (``ModuleManifest.import_specs``, such as CRM's leads) in four steps.

1. ``GET /imports`` — choose what to import and upload a CSV or Excel file;
   ``POST /imports`` reads it (a file that cannot be read is refused on the
   form, with the reason), keeps it (:mod:`core.exchange.uploads`) and sends
   the browser on to
2. ``GET /imports/{kind}/{upload}`` — every column with its header and a few
   values, and the field it goes to, pre-filled with the suggested mapping
   (``?mapped=1&column-0=name...`` brings back a mapping the user chose);
3. ``POST /imports/{kind}/{upload}/check`` — the dry run: how many rows are
   good and bad, every bad row with its column and reason, and the import
   button only when no row is bad. An htmx request from the mapping form gets
   the report alone, swapped under the form (``#import-check``); a plain form
   post gets the whole page;
4. ``POST /imports/{kind}/{upload}/run`` — the import, all or nothing: the
   result page with what was created, or the report again if rows turned bad
   since the dry run (nothing written: the request rolls back).

The same services and permissions as the JSON API (:mod:`core.exchange.api`):
``core.data.import`` guards every page, the kind's write permission is checked
as the kind is known, and the service parses, checks and writes the rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.context import TenantContext
from core.errors import DomainError, ValidationFailed
from core.exchange import uploads
from core.exchange.api import MAX_REQUEST_BYTES, import_specs, spec_for
from core.exchange.imports import (
    IMPORT_PERMISSION,
    ImportRejected,
    ImportReport,
    ImportSpec,
    run_import,
    suggest_mapping,
)
from core.exchange.spreadsheets import Table, read_table
from core.i18n import gettext
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.records.storage import FileStore, file_store
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.htmx import wants_partial
from web.tenancy import requires

SAMPLE_ROWS = 3
COLUMN_FIELD = "column-"  # the form field of column i is "column-i"; its value a field key
MAX_COLUMN_DIGITS = 4  # read_table takes at most 200 columns: a longer number is no column


@dataclass(frozen=True, slots=True)
class FieldChoice:
    key: str
    label: str
    required: bool


@dataclass(frozen=True, slots=True)
class ColumnChoice:
    """A column as the mapping form shows it: ``field`` is the key chosen ("": ignored)."""

    index: int
    header: str
    samples: tuple[str, ...]
    field: str


@dataclass(frozen=True, slots=True)
class BadRow:
    row: int
    column: str | None
    reason: str


def _store(request: Request[Any, Any, Any]) -> FileStore:
    return file_store(request.app.state.settings)


def _spec(registry: ModuleRegistry, tenant: TenantContext, actor: Actor, kind: str) -> ImportSpec:
    spec = spec_for(registry, tenant, kind)
    actor.require(spec.permission)
    return spec


def _fields(spec: ImportSpec) -> list[FieldChoice]:
    return [FieldChoice(f.key, gettext(f.label), f.required) for f in spec.fields]


def _kinds(registry: ModuleRegistry, tenant: TenantContext, actor: Actor) -> list[dict[str, Any]]:
    """What the member may import: the kinds whose records they may create."""
    return [
        {"key": key, "label": gettext(spec.label), "fields": _fields(spec)}
        for key, spec in import_specs(registry, tenant).items()
        if actor.can(spec.permission)
    ]


def _mapping_from(values: Any) -> dict[int, str]:
    """Column index -> field key from ``column-<i>`` fields; a blank one is an ignored column."""
    mapping: dict[int, str] = {}
    for name, value in values.items():
        suffix = name.removeprefix(COLUMN_FIELD)
        numbered = suffix.isascii() and suffix.isdigit() and len(suffix) <= MAX_COLUMN_DIGITS
        if name.startswith(COLUMN_FIELD) and numbered and value:
            mapping[int(suffix)] = value
    return mapping


def _mapping_fields(mapping: dict[int, str]) -> dict[str, str]:
    return {f"{COLUMN_FIELD}{index}": key for index, key in sorted(mapping.items())}


def _columns(table: Table, mapping: dict[int, str]) -> list[ColumnChoice]:
    return [
        ColumnChoice(
            index=index,
            header=header,
            samples=tuple(
                cell for row in table.rows[:SAMPLE_ROWS] if (cell := row.cell(index).strip())
            ),
            field=mapping.get(index, ""),
        )
        for index, header in enumerate(table.headers)
    ]


async def _table(request: Request[Any, Any, Any], actor: Actor, upload_id: uuid.UUID) -> Table:
    data = await uploads.load(_store(request), actor.tenant_id, actor.user_id, upload_id)
    return read_table(data)


def _base(slug: str, kind: str, spec: ImportSpec, upload_id: uuid.UUID) -> dict[str, Any]:
    return {
        "slug": slug,
        "kind": kind,
        "kind_label": gettext(spec.label),
        "upload_id": upload_id,
        "here": f"/t/{slug}/imports/{kind}/{upload_id}",
        "list_url": f"/t/{slug}{spec.list_path}",
    }


def _report(report: ImportReport, mapping: dict[int, str], base: dict[str, Any]) -> dict[str, Any]:
    return {
        "report": report,
        "good_rows": report.imported,  # in a dry run: the rows that would go in
        "bad_rows": len({error.row for error in report.errors}),
        "errors": [BadRow(e.row, e.column, e.text()) for e in report.errors],
        "mapping_fields": _mapping_fields(mapping),
        "mapping_url": f"{base['here']}?{urlencode({'mapped': 1, **_mapping_fields(mapping)})}",
    }


# --- step 1: what to import, and the file ------------------------------------------------------


def _start_page(
    registry: ModuleRegistry,
    tenant: CurrentTenant,
    actor: Actor,
    kind: str,
    *,
    error: DomainError | None = None,
    error_field: str = "file",
) -> Template:
    kinds = _kinds(registry, tenant, actor)
    if kind not in {k["key"] for k in kinds} and kinds:
        kind = kinds[0]["key"]
    return Template(
        "imports/start.html",
        context={
            "slug": tenant.slug,
            "kinds": kinds,
            "kind": kind,
            "error": error,
            "error_field": error_field,
        },
        status_code=error.status_code if error else 200,
    )


@get("/imports", guards=[requires(IMPORT_PERMISSION)])
async def import_start(
    registry: Registry, tenant: CurrentTenant, actor: CurrentActor, kind: FromQuery[str] = ""
) -> Template:
    return _start_page(registry, tenant, actor, kind)


@post(
    "/imports",
    guards=[requires(IMPORT_PERMISSION)],
    request_max_body_size=MAX_REQUEST_BYTES,
)
async def upload_file(
    request: Request[Any, Any, Any],
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template | Redirect:
    """Multipart fields ``kind`` and ``file``. A file that cannot be read is not kept."""
    kind = data.get("kind") if isinstance(data.get("kind"), str) else ""
    if kind not in import_specs(registry, tenant):
        refused = ValidationFailed("Choose what to import.")
        return _start_page(registry, tenant, actor, "", error=refused, error_field="kind")
    _spec(registry, tenant, actor, kind)
    upload = data.get("file")
    if not isinstance(upload, UploadFile):  # no file chosen: the browser sends an empty field
        refused = ValidationFailed("Choose a CSV or Excel file to upload.")
        return _start_page(registry, tenant, actor, kind, error=refused)
    content = await upload.read()
    try:
        read_table(content)
    except DomainError as error:
        return _start_page(registry, tenant, actor, kind, error=error)
    upload_id = await uploads.keep(_store(request), actor.tenant_id, actor.user_id, content)
    return Redirect(f"/t/{tenant.slug}/imports/{kind}/{upload_id}", status_code=HTTP_303_SEE_OTHER)


# --- step 2: the mapping -----------------------------------------------------------------------


def _mapping_page(
    base: dict[str, Any],
    spec: ImportSpec,
    table: Table,
    mapping: dict[int, str],
    *,
    error: DomainError | None = None,
) -> Template:
    return Template(
        "imports/mapping.html",
        context={
            **base,
            "columns": _columns(table, mapping),
            "fields": _fields(spec),
            "total_rows": len(table.rows),
            "error": error,
        },
        status_code=error.status_code if error else 200,
    )


@get("/imports/{kind:str}/{upload_id:uuid}", guards=[requires(IMPORT_PERMISSION)])
async def mapping_page(
    request: Request[Any, Any, Any],
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    kind: FromPath[str],
    upload_id: FromPath[uuid.UUID],
) -> Template:
    spec = _spec(registry, tenant, actor, kind)
    table = await _table(request, actor, upload_id)
    query = request.query_params
    mapping = _mapping_from(query) if query.get("mapped") else suggest_mapping(table.headers, spec)
    return _mapping_page(_base(tenant.slug, kind, spec, upload_id), spec, table, mapping)


# --- step 3: the dry run -----------------------------------------------------------------------


@post("/imports/{kind:str}/{upload_id:uuid}/check", guards=[requires(IMPORT_PERMISSION)])
async def check_file(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    kind: FromPath[str],
    upload_id: FromPath[uuid.UUID],
    data: FormData,
) -> Template:
    spec = _spec(registry, tenant, actor, kind)
    table = await _table(request, actor, upload_id)
    mapping = _mapping_from(data)
    base = _base(tenant.slug, kind, spec, upload_id)
    partial = wants_partial(request)
    try:
        report = await run_import(session, actor, spec, table, mapping, dry_run=True)
    except ValidationFailed as error:  # the mapping itself: a required field left out, ...
        if partial:  # htmx swaps 2xx answers only: the reason goes under the form
            return Template("imports/_check.html", context={**base, "error": error})
        return _mapping_page(base, spec, table, mapping, error=error)
    context = {**base, **_report(report, mapping, base)}
    return Template("imports/_check.html" if partial else "imports/check.html", context=context)


# --- step 4: the import ------------------------------------------------------------------------


@post("/imports/{kind:str}/{upload_id:uuid}/run", guards=[requires(IMPORT_PERMISSION)])
async def run_file(
    request: Request[Any, Any, Any],
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    kind: FromPath[str],
    upload_id: FromPath[uuid.UUID],
    data: FormData,
) -> Template:
    spec = _spec(registry, tenant, actor, kind)
    table = await _table(request, actor, upload_id)
    mapping = _mapping_from(data)
    base = _base(tenant.slug, kind, spec, upload_id)
    try:
        report = await run_import(session, actor, spec, table, mapping, dry_run=False)
    except ImportRejected as rejected:  # rows that turned bad since the dry run
        context = {**base, **_report(rejected.report, mapping, base), "rejected": True}
        return Template("imports/check.html", context=context, status_code=rejected.status_code)
    except ValidationFailed as error:  # a mapping changed by hand
        return _mapping_page(base, spec, table, mapping, error=error)
    # The file goes once the response (and so the commit before it) is under way.
    discard = BackgroundTask(
        uploads.discard, _store(request), actor.tenant_id, actor.user_id, upload_id
    )
    return Template("imports/done.html", context={**base, "report": report}, background=discard)


PAGES = [import_start, upload_file, mapping_page, check_file, run_file]
