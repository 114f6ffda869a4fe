"""The audit log out to a spreadsheet: the rows the audit log page shows with its filters,
every page of them, with a column for the action's code and one for the subject's id so a
reader can match them against the JSON API."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.exchange.exports import Column, export_rows
from core.i18n import N_, gettext

AUDIT_COLUMNS: tuple[Column[audit.Shown], ...] = (
    Column("at", N_("When"), lambda row: row.entry.at),
    Column("actor", N_("Who"), lambda row: row.actor),
    Column("action", N_("Action"), lambda row: row.action),
    Column("code", N_("Action code"), lambda row: row.entry.action),
    Column("subject", N_("Subject"), lambda row: row.subject),
    Column("subject_id", N_("Subject ID"), lambda row: row.entry.subject_id),
    Column("detail", N_("Details"), lambda row: audit.detail_text(row.entry.detail)),
    Column("ip", N_("IP address"), lambda row: row.entry.ip),
)


async def export_audit_log(
    session: AsyncSession, filters: audit.Filters, file_format: str
) -> bytes:
    """The tenant's audit log narrowed by ``filters``, newest first, as a CSV or .xlsx file."""
    rows = audit.every_entry(session, filters)
    return await export_rows(AUDIT_COLUMNS, rows, file_format, title=gettext("Audit log"))
