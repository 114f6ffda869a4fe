"""The price catalogue: versions, validation, and syncing to Stripe (the stand-in, over real
HTTP) or to nothing (the manual provider)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billing import catalogue
from billing.catalogue import PriceChange
from billing.manual import ManualProvider
from billing.models import BillingPrice
from billing.provider import ProviderFailed, provider_for
from billing.stripe_provider import StripeProvider, intent_key, price_intent
from core.db import Database
from core.errors import ValidationFailed
from core.i18n import use_locale
from core.models import SecurityEvent, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.billing.stripe_settings import KEY, dead_address, with_stripe


@pytest.fixture
async def operator(db: Database) -> User:
    async with db.global_transaction() as session:
        user = User(email="prices@atrium.test", display_name="Prices")
        session.add(user)
        await session.flush()
        return user


async def _prices(db: Database, module: str = "crm") -> list[BillingPrice]:
    async with db.global_transaction() as session:
        found = await session.scalars(
            select(BillingPrice)
            .where(BillingPrice.module_key == module)
            .order_by(BillingPrice.interval, BillingPrice.version)
        )
        return list(found)


async def _log(db: Database, action: str) -> list[SecurityEvent]:
    async with db.global_transaction() as session:
        found = await session.scalars(
            select(SecurityEvent).where(SecurityEvent.action == action).order_by(SecurityEvent.at)
        )
        return list(found)


def monthly(amount: str, **kw) -> PriceChange:
    return PriceChange("crm", "month", kw.pop("currency", "CNY"), Decimal(amount), **kw)


async def _set(db: Database, registry: ModuleRegistry, change: PriceChange, who: User):
    async with db.global_transaction() as session:
        return await catalogue.set_price(session, registry, change, operator_id=who.id)


async def test_a_change_is_a_new_version_and_the_old_one_stays_as_it_was(
    db: Database, registry: ModuleRegistry, operator: User
) -> None:
    first = await _set(db, registry, monthly("99", trial_days=14), operator)
    assert (first.version, first.lookup_key, first.active) == (1, "atrium.crm.month.v1", True)
    await _set(db, registry, PriceChange("crm", "year", "cny", Decimal("990.00")), operator)
    second = await _set(db, registry, monthly("120.50", per_member=True), operator)

    month_v1, month_v2, year_v1 = await _prices(db)
    assert (month_v2.id, month_v2.version, month_v2.active) == (second.id, 2, True)
    assert month_v2.lookup_key == "atrium.crm.month.v2"
    assert (month_v2.unit_amount, month_v2.per_member, month_v2.trial_days) == (
        Decimal("120.50"),
        True,
        0,
    )
    # The first version is untouched but no longer offered; the yearly price is its own.
    assert (month_v1.active, month_v1.unit_amount, month_v1.trial_days) == (
        False,
        Decimal("99.00"),
        14,
    )
    assert (year_v1.active, year_v1.version, year_v1.currency) == (True, 1, "CNY")

    async with db.global_transaction() as session:
        current = await catalogue.current_prices(session)
        earlier = await catalogue.earlier_prices(session)
    assert [(p.interval, p.version) for p in current] == [("month", 2), ("year", 1)]
    assert [p.id for p in earlier] == [month_v1.id]

    entries = await _log(db, catalogue.PRICE_SET)
    assert [(e.user_id, e.detail["interval"], e.detail["version"]) for e in entries] == [
        (operator.id, "month", 1),
        (operator.id, "year", 1),
        (operator.id, "month", 2),
    ]
    assert entries[-1].detail["unit_amount"] == "120.50"
    assert entries[-1].detail["previous_version"] == 1


async def test_the_same_price_again_makes_no_version(
    db: Database, registry: ModuleRegistry, operator: User
) -> None:
    await _set(db, registry, monthly("99"), operator)
    with pytest.raises(ValidationFailed, match="already the current price"):
        await _set(db, registry, monthly("99.00"), operator)
    assert [p.version for p in await _prices(db)] == [1]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (monthly("0"), "unit_amount"),
        (monthly("-5"), "unit_amount"),
        (monthly("1000000"), "unit_amount"),
        (monthly("9.999"), "unit_amount"),
        (monthly("99.5", currency="JPY"), "unit_amount"),  # yen has no decimals
        (monthly("99", currency="XYZ"), "currency"),
        (monthly("99", currency="US"), "currency"),
        (monthly("99", trial_days=-1), "trial_days"),
        (monthly("99", trial_days=366), "trial_days"),
        (PriceChange("nosuch", "month", "CNY", Decimal("9")), "module"),
        (PriceChange("crm", "week", "CNY", Decimal("9")), "interval"),
    ],
)
async def test_bad_prices_are_refused_naming_their_input(
    db: Database, registry: ModuleRegistry, operator: User, change: PriceChange, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await _set(db, registry, change, operator)
    assert refused.value.params["field"] == field
    assert await _prices(db, change.module_key) == []
    assert await _log(db, catalogue.PRICE_SET) == []


async def test_the_database_holds_the_rules_too(db: Database, operator: User) -> None:
    """Whatever writes the table, the constraints stand: one active price per module and
    interval, amounts above zero, three-letter currencies."""

    def row(version: int, **kw) -> BillingPrice:
        values = {"module_key": "crm", "interval": "month", "currency": "CNY"}
        values |= {"unit_amount": Decimal("9"), "version": version, "active": True} | kw
        return BillingPrice(**values, lookup_key=f"atrium.crm.month.v{version}")

    async with db.global_transaction() as session:
        session.add(row(1))
    for bad in (
        row(2),
        row(3, active=False, unit_amount=Decimal("0")),
        row(4, active=False, currency="cny"),
    ):
        with pytest.raises(IntegrityError):
            async with db.global_transaction() as session:
                session.add(bad)
    assert [p.version for p in await _prices(db)] == [1]


# --- providers -------------------------------------------------------------------------------


async def test_without_a_secret_key_the_manual_provider_syncs_nothing(
    db: Database, registry: ModuleRegistry, settings: Settings, operator: User, stripe_standin
) -> None:
    assert settings.stripe.secret_key is None
    provider = provider_for(settings)
    assert isinstance(provider, ManualProvider)
    assert not provider.external
    price, failure = await catalogue.save_price(
        db, registry, provider, monthly("99"), operator_id=operator.id
    )
    assert failure is None
    assert (price.stripe_product_id, price.stripe_price_id) == (None, None)
    assert stripe_standin.client().v1.products.list().data == []
    assert await _log(db, catalogue.PRICE_SYNCED) == []


async def test_syncing_twice_makes_one_product_and_one_price(
    db: Database, registry: ModuleRegistry, settings: Settings, operator: User, stripe_standin
) -> None:
    provider = provider_for(with_stripe(settings, stripe_standin.api_base))
    assert isinstance(provider, StripeProvider)
    price, failure = await catalogue.save_price(
        db, registry, provider, monthly("99", trial_days=14), operator_id=operator.id
    )
    assert failure is None
    again = await catalogue.sync_price(db, registry, provider, price.id, operator_id=operator.id)
    assert (again.stripe_product_id, again.stripe_price_id) == (
        price.stripe_product_id,
        price.stripe_price_id,
    )

    client = stripe_standin.client()
    products = client.v1.products.list().data
    assert [(p.id, p.metadata["atrium_module"]) for p in products] == [("atrium_crm", "crm")]
    prices = client.v1.prices.list().data
    assert [(p.id, p.lookup_key) for p in prices] == [
        (price.stripe_price_id, "atrium.crm.month.v1")
    ]
    assert (prices[0].unit_amount, prices[0].currency, prices[0].recurring.interval) == (
        9900,
        "cny",
        "month",
    )
    assert prices[0].product == "atrium_crm"
    synced = await _log(db, catalogue.PRICE_SYNCED)
    assert [(e.user_id, e.detail["price_id"]) for e in synced] == [
        (operator.id, price.stripe_price_id)
    ] * 2


async def test_a_new_version_is_a_second_stripe_price_and_the_first_keeps_its_own(
    db: Database, registry: ModuleRegistry, settings: Settings, operator: User, stripe_standin
) -> None:
    provider = provider_for(with_stripe(settings, stripe_standin.api_base))
    first, _ = await catalogue.save_price(
        db, registry, provider, monthly("99"), operator_id=operator.id
    )
    second, _ = await catalogue.save_price(
        db, registry, provider, monthly("20", per_member=True), operator_id=operator.id
    )
    assert second.stripe_price_id not in (None, first.stripe_price_id)

    v1, v2 = await _prices(db)
    assert (v1.active, v1.stripe_price_id) == (False, first.stripe_price_id)
    assert v2.stripe_product_id == v1.stripe_product_id == "atrium_crm"
    listed = stripe_standin.client().v1.prices.list().data
    by_key = {p.lookup_key: (p.id, p.unit_amount, p.active) for p in listed}
    assert by_key == {
        "atrium.crm.month.v1": (first.stripe_price_id, 9900, True),  # existing subscriptions
        "atrium.crm.month.v2": (second.stripe_price_id, 2000, True),
    }
    assert len(stripe_standin.client().v1.products.list().data) == 1


async def test_every_stripe_write_carries_the_intents_idempotency_key(
    db: Database, registry: ModuleRegistry, settings: Settings, operator: User, stripe_standin
) -> None:
    provider = provider_for(with_stripe(settings, stripe_standin.api_base))
    price, _ = await catalogue.save_price(
        db, registry, provider, monthly("99"), operator_id=operator.id
    )
    assert intent_key(price_intent(price)) == intent_key("price:crm:month:v1")
    assert intent_key("price:crm:month:v1") != intent_key("price:crm:month:v2")
    client = stripe_standin.client(KEY)
    other = {"currency": "cny", "unit_amount": 1, "product": "atrium_crm"}
    # The stand-in saw these keys with other parameters: only our sync can have sent them.
    with pytest.raises(stripe.IdempotencyError):
        client.v1.prices.create(
            params=other, options={"idempotency_key": intent_key("price:crm:month:v1")}
        )
    with pytest.raises(stripe.IdempotencyError):
        client.v1.products.create(
            params={"name": "Other"}, options={"idempotency_key": intent_key("product:crm")}
        )
    # A key no intent made is new to it.
    fresh = client.v1.prices.create(params=other, options={"idempotency_key": intent_key("x")})
    assert fresh.id != price.stripe_price_id


async def test_a_failed_sync_leaves_the_price_saved_and_it_syncs_again(
    db: Database, registry: ModuleRegistry, settings: Settings, operator: User, stripe_standin
) -> None:
    down = provider_for(with_stripe(settings, dead_address()))
    price, failure = await catalogue.save_price(
        db, registry, down, monthly("99"), operator_id=operator.id
    )
    assert isinstance(failure, ProviderFailed)
    [saved] = await _prices(db)
    assert (saved.id, saved.active, saved.synced) == (price.id, True, False)
    [failed] = await _log(db, catalogue.PRICE_SYNC_FAILED)
    assert failed.detail["lookup_key"] == "atrium.crm.month.v1"
    assert "{reason}" in failed.detail["message"]
    assert failed.detail["params"]["reason"]

    up = provider_for(with_stripe(settings, stripe_standin.api_base))
    synced = await catalogue.sync_price(db, registry, up, price.id, operator_id=operator.id)
    assert synced.stripe_price_id
    [listed] = stripe_standin.client().v1.prices.list().data
    assert listed.id == synced.stripe_price_id


async def test_a_stripe_price_under_our_lookup_key_with_another_amount_is_refused(
    db: Database, registry: ModuleRegistry, settings: Settings, operator: User, stripe_standin
) -> None:
    client = stripe_standin.client()
    client.v1.prices.create(
        params={
            "currency": "cny",
            "unit_amount": 100,
            "product_data": {"name": "Stray"},
            "recurring": {"interval": "month"},
            "lookup_key": "atrium.crm.month.v1",
        }
    )
    provider = provider_for(with_stripe(settings, stripe_standin.api_base))
    price, failure = await catalogue.save_price(
        db, registry, provider, monthly("99"), operator_id=operator.id
    )
    assert failure is not None
    assert failure.params["lookup_key"] == "atrium.crm.month.v1"
    assert not price.synced


# --- what the pages say ------------------------------------------------------------------------


def _row(
    interval: str, amount: str, *, per_member: bool = False, trial: int = 0, currency: str = "USD"
) -> BillingPrice:
    return BillingPrice(
        module_key="crm",
        interval=interval,
        currency=currency,
        unit_amount=Decimal(amount),
        per_member=per_member,
        trial_days=trial,
    )


def test_a_modules_prices_read_as_one_line() -> None:
    with use_locale("en"):
        both = catalogue.describe([_row("year", "990", trial=14), _row("month", "99", trial=14)])
        assert both.text == "$99.00 / month, or $990.00 / year; 14 days free"
        assert both.trial == "14 days free"
        member = catalogue.describe([_row("month", "20", per_member=True)])
        assert (member.text, member.trial) == ("$20.00 per member / month", "")
        mixed = catalogue.describe([_row("month", "9", trial=1), _row("year", "90")])
        assert mixed.text == "$9.00 / month (1 day free), or $90.00 / year"
    with use_locale("zh-CN"):
        assert catalogue.describe([_row("month", "99", currency="CNY")]).text.startswith("¥99.00")
