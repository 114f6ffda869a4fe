"""The product catalogue: categories, units of measure and their conversions, products,
and the master data a new workspace starts with.

Decisions where the issue is silent:

- Products are not owned records: every member allowed to read the catalogue sees
  all of it, as in Odoo. A product is archived (``active=False``), never deleted,
  because documents keep pointing at it.
- ``kind`` is ``stockable`` (tracked in stock), ``consumable`` (bought and used, never
  counted) or ``service``, Odoo's three types.
- Prices and costs are in the base currency, at most two decimals; more is refused
  rather than silently rounded.
- A barcode is free text up to 64 characters (Code 128 labels, internal codes), but
  one of 12 or 13 digits is a UPC-A or EAN-13 and must carry a valid check digit.
- A conversion says ``1 from_uom = factor to_uom`` and works both ways. A global one
  joins units of one dimension (1 kg = 1000 g); a product's own may cross dimensions
  (1 bag = 25 kg of this cement). :func:`convert` looks for a path through the
  product's conversions first, then through the product's and the global ones
  together, the product's taking precedence for the same pair of units.
- A new workspace gets common units; a working day is 8 hours, as in Odoo.

This is a package, and this file is its map: callers import from
``core.products.services`` alone, and the rooms below are where to read.

- :mod:`.lookups` — one category, unit or product by id (NotFound otherwise),
  a unit by code, a product by SKU or barcode: every other room reads through these;
- :mod:`.categories` — the category tree;
- :mod:`.units` — units of measure, conversions and :func:`convert`;
- :mod:`.catalogue` — products: field checks, create, update (its changes tracked on
  the product's timeline), the list by SKU;
- :mod:`.seed` — what a new workspace starts with.

A package rather than sibling modules of ``services.py``: the rooms stay
together under one name, and a caller's ``from core.products import services``
keeps working without a second module that only forwards names. The lookups
have a room of their own because units and products need each other's
(a product has a unit; a conversion may belong to a product).
"""

from __future__ import annotations

from core.products.services.catalogue import (
    DEFAULT_PAGE,
    MONEY_LIMIT,
    READ,
    RECORD,
    TRACKED,
    WRITE,
    create_product,
    gtin_check_digit_ok,
    list_products,
    update_product,
)
from core.products.services.categories import (
    MAX_CATEGORY_DEPTH,
    category_paths,
    category_subtree,
    create_category,
    delete_category,
    update_category,
)
from core.products.services.lookups import (
    get_category,
    get_product,
    get_unit,
    product_by_barcode,
    product_by_sku,
    unit_by_code,
)
from core.products.services.seed import (
    DEFAULT_CONVERSIONS,
    DEFAULT_UNITS,
    seed_defaults,
    seed_units,
)
from core.products.services.units import (
    FACTOR_LIMIT,
    FACTOR_PLACES,
    QUANTITY,
    Step,
    add_conversion,
    conversions_of,
    convert,
    create_unit,
    delete_conversion,
    units,
)

__all__ = [
    "DEFAULT_CONVERSIONS",
    "DEFAULT_PAGE",
    "DEFAULT_UNITS",
    "FACTOR_LIMIT",
    "FACTOR_PLACES",
    "MAX_CATEGORY_DEPTH",
    "MONEY_LIMIT",
    "QUANTITY",
    "READ",
    "RECORD",
    "TRACKED",
    "WRITE",
    "Step",
    "add_conversion",
    "category_paths",
    "category_subtree",
    "conversions_of",
    "convert",
    "create_category",
    "create_product",
    "create_unit",
    "delete_category",
    "delete_conversion",
    "get_category",
    "get_product",
    "get_unit",
    "gtin_check_digit_ok",
    "list_products",
    "product_by_barcode",
    "product_by_sku",
    "seed_defaults",
    "seed_units",
    "unit_by_code",
    "units",
    "update_category",
    "update_product",
]
