"""The tenant tables, as PostgreSQL's catalog lists them: every table with a ``tenant_id``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Tables that are the machinery, not the workspace's data: the outbox and its delivery
# markers, and the exports themselves.
MACHINERY = frozenset({"core_outbox", "core_event_delivery", "core_workspace_export"})

_TENANT_TABLES = text(
    """
    SELECT c.relname::text AS name,
           ARRAY(SELECT a.attname::text FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                  ORDER BY a.attnum) AS columns,
           ARRAY(SELECT a.attname::text
                   FROM pg_index i
                  CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE i.indrelid = c.oid AND i.indisprimary
                  ORDER BY k.n) AS key
      FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
     WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p')
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                    AND a.attname = 'tenant_id' AND NOT a.attisdropped)
     ORDER BY c.relname
    """
)


@dataclass(frozen=True, slots=True)
class TenantTable:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the primary key's columns, in order


def quote(identifier: str) -> str:
    """An SQL identifier from the catalog, quoted."""
    return '"' + identifier.replace('"', '""') + '"'


async def tenant_tables(session: AsyncSession) -> list[TenantTable]:
    """Every tenant table in the schema, by name."""
    rows = await session.execute(_TENANT_TABLES)
    return [TenantTable(r.name, tuple(r.columns), tuple(r.key)) for r in rows]
