"""Currencies, exchange rates by date, conversion and rounding; VAT rates and arithmetic."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core import numbering
from core.db import Database
from core.errors import Conflict, NotFound, ValidationFailed
from core.products import currency, tax
from core.products.models import Currency, TaxRate

D = Decimal


@pytest.fixture
async def acme(db: Database, make_tenant):
    """A CNY workspace that also uses USD and JPY."""
    ctx = await make_tenant("acme-money")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await currency.seed_base_currency(session, "zh-CN")
        await currency.enable_currency(session, "usd")
        await currency.enable_currency(session, "JPY")
    return ctx


async def _execute_alone(db: Database, tenant_id, sql: str, **params) -> None:
    """One statement in its own tenant transaction, past every service rule."""
    async with db.tenant_transaction(tenant_id) as session:
        await session.execute(text(sql), params)


# --- currencies and rates ------------------------------------------------------------------


def test_amounts_round_half_up_to_the_currencys_decimals() -> None:
    assert currency.decimals("jpy") == 0
    assert currency.decimals("CNY") == 2
    assert currency.decimals("BHD") == 3
    assert currency.round_amount(D("1234.5"), "JPY") == D("1235")
    assert currency.round_amount(D("-1234.5"), "JPY") == D("-1235")
    assert currency.round_amount(D("10.005"), "CNY") == D("10.01")
    assert currency.round_amount(D("10.0005"), "BHD") == D("10.001")
    assert currency.round_amount(7, "USD") == D("7.00")
    for bad in ("XYZ", "US", "人民币", "usdx"):
        with pytest.raises(ValidationFailed, match="not an ISO 4217 currency code"):
            currency.check_code(bad)
    with pytest.raises(TypeError, match="Decimal"):
        currency.round_amount(0.1, "USD")  # type: ignore[arg-type]


async def test_the_rate_for_a_day_is_the_latest_on_or_before_it(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        await currency.set_rate(session, "USD", date(2026, 3, 2), D("7.1"))
        await currency.set_rate(session, "USD", date(2026, 3, 6), D("7.15"))
        corrected = await currency.set_rate(session, "usd", date(2026, 3, 2), D("7.12345678"))
        assert corrected.rate == D("7.12345678")

        assert await currency.rate_on(session, "USD", date(2026, 3, 2)) == D("7.12345678")
        assert await currency.rate_on(session, "USD", date(2026, 3, 5)) == D("7.12345678")
        assert await currency.rate_on(session, "USD", date(2026, 3, 6)) == D("7.15")
        assert await currency.rate_on(session, "USD", date(2027, 1, 1)) == D("7.15")
        assert await currency.rate_on(session, "CNY", date(2000, 1, 1)) == 1
        with pytest.raises(
            ValidationFailed, match="no exchange rate for USD on or before 2026-03-01"
        ):
            await currency.rate_on(session, "USD", date(2026, 3, 1))
        with pytest.raises(ValidationFailed, match="no exchange rate for JPY"):
            await currency.rate_on(session, "JPY", date(2026, 3, 6))

        assert [r.valid_on.day for r in await currency.rates(session, "USD")] == [6, 2]
        await currency.delete_rate(session, "USD", date(2026, 3, 6))
        assert await currency.rate_on(session, "USD", date(2026, 3, 6)) == D("7.12345678")
        with pytest.raises(NotFound, match="no USD rate for 2026-03-06"):
            await currency.delete_rate(session, "USD", date(2026, 3, 6))


async def test_rates_are_checked_before_they_are_stored(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        day = date(2026, 3, 2)
        for rate in (D(0), D("-7.1"), D("7.123456789"), D("1e10")):
            with pytest.raises(ValidationFailed, match="An exchange rate is a positive number"):
                await currency.set_rate(session, "USD", day, rate)
        with pytest.raises(ValidationFailed, match="base currency CNY is always worth 1"):
            await currency.set_rate(session, "CNY", day, D(1))
        with pytest.raises(ValidationFailed, match="Enable EUR before entering its rates"):
            await currency.set_rate(session, "EUR", day, D("7.8"))
        assert await currency.rates(session, "USD") == []
    # Under the services, the database holds rates to enabled currencies only.
    with pytest.raises(IntegrityError, match="fk_core_exchange_rate_tenant_id_currency"):
        await _execute_alone(
            db,
            acme.tenant_id,
            "INSERT INTO core_exchange_rate (tenant_id, id, currency, valid_on, rate) "
            "VALUES (:t, gen_random_uuid(), 'EUR', '2026-03-02', 7.8)",
            t=acme.tenant_id,
        )


async def test_amounts_convert_through_the_base_currency_and_round_once(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        day = date(2026, 3, 2)
        await currency.set_rate(session, "USD", day, D("7.1"))
        await currency.set_rate(session, "JPY", day, D("0.0478"))

        assert await currency.convert_amount(session, D("100"), "USD", "CNY", day) == D("710.00")
        assert await currency.convert_amount(session, D("710"), "CNY", "USD", day) == D("100.00")
        # 100 USD = 710 CNY = 14853.556... JPY: no yen decimals.
        assert await currency.convert_amount(session, D("100"), "USD", "JPY", day) == D("14854")
        assert await currency.convert_amount(session, D("1000"), "JPY", "USD", day) == D("6.73")
        assert await currency.convert_amount(session, D("3"), "JPY", "CNY", day) == D("0.14")
        assert await currency.convert_amount(session, D("-100"), "USD", "CNY", day) == D("-710.00")
        assert await currency.convert_amount(session, D("99.5"), "JPY", "JPY", day) == D("100")
        with pytest.raises(ValidationFailed, match="no exchange rate for USD on or before"):
            await currency.convert_amount(session, D(1), "USD", "CNY", date(2026, 3, 1))


async def test_one_base_currency_that_stays_once_it_is_used(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await currency.base_currency(session) == "CNY"
        assert [c.code for c in await currency.currencies(session)] == ["CNY", "JPY", "USD"]
        # Not used yet: the owner may still change their mind.
        await currency.set_base_currency(session, "HKD")
        assert await currency.base_currency(session) == "HKD"
        assert [c.code for c in await currency.currencies(session)] == [
            "HKD",
            "CNY",
            "JPY",
            "USD",
        ]
        await currency.set_base_currency(session, "CNY")
        with pytest.raises(Conflict, match="base currency CNY cannot be disabled"):
            await currency.disable_currency(session, "CNY")
        await currency.disable_currency(session, "HKD")
        with pytest.raises(NotFound, match="HKD is not enabled"):
            await currency.disable_currency(session, "HKD")
        assert not await currency.base_currency_in_use(session)

        await currency.set_rate(session, "USD", date(2026, 3, 2), D("7.1"))
        with pytest.raises(Conflict, match="cannot change from CNY to USD"):
            await currency.set_base_currency(session, "USD")
        assert (await currency.set_base_currency(session, "CNY")).code == "CNY"  # no change
        bases = await session.scalars(select(Currency.code).where(Currency.is_base))
        assert list(bases) == ["CNY"]

    # Two bases are refused by the database itself.
    with pytest.raises(IntegrityError, match="uq_core_currency_base"):
        await _execute_alone(
            db,
            acme.tenant_id,
            "UPDATE core_currency SET is_base = true WHERE code = 'USD'",
        )


async def test_a_numbered_document_fixes_the_base_currency(db: Database, make_tenant) -> None:
    ctx = await make_tenant("money-docs")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await currency.seed_base_currency(session, "en")
        assert await currency.base_currency(session) == "USD"
        await numbering.configure(session, "erp.sales_order", prefix="SO", gapless=True)
        await numbering.next_number(session, "erp.sales_order", on=date(2026, 3, 2))
        with pytest.raises(Conflict, match="documents already use it"):
            await currency.set_base_currency(session, "CNY")
        with pytest.raises(ValidationFailed, match="Enable CNY before"):
            await currency.set_rate(session, "CNY", date(2026, 3, 2), D("0.14"))


async def test_before_a_base_currency_is_set_conversions_say_so(db: Database, make_tenant) -> None:
    ctx = await make_tenant("money-none")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        with pytest.raises(ValidationFailed, match="Set the workspace's base currency first"):
            await currency.rate_on(session, "USD", date(2026, 3, 2))


async def test_another_workspace_sees_none_of_the_rates(db: Database, acme, make_tenant) -> None:
    other = await make_tenant("money-other")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await currency.set_rate(session, "USD", date(2026, 3, 2), D("7.1"))
        await tax.create_tax_rate(session, "VAT 13%", D("0.13"), is_default=True)
    async with db.tenant_transaction(other.tenant_id) as session:
        await currency.seed_base_currency(session, "en")  # USD: acme's foreign currency
        await currency.enable_currency(session, "CNY")
        assert [c.code for c in await currency.currencies(session)] == ["USD", "CNY"]
        assert await currency.rates(session, "USD") == []
        with pytest.raises(ValidationFailed, match="no exchange rate for CNY"):
            await currency.rate_on(session, "CNY", date(2026, 3, 2))
        assert await tax.tax_rates(session) == []
        assert await tax.default_tax_rate(session, "sale") is None
        for table in ("core_exchange_rate", "core_currency", "core_tax_rate"):
            count = (
                await session.execute(
                    text(f"SELECT count(*) FROM {table} WHERE tenant_id <> :me"),
                    {"me": other.tenant_id},
                )
            ).scalar()
            assert count == 0
        # Not in use here: acme's rates do not pin this workspace's base currency.
        assert not await currency.base_currency_in_use(session)


async def test_concurrent_base_changes_and_rates_never_leave_a_rate_against_a_new_base(
    db: Database, make_tenant
) -> None:
    ctx = await make_tenant("money-race")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await currency.seed_base_currency(session, "zh-CN")
        await currency.enable_currency(session, "USD")

    async def change_base() -> str:
        try:
            async with db.tenant_transaction(ctx.tenant_id) as session:
                await currency.set_base_currency(session, "USD")
        except Conflict:
            return "refused"
        return "changed"

    async def enter_rate() -> str:
        try:
            async with db.tenant_transaction(ctx.tenant_id) as session:
                await currency.set_rate(session, "USD", date(2026, 3, 2), D("7.1"))
        except ValidationFailed:
            return "refused"
        return "entered"

    outcomes = await asyncio.gather(change_base(), enter_rate())
    assert sorted(outcomes) in (["changed", "refused"], ["entered", "refused"])
    async with db.tenant_transaction(ctx.tenant_id) as session:
        base = await currency.base_currency(session)
        assert [r.currency for r in await currency.rates(session, "USD")] == (
            [] if base == "USD" else ["USD"]
        )


# --- tax rates ------------------------------------------------------------------------------


def test_vat_arithmetic_is_decimal_and_rounds_half_up_to_cents() -> None:
    assert tax.tax_amount(D("100"), D("0.13")) == D("13.00")
    assert tax.tax_amount(D("0.50"), D("0.09")) == D("0.05")  # 0.045: half-up, not to even
    assert tax.tax_amount(D("-0.50"), D("0.09")) == D("-0.05")  # a credit note mirrors it
    assert tax.tax_amount(D("19.99"), D("0.06")) == D("1.20")
    assert tax.tax_amount(D("1000"), 0) == D("0.00")

    assert tax.from_net(D("100"), D("0.13")) == (D("100.00"), D("13.00"), D("113.00"))
    assert tax.from_gross(D("113"), D("0.13")) == (D("100.00"), D("13.00"), D("113.00"))
    # 100 / 1.13 = 88.4955...: the net rounds, the tax is what is left of the gross.
    split = tax.from_gross(D("100"), D("0.13"))
    assert split == (D("88.50"), D("11.50"), D("100.00"))
    assert split.net + split.tax == split.gross
    assert tax.from_gross(D("10.9"), D("0.09")).net == D("10.00")

    assert tax.percent_label(D("0.1300")) == "13"
    assert tax.percent_label(D("0.0150")) == "1.5"
    assert tax.percent_label(D("0.1000")) == "10"
    for rate in (D("13"), D("1"), D("-0.01"), D("0.12345")):
        with pytest.raises(ValidationFailed, match="fraction from 0 to below 1"):
            tax.tax_amount(D("100"), rate)
    with pytest.raises(TypeError, match="Decimal"):
        tax.tax_amount(100.0, D("0.13"))  # type: ignore[arg-type]


async def test_a_zh_cn_workspace_starts_with_the_prc_vat_rates(db: Database, make_tenant) -> None:
    ctx = await make_tenant("vat-seed")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await tax.seed_tax_rates(session, "zh-CN")
        await tax.seed_tax_rates(session, "zh-CN")
        rates = await tax.tax_rates(session)
        assert [(r.name, r.rate, r.kind) for r in rates] == [
            ("VAT 13%", D("0.1300"), "both"),
            ("VAT 9%", D("0.0900"), "both"),
            ("VAT 6%", D("0.0600"), "both"),
            ("VAT 0%", D("0.0000"), "both"),
        ]
        assert [r.is_default for r in rates] == [True, False, False, False]


async def test_each_use_has_one_default_rate(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        general = await tax.create_tax_rate(session, "VAT 13%", D("0.13"), is_default=True)
        services = await tax.create_tax_rate(session, "VAT 6%", D("0.06"), kind="sale")
        small = await tax.create_tax_rate(session, "Input 3%", D("0.03"), kind="purchase")
        assert (await tax.default_tax_rate(session, "sale")).id == general.id
        assert (await tax.default_tax_rate(session, "purchase")).id == general.id

        # A sale default wins over the default for both, for sales only.
        await tax.update_tax_rate(session, services.id, is_default=True)
        assert (await tax.default_tax_rate(session, "sale")).id == services.id
        assert (await tax.default_tax_rate(session, "purchase")).id == general.id
        assert [r.name for r in await tax.tax_rates(session, use="purchase")] == [
            "VAT 13%",
            "Input 3%",
        ]

        # A second default of the same kind replaces the first.
        zero = await tax.create_tax_rate(session, "Zero", 0, kind="sale", is_default=True)
        assert (await tax.default_tax_rate(session, "sale")).id == zero.id
        assert not (await tax.get_tax_rate(session, services.id)).is_default

        # Deactivated, a rate is no longer offered, nor the default.
        await tax.update_tax_rate(session, zero.id, active=False)
        assert (await tax.default_tax_rate(session, "sale")).id == general.id
        assert "Zero" not in [r.name for r in await tax.tax_rates(session)]
        assert "Zero" in [r.name for r in await tax.tax_rates(session, include_inactive=True)]
        with pytest.raises(ValidationFailed, match="Only an active tax rate"):
            await tax.update_tax_rate(session, zero.id, is_default=True)
        await tax.update_tax_rate(session, small.id, is_default=True)
        assert (await tax.default_tax_rate(session, "purchase")).id == small.id
        with pytest.raises(ValidationFailed, match="used for sale, purchase"):
            await tax.default_tax_rate(session, "both")


async def test_tax_rate_names_are_unique_and_input_is_checked(db: Database, acme) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        general = await tax.create_tax_rate(session, " VAT 13% ", D("0.13"))
        assert general.name == "VAT 13%"
        reduced = await tax.create_tax_rate(session, "VAT 9%", D("0.09"))
        with pytest.raises(Conflict, match="already a tax rate called VAT 13%"):
            await tax.create_tax_rate(session, "VAT 13%", D("0.13"))
        with pytest.raises(Conflict, match="already a tax rate called VAT 13%"):
            await tax.update_tax_rate(session, reduced.id, name="VAT 13%")
        assert reduced.name == "VAT 9%"  # the refused rename is undone
        renamed = await tax.update_tax_rate(session, reduced.id, name="Reduced 9%")
        assert renamed.name == "Reduced 9%"
        with pytest.raises(ValidationFailed, match="name has 1 to 100 characters"):
            await tax.create_tax_rate(session, "", D("0.13"))
        with pytest.raises(ValidationFailed, match="for sale, purchase, both"):
            await tax.create_tax_rate(session, "Odd", D("0.13"), kind="import")
        with pytest.raises(ValidationFailed, match="fraction from 0 to below 1"):
            await tax.create_tax_rate(session, "Percent", D("13"))
        with pytest.raises(NotFound, match="No tax rate"):
            await tax.get_tax_rate(session, acme.tenant_id)
        names = await session.scalars(select(TaxRate.name).order_by(TaxRate.name))
        assert list(names) == ["Reduced 9%", "VAT 13%"]
    # Under the services, the database keeps one default per kind.
    async with db.tenant_transaction(acme.tenant_id) as session:
        await tax.update_tax_rate(session, general.id, is_default=True)
    with pytest.raises(IntegrityError, match="uq_core_tax_rate_default"):
        await _execute_alone(
            db,
            acme.tenant_id,
            "UPDATE core_tax_rate SET is_default = true WHERE id = :id",
            id=reduced.id,
        )
