"""The category tree: create, rename, move (never into a loop, at most ten levels deep),
delete an empty one, and a category with everything below it.
"""

from __future__ import annotations

import uuid
from typing import Any

from msgspec import UNSET, UnsetType
from sqlalchemy import func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import add_unique, assign_unique
from core.errors import Conflict, ValidationFailed
from core.products.models import Product, ProductCategory
from core.products.services.lookups import get_category

MAX_CATEGORY_DEPTH = 10

_LOCK_CATEGORIES = text(
    "SELECT pg_advisory_xact_lock(hashtext('product-categories:' || "
    "current_setting('app.tenant_id')))"
)


def _category_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A category's name has 1 to 100 characters.")
    return name


async def _ancestors(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and the ones above it, nearest first."""
    chain: list[uuid.UUID] = []
    current: uuid.UUID | None = category_id
    while current is not None and len(chain) <= MAX_CATEGORY_DEPTH:
        chain.append(current)
        current = await session.scalar(
            select(ProductCategory.parent_id).where(ProductCategory.id == current)
        )
    return chain


async def create_category(
    session: AsyncSession, name: str, parent_id: uuid.UUID | None = None
) -> ProductCategory:
    await session.execute(_LOCK_CATEGORIES)
    if parent_id is not None:
        await get_category(session, parent_id)
        if len(await _ancestors(session, parent_id)) >= MAX_CATEGORY_DEPTH:
            raise ValidationFailed(
                "Categories nest at most {depth} levels.", depth=MAX_CATEGORY_DEPTH
            )
    category = ProductCategory(name=_category_name(name), parent_id=parent_id)
    if not await add_unique(session, category):
        raise Conflict("There is already a category called {name} here.", name=category.name)
    return category


async def update_category(
    session: AsyncSession,
    category_id: uuid.UUID,
    *,
    name: str | UnsetType = UNSET,
    parent_id: uuid.UUID | UnsetType | None = UNSET,
) -> ProductCategory:
    """Rename a category or move it (with everything below it) under another one."""
    await session.execute(_LOCK_CATEGORIES)  # two moves at once could otherwise make a loop
    category = await get_category(session, category_id)
    changes: dict[str, Any] = {}
    if name is not UNSET:
        changes["name"] = _category_name(name)
    if parent_id is not UNSET:
        if parent_id is not None:
            await get_category(session, parent_id)
            above = await _ancestors(session, parent_id)
            if category.id in above:
                raise Conflict("A category cannot move under itself or one of its own.")
            if len(above) + await _height(session, category.id) > MAX_CATEGORY_DEPTH:
                raise ValidationFailed(
                    "Categories nest at most {depth} levels.", depth=MAX_CATEGORY_DEPTH
                )
        changes["parent_id"] = parent_id
    new_name = changes.get("name", category.name)
    if not await assign_unique(session, category, changes):
        raise Conflict("There is already a category called {name} here.", name=new_name)
    return category


async def category_subtree(session: AsyncSession, category_id: uuid.UUID) -> list[uuid.UUID]:
    """The category and every category below it (to list "Hardware" with its subcategories)."""
    tree = (
        select(ProductCategory.id, literal(1).label("depth"))
        .where(ProductCategory.id == category_id)
        .cte("tree", recursive=True)
    )
    tree = tree.union_all(
        select(ProductCategory.id, (tree.c.depth + 1).label("depth"))
        .join(tree, ProductCategory.parent_id == tree.c.id)
        .where(tree.c.depth < MAX_CATEGORY_DEPTH)
    )
    return list(await session.scalars(select(tree.c.id)))


async def _height(session: AsyncSession, category_id: uuid.UUID) -> int:
    """How many levels the category's subtree spans (1 for a category with no children)."""
    levels, current = 0, [category_id]
    while current and levels <= MAX_CATEGORY_DEPTH:
        levels += 1
        current = list(
            await session.scalars(
                select(ProductCategory.id).where(ProductCategory.parent_id.in_(current))
            )
        )
    return levels


async def delete_category(session: AsyncSession, category_id: uuid.UUID) -> None:
    """Delete an empty category: no categories below it, no products in it."""
    await session.execute(_LOCK_CATEGORIES)
    category = await get_category(session, category_id)
    children = await session.scalar(
        select(func.count()).where(ProductCategory.parent_id == category.id)
    )
    products = await session.scalar(select(func.count()).where(Product.category_id == category.id))
    if children or products:
        raise Conflict("Move the categories and products out of {name} first.", name=category.name)
    await session.delete(category)
    await session.flush()


async def category_paths(session: AsyncSession) -> dict[uuid.UUID, str]:
    """Every category with its path from the top ("Hardware / Fasteners"), in path order:
    what a category select offers, and how a product's category reads."""
    rows = (
        await session.execute(
            select(ProductCategory.id, ProductCategory.name, ProductCategory.parent_id)
        )
    ).all()
    nodes = {row.id: row for row in rows}

    def path(category_id: uuid.UUID) -> str:
        names: list[str] = []
        current: uuid.UUID | None = category_id
        while current is not None and len(names) < MAX_CATEGORY_DEPTH:
            names.append(nodes[current].name)
            current = nodes[current].parent_id
        return " / ".join(reversed(names))

    paths = {category_id: path(category_id) for category_id in nodes}
    return dict(sorted(paths.items(), key=lambda item: item[1].casefold()))
