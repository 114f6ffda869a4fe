"""Units of measure and their conversions, and :func:`convert` through them."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, localcontext

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.products.currency import has_places, to_decimal
from core.products.models import UNIT_DIMENSIONS, Product, UnitConversion, UnitOfMeasure
from core.products.services.lookups import get_product, get_unit

QUANTITY = Decimal("0.0001")  # quantities carry four decimals, like numeric(18,4) columns
FACTOR_PLACES = 6
FACTOR_LIMIT = Decimal("1e12")  # numeric(18,6)


async def create_unit(session: AsyncSession, code: str, name: str, dimension: str) -> UnitOfMeasure:
    code, name = code.strip(), name.strip()
    if not code or len(code) > 20 or any(c.isspace() for c in code):
        raise ValidationFailed("A unit's code has 1 to 20 characters and no spaces.")
    if not name or len(name) > 100:
        raise ValidationFailed("A unit's name has 1 to 100 characters.")
    if dimension not in UNIT_DIMENSIONS:
        raise ValidationFailed(
            "A unit measures one of {dimensions}.", dimensions=", ".join(UNIT_DIMENSIONS)
        )
    unit = UnitOfMeasure(code=code, name=name, dimension=dimension)
    if not await add_unique(session, unit):
        raise Conflict("There is already a unit {code}.", code=code)
    return unit


async def units(session: AsyncSession) -> list[UnitOfMeasure]:
    return list(
        await session.scalars(
            select(UnitOfMeasure).order_by(UnitOfMeasure.dimension, UnitOfMeasure.code)
        )
    )


def _check_factor(factor: Decimal | int) -> Decimal:
    factor = to_decimal(factor)
    if factor <= 0 or factor >= FACTOR_LIMIT or not has_places(factor, FACTOR_PLACES):
        raise ValidationFailed(
            "A conversion factor is a positive number with at most {places} decimal places.",
            places=FACTOR_PLACES,
        )
    return factor


async def add_conversion(
    session: AsyncSession,
    from_uom_id: uuid.UUID,
    to_uom_id: uuid.UUID,
    factor: Decimal | int,
    *,
    product_id: uuid.UUID | None = None,
) -> UnitConversion:
    """Declare ``1 from_uom = factor to_uom``, for every product or for ``product_id``."""
    factor = _check_factor(factor)
    source, target = await get_unit(session, from_uom_id), await get_unit(session, to_uom_id)
    if source.id == target.id:
        raise ValidationFailed("A conversion joins two different units.")
    if product_id is None and source.dimension != target.dimension:
        raise ValidationFailed(
            "{from_uom} and {to_uom} measure different things; convert between them "
            "for a product, not for all.",
            from_uom=source.code,
            to_uom=target.code,
        )
    if product_id is not None:
        await get_product(session, product_id)
    conversion = UnitConversion(
        product_id=product_id, from_uom_id=source.id, to_uom_id=target.id, factor=factor
    )
    if not await add_unique(session, conversion):
        raise Conflict(
            "{from_uom} and {to_uom} already have a conversion.",
            from_uom=source.code,
            to_uom=target.code,
        )
    return conversion


async def delete_conversion(session: AsyncSession, conversion_id: uuid.UUID) -> None:
    conversion = await session.scalar(
        select(UnitConversion).where(UnitConversion.id == conversion_id)
    )
    if conversion is None:
        raise NotFound("No unit conversion {id}.", id=str(conversion_id))
    await session.delete(conversion)
    await session.flush()


async def conversions_of(session: AsyncSession, product: Product) -> list[UnitConversion]:
    """What a product's quantities convert through: its own conversions first, then the
    global ones from or to its unit."""
    own = UnitConversion.product_id == product.id
    global_for_unit = and_(
        UnitConversion.product_id.is_(None),
        or_(
            UnitConversion.from_uom_id == product.uom_id, UnitConversion.to_uom_id == product.uom_id
        ),
    )
    query = (
        select(UnitConversion)
        .where(or_(own, global_for_unit))
        .order_by(UnitConversion.product_id.is_(None), UnitConversion.id)
    )
    return list(await session.scalars(query))


Step = tuple[uuid.UUID, Decimal, bool]  # the next unit, the factor, whether to divide by it


def _graph(edges: Iterable[tuple[uuid.UUID, uuid.UUID, Decimal]]) -> dict[uuid.UUID, list[Step]]:
    graph: dict[uuid.UUID, list[Step]] = {}
    for source, target, factor in edges:
        graph.setdefault(source, []).append((target, factor, False))
        graph.setdefault(target, []).append((source, factor, True))
    return graph


def _path(
    graph: dict[uuid.UUID, list[Step]], start: uuid.UUID, goal: uuid.UUID
) -> list[Step] | None:
    """The shortest chain of conversions from ``start`` to ``goal`` (breadth first)."""
    came_from: dict[uuid.UUID, tuple[uuid.UUID, Step]] = {}
    queue, seen = deque([start]), {start}
    while queue:
        unit = queue.popleft()
        if unit == goal:
            steps: list[Step] = []
            while unit != start:
                unit, step = came_from[unit]
                steps.append(step)
            return steps[::-1]
        for step in graph.get(unit, ()):
            if step[0] not in seen:
                seen.add(step[0])
                came_from[step[0]] = (unit, step)
                queue.append(step[0])
    return None


async def convert(
    session: AsyncSession,
    quantity: Decimal | int,
    from_uom_id: uuid.UUID,
    to_uom_id: uuid.UUID,
    product_id: uuid.UUID | None = None,
) -> Decimal:
    """``quantity`` in ``from_uom`` expressed in ``to_uom``, rounded half-up to 4 places."""
    quantity = to_decimal(quantity)
    units_asked = await session.execute(
        select(UnitOfMeasure.id, UnitOfMeasure.code).where(
            UnitOfMeasure.id.in_([from_uom_id, to_uom_id])
        )
    )
    codes = dict(units_asked.all())
    for unit_id in (from_uom_id, to_uom_id):
        if unit_id not in codes:
            raise NotFound("No unit of measure {id}.", id=str(unit_id))
    if from_uom_id == to_uom_id:
        return quantity.quantize(QUANTITY, ROUND_HALF_UP)
    scope = UnitConversion.product_id.is_(None)
    if product_id is not None:
        scope = or_(scope, UnitConversion.product_id == product_id)
    rows = await session.execute(
        select(
            UnitConversion.product_id,
            UnitConversion.from_uom_id,
            UnitConversion.to_uom_id,
            UnitConversion.factor,
        )
        .where(scope)
        .order_by(UnitConversion.id)
    )
    own: list[tuple[uuid.UUID, uuid.UUID, Decimal]] = []
    global_: list[tuple[uuid.UUID, uuid.UUID, Decimal]] = []
    for owner, source, target, factor in rows:
        (global_ if owner is None else own).append((source, target, factor))
    # Both together, the product's own conversion replacing a global one for the same pair.
    pairs = {frozenset((s, t)): (s, t, f) for s, t, f in (*global_, *own)}
    path = _path(_graph(own), from_uom_id, to_uom_id) or _path(
        _graph(pairs.values()), from_uom_id, to_uom_id
    )
    if path is None:
        raise ValidationFailed(
            "There is no conversion from {from_uom} to {to_uom}.",
            from_uom=codes[from_uom_id],
            to_uom=codes[to_uom_id],
        )
    with localcontext() as context:
        context.prec = 40
        for _unit, factor, divide in path:
            quantity = quantity / factor if divide else quantity * factor
    return quantity.quantize(QUANTITY, ROUND_HALF_UP)
