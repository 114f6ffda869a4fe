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
name (``row["title"]``).

A hot path that changes what it reads (an approval's decision) reads it with
:class:`TenantObjects` (the rows as persistent objects, without the ORM's
loading) and writes with :func:`write_now` and :func:`insert_now` (one
prebuilt statement each, without the unit of work). Record pages and
everything else keep using the ORM. Both walls stay in place here: every
constructor adds the tenant criterion (it cannot be forgotten) and RLS is
behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Numeric, Select, bindparam, inspect
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core.errors import TenantMismatchError
from core.orm import TenantModel, uuid7

_DIALECT = asyncpg_dialect()
# The tenant's parameter in every prebuilt statement: a name no column's SET or VALUES takes.
TENANT = "of_tenant"
_DRIVER = "core.reads.driver"  # session.info: (the transaction, its driver connection)


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

    async def run(self, session: AsyncSession, call: str, params: dict[str, Any]) -> Any:
        """The driver's ``call`` (fetch, fetchrow, execute) of the statement, as the
        session's tenant, with ``params`` for the rest."""
        values = {TENANT: _tenant_of(session), **params}
        driver = await self.driver(session)
        return await getattr(driver, call)(self.sql, *self.args(values))

    @staticmethod
    async def driver(session: AsyncSession) -> Any:
        # The driver's connection is found once per transaction and kept beside it: asking
        # the session for it costs a hot path's statement as much again.
        transaction = session.sync_session.get_transaction()
        held = session.info.get(_DRIVER)
        if held is None or transaction is None or held[0] is not transaction:
            # session.connection() begins the session's transaction if needed, and
            # after_begin sets the tenant through SQLAlchemy, which opens the driver's
            # transaction: so the statement runs in it, never on its own.
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            held = session.info[_DRIVER] = (session.sync_session.get_transaction(), driver)
        if not held[1].is_in_transaction():
            raise RuntimeError("a prebuilt statement must run inside the session's transaction")
        return held[1]


class TenantRead(_Prebuilt):
    """``TenantRead(Note, select(Note.id, Note.title).order_by(Note.id).limit(bindparam("n")))``."""

    def __init__(self, model: type[TenantModel], statement: Select[Any]) -> None:
        self.statement = statement.where(model.tenant_id == bindparam(TENANT))
        super().__init__(self.statement)

    async def rows(self, session: AsyncSession, **params: Any) -> Sequence[Any]:
        """Run in the session's current transaction as its tenant; ``params`` fill the rest."""
        await _flush_pending(session)
        return await self.run(session, "fetch", params)


async def _flush_pending(session: AsyncSession) -> None:
    """A read sees what the session has pending, as after an ORM query's autoflush (else a
    refreshed object would lose its unflushed change). Writes at once do not flush: what
    they refer to is written already, and a flush there would write twice what they set."""
    sync = session.sync_session
    if sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()


def _tenant_of(session: AsyncSession) -> Any:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantMismatchError("A tenant statement runs inside a tenant's session")
    return tenant_id


class TenantObjects(_Prebuilt):
    """A prebuilt select of whole rows of one or more tenant models, joined and locked as
    the statement says, whose rows come back as the models' objects, persistent in the
    session: the hot path's read of what it then changes (an approval's decision).

    ``statement`` selects the models' tables, all their columns in order
    (``select(Instance.__table__, Request.__table__).join(...)``); the tenant criterion
    on the first is added here, and the tables after it join on their
    ``tenant_id`` (RLS stays behind them all). The statement runs on the driver, as a
    tenant read does; each row's values become an object without the ORM's loading
    (which costs a small statement several times its round trip): an object of that
    identity already in the session is refreshed, as ``populate_existing`` would, and
    otherwise a new one is attached as loaded. Columns whose values need converting
    from what asyncpg gives (a type with a result processor) are refused at import.
    """

    def __init__(self, models: Sequence[type[TenantModel]], statement: Select[Any]) -> None:
        tables = [model.__table__ for model in models]
        wanted = [column for table in tables for column in table.columns]
        selected = list(statement.selected_columns)
        same = len(selected) == len(wanted) and all(
            a is b for a, b in zip(selected, wanted, strict=True)
        )
        if not same:
            raise ValueError("TenantObjects selects its models' tables, every column, in order")
        # Per model: its mapper, (position in the row, attribute) per column, the key's attributes.
        self._layout: list[tuple[Any, list[tuple[int, str]], list[str]]] = []
        position = 0
        for model, table in zip(models, tables, strict=True):
            mapper = inspect(model)
            names = []
            for column in table.columns:
                _refuse_converted(column)
                names.append((position, mapper.get_property_by_column(column).key))
                position += 1
            key = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
            self._layout.append((mapper, names, key))
        super().__init__(statement.where(tables[0].c.tenant_id == bindparam(TENANT)))

    async def first(self, session: AsyncSession, **params: Any) -> tuple[Any, ...] | None:
        """The first row's objects (one per model, in order), or None with no row."""
        await _flush_pending(session)
        row = await self.run(session, "fetchrow", params)
        return None if row is None else self._objects(session.sync_session, row)

    async def scalar(self, session: AsyncSession, **params: Any) -> Any:
        """The first row's first object (a one-model read's), or None."""
        found = await self.first(session, **params)
        return None if found is None else found[0]

    def _objects(self, session: Session, row: Any) -> tuple[Any, ...]:
        return tuple(
            _as_loaded(session, mapper, key, {name: row[at] for at, name in names})
            for mapper, names, key in self._layout
        )


def _refuse_converted(column: Any) -> None:
    impl = column.type.dialect_impl(_DIALECT)
    if isinstance(impl, Numeric) and impl.asdecimal:
        return  # asyncpg gives numeric as Decimal already
    if impl.result_processor(_DIALECT, None) is not None:
        raise ValueError(f"{column}: its values need converting, which TenantObjects does not do")


def _as_loaded(session: Session, mapper: Any, key: list[str], values: dict[str, Any]) -> Any:
    """The object of ``values``' identity, as if a query had just loaded it."""
    identity = mapper.identity_key_from_primary_key([values[name] for name in key])
    row = session.identity_map.get(identity)
    if row is not None:  # refreshed, as populate_existing would
        _keep_as_stored(row, values)
        return row
    row = mapper.class_manager.new_instance()
    row.__dict__.update(values)  # as the ORM's own loading fills a new object
    make_transient_to_detached(row)  # loaded, with no history; persistent once added
    session.add(row)
    return row


# --- writing at once, without the unit of work -----------------------------------------------
# A flush costs per object far more than its statement. On a hot path (an approval's
# decision) a row is written with one prebuilt statement (made once per model and set of
# columns, run as a tenant read is), and the object in hand is kept as written, so the flush
# has nothing left for it. Python-side defaults do not apply: give every value but those
# the database fills itself.


class TenantWrite(_Prebuilt):
    """A prebuilt ``UPDATE`` or ``DELETE`` on a tenant model's table (its Core table, not the
    ORM entity: no session events, no synchronising) with the tenant criterion added, run
    at once on the session's connection. Objects in the session are not updated: use
    it where nothing holds the rows it changes."""

    def __init__(self, model: type[TenantModel], statement: Any) -> None:
        table = model.__table__
        super().__init__(statement.where(table.c.tenant_id == bindparam(TENANT)))

    async def execute(self, session: AsyncSession, **params: Any) -> None:
        await self.run(session, "execute", params)


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
    _keep_as_stored(row, values)


def _keep_as_stored(row: TenantModel, values: dict[str, Any]) -> None:
    """``row``'s columns set to ``values`` as the database now holds them, with no history."""
    for name, value in values.items():
        set_committed_value(row, name, value)
    state = inspect(row)
    if state.modified and not state.committed_state:
        # Changed before, and now stored: nothing of it is pending, so the flush at commit
        # need not visit it (a modified object costs the flush its whole pass).
        state._commit_all(state.dict, state._instance_dict())


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
                    "tenant_id": bindparam(TENANT, type_=table.c.tenant_id.type),
                    **{n: bindparam(f"new_{n}", type_=table.c[n].type) for n in names},
                }
            )
        )
    await statement.run(session, "execute", {f"new_{n}": value for n, value in values.items()})
