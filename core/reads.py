"""Prebuilt tenant statements: the fast path for hot lists and hot writes.

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

from sqlalchemy import Delete, Select, Update, bindparam
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.db import TENANT_IN_STATEMENT
from core.errors import TenantMismatchError
from core.orm import TenantModel, uuid7

_DIALECT = asyncpg_dialect()


class _Prebuilt:
    """A statement compiled once for asyncpg (``$1``-style SQL and its parameters' order and
    processors), run on the session's own connection inside the transaction it has begun:
    the tenant set with ``set_config`` and row-level security apply as to the ORM."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        names = list(compiled.positiontup or ())
        processors = compiled._bind_processors
        self._params: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, processors.get(name)) for name in names
        ]
        # Values written into the statement itself (``.values(status="cancelled")``).
        self._fixed = {
            name: bind.value for name, bind in compiled.binds.items() if bind.value is not None
        }

    def args(self, values: dict[str, Any]) -> list[Any]:
        given = self._fixed | values
        return [process(given[name]) if process else given[name] for name, process in self._params]

    @staticmethod
    async def driver(session: AsyncSession) -> Any:
        # session.connection() begins the session's transaction if needed, and after_begin
        # sets the tenant through SQLAlchemy, which opens the driver's transaction: so the
        # statement runs in it, never on its own.
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if not driver.is_in_transaction():
            raise RuntimeError("a prebuilt statement must run inside the session's transaction")
        return driver


class TenantRead(_Prebuilt):
    """``TenantRead(Note, select(Note.id, Note.title).order_by(Note.id).limit(bindparam("n")))``."""

    def __init__(self, model: type[TenantModel], statement: Select[Any]) -> None:
        self.statement = statement.where(model.tenant_id == bindparam("tenant_id"))
        super().__init__(self.statement)

    async def rows(self, session: AsyncSession, **params: Any) -> Sequence[Any]:
        """Run in the session's current transaction as its tenant; ``params`` fill the rest."""
        tenant_id = _tenant_of(session)
        driver = await self.driver(session)
        return await driver.fetch(self.sql, *self.args({"tenant_id": tenant_id, **params}))


def _tenant_of(session: AsyncSession) -> Any:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantMismatchError("A tenant statement runs inside a tenant's session")
    return tenant_id


class TenantStatement:
    """A prebuilt ORM statement on a tenant model (a select of objects, an update, a
    delete) with its ``tenant_id = :current_tenant`` criterion in the statement (a name an
    update's SET cannot take), for hot paths
    that need objects or ORM writes (an approval's decision).

    Built once, at import time, with bound parameters: SQLAlchemy compiles and caches it
    once, and the session, told the criterion is there, does not add its own per
    execution (:data:`core.db.TENANT_IN_STATEMENT`), which is most of a small statement's
    cost. The tenant comes from the session when it runs; RLS stays behind it.
    """

    def __init__(self, model: type[TenantModel], statement: Select[Any] | Update | Delete) -> None:
        self.statement = statement.where(
            model.tenant_id == bindparam("current_tenant")
        ).execution_options(**{TENANT_IN_STATEMENT: True})

    async def scalar(self, session: AsyncSession, **params: Any) -> Any:
        return await session.scalar(
            self.statement, {"current_tenant": _tenant_of(session), **params}
        )

    async def execute(self, session: AsyncSession, **params: Any) -> Any:
        return await session.execute(
            self.statement, {"current_tenant": _tenant_of(session), **params}
        )


# --- writing at once, without the unit of work -----------------------------------------------
# A flush costs per object far more than its statement. On a hot path (an approval's
# decision) a row is written with one prebuilt statement (made once per model and set of
# columns, run as a tenant read is), and the object in hand is kept as written, so the flush
# has nothing left for it. Python-side defaults do not apply: give every value but those
# the database fills itself.


class TenantWrite(_Prebuilt):
    """A prebuilt ``UPDATE`` or ``DELETE`` on a tenant model's table (its Core table, not the
    ORM entity: no session events, no synchronising) with ``tenant_id = :of_tenant`` added,
    run at once on the session's connection. Objects in the session are not updated: use
    it where nothing holds the rows it changes."""

    def __init__(self, model: type[TenantModel], statement: Any) -> None:
        table = model.__table__
        super().__init__(statement.where(table.c.tenant_id == bindparam("of_tenant")))

    async def execute(self, session: AsyncSession, **params: Any) -> None:
        driver = await self.driver(session)
        await driver.execute(self.sql, *self.args({"of_tenant": _tenant_of(session), **params}))


_UPDATES: dict[tuple[type[TenantModel], tuple[str, ...]], TenantWrite] = {}
_INSERTS: dict[tuple[type[TenantModel], tuple[str, ...]], _Prebuilt] = {}


async def write_now(session: AsyncSession, row: TenantModel, **values: Any) -> None:
    """``UPDATE`` ``row``'s columns to ``values`` now, and keep ``row`` as written."""
    model, names = type(row), tuple(sorted(values))
    statement = _UPDATES.get((model, names))
    if statement is None:
        table = model.__table__
        statement = _UPDATES[(model, names)] = TenantWrite(
            model,
            table.update()
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(f"new_{name}", type_=table.c[name].type) for name in names}),
        )
    given = {f"new_{name}": value for name, value in values.items()}
    await statement.execute(session, row_id=row.id, **given)
    for name, value in values.items():
        set_committed_value(row, name, value)


async def insert_now(session: AsyncSession, model: type[TenantModel], **values: Any) -> None:
    """``INSERT`` a row of ``model`` with ``values`` now, in the session's tenant, for a row
    nobody reads back as an object in this transaction. ``id`` is made here if not given."""
    values.setdefault("id", uuid7())
    names = tuple(sorted(values))
    statement = _INSERTS.get((model, names))
    if statement is None:
        table = model.__table__
        statement = _INSERTS[(model, names)] = _Prebuilt(
            table.insert().values(
                {
                    "tenant_id": bindparam("of_tenant", type_=table.c.tenant_id.type),
                    **{n: bindparam(f"new_{n}", type_=table.c[n].type) for n in names},
                }
            )
        )
    given = {f"new_{name}": value for name, value in values.items()}
    driver = await statement.driver(session)
    await driver.execute(
        statement.sql, *statement.args({"of_tenant": _tenant_of(session), **given})
    )
