"""Importing rows of a spreadsheet as records: map the columns, try every row, all or nothing.

An :class:`ImportSpec` says what one kind of record takes (its fields, each
with a parser and the headers it is recognised by) and how one row is
written (through the kind's own service, so an import obeys every rule a
form does). :func:`suggest_mapping` maps the file's headers to fields for the
user to check; :func:`run_import` then tries every row:

- each cell is parsed, each row checked against the rows above it (the same
  SKU twice is an error, not a silent overwrite), and each row written in its
  own SAVEPOINT, so a refused row leaves nothing behind and the rows after it
  are still tried: the report lists every bad row with the reason, not only
  the first;
- the whole import runs inside one more savepoint. A dry run rolls it back and
  returns the report; a real run keeps it only if every row went in, and
  otherwise rolls it back and raises :class:`ImportRejected` carrying the
  report. Half a file is never imported (Odoo's import behaves the same).

Row numbers are the spreadsheet's, as the user sees them; columns are named
by the file's own headers. Messages are msgids with parameters, translated
when shown (:meth:`RowError.text`).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import DomainError, ValidationFailed
from core.exchange.spreadsheets import Table
from core.i18n import N_, SUPPORTED, gettext, use_locale
from core.permissions import Actor

IMPORT_PERMISSION = "core.data.import"

RowWriter = Callable[[Mapping[str, Any]], Awaitable[object]]


def as_typed(value: str) -> str:
    """The default parser: the text as typed (the service checks it)."""
    return value


@dataclass(frozen=True, slots=True)
class Field:
    """A value a record takes from one column.

    ``label`` is a msgid (also the export's header); ``parse`` turns the
    cell's text (never blank: a blank cell is no value) into the value, or
    raises :class:`~core.errors.ValidationFailed`; ``aliases`` are other
    headers it is known by, in any language ("名称", "Company").
    """

    key: str
    label: str
    parse: Callable[[str], Any] = as_typed
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unique:
    """Rows of one file that must differ: ``key`` of the parsed values (None: no key, e.g.
    no barcode), reported against the first of ``fields``."""

    fields: tuple[str, ...]
    key: Callable[[Mapping[str, Any]], Hashable | None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What an import of one file works with: ``write`` writes one row of parsed values
    (raising a domain error to refuse it); ``lookups`` parse the fields whose values are
    references (a unit's code into its id), from what was read once for the whole file."""

    write: RowWriter
    lookups: Mapping[str, Callable[[str], Any]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportSpec:
    """What an import of one kind of record takes, and ``prepare(session, actor, dry_run)``,
    called once per import, for how it writes a row (see :class:`Prepared`; a dry run's
    rows are rolled back, so a writer may skip what a rollback cannot take back, such as
    drawing document numbers).

    ``key`` names the records in the audit log (``core.party``); ``label`` (a msgid) is
    what the import pages call them and ``list_path`` is their list under the workspace,
    where the pages lead once the import is done. Core's kinds are in
    :data:`core.exchange.api.CORE_SPECS`; a module declares its own in its manifest
    (``ModuleManifest.import_specs``)."""

    key: str
    permission: str
    fields: tuple[Field, ...]
    prepare: Callable[[AsyncSession, Actor, bool], Awaitable[Prepared]]
    label: str
    list_path: str
    unique: tuple[Unique, ...] = ()

    def field(self, key: str) -> Field:
        for field in self.fields:
            if field.key == key:
                return field
        raise ValidationFailed("Unknown field {field}.", field=key)


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    """Why one row was refused: ``row`` as numbered in the spreadsheet, ``column`` the
    file's header (None when the row as a whole is at fault), ``message`` a msgid."""

    row: int
    column: str | None
    field: str | None
    code: str
    message: str
    params: dict[str, Any] = {}

    def text(self) -> str:
        """The message in the current locale."""
        translated = gettext(self.message)
        try:
            return translated.format(**self.params)
        except (KeyError, IndexError):  # a translation that dropped a placeholder
            return self.message.format(**self.params)


class ImportReport(msgspec.Struct, kw_only=True):
    """What an import did, or in a dry run would do: ``rows`` read, ``imported`` written."""

    dry_run: bool
    rows: int
    imported: int
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRejected(ValidationFailed):
    """A real import with bad rows: nothing was written; ``report`` lists every bad row."""

    code = "import_rejected"

    def __init__(self, report: ImportReport) -> None:
        bad_rows = len({error.row for error in report.errors})
        super().__init__(
            N_("Rows with errors: {count}. Nothing was imported."),
            count=bad_rows,
            errors=[{**msgspec.to_builtins(e), "text": e.text()} for e in report.errors],
        )
        self.report = report


# --- parsers shared by the specs ------------------------------------------------------------

_MONEY_NOISE = re.compile(r"\s|[¥$€£]|^(RMB|CNY|USD)|元$", re.IGNORECASE)
_GROUPED = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d*)?")  # 1,234,567.89


def folded(value: str) -> str:
    """Width and case folded, blanks collapsed: how headers and choices are compared."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def decimal(value: str, *, places: int | None = None, minimum: Decimal | None = None) -> Decimal:
    """A number as people type it: "1,234.50", "¥12", "１２．５" (no float on the way)."""
    cleaned = _MONEY_NOISE.sub("", unicodedata.normalize("NFKC", value))
    if "," in cleaned:
        # Thousands grouped by commas only: "12,5" (a European decimal comma) is no 125.
        if not _GROUPED.fullmatch(cleaned):
            raise ValidationFailed("{value} is not a number.", value=value)
        cleaned = cleaned.replace(",", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationFailed("{value} is not a number.", value=value) from None
    if not number.is_finite():
        raise ValidationFailed("{value} is not a number.", value=value)
    if minimum is not None and number < minimum:
        raise ValidationFailed("{value} is below {minimum}.", value=value, minimum=minimum)
    if places is not None and number != number.quantize(Decimal(1).scaleb(-places)):
        raise ValidationFailed(
            "{value} has more than {places} decimal places.", value=value, places=places
        )
    return number


def in_every_language(msgid: str) -> set[str]:
    """The folded msgid and its translation in every supported language."""
    names = {folded(msgid)}
    for locale in SUPPORTED:
        with use_locale(locale):
            names.add(folded(gettext(msgid)))
    return names


def choice(options: Mapping[str, tuple[str, ...]], message: str) -> Callable[[str], str]:
    """A parser for one of ``options`` (value -> its label msgid and other words for it);
    a value is recognised by itself, its label in any language, or another word."""

    def parse(value: str) -> str:
        word = folded(value)
        for option, (label, *others) in options.items():
            if word == option or word in in_every_language(label) or word in map(folded, others):
                return option
        raise ValidationFailed(message, value=value)

    return parse


# --- mapping ----------------------------------------------------------------------------------


def _header_key(header: str) -> str:
    """A header compared without case, width, spaces or punctuation: "E-mail*" is "email"."""
    return re.sub(r"[\W_]+", "", folded(header))


def _names_of(field: Field) -> set[str]:
    names = {_header_key(field.key)}
    names.update(_header_key(name) for name in in_every_language(field.label))
    names.update(_header_key(alias) for alias in field.aliases)
    names.discard("")
    return names


def suggest_mapping(headers: tuple[str, ...] | list[str], spec: ImportSpec) -> dict[int, str]:
    """Column index -> field key, for the headers that name a field (its key, its label in
    any language, or an alias); each field is suggested for its first column only."""
    names = {field.key: _names_of(field) for field in spec.fields}
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = _header_key(header)
        for field in spec.fields:
            if field.key not in mapping.values() and key in names[field.key]:
                mapping[index] = field.key
                break
    return mapping


def _checked_mapping(spec: ImportSpec, table: Table, mapping: Mapping[int, str]) -> dict[str, int]:
    """Field key -> column index, once the mapping is known to be usable."""
    columns: dict[str, int] = {}
    for index, key in sorted(mapping.items()):
        field = spec.field(key)
        if not 0 <= index < len(table.headers):
            raise ValidationFailed("The file has no column {column}.", column=index + 1)
        if key in columns:
            raise ValidationFailed(
                "{field} is mapped to two columns; keep one.", field=gettext(field.label)
            )
        columns[key] = index
    for field in spec.fields:
        if field.required and field.key not in columns:
            raise ValidationFailed(
                "Choose the column for {field}: it is required.", field=gettext(field.label)
            )
    return columns


# --- the import -------------------------------------------------------------------------------


def _error(row: int, column: str | None, field: str | None, error: DomainError) -> RowError:
    return RowError(
        row=row,
        column=column,
        field=field,
        code=error.code,
        message=error.message,
        params=dict(error.params),
    )


async def run_import(
    session: AsyncSession,
    actor: Actor,
    spec: ImportSpec,
    table: Table,
    mapping: Mapping[int, str],
    *,
    dry_run: bool,
) -> ImportReport:
    """Import ``table``'s rows as ``spec`` says, columns mapped by ``mapping`` (column index
    -> field key, see :func:`suggest_mapping`); unmapped columns are ignored.

    A dry run writes nothing and returns the report. A real run writes every
    row or, if any row is bad, nothing, and raises :class:`ImportRejected`.
    A row whose mapped cells are all blank is skipped.
    """
    actor.require(IMPORT_PERMISSION)
    actor.require(spec.permission)
    columns = _checked_mapping(spec, table, mapping)
    header = {key: table.headers[index] for key, index in columns.items()}
    required = {f.key for f in spec.fields if f.required}
    prepared = await spec.prepare(session, actor, dry_run)
    parsers = {f.key: prepared.lookups.get(f.key, f.parse) for f in spec.fields}
    errors: list[RowError] = []
    first_seen: dict[tuple[int, Hashable], int] = {}
    rows = imported = 0
    everything = await session.begin_nested()
    try:
        for row in table.rows:
            cells = {key: row.cell(index).strip() for key, index in columns.items()}
            if not any(cells.values()):
                continue
            rows += 1
            values: dict[str, Any] = {}
            refused: list[RowError] = []
            for key, cell in cells.items():
                if not cell:
                    if key in required:
                        missing = ValidationFailed("{column} is required.", column=header[key])
                        refused.append(_error(row.number, header[key], key, missing))
                    continue
                try:
                    values[key] = parsers[key](cell)
                except DomainError as error:
                    refused.append(_error(row.number, header[key], key, error))
            for position, rule in enumerate(spec.unique):
                if any(cells.get(key) and key not in values for key in rule.fields):
                    continue  # a value of the key is bad: already reported
                key_value = rule.key(values)
                if key_value is None:
                    continue
                earlier = first_seen.setdefault((position, key_value), row.number)
                if earlier != row.number:
                    shown = [header[key] for key in rule.fields if key in header]
                    repeated = ValidationFailed(
                        "The same {columns} is already on row {row}.",
                        columns=" + ".join(shown),
                        row=earlier,
                    )
                    refused.append(_error(row.number, header.get(rule.fields[0]), None, repeated))
            if not refused:
                try:
                    async with session.begin_nested():
                        await prepared.write(values)
                except DomainError as error:
                    refused.append(_error(row.number, None, None, error))
            errors.extend(refused)
            imported += not refused
    except BaseException:
        await everything.rollback()
        raise
    report = ImportReport(dry_run=dry_run, rows=rows, imported=imported, errors=errors)
    if dry_run or errors:
        await everything.rollback()
        if errors and not dry_run:
            raise ImportRejected(report)
        return report
    await everything.commit()
    await audit.record(
        session,
        "core.data.imported",
        actor_id=actor.user_id,
        subject_type=spec.key,
        detail={"rows": imported},
    )
    return report
