"""JSON API for importing spreadsheets, mounted under ``/api/t/{slug}``.

Stateless: the client sends the file with every request, so nothing is kept
on the server between the steps the user goes through:

1. ``POST /imports/{kind}/preview`` with the file: its headers, first rows and
   the suggested mapping, for the user to check;
2. ``POST /imports/{kind}`` with the file, the mapping and ``dry_run=true``:
   every bad row with the reason, nothing written;
3. the same with ``dry_run=false``: every row written, or, if any row is
   bad, nothing, and 422 ``import_rejected`` listing the bad rows (the
   request's transaction rolls back on any 4xx).

Both need ``core.data.import`` and the kind's write permission (a guard or
the service answers 403 naming the code). A file that cannot be read answers
422 with the reason.

The kinds are core's (``parties``, ``products``) and those of the workspace's enabled
modules (``ModuleManifest.import_specs``, such as ``crm.leads``): a module's kind is
404 while the module is off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.status_codes import HTTP_200_OK

from core.context import TenantContext
from core.errors import NotFound, ValidationFailed
from core.exchange.imports import IMPORT_PERMISSION, ImportReport, ImportSpec, run_import
from core.exchange.imports import suggest_mapping as suggested
from core.exchange.parties import PARTY_IMPORT
from core.exchange.products import PRODUCT_IMPORT
from core.exchange.spreadsheets import MAX_BYTES, Table, read_table
from core.i18n import gettext
from core.plugins.registry import ModuleRegistry
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires

#: Core's import kinds; modules add theirs in their manifests (``import_specs``).
CORE_SPECS: dict[str, ImportSpec] = {"parties": PARTY_IMPORT, "products": PRODUCT_IMPORT}
PREVIEW_ROWS = 20
# The largest file read_table takes, and room for the multipart envelope and the mapping:
# a file just over the limit is refused by read_table, with its reason, not by the server.
MAX_REQUEST_BYTES = MAX_BYTES + 256 * 1024


@dataclass
class FileForm:
    file: UploadFile


@dataclass
class ImportForm:
    """``mapping`` is JSON, column index -> field key: ``{"0": "name", "2": "phone"}``."""

    file: UploadFile
    mapping: str
    dry_run: bool = True  # a client that forgets to say writes nothing


class FieldOut(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    label: str
    required: bool


class Preview(msgspec.Struct, frozen=True, kw_only=True):
    """``rows`` are the first data rows, each as many cells as there are headers;
    ``mapping`` maps a column index to a field key."""

    headers: list[str]
    rows: list[list[str]]
    total_rows: int
    mapping: dict[int, str]
    fields: list[FieldOut]


class RowErrorOut(msgspec.Struct, frozen=True, kw_only=True):
    """A bad row: ``row`` as numbered in the spreadsheet, ``column`` the file's header
    (None for the row as a whole), ``text`` the reason in the request's language."""

    row: int
    column: str | None
    field: str | None
    code: str
    message: str
    params: dict[str, Any]
    text: str


class ReportOut(msgspec.Struct, frozen=True, kw_only=True):
    """``imported`` is the rows written, or in a dry run the rows that would be."""

    dry_run: bool
    rows: int
    imported: int
    errors: list[RowErrorOut]


def import_specs(registry: ModuleRegistry, ctx: TenantContext) -> dict[str, ImportSpec]:
    """What the workspace can import: core's kinds, then each enabled module's, in install
    order."""
    specs = dict(CORE_SPECS)
    for key, loaded in registry.modules.items():
        if key in ctx.enabled:
            specs.update(loaded.manifest.import_specs)
    return specs


def spec_for(registry: ModuleRegistry, ctx: TenantContext, kind: str) -> ImportSpec:
    """The import of ``kind`` (parties, products, an enabled module's); 404 for anything
    else."""
    spec = import_specs(registry, ctx).get(kind)
    if spec is None:
        raise NotFound("Nothing to import called {kind}.", kind=kind)
    return spec


async def _table(upload: UploadFile) -> Table:
    return read_table(await upload.read())


def _mapping(text: str) -> dict[int, str]:
    try:
        return msgspec.json.decode(text, type=dict[int, str])
    except msgspec.DecodeError:
        raise ValidationFailed(
            "The mapping is JSON from column number to field key, such as {example}.",
            example='{"0": "name"}',
        ) from None


def _report(report: ImportReport) -> ReportOut:
    return ReportOut(
        dry_run=report.dry_run,
        rows=report.rows,
        imported=report.imported,
        errors=[
            RowErrorOut(
                row=e.row,
                column=e.column,
                field=e.field,
                code=e.code,
                message=e.message,
                params=e.params,
                text=e.text(),
            )
            for e in report.errors
        ],
    )


@post(
    "/imports/{kind:str}/preview",
    guards=[requires(IMPORT_PERMISSION)],
    status_code=HTTP_200_OK,
    request_max_body_size=MAX_REQUEST_BYTES,
    summary="Read a spreadsheet to import: headers, first rows and the suggested mapping",
)
async def preview_import(
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    kind: FromPath[str],
    data: Annotated[FileForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Preview:
    """``kind`` is parties, products or an enabled module's kind (``crm.leads``); the
    upload is the multipart field ``file`` (CSV or .xlsx). Nothing is written."""
    spec = spec_for(registry, tenant, kind)
    actor.require(spec.permission)
    table = await _table(data.file)
    width = len(table.headers)
    return Preview(
        headers=list(table.headers),
        rows=[[row.cell(i) for i in range(width)] for row in table.rows[:PREVIEW_ROWS]],
        total_rows=len(table.rows),
        mapping=suggested(table.headers, spec),
        fields=[
            FieldOut(key=f.key, label=gettext(f.label), required=f.required) for f in spec.fields
        ],
    )


@post(
    "/imports/{kind:str}",
    guards=[requires(IMPORT_PERMISSION)],
    status_code=HTTP_200_OK,
    request_max_body_size=MAX_REQUEST_BYTES,
    summary="Import a spreadsheet, or try it (dry run): every row or nothing",
)
async def import_file(
    session: DbSession,
    registry: Registry,
    tenant: CurrentTenant,
    actor: CurrentActor,
    kind: FromPath[str],
    data: Annotated[ImportForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> ReportOut:
    """Multipart fields: ``file``, ``mapping`` (JSON, column index -> field key) and
    ``dry_run`` (true or false). A dry run, or an import without bad rows, answers the
    report; an import with bad rows answers 422 ``import_rejected`` with every bad row
    in ``errors`` and writes nothing."""
    spec = spec_for(registry, tenant, kind)
    mapping = _mapping(data.mapping)
    table = await _table(data.file)
    report = await run_import(session, actor, spec, table, mapping, dry_run=data.dry_run)
    return _report(report)


API = [preview_import, import_file]
