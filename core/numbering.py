"""Document numbers per tenant and document type: ``SO-2026-000123``.

A series (:class:`core.models.NumberSeries`) has a prefix, a pattern over
``prefix``, ``year``, ``month`` and ``seq``, an optional yearly reset and a
mode:

- **gapless** (finance documents): the counter row is bumped inside the
  caller's transaction, so a document that rolls back gives its number back
  and the committed numbers have no holes. Its row lock serialises only the
  same tenant's same series for the same year;
- **fast** (everything else): the counter is bumped in a short transaction
  of its own (``Database.side_transaction``), so concurrent documents never
  wait on each other's commits; a rollback leaves a gap.

Counters are rows, never sequences: creating a tenant or a series runs no DDL.
"""

from __future__ import annotations

import re
import string
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core import audit
from core.db import Database
from core.errors import NotFound, TenantMismatchError, ValidationFailed
from core.models import NumberCounter, NumberSeries
from core.orm import uuid7

DEFAULT_PATTERN = "{prefix}-{year}-{seq:06d}"
MAX_PATTERN = 100  # the column's length
MAX_WIDTH = 20
PATTERN_FIELDS = frozenset({"prefix", "year", "month", "seq"})

_BUMP = text(
    """
    INSERT INTO core_number_counter AS c (tenant_id, id, doc_type, period, last_value, created_at)
    VALUES (:tenant_id, :id, :doc_type, :period, 1, now())
    ON CONFLICT (tenant_id, doc_type, period) DO UPDATE SET last_value = c.last_value + 1
    RETURNING c.last_value
    """
)


def _fields(pattern: str) -> set[str]:
    """The fields a pattern names; a field wider than :data:`MAX_WIDTH` is refused (a
    width of a billion would fill memory when formatted)."""
    fields = set()
    for _, name, spec, _ in string.Formatter().parse(pattern):
        if name is not None:
            if any(int(width) > MAX_WIDTH for width in re.findall(r"\d+", spec or "")):
                raise ValueError(spec)
            fields.add(name)
    return fields


def check_pattern(pattern: str) -> str:
    """A pattern may use only the known fields, and must number with ``seq``."""
    try:
        fields = _fields(pattern)
        if not fields <= PATTERN_FIELDS or "seq" not in fields or len(pattern) > MAX_PATTERN:
            raise ValueError(pattern)
        pattern.format(prefix="SO", year=2026, month=1, seq=1)
    except (ValueError, IndexError, KeyError):
        raise ValidationFailed(
            "A numbering pattern uses {fields} and must contain {seq}.",
            fields="{prefix}, {year}, {month}, {seq}",
            seq="{seq}",
            field="pattern",
        ) from None
    return pattern


def _check_prefix(prefix: str) -> str:
    prefix = prefix.strip()
    if not prefix or len(prefix) > 20:
        raise ValidationFailed("A numbering prefix has 1 to 20 characters.", field="prefix")
    return prefix


def _upsert(session: AsyncSession, doc_type: str, values: dict[str, object]) -> Insert:
    """The insert of the tenant's series for ``doc_type``, for the caller to say what a
    series already there does (changed, or kept)."""
    return insert(NumberSeries).values(
        tenant_id=_tenant(session), id=uuid7(), doc_type=doc_type, **values
    )


def _values(prefix: str, pattern: str, gapless: bool, yearly_reset: bool) -> dict[str, object]:
    return {
        "prefix": _check_prefix(prefix),
        "pattern": check_pattern(pattern),
        "gapless": gapless,
        "yearly_reset": yearly_reset,
    }


async def configure(
    session: AsyncSession,
    doc_type: str,
    *,
    prefix: str,
    pattern: str = DEFAULT_PATTERN,
    gapless: bool = False,
    yearly_reset: bool = True,
) -> NumberSeries:
    """Create or change the tenant's series for ``doc_type``; counters are kept."""
    values = _values(prefix, pattern, gapless, yearly_reset)
    await session.execute(
        _upsert(session, doc_type, values).on_conflict_do_update(
            index_elements=["tenant_id", "doc_type"], set_=values
        )
    )
    series = await _series(session, doc_type)
    await session.refresh(series)
    return series


async def ensure(
    session: AsyncSession, doc_type: str, *, prefix: str, gapless: bool = False
) -> None:
    """Create the tenant's series for ``doc_type`` with the default pattern unless it has
    one: what a module does when it is enabled, keeping any series the tenant changed."""
    values = _values(prefix, DEFAULT_PATTERN, gapless, yearly_reset=True)
    await session.execute(
        _upsert(session, doc_type, values).on_conflict_do_nothing(
            index_elements=["tenant_id", "doc_type"]
        )
    )


async def all_series(session: AsyncSession) -> list[NumberSeries]:
    """The tenant's series, by document type."""
    return list(await session.scalars(select(NumberSeries).order_by(NumberSeries.doc_type)))


async def preview(session: AsyncSession, series: NumberSeries, *, on: date | None = None) -> str:
    """The number the series would hand out next on ``on`` (today), allocating nothing."""
    day = on or datetime.now(UTC).date()
    period = day.year if series.yearly_reset else 0
    last = await session.scalar(
        select(NumberCounter.last_value).where(
            NumberCounter.doc_type == series.doc_type, NumberCounter.period == period
        )
    )
    return _format(series.pattern, series.prefix, day, (last or 0) + 1)


async def update_series(
    session: AsyncSession,
    doc_type: str,
    *,
    prefix: str,
    pattern: str,
    actor_id: uuid.UUID | None = None,
) -> NumberSeries:
    """Change how a series' numbers read (its prefix and pattern); its counters go on.

    Whether a series is gapless and resets yearly is the document type's own rule,
    set by the module that numbers it (:func:`configure`), never here: switching the
    reset would start a counter again under numbers already issued. For the same
    reason a series that resets yearly keeps ``{year}`` in its pattern.
    """
    series = await _series(session, doc_type)
    prefix = _check_prefix(prefix)
    pattern = check_pattern(pattern.strip())
    if series.yearly_reset and "year" not in _fields(pattern):
        raise ValidationFailed(
            "This series starts again every year, so its pattern must contain {year}.",
            year="{year}",
            field="pattern",
        )
    before = {"prefix": series.prefix, "pattern": series.pattern}
    series.prefix, series.pattern = prefix, pattern
    await session.flush()
    after = {"prefix": prefix, "pattern": pattern}
    if after != before:
        await audit.record(
            session,
            "core.number_series.changed",
            actor_id=actor_id,
            subject_type="core.number_series",
            subject_id=series.id,
            detail={"doc_type": doc_type, "before": before, "after": after},
        )
    return series


async def next_number(session: AsyncSession, doc_type: str, *, on: date | None = None) -> str:
    """Allocate the next number of the tenant's ``doc_type`` series, formatted."""
    series = await _series(session, doc_type)
    day = on or datetime.now(UTC).date()
    period = day.year if series.yearly_reset else 0
    params = {"tenant_id": _tenant(session), "doc_type": doc_type, "period": period}
    if series.gapless:
        value = await _bump(await session.connection(), params)
    else:
        async with Database.of(session).side_transaction(params["tenant_id"]) as own:
            value = await _bump(own, params)
    return _format(series.pattern, series.prefix, day, value)


def _format(pattern: str, prefix: str, day: date, seq: int) -> str:
    return pattern.format(prefix=prefix, year=day.year, month=day.month, seq=seq)


async def _bump(connection: AsyncConnection, params: dict[str, object]) -> int:
    result = await connection.execute(_BUMP, {"id": uuid7(), **params})
    return int(result.scalar_one())


async def _series(session: AsyncSession, doc_type: str) -> NumberSeries:
    series = await session.scalar(select(NumberSeries).where(NumberSeries.doc_type == doc_type))
    if series is None:
        raise NotFound("No numbering is set up for {doc_type}.", doc_type=doc_type)
    return series


def _tenant(session: AsyncSession) -> object:
    tenant_id = session.info.get("tenant_id")
    if tenant_id is None:
        raise TenantMismatchError("Numbers are allocated inside a tenant's session")
    return tenant_id
