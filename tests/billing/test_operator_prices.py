"""The operator's price pages over real HTTP, and the prices the public pages show."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from billing import catalogue
from billing.models import BillingPrice
from core.db import Database
from core.models import SecurityEvent, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.billing.conftest import Console
from tests.billing.stripe_settings import dead_address, with_stripe
from tests.pages import csrf

HTML = {"accept": "text/html"}
PRICES = "/operator/prices"


async def _submit(http: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    page = await http.get(PRICES)
    assert page.status_code == 200, page.text
    return await http.post(path, data={"_csrf_token": csrf(page.text), **form})


def _form(**values: str) -> dict[str, str]:
    base = {"module": "crm", "interval": "month", "currency": "CNY", "unit_amount": "99"}
    return base | {"trial_days": "14"} | values


def _row(page: httpx.Response, module: str, interval: str) -> str:
    return page.text.split(f'id="price-{module}-{interval}"')[1].split("</tr>")[0]


async def _rows(db: Database) -> list[BillingPrice]:
    async with db.global_transaction() as session:
        found = await session.scalars(select(BillingPrice).order_by(BillingPrice.version))
        return list(found)


async def _log(db: Database, action: str) -> list[SecurityEvent]:
    async with db.global_transaction() as session:
        found = await session.scalars(select(SecurityEvent).where(SecurityEvent.action == action))
        return list(found)


async def test_the_operator_sets_a_price_and_a_change_is_a_new_version(
    operator_console: Console, db: Database, settings: Settings, ops_user: User
) -> None:
    async with operator_console(settings) as http:
        page = await http.get(PRICES)
        assert page.status_code == 200
        assert 'href="/operator/prices"' in page.text  # in the console's menu
        assert "STRIPE_SECRET_KEY is not set" in page.text  # the manual provider says so
        assert "No price" in _row(page, "crm", "month")

        saved = await _submit(http, PRICES, _form(per_member="on"))
        assert saved.status_code == 303
        assert saved.headers["location"] == "/operator/prices?done=saved"
        page = await http.get(saved.headers["location"])
        assert "The price is saved." in page.text
        row = _row(page, "crm", "month")
        assert "CN¥99.00" in row
        assert "per active member" in row
        assert "14 days" in row
        assert "Sync again" not in page.text  # nothing to sync without Stripe

        changed = await _submit(http, PRICES, _form(unit_amount="120"))
        assert changed.status_code == 303
        page = await http.get(PRICES)
        assert "CN¥120.00" in _row(page, "crm", "month")
        earlier = page.text.split('id="earlier-prices"')[1]
        assert 'data-version="1"' in earlier
        assert "CN¥99.00" in earlier

    v1, v2 = await _rows(db)
    assert (v1.active, v2.active, v2.version, v2.created_by) == (False, True, 2, ops_user.id)
    entries = await _log(db, catalogue.PRICE_SET)
    assert sorted((e.user_id, e.detail["version"]) for e in entries) == [
        (ops_user.id, 1),
        (ops_user.id, 2),
    ]
    assert all(e.ip == "127.0.0.1" for e in entries)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (_form(unit_amount="0"), "unit_amount", "The price must be more than zero."),
        (_form(unit_amount="-5"), "unit_amount", "The price must be more than zero."),
        (_form(unit_amount="lots"), "unit_amount", "lots is not a number."),
        (_form(unit_amount=""), "unit_amount", "Fill this in."),
        (_form(currency="XX1"), "currency", "XX1 is not an ISO 4217 currency code."),
        (_form(trial_days="400"), "trial_days", "Trial days must be between 0 and 365."),
        (_form(trial_days="two"), "trial_days", "Enter a whole number."),
        (_form(module="nosuch"), "module", "There is no module nosuch."),
    ],
)
async def test_bad_input_is_refused_beside_its_field_with_what_was_typed(
    operator_console: Console,
    db: Database,
    settings: Settings,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    async with operator_console(settings) as http:
        refused = await _submit(http, PRICES, form)
    assert refused.status_code == 422, refused.text
    beside = refused.text.split(f'id="price-{field}-error"')[1].split("</p>")[0]
    assert message in beside
    assert 'aria-invalid="true"' in refused.text
    typed = form.get(field, "")
    if field in ("unit_amount", "currency", "trial_days"):
        assert f'name="{field}"' in refused.text
        assert f'value="{typed}"' in refused.text
    assert await _rows(db) == []
    assert await _log(db, catalogue.PRICE_SET) == []


async def test_a_post_without_the_csrf_token_or_an_operator_changes_nothing(
    operator_console: Console, db: Database, settings: Settings, anonymous_client: httpx.AsyncClient
) -> None:
    async with operator_console(settings) as http:
        refused = await http.post(PRICES, data=_form())
        assert refused.status_code == 403
    outsider = await anonymous_client.get(PRICES, headers=HTML, follow_redirects=False)
    assert outsider.status_code in (302, 303)
    assert outsider.headers["location"].startswith("/operator/sign-in")
    assert await _rows(db) == []


async def test_with_stripe_down_the_price_is_saved_not_synced_and_syncs_again(
    operator_console: Console, db: Database, settings: Settings, ops_user: User, stripe_standin
) -> None:
    async with operator_console(with_stripe(settings, dead_address())) as http:
        saved = await _submit(http, PRICES, _form())
        assert saved.status_code == 303
        assert saved.headers["location"] == "/operator/prices?done=unsynced"
        page = await http.get(saved.headers["location"])
        row = _row(page, "crm", "month")
        assert 'data-synced="no"' in row
        assert "Not synced" in row
        assert "The payment provider did not accept the change" in row
        assert "Sync again" in row
    [price] = await _rows(db)
    assert price.active
    assert not price.synced

    async with operator_console(with_stripe(settings, stripe_standin.api_base)) as http:
        again = await _submit(http, f"{PRICES}/{price.id}/sync", {})
        assert again.headers["location"] == "/operator/prices?done=synced"
        page = await http.get(PRICES)
        row = _row(page, "crm", "month")
        assert 'data-synced="yes"' in row
        [listed] = stripe_standin.client().v1.prices.list().data
        assert listed.id in row

        # Saving with Stripe up syncs at once.
        saved = await _submit(http, PRICES, _form(interval="year", unit_amount="990"))
        assert saved.headers["location"] == "/operator/prices?done=synced"
    assert {p.lookup_key for p in stripe_standin.client().v1.prices.list().data} == {
        "atrium.crm.month.v1",
        "atrium.crm.year.v1",
    }
    assert len(await _log(db, catalogue.PRICE_SYNC_FAILED)) == 1
    synced = await _log(db, catalogue.PRICE_SYNCED)
    assert {(e.user_id, e.detail["lookup_key"]) for e in synced} == {
        (ops_user.id, "atrium.crm.month.v1"),
        (ops_user.id, "atrium.crm.year.v1"),
    }


async def test_the_landing_page_and_the_app_store_show_a_set_price(
    db: Database,
    registry: ModuleRegistry,
    ops_user: User,
    make_tenant,
    client: httpx.AsyncClient,
) -> None:
    await make_tenant("acme", "sample")
    before = await client.get("/", headers=HTML)
    assert before.text.count("Free while Atrium is in early access") == len(registry.modules)

    async with db.global_transaction() as session:
        for interval, amount in (("month", "99"), ("year", "990")):
            change = catalogue.PriceChange("crm", interval, "USD", Decimal(amount), trial_days=14)
            await catalogue.set_price(session, registry, change, operator_id=ops_user.id)
        member = catalogue.PriceChange("sample", "month", "USD", Decimal("20"), per_member=True)
        await catalogue.set_price(session, registry, member, operator_id=ops_user.id)

    landing = await client.get("/", headers=HTML)
    crm = landing.text.split('data-module="crm"')[1].split("</article>")[0]
    assert "$99.00 / month, or $990.00 / year; 14 days free" in crm
    sample = landing.text.split('data-module="sample"')[1].split("</article>")[0]
    assert "$20.00 per member / month" in sample
    addon = landing.text.split('data-module="sampleaddon"')[1].split("</article>")[0]
    assert "Free while Atrium is in early access" in addon

    store = await client.get("/t/acme/apps", headers=HTML)
    assert store.status_code == 200
    price = store.text.split('id="app-crm-price">')[1].split("</dd>")[0]
    assert price == "$99.00 / month, or $990.00 / year; 14 days free"
    assert store.text.split('id="app-crm-trial">')[1].split("</dd>")[0] == "14 days free"
    sample_price = store.text.split('id="app-sample-price">')[1].split("</dd>")[0]
    assert sample_price == "$20.00 per member / month"
    addon_price = store.text.split('id="app-sampleaddon-price">')[1].split("</dd>")[0]
    assert addon_price == "Free while Atrium is in early access"
