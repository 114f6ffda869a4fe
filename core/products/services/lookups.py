"""Finding one record: a category, unit or product by id (NotFound otherwise), a unit by
code, a product by SKU or barcode.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.products.models import Product, ProductCategory, UnitOfMeasure


async def get_category(session: AsyncSession, category_id: uuid.UUID) -> ProductCategory:
    category = await session.scalar(
        select(ProductCategory).where(ProductCategory.id == category_id)
    )
    if category is None:
        raise NotFound("No product category {id}.", id=str(category_id))
    return category


async def get_unit(session: AsyncSession, unit_id: uuid.UUID) -> UnitOfMeasure:
    unit = await session.scalar(select(UnitOfMeasure).where(UnitOfMeasure.id == unit_id))
    if unit is None:
        raise NotFound("No unit of measure {id}.", id=str(unit_id))
    return unit


async def unit_by_code(session: AsyncSession, code: str) -> UnitOfMeasure:
    """The unit with this code, ignoring case (``KG`` finds ``kg``)."""
    unit = await session.scalar(
        select(UnitOfMeasure).where(func.lower(UnitOfMeasure.code) == code.strip().lower())
    )
    if unit is None:
        raise NotFound("There is no unit {code}.", code=code)
    return unit


async def get_product(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await session.scalar(select(Product).where(Product.id == product_id))
    if product is None:
        raise NotFound("No product {id}.", id=str(product_id))
    return product


async def product_by_sku(session: AsyncSession, sku: str) -> Product | None:
    """The product with this SKU, ignoring case."""
    return await session.scalar(
        select(Product).where(func.lower(Product.sku) == sku.strip().lower())
    )


async def product_by_barcode(session: AsyncSession, barcode: str) -> Product | None:
    return await session.scalar(select(Product).where(Product.barcode == barcode.strip()))
