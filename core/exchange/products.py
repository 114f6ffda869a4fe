"""Products in and out of spreadsheets: the import spec behind ``create_product`` and the
export of the catalogue.

Decisions:

- References are looked up, never created: a unit by its code or name
  ("kg", "千克"), a category by its path ("Hardware / Screws", as the export
  writes it) or by its name when only one category has it, a tax rate by its
  name or its percentage ("13%", or "13"). An unknown one refuses the row,
  naming it: a typo must not grow the category tree (Odoo refuses unknown
  references the same way unless told to create them).
- A tax rate is a percentage: "13%" and "13" are 13 %; "0.13" is ambiguous
  and refused with a hint (a cell formatted as a percentage in Excel reads as
  "13%"). Among several active rates of one percentage, a default wins, then a
  rate for sales, then the first by name.
- The type is stockable unless the row says consumable or service.
- The same SKU (ignoring case) or barcode twice in one file is a bad row; an
  SKU the catalogue has already is refused by the catalogue itself.
- The export writes the same columns under the same headers, references as
  the import reads them, so the file imports into another workspace that has
  the same units, categories and rates.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.exchange.exports import Column, export_rows
from core.exchange.imports import (
    Field,
    ImportSpec,
    Prepared,
    Unique,
    choice,
    decimal,
    folded,
)
from core.i18n import N_, gettext
from core.permissions import Actor
from core.products import services as catalogue
from core.products import tax
from core.products.models import Product, ProductCategory, TaxRate

READ, WRITE = "core.product.read", "core.product.write"
PATH_SEPARATOR = " / "
EXPORT_PAGE = 500

KINDS = {
    "stockable": (N_("Stockable"), "库存商品", "库存", "存货", "storable", "goods"),
    "consumable": (N_("Consumable"), "消耗品", "耗材"),
    "service": (N_("Service"), "服务"),
}


def _money(value: str) -> Decimal:
    return decimal(value, places=2, minimum=Decimal(0))


def _sku_key(values: Mapping[str, Any]) -> str | None:
    sku = values.get("sku", "").strip()
    return sku.lower() or None


def _barcode_key(values: Mapping[str, Any]) -> str | None:
    return values.get("barcode", "").strip() or None


@dataclass(frozen=True, slots=True)
class _References:
    """The workspace's units, categories and tax rates, read once per import or export."""

    unit_codes: dict[uuid.UUID, str]
    units: dict[str, uuid.UUID]  # folded code or name -> id
    category_paths: dict[uuid.UUID, str]
    categories: dict[str, list[uuid.UUID]]  # folded path, and folded name -> ids
    rates: dict[uuid.UUID, TaxRate]  # every rate, inactive ones too (for the export)

    @classmethod
    async def load(cls, session: AsyncSession) -> _References:
        units = await catalogue.units(session)
        by_name = {folded(u.name): u.id for u in units}
        by_code = {folded(u.code): u.id for u in units}
        rows = list(await session.scalars(select(ProductCategory)))
        parents = {c.id: c.parent_id for c in rows}
        names = {c.id: c.name for c in rows}
        paths: dict[uuid.UUID, str] = {}
        for category_id in names:
            chain, current = [], category_id
            while current is not None:
                chain.append(names[current])
                current = parents[current]
            paths[category_id] = PATH_SEPARATOR.join(reversed(chain))
        categories: dict[str, list[uuid.UUID]] = {}
        for category_id, path in paths.items():
            categories.setdefault(_path_key(path), []).append(category_id)
        for category_id, name in names.items():
            if parents[category_id] is not None:  # a root's name is its path, already there
                categories.setdefault(folded(name), []).append(category_id)
        return cls(
            unit_codes={u.id: u.code for u in units},
            units={**by_name, **by_code},  # a code wins over another unit's name
            category_paths=paths,
            categories=categories,
            rates={r.id: r for r in await tax.tax_rates(session, include_inactive=True)},
        )

    def unit(self, text: str) -> uuid.UUID:
        found = self.units.get(folded(text))
        if found is None:
            raise ValidationFailed("There is no unit {unit}.", unit=text)
        return found

    def category(self, text: str) -> uuid.UUID:
        found = self.categories.get(_path_key(text), [])
        if not found:
            raise ValidationFailed(
                "There is no product category {category}; create it first or correct the name.",
                category=text,
            )
        if len(found) > 1:
            paths = sorted(self.category_paths[c] for c in found)
            raise ValidationFailed(
                "Several product categories are called {category}; write the whole path, "
                "such as {path}.",
                category=text,
                path=paths[0],
            )
        return found[0]

    def tax_rate(self, text: str) -> uuid.UUID:
        active = [r for r in self.rates.values() if r.active]
        named = [r for r in active if folded(r.name) == folded(text)]
        if named:
            return named[0].id
        percent = text.strip().removesuffix("%").removesuffix("％")
        number = decimal(percent, minimum=Decimal(0))
        if 0 < number < 1 and percent == text.strip():
            raise ValidationFailed(
                "Is {value} a percentage? Write a tax rate such as {example}.",
                value=text,
                example="13%",  # a "%" in a msgid would trip Jinja's gettext
            )
        same = [r for r in active if r.rate == number / 100]
        if not same:
            raise ValidationFailed("There is no active tax rate of {rate}.", rate=f"{percent}%")
        # A default first, then a rate for sales (or both), then by name.
        same.sort(key=lambda r: (not r.is_default, r.kind == "purchase", r.name))
        return same[0].id

    def tax_label(self, tax_rate_id: uuid.UUID | None) -> str:
        rate = self.rates.get(tax_rate_id) if tax_rate_id is not None else None
        return f"{tax.percent_label(rate.rate)}%" if rate is not None else ""


def _path_key(path: str) -> str:
    return "/".join(folded(part) for part in path.split("/"))


async def _prepare(session: AsyncSession, actor: Actor, dry_run: bool) -> Prepared:
    references = await _References.load(session)

    async def write(values: Mapping[str, Any]) -> None:
        await catalogue.create_product(
            session,
            sku=values["sku"],
            name=values["name"],
            uom_id=values["unit"],
            kind=values.get("kind", "stockable"),
            category_id=values.get("category"),
            sale_price=values.get("sale_price", Decimal(0)),
            standard_cost=values.get("standard_cost", Decimal(0)),
            tax_rate_id=values.get("tax_rate"),
            barcode=values.get("barcode"),
        )

    lookups = {
        "unit": references.unit,
        "category": references.category,
        "tax_rate": references.tax_rate,
    }
    return Prepared(write=write, lookups=lookups)


PRODUCT_IMPORT = ImportSpec(
    key="core.product",
    permission=WRITE,
    fields=(
        Field(
            "sku",
            N_("SKU"),
            required=True,
            aliases=(
                "Code",
                "Item code",
                "Product code",
                "Internal reference",
                "编码",
                "货号",
                "物料编码",
                "商品编码",
                "产品编码",
            ),
        ),
        Field(
            "name",
            N_("Name"),
            required=True,
            aliases=("Product", "Product name", "Item", "名称", "品名", "商品名称", "产品名称"),
        ),
        Field(
            "kind",
            N_("Product type"),
            choice(KINDS, N_("{value} is not stockable, consumable or service.")),
            aliases=("Type", "Kind", "类型", "产品类型", "商品类型"),
        ),
        Field(
            "category",
            N_("Category"),
            aliases=("Product category", "分类", "类别", "商品分类", "产品分类", "品类"),
        ),
        Field(
            "unit",
            N_("Unit"),
            required=True,
            aliases=("UoM", "Unit of measure", "单位", "计量单位"),
        ),
        Field(
            "sale_price",
            N_("Sale price"),
            _money,
            aliases=("Price", "Sales price", "Unit price", "售价", "销售价", "销售价格", "单价"),
        ),
        Field(
            "standard_cost",
            N_("Cost"),
            _money,
            aliases=("Standard cost", "Cost price", "Purchase price", "成本", "成本价", "进价"),
        ),
        Field(
            "tax_rate",
            N_("Tax rate"),
            aliases=("Tax", "VAT", "VAT rate", "税率", "增值税率", "增值税"),
        ),
        Field("barcode", N_("Barcode"), aliases=("EAN", "UPC", "GTIN", "条码", "条形码")),
    ),
    prepare=_prepare,
    label=N_("Products"),
    list_path="/products",
    unique=(Unique(("sku",), _sku_key), Unique(("barcode",), _barcode_key)),
)


async def _catalogue_pages(session: AsyncSession, **filters: Any) -> AsyncIterator[Product]:
    """Every product matching ``filters``, by SKU, read page by page until one comes back empty
    (a short page may only mean the service caps page sizes lower)."""
    after: str | None = None
    while page := await catalogue.list_products(
        session, after_sku=after, limit=EXPORT_PAGE, **filters
    ):
        for product in page:
            yield product
        after = page[-1].sku


async def export_product_list(
    session: AsyncSession,
    actor: Actor,
    file_format: str,
    *,
    search: str | None = None,
    kind: str | None = None,
    category_id: uuid.UUID | None = None,
    active: bool | None = True,
) -> bytes:
    """The catalogue (these filters) as a file, references written as the import reads them."""
    actor.require(READ)
    references = await _References.load(session)
    label = {field.key: field.label for field in PRODUCT_IMPORT.fields}
    columns: tuple[Column[Product], ...] = (
        Column("sku", label["sku"], lambda p: p.sku),
        Column("name", label["name"], lambda p: p.name),
        Column("kind", label["kind"], lambda p: gettext(KINDS[p.kind][0])),
        Column(
            "category", label["category"], lambda p: references.category_paths.get(p.category_id)
        ),
        Column("unit", label["unit"], lambda p: references.unit_codes[p.uom_id]),
        Column("sale_price", label["sale_price"], lambda p: p.sale_price),
        Column("standard_cost", label["standard_cost"], lambda p: p.standard_cost),
        Column("tax_rate", label["tax_rate"], lambda p: references.tax_label(p.tax_rate_id)),
        Column("barcode", label["barcode"], lambda p: p.barcode),
    )
    rows = _catalogue_pages(
        session, search=search, kind=kind, category_id=category_id, active=active
    )
    return await export_rows(columns, rows, file_format, title=gettext("Products"))
