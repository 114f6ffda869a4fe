"""Prebuilt tenant reads: the fast path for hot lists.

An ORM query builds an object per row, and the session's tenant criterion is
added per execution, so the statement is re-keyed and its rows processed
through several layers every time: most of a list request's cost. A hot read
(a list endpoint, a dashboard figure) can instead be declared once, at import
time, as a :class:`TenantRead`: a select over a tenant model's columns whose
``tenant_id = :tenant_id`` criterion is part of the statement itself.

SQLAlchemy compiles it once (for asyncpg: ``$1``-style SQL and the order of
its parameters); each call runs it with asyncpg on the *session's own
connection*, inside the transaction the session has begun, so the tenant set
with ``set_config`` and row-level security apply exactly as to the ORM. Rows
come back as asyncpg records: unpack them as tuples or read them by column
name (``row["title"]``). Writes, record pages and anything that needs
objects keep using the ORM; both walls stay in place here: the constructor
adds the criterion (it cannot be forgotten) and RLS is behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import TenantMismatchError
from core.orm import TenantModel

_DIALECT = asyncpg_dialect()


class TenantRead:
    """``TenantRead(Note, select(Note.id, Note.title).order_by(Note.id).limit(bindparam("n")))``."""

    def __init__(self, model: type[TenantModel], statement: Select[Any]) -> None:
        self.statement = statement.where(model.tenant_id == bindparam("tenant_id"))
        compiled = self.statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        names = list(compiled.positiontup or ())
        processors = compiled._bind_processors
        self._params: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, processors.get(name)) for name in names
        ]

    async def rows(self, session: AsyncSession, **params: Any) -> Sequence[Any]:
        """Run in the session's current transaction as its tenant; ``params`` fill the rest."""
        tenant_id = session.info.get("tenant_id")
        if tenant_id is None:
            raise TenantMismatchError("A tenant read runs inside a tenant's session")
        # session.connection() begins the session's transaction if needed, and after_begin
        # sets the tenant through SQLAlchemy, which opens the driver's transaction: so the
        # statement below runs in it, never on its own.
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if not driver.is_in_transaction():
            raise RuntimeError("a tenant read must run inside the session's open transaction")
        values = {"tenant_id": tenant_id, **params}
        args = [
            process(values[name]) if process else values[name] for name, process in self._params
        ]
        return await driver.fetch(self.sql, *args)
