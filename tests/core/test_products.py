"""The product catalogue: SKUs and barcodes, categories, units and conversions, isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.products import services as catalogue
from core.products import tax
from core.products.models import Product, TaxRate, UnitConversion, UnitOfMeasure


@pytest.fixture
async def acme(db: Database, make_tenant):
    ctx = await make_tenant("acme-products")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await catalogue.seed_defaults(session, "zh-CN")
    return ctx


async def _unit(session, code: str) -> UnitOfMeasure:
    return await catalogue.unit_by_code(session, code)


async def _execute_alone(db: Database, tenant_id, sql: str, **params) -> None:
    """One statement in its own tenant transaction, past every service rule."""
    async with db.tenant_transaction(tenant_id) as session:
        await session.execute(text(sql), params)


async def test_a_new_workspace_gets_units_vat_and_its_base_currency(
    db: Database, make_tenant
) -> None:
    china = await make_tenant("china-seed", locale="zh-CN", seed=True)  # seeded at creation
    world = await make_tenant("world-seed")
    async with db.tenant_transaction(china.tenant_id) as session:
        await catalogue.seed_defaults(session, "zh-CN")  # a second run changes nothing
        from core.products import currency

        assert await currency.base_currency(session) == "CNY"
        rates = await tax.tax_rates(session)
        assert [r.rate for r in rates] == [Decimal("0.13"), Decimal("0.09"), Decimal("0.06"), 0]
        assert (await tax.default_tax_rate(session, "sale")).rate == Decimal("0.1300")
        assert (await tax.default_tax_rate(session, "purchase")).rate == Decimal("0.1300")
        codes = {u.code for u in await catalogue.units(session)}
        assert {"pcs", "dozen", "kg", "g", "t", "m", "L", "h", "day"} <= codes
        assert len(codes) == len(catalogue.DEFAULT_UNITS)
        kg, g = await _unit(session, "KG"), await _unit(session, "g")
        assert await catalogue.convert(session, Decimal("2.5"), kg.id, g.id) == Decimal("2500")
    async with db.tenant_transaction(world.tenant_id) as session:
        await catalogue.seed_defaults(session, "en")
        assert await currency.base_currency(session) == "USD"
        assert await tax.tax_rates(session) == []
        assert (await _unit(session, "pcs")).name == "Piece"
        with pytest.raises(ValidationFailed, match="Language must be one of"):
            await catalogue.seed_defaults(session, "fr")


async def test_skus_are_unique_ignoring_case_and_barcodes_unique_when_set(
    db: Database, acme
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs = await _unit(session, "pcs")
        screw = await catalogue.create_product(
            session, sku=" SCR-001 ", name="Screw M4", uom_id=pcs.id, barcode="4006381333931"
        )
        assert screw.sku == "SCR-001"
        assert (screw.sale_price, screw.kind, screw.active) == (Decimal("0.00"), "stockable", True)
        with pytest.raises(Conflict, match="SKU scr-001"):
            await catalogue.create_product(session, sku="scr-001", name="Other", uom_id=pcs.id)
        with pytest.raises(Conflict, match="barcode 4006381333931"):
            await catalogue.create_product(
                session, sku="SCR-002", name="Other", uom_id=pcs.id, barcode="4006381333931"
            )
        # No barcode is no barcode: many products may have none.
        nut = await catalogue.create_product(session, sku="NUT-1", name="Nut", uom_id=pcs.id)
        bolt = await catalogue.create_product(
            session, sku="BOLT-1", name="Bolt", uom_id=pcs.id, barcode="  "
        )
        assert (nut.barcode, bolt.barcode) == (None, None)

        # A refused change leaves the product as it was, and the transaction usable.
        with pytest.raises(Conflict, match="SKU Scr-001"):
            await catalogue.update_product(session, nut.id, sku="Scr-001", name="Renamed")
        assert (await catalogue.get_product(session, nut.id)).sku == "NUT-1"
        assert (await catalogue.get_product(session, nut.id)).name == "Nut"
        assert (await catalogue.product_by_sku(session, "scr-001")).id == screw.id
        assert (await catalogue.product_by_barcode(session, "4006381333931")).id == screw.id

    async with db.tenant_transaction(acme.tenant_id) as session:
        names = list(await session.scalars(select(Product.sku).order_by(Product.sku)))
        assert names == ["BOLT-1", "NUT-1", "SCR-001"]


@pytest.mark.parametrize(
    "barcode",
    ["4006381333931", "036000291452", "9787115546081", "ABC-123-x", "12345678", "00012345678905"],
)
async def test_valid_barcodes_are_kept(db: Database, acme, barcode: str) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs = await _unit(session, "pcs")
        product = await catalogue.create_product(
            session, sku="B", name="Barcoded", uom_id=pcs.id, barcode=barcode
        )
        assert product.barcode == barcode


@pytest.mark.parametrize("barcode", ["4006381333932", "036000291453", "9787115546080"])
async def test_an_ean13_or_upca_with_a_wrong_check_digit_is_refused(
    db: Database, acme, barcode: str
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs = await _unit(session, "pcs")
        with pytest.raises(ValidationFailed, match="wrong check digit"):
            await catalogue.create_product(
                session, sku="B", name="Barcoded", uom_id=pcs.id, barcode=barcode
            )
        assert await session.scalar(select(Product.id)) is None


async def test_bad_product_input_is_refused_with_a_clear_message(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs = await _unit(session, "pcs")
        base = {"sku": "P-1", "name": "Pen", "uom_id": pcs.id}
        cases = [
            ({"sku": ""}, "A SKU has 1 to 64 characters"),
            ({"sku": "x" * 65}, "A SKU has 1 to 64 characters"),
            ({"name": " "}, "name has 1 to 200 characters"),
            ({"kind": "digital"}, "one of stockable, consumable, service"),
            ({"sale_price": Decimal("-0.01")}, "zero or more"),
            ({"standard_cost": Decimal("1.005")}, "at most 2 decimal places"),
            ({"barcode": "9" * 65}, "at most 64 characters"),
        ]
        for change, message in cases:
            with pytest.raises(ValidationFailed, match=message):
                await catalogue.create_product(session, **{**base, **change})
        with pytest.raises(TypeError, match="Decimal"):
            await catalogue.create_product(session, **base, sale_price=1.5)
        with pytest.raises(NotFound, match="No unit of measure"):
            await catalogue.create_product(session, **{**base, "uom_id": acme.tenant_id})
        old = await tax.create_tax_rate(session, "Old 17%", Decimal("0.17"))
        await tax.update_tax_rate(session, old.id, active=False)
        with pytest.raises(ValidationFailed, match="Old 17% is no longer active"):
            await catalogue.create_product(session, **base, tax_rate_id=old.id)
        assert await session.scalar(select(Product.id)) is None

        vat = await tax.default_tax_rate(session, "sale")
        pen = await catalogue.create_product(
            session,
            **base,
            kind="consumable",
            sale_price=Decimal("12.5"),
            standard_cost=3,
            tax_rate_id=vat.id,
        )
        assert (pen.sale_price, pen.standard_cost) == (Decimal("12.50"), Decimal("3.00"))
        service = await catalogue.create_product(
            session, sku="SVC-INSTALL", name="Installation", uom_id=pcs.id, kind="service"
        )
        hour = await _unit(session, "h")
        service = await catalogue.update_product(
            session, service.id, uom_id=hour.id, sale_price=Decimal("300"), active=False
        )
        assert (service.uom_id, service.sale_price, service.active) == (
            hour.id,
            Decimal("300.00"),
            False,
        )


@pytest.mark.parametrize(
    ("kind", "price", "constraint"),
    [("stockable", "-1", "prices_not_negative"), ("gift", "1", "ck_core_product_kind")],
)
async def test_the_database_refuses_negative_prices_and_unknown_kinds(
    db: Database, acme, kind: str, price: str, constraint: str
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs = await _unit(session, "pcs")
    with pytest.raises(IntegrityError, match=constraint):
        await _execute_alone(
            db,
            acme.tenant_id,
            "INSERT INTO core_product (tenant_id, id, sku, name, kind, uom_id, sale_price, "
            "standard_cost, active) "
            "VALUES (:t, gen_random_uuid(), 'X', 'X', :kind, :u, :price, 0, true)",
            t=acme.tenant_id,
            u=pcs.id,
            kind=kind,
            price=Decimal(price),
        )


async def test_global_conversions_work_both_ways_within_a_dimension(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs, dozen = await _unit(session, "pcs"), await _unit(session, "dozen")
        kg, g, t = await _unit(session, "kg"), await _unit(session, "g"), await _unit(session, "t")
        assert await catalogue.convert(session, 3, dozen.id, pcs.id) == Decimal("36.0000")
        assert await catalogue.convert(session, 30, pcs.id, dozen.id) == Decimal("2.5000")
        assert await catalogue.convert(session, 1, pcs.id, dozen.id) == Decimal("0.0833")
        assert await catalogue.convert(session, 12, pcs.id, dozen.id) == Decimal("1.0000")
        # Two steps (t → kg → g), and half-up rounding to four places at the end.
        assert await catalogue.convert(session, Decimal("0.0025"), t.id, g.id) == Decimal("2500")
        assert await catalogue.convert(session, Decimal("0.05"), g.id, kg.id) == Decimal("0.0001")
        assert await catalogue.convert(session, Decimal("0.04"), g.id, kg.id) == Decimal("0.0000")
        assert await catalogue.convert(session, Decimal("7.5"), kg.id, kg.id) == Decimal("7.5000")

        with pytest.raises(ValidationFailed, match="no conversion from pcs to kg"):
            await catalogue.convert(session, 1, pcs.id, kg.id)
        with pytest.raises(ValidationFailed, match="pcs and kg measure different things"):
            await catalogue.add_conversion(session, pcs.id, kg.id, Decimal("0.5"))
        with pytest.raises(Conflict, match="g and kg already have a conversion"):
            await catalogue.add_conversion(session, g.id, kg.id, Decimal("0.001"))
        with pytest.raises(ValidationFailed, match="two different units"):
            await catalogue.add_conversion(session, g.id, g.id, 1)
        for factor in (0, Decimal("-2"), Decimal("0.0000001")):
            with pytest.raises(ValidationFailed, match="positive number with at most 6"):
                await catalogue.add_conversion(session, g.id, t.id, factor)


async def test_a_products_own_conversions_come_first(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs, kg, g = (
            await _unit(session, "pcs"),
            await _unit(session, "kg"),
            await _unit(session, "g"),
        )
        box = await catalogue.create_unit(session, "box", "Box", "unit")
        bag = await catalogue.create_unit(session, "bag", "Bag", "unit")
        await catalogue.add_conversion(session, box.id, pcs.id, 10)  # the usual box
        pens = await catalogue.create_product(session, sku="PEN", name="Pen", uom_id=pcs.id)
        await catalogue.add_conversion(session, box.id, pcs.id, 12, product_id=pens.id)
        cement = await catalogue.create_product(session, sku="CEM", name="Cement", uom_id=bag.id)
        await catalogue.add_conversion(session, bag.id, kg.id, 25, product_id=cement.id)

        assert await catalogue.convert(session, 2, box.id, pcs.id) == Decimal("20.0000")
        assert await catalogue.convert(session, 2, box.id, pcs.id, pens.id) == Decimal("24.0000")
        assert await catalogue.convert(session, 36, pcs.id, box.id, pens.id) == Decimal("3.0000")
        # Across dimensions for this product only, then on through a global conversion.
        assert await catalogue.convert(session, 2, bag.id, kg.id, cement.id) == Decimal("50")
        assert await catalogue.convert(session, 10, g.id, bag.id, cement.id) == Decimal("0.0004")
        with pytest.raises(ValidationFailed, match="no conversion from bag to kg"):
            await catalogue.convert(session, 2, bag.id, kg.id)
        with pytest.raises(ValidationFailed, match="no conversion from bag to kg"):
            await catalogue.convert(session, 2, bag.id, kg.id, pens.id)
        with pytest.raises(Conflict, match="pcs and box already have a conversion"):
            await catalogue.add_conversion(session, pcs.id, box.id, 12, product_id=pens.id)
        with pytest.raises(NotFound, match="No product"):
            await catalogue.add_conversion(session, box.id, kg.id, 3, product_id=acme.tenant_id)

        own = await session.scalar(
            select(UnitConversion).where(UnitConversion.product_id == pens.id)
        )
        await catalogue.delete_conversion(session, own.id)
        assert await catalogue.convert(session, 2, box.id, pcs.id, pens.id) == Decimal("20")


async def test_the_database_allows_one_conversion_per_pair_whichever_way_round(
    db: Database, acme
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        kg, g = await _unit(session, "kg"), await _unit(session, "g")
    with pytest.raises(IntegrityError, match="uq_core_uom_conversion_pair"):
        await _execute_alone(
            db,
            acme.tenant_id,
            "INSERT INTO core_uom_conversion (tenant_id, id, from_uom_id, to_uom_id, factor) "
            "VALUES (:t, gen_random_uuid(), :g, :kg, 0.001)",
            t=acme.tenant_id,
            g=g.id,
            kg=kg.id,
        )


async def test_categories_form_a_tree_that_cannot_loop(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs = await _unit(session, "pcs")
        hardware = await catalogue.create_category(session, "Hardware")
        fasteners = await catalogue.create_category(session, "Fasteners", hardware.id)
        screws = await catalogue.create_category(session, "Screws", fasteners.id)
        paint = await catalogue.create_category(session, "Paint")
        with pytest.raises(Conflict, match="already a category called Screws"):
            await catalogue.create_category(session, "Screws", fasteners.id)
        assert (await catalogue.create_category(session, "Screws", paint.id)).name == "Screws"
        for target in (hardware.id, screws.id):
            with pytest.raises(Conflict, match="under itself"):
                await catalogue.update_category(session, hardware.id, parent_id=target)

        screw = await catalogue.create_product(
            session, sku="S1", name="Screw", uom_id=pcs.id, category_id=screws.id
        )
        await catalogue.create_product(
            session, sku="P1", name="Primer", uom_id=pcs.id, category_id=paint.id
        )
        listed = await catalogue.list_products(session, category_id=hardware.id)
        assert [p.id for p in listed] == [screw.id]

        with pytest.raises(Conflict, match="out of Screws first"):
            await catalogue.delete_category(session, screws.id)
        with pytest.raises(Conflict, match="out of Hardware first"):
            await catalogue.delete_category(session, hardware.id)
        await catalogue.update_product(session, screw.id, category_id=None)
        await catalogue.update_category(session, fasteners.id, name="Fixings", parent_id=None)
        assert await catalogue.list_products(session, category_id=hardware.id) == []
        await catalogue.delete_category(session, hardware.id)
        with pytest.raises(NotFound):
            await catalogue.get_category(session, hardware.id)

        parent = paint
        for level in range(catalogue.MAX_CATEGORY_DEPTH - 1):
            parent = await catalogue.create_category(session, f"L{level}", parent.id)
        with pytest.raises(ValidationFailed, match="at most 10 levels"):
            await catalogue.create_category(session, "Too deep", parent.id)
        with pytest.raises(ValidationFailed, match="at most 10 levels"):
            await catalogue.update_category(session, fasteners.id, parent_id=parent.id)


async def test_the_catalogue_lists_by_sku_with_search_filters_and_pages(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        pcs, h = await _unit(session, "pcs"), await _unit(session, "h")
        for sku, name in [("b-2", "Blue pen"), ("A-1", "Red pen"), ("c-3", "Pencil 100%")]:
            await catalogue.create_product(session, sku=sku, name=name, uom_id=pcs.id)
        await catalogue.create_product(
            session, sku="SVC", name="Pen repair", uom_id=h.id, kind="service", active=False
        )

        def skus(products: list[Product]) -> list[str]:
            return [p.sku for p in products]

        assert skus(await catalogue.list_products(session)) == ["A-1", "b-2", "c-3"]
        assert skus(await catalogue.list_products(session, active=None)) == [
            "A-1",
            "b-2",
            "c-3",
            "SVC",
        ]
        first = await catalogue.list_products(session, limit=2)
        assert skus(first) == ["A-1", "b-2"]
        assert skus(await catalogue.list_products(session, after_sku=first[-1].sku)) == ["c-3"]
        assert skus(await catalogue.list_products(session, search="PEN")) == [
            "A-1",
            "b-2",
            "c-3",
        ]
        assert skus(await catalogue.list_products(session, search="100%")) == ["c-3"]
        assert skus(await catalogue.list_products(session, search="%")) == ["c-3"]
        assert skus(await catalogue.list_products(session, kind="service", active=False)) == ["SVC"]


async def test_another_workspace_sees_none_of_the_catalogue(db: Database, make_tenant) -> None:
    a = await make_tenant("cat-a")
    b = await make_tenant("cat-b")
    async with db.tenant_transaction(a.tenant_id) as session:
        await catalogue.seed_defaults(session, "zh-CN")
        pcs_a = await _unit(session, "pcs")
        vat_a = await tax.default_tax_rate(session, "sale")
        product_a = await catalogue.create_product(
            session, sku="SHARED-SKU", name="A's", uom_id=pcs_a.id, tax_rate_id=vat_a.id
        )
    async with db.tenant_transaction(b.tenant_id) as session:
        await catalogue.seed_defaults(session, "en")
        pcs_b = await _unit(session, "pcs")
        assert await catalogue.list_products(session, active=None) == []
        assert await catalogue.product_by_sku(session, "SHARED-SKU") is None
        with pytest.raises(NotFound):
            await catalogue.get_product(session, product_a.id)
        for table in ("core_product", "core_tax_rate"):  # row-level security, under the ORM
            assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 0
        # A's unit and tax rate are not B's to use, and B may reuse A's SKU.
        with pytest.raises(NotFound, match="No unit of measure"):
            await catalogue.create_product(session, sku="X", name="X", uom_id=pcs_a.id)
        with pytest.raises(NotFound, match="No tax rate"):
            await catalogue.create_product(
                session, sku="X", name="X", uom_id=pcs_b.id, tax_rate_id=vat_a.id
            )
        own = await catalogue.create_product(session, sku="shared-sku", name="B's", uom_id=pcs_b.id)
        with pytest.raises(NotFound, match="No unit of measure"):
            await catalogue.convert(session, 1, pcs_a.id, pcs_b.id)
    # Even written by hand, a reference to A's tax rate is refused by the composite key.
    with pytest.raises(IntegrityError, match="fk_core_product_tenant_id_tax_rate_id"):
        await _execute_alone(
            db,
            b.tenant_id,
            "UPDATE core_product SET tax_rate_id = :t WHERE id = :p",
            t=vat_a.id,
            p=own.id,
        )
    async with db.tenant_transaction(a.tenant_id) as session:
        assert [p.name for p in await catalogue.list_products(session)] == ["A's"]
        assert len(list(await session.scalars(select(TaxRate)))) == 4
