"""Exporting any list as CSV or Excel: columns declared once, rows streamed from the service.

A list's export is its columns (a key, a header msgid, a getter) and the rows
its service yields, as an async iterator that reads page by page: the rows
are the ones the member sees in the list (data scopes apply, because the
service applies them), and a long list never sits in memory as records.
Headers are translated into the current locale; a file exported in Chinese
imports back as well as one in English (:func:`core.exchange.imports.suggest_mapping`
knows every language's header).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from core.errors import ValidationFailed
from core.exchange.spreadsheets import CsvWriter, XlsxWriter
from core.i18n import gettext

T = TypeVar("T")
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True, slots=True)
class Column(Generic[T]):
    """A column of an export: ``label`` is a msgid; ``get`` reads the value from a row."""

    key: str
    label: str
    get: Callable[[T], Any]


async def export_rows(
    columns: Sequence[Column[T]], rows: AsyncIterable[T], file_format: str, *, title: str = ""
) -> bytes:
    """The rows as a CSV or .xlsx file, with translated headers (``title`` names the sheet)."""
    headers = [gettext(column.label) for column in columns]
    if file_format == "csv":
        writer: CsvWriter | XlsxWriter = CsvWriter(headers)
    elif file_format == "xlsx":
        writer = XlsxWriter(headers, title)
    else:
        raise ValidationFailed("Export as csv or xlsx.")
    async for row in rows:
        writer.add([column.get(row) for column in columns])
    return writer.finish()
