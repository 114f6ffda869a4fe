"""Reading and writing spreadsheets: CSV and Excel (.xlsx), the way SMEs keep their lists.

Reading:

- The format is told by the content, not the file name: an .xlsx is a zip
  file; an old binary .xls is refused with a hint to save it as .xlsx or CSV;
  anything else is read as CSV text.
- CSV text is UTF-8 (with or without the byte order mark Excel writes), UTF-16
  with a byte order mark (Excel's "Unicode text"), or GB18030, which Excel on
  Chinese Windows writes and which covers GBK and GB2312. The delimiter
  (comma, semicolon, tab or bar) is sniffed from the first lines.
- The first non-blank row holds the headers; blank rows are skipped, and each
  row keeps the number the user sees in the spreadsheet, so a report can say
  "row 7". Every cell is read as text: a whole number stored as a float
  (``13812345678.0``, a phone number) is written without ".0", a cell
  formatted as a percentage is written with "%" (``0.13`` shown as 13 % reads
  "13%"), a date in ISO form.
- Limits: :data:`MAX_BYTES` per file (and :data:`MAX_UNPACKED_BYTES` inside an
  .xlsx, against zip bombs), :data:`MAX_ROWS` rows and :data:`MAX_COLUMNS`
  columns; beyond them the answer is a :class:`~core.errors.ValidationFailed`
  that says what to do.

Writing: CSV as UTF-8 with a byte order mark, so Excel opens Chinese text
right, and text starting with ``= + - @`` is prefixed with an apostrophe so
Excel does not run it as a formula (OWASP's advice; reading strips it again);
.xlsx with openpyxl in write-only mode, headers in bold, text always stored as
text.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException

from core.errors import ValidationFailed

MAX_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_ROWS = 10_000  # data rows, the header row aside
MAX_COLUMNS = 200
DELIMITERS = ",;\t|"
SNIFF_LINES = 20

_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the OLE2 container of Excel 97-2003
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True, slots=True)
class TableRow:
    """A data row: its number in the spreadsheet (the header row is usually 1) and its cells."""

    number: int
    cells: tuple[str, ...]

    def cell(self, index: int) -> str:
        return self.cells[index] if index < len(self.cells) else ""


@dataclass(frozen=True, slots=True)
class Table:
    """A sheet read as text: the header row and the non-blank rows below it."""

    headers: tuple[str, ...]
    rows: tuple[TableRow, ...]


# --- reading ---------------------------------------------------------------------------------


def read_table(data: bytes) -> Table:
    """The first sheet of an .xlsx file, or a CSV file, as a :class:`Table`."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            "A file can be at most {max} MB; split it into smaller files.",
            max=MAX_BYTES // (1024 * 1024),
        )
    if data.startswith(_XLSX_MAGIC):
        return _table(_xlsx_rows(data))
    if data.startswith(_XLS_MAGIC):
        raise ValidationFailed(
            "Old Excel files (.xls) cannot be read; save the file as .xlsx or CSV."
        )
    return _table(_csv_rows(data))


def _table(rows: Iterable[tuple[int, list[str]]]) -> Table:
    """Headers from the first non-blank row; then the non-blank rows, within the limits."""
    headers: tuple[str, ...] | None = None
    body: list[TableRow] = []
    for number, cells in rows:
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            continue
        if len(cells) > MAX_COLUMNS:
            raise ValidationFailed("A file can have at most {max} columns.", max=MAX_COLUMNS)
        if headers is None:
            headers = tuple(cells)
            continue
        if len(body) == MAX_ROWS:
            raise ValidationFailed(
                "A file can have at most {max} rows; split it into smaller files.", max=MAX_ROWS
            )
        body.append(TableRow(number, tuple(cells)))
    if headers is None:
        raise ValidationFailed("The file is empty: the first row should name the columns.")
    return Table(headers, tuple(body))


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(
        "The file is neither UTF-8 nor GB18030 text; save it as CSV UTF-8 or as .xlsx."
    )


def _delimiter(text: str) -> str:
    """The delimiter, among those in the header row: the only one there, else the sniffer's
    guess from the first lines, else the commonest in the header.

    A header with none has one column: then a delimiter the text lacks is used,
    so "Acme, Inc." stays one cell.
    """
    lines = [line for line in text.splitlines()[:SNIFF_LINES] if line.strip()]
    header = lines[0] if lines else ""
    present = [d for d in DELIMITERS if d in header]
    if not present:
        return next((d for d in DELIMITERS if d not in text), ",")
    if len(present) == 1:
        return present[0]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(present)).delimiter
    except csv.Error:
        return max(present, key=header.count)


def _unescaped(cell: str) -> str:
    """A cell without the apostrophe :func:`write_csv` put before formula-like text."""
    if cell.startswith("'") and cell[1:].startswith(_FORMULA_START):
        return cell[1:]
    return cell


def _csv_rows(data: bytes) -> Iterable[tuple[int, list[str]]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        # Numbered by record, not by line: a quoted cell that spans lines is one row in Excel.
        for number, cells in enumerate(reader, start=1):
            yield number, [_unescaped(cell.replace("\r\n", "\n").strip()) for cell in cells]
    except csv.Error:
        raise ValidationFailed(
            "Line {line} of the file is not valid CSV.", line=reader.line_num
        ) from None


def _xlsx_rows(data: bytes) -> Iterable[tuple[int, list[str]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:
            raise ValidationFailed(
                "A file can be at most {max} MB; split it into smaller files.",
                max=MAX_UNPACKED_BYTES // (1024 * 1024),
            )
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError):
        raise ValidationFailed("The file is not a readable Excel (.xlsx) file.") from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            return
        for number, row in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS + 1), start=1):
            yield number, [_cell_text(c.value, getattr(c, "number_format", "")) for c in row]
    finally:
        workbook.close()


def _cell_text(value: Any, number_format: str | None) -> str:
    """An Excel cell as the text the user sees in it, give or take the number format."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if number_format and "%" in number_format:
            return f"{(number * 100).normalize():f}%"
        if number == number.to_integral_value():
            return f"{number.to_integral_value():f}"
        return f"{number.normalize():f}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


# --- writing ---------------------------------------------------------------------------------


class CsvWriter:
    """Rows into a CSV file (UTF-8 with a byte order mark, CRLF line ends, as Excel writes)."""

    def __init__(self, headers: Sequence[str]) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)
        self._writer.writerow(headers)

    def add(self, values: Sequence[Any]) -> None:
        self._writer.writerow([_csv_text(v) for v in values])

    def finish(self) -> bytes:
        return self._buffer.getvalue().encode("utf-8-sig")


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if isinstance(value, str) and text.startswith(_FORMULA_START) else text


class XlsxWriter:
    """Rows into one sheet of an .xlsx file, in openpyxl's write-only (streaming) mode."""

    def __init__(self, headers: Sequence[str], title: str = "") -> None:
        self._workbook = Workbook(write_only=True)
        title = _SHEET_TITLE_FORBIDDEN.sub(" ", title).strip()[:31]
        self._sheet = self._workbook.create_sheet(title or None)
        bold = Font(bold=True)
        row = []
        for header in headers:
            cell = self._text_cell(header)
            cell.font = bold
            row.append(cell)
        self._sheet.append(row)

    def _text_cell(self, text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(self._sheet, _ILLEGAL_IN_XLSX.sub("", text))
        cell.data_type = "s"  # text stays text, even when it starts with "="
        return cell

    def add(self, values: Sequence[Any]) -> None:
        self._sheet.append([self._cell(v) for v in values])

    def _cell(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones
        if value is None or isinstance(value, bool | int | Decimal | date):
            return value  # numbers stay numbers, so the sheet can sum them
        return self._text_cell(str(value))

    def finish(self) -> bytes:
        buffer = io.BytesIO()
        self._workbook.save(buffer)
        return buffer.getvalue()


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    writer = CsvWriter(headers)
    for row in rows:
        writer.add(row)
    return writer.finish()


def write_xlsx(headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> bytes:
    writer = XlsxWriter(headers, title)
    for row in rows:
        writer.add(row)
    return writer.finish()
