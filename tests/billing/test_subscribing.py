"""Subscribing over real HTTP, the app run with Stripe on the stand-in: the first module goes
through Checkout (one customer, one subscription, on after the return, audited once); a
later module is an item of the same subscription, on at once, its priced dependency paid
with it; a removal keeps the module on until the period's end (the card says when, "Keep"
undoes it, the last one ends the whole subscription at Stripe), then the job takes the
item out at Stripe and the module goes off with its data kept; the refusals (no price
422, already on 409, the interval fixed, not an owner 403, CSRF); two workspaces apart."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from billing import catalogue, state, subscriptions
from billing.entitlements import Access, Level, apply
from billing.models import BillingAccount, BillingItem
from billing.provider import provider_for
from core import roles
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict
from core.i18n import use_locale, when
from core.jobs import CORE_JOBS
from core.models import AuditEntry, Membership, TenantModule
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.tenancy import tenant_context
from tests.billing.stripe_settings import with_stripe
from tests.conftest import LiveServer
from tests.sample_module.models import SampleNote
from tests.stripe_standin.fixtures import StripeHarness
from tests.web.test_parties_api import the_test_owner
from tests.web.test_recovery_pages import HTML, csrf, register

NOTES = "/api/t/{slug}/sample/notes"


@pytest.fixture
def stripe_settings(settings: Settings, stripe_standin: StripeHarness) -> Settings:
    return with_stripe(settings, stripe_standin.api_base)


@pytest.fixture
async def live(
    stripe_settings: Settings, db: Database, registry: ModuleRegistry, tmp_path: Path
) -> AsyncIterator[str]:
    """The app with Stripe on the stand-in (the ``browser`` fixture opens it)."""
    from web.app import create_app

    app = create_app(
        dataclasses.replace(stripe_settings, data_dir=tmp_path), db=db, registry=registry
    )
    async with LiveServer(app) as base_url:
        yield base_url


async def _owner(db: Database, browser) -> httpx.AsyncClient:
    """The test owner (an owner of every workspace ``make_tenant`` made), in a browser."""
    return await browser(await the_test_owner(db))


async def _price(
    db: Database,
    registry: ModuleRegistry,
    stripe_settings: Settings,
    module: str,
    interval: str = "month",
    amount: str = "99",
) -> None:
    """A price for ``module``, saved and synced to the stand-in."""
    change = catalogue.PriceChange(module, interval, "CNY", Decimal(amount))
    _saved, failure = await catalogue.save_price(
        db, registry, provider_for(stripe_settings), change, operator_id=None
    )
    assert failure is None


def card(page: httpx.Response, key: str) -> str:
    return page.text.split(f'id="app-{key}"')[1].split("</article>")[0]


async def _post_subscribe(
    http: httpx.AsyncClient, slug: str, key: str, interval: str | None = None
) -> httpx.Response:
    """Open the module's subscribe confirmation and submit it."""
    page = await http.get(f"/t/{slug}/apps/{key}/subscribe", headers=HTML)
    assert page.status_code == 200, page.text
    form = {"_csrf_token": csrf(page)} | ({"interval": interval} if interval else {})
    return await http.post(f"/t/{slug}/apps/{key}/subscribe", data=form, headers=HTML)


def _checkout_id(answer: httpx.Response, standin: StripeHarness) -> str:
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{standin.api_base}/checkout/cs_test_")
    return location.rsplit("/", 1)[1]


async def _return_from(
    http: httpx.AsyncClient, standin: StripeHarness, checkout_id: str
) -> httpx.Response:
    """The owner pays on the stand-in's page and follows its redirect back to the app."""
    back = urlsplit(standin.pay(checkout_id))
    assert back.path.endswith("/billing/checkout/return"), back
    return await http.get(f"{back.path}?{back.query}", headers=HTML)


async def _first(
    http: httpx.AsyncClient, standin: StripeHarness, slug: str, key: str, interval: str
) -> str:
    """Subscribe to the workspace's first module through Checkout; the session's id."""
    checkout_id = _checkout_id(await _post_subscribe(http, slug, key, interval), standin)
    back = await _return_from(http, standin, checkout_id)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == f"/t/{slug}/apps?done=subscribed&module={key}"
    return checkout_id


async def _modules(db: Database, ctx: TenantContext) -> dict[str, str]:
    """module -> its level now (on, read_only, off), for the rows the workspace has."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(select(TenantModule))
        now = datetime.now(UTC)
        return {row.module_key: state.level_of(row, now).value for row in rows}


async def _account(db: Database, ctx: TenantContext) -> BillingAccount | None:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await session.scalar(select(BillingAccount))


async def _items(db: Database, ctx: TenantContext) -> dict[str, BillingItem]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return {item.module_key: item for item in await session.scalars(select(BillingItem))}


async def _actions(db: Database, ctx: TenantContext, action: str) -> list[dict]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        query = select(AuditEntry.detail).where(AuditEntry.action == action)
        return list(await session.scalars(query.order_by(AuditEntry.id)))


def _stripe_items(standin: StripeHarness, subscription_id: str) -> list[str]:
    """The modules of the subscription's items at Stripe (by their prices' lookup keys)."""
    found = standin.client().v1.subscription_items.list(params={"subscription": subscription_id})
    return sorted(str(item.price.lookup_key).split(".")[1] for item in found.data)


def _subscriptions(standin: StripeHarness) -> list[stripe.Subscription]:
    return list(standin.client().v1.subscriptions.list(params={"status": "all"}).data)


async def _run_removals(db, registry, stripe_settings, ctx, now) -> list[str]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        fresh = await tenant_context(session, ctx.tenant_id)
        return await subscriptions.run_removals(
            session, registry, fresh, provider_for(stripe_settings), grace_days=7, now=now
        )


async def test_the_first_module_goes_through_checkout_and_is_on_after_the_return(
    browser, db: Database, registry, make_tenant, stripe_settings, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    owner = await _owner(db, browser)
    await _price(db, registry, stripe_settings, "crm", "month", "99")
    await _price(db, registry, stripe_settings, "crm", "year", "990")
    store = await owner.get("/t/acme/apps", headers=HTML)
    assert 'href="/t/acme/apps/crm/subscribe"' in card(store, "crm")
    assert 'id="enable-crm"' not in card(store, "crm")
    assert 'id="development-mode"' not in store.text  # priced modules are paid for here
    assert 'id="enable-sample"' in card(store, "sample")  # no price: as before billing

    page = await owner.get("/t/acme/apps/crm/subscribe", headers=HTML)
    assert 'name="interval" value="month" checked' in page.text
    assert 'name="interval" value="year"' in page.text
    assert "CN¥99.00 / month" in page.text
    assert "CN¥990.00 / year" in page.text
    assert "Continue to payment" in page.text

    checkout_id = _checkout_id(await _post_subscribe(owner, "acme", "crm", "year"), stripe_standin)
    assert (await _modules(db, acme)).get("crm", "off") == "off"  # not paid yet
    back = await _return_from(owner, stripe_standin, checkout_id)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/t/acme/apps?done=subscribed&module=crm"
    store = await owner.get(back.headers["location"], headers=HTML)
    assert "CRM is on. It is in your subscription." in store.text
    assert 'href="/t/acme/apps/crm/remove"' in card(store, "crm")
    assert 'id="disable-crm"' not in card(store, "crm")  # paid: removed, not disabled
    made = await owner.post("/api/t/acme/crm/customers", json={"name": "Shenzhen Drones"})
    assert made.status_code == 201, made.text

    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.scalar(select(TenantModule).where(TenantModule.module_key == "crm"))
        assert row is not None
        assert (row.enabled, row.source, row.access) == (True, "paid", "full")
    acct = await _account(db, acme)
    assert acct is not None
    assert (acct.interval, acct.status) == ("year", "active")
    [customer] = stripe_standin.client().v1.customers.list().data
    [subscription] = _subscriptions(stripe_standin)
    assert (acct.stripe_customer_id, acct.stripe_subscription_id) == (customer.id, subscription.id)
    assert customer.metadata["atrium_tenant"] == str(acme.tenant_id)
    assert customer.email == (await the_test_owner(db)).email
    assert _stripe_items(stripe_standin, subscription.id) == ["crm"]
    assert list(await _items(db, acme)) == ["crm"]

    # Coming back again (a reload): nothing new, audited once.
    again = await owner.get(f"/t/acme/billing/checkout/return?session_id={checkout_id}")
    assert again.status_code == 303
    [entry] = await _actions(db, acme, subscriptions.SUBSCRIBED)
    assert entry == {
        "module": "crm",
        "modules": ["crm"],
        "interval": "year",
        "checkout": checkout_id,
    }
    assert len(_subscriptions(stripe_standin)) == 1


async def test_a_later_module_is_an_item_of_the_same_subscription_and_on_at_once(
    browser, db: Database, registry, make_tenant, stripe_settings, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    owner = await _owner(db, browser)
    for module in ("crm", "sample", "sampleaddon"):
        await _price(db, registry, stripe_settings, module)
    await _first(owner, stripe_standin, "acme", "crm", "month")

    page = await owner.get("/t/acme/apps/sampleaddon/subscribe", headers=HTML)
    assert "It is added to your subscription at once." in page.text
    assert 'type="radio"' not in page.text  # the interval is the workspace's
    assert '<input type="hidden" name="interval" value="month">' in page.text
    lines = page.text.split('id="subscribe-month"')[1].split("</fieldset>")[0]
    assert 'data-module="sample"' in lines
    assert 'data-module="sampleaddon"' in lines
    answer = await owner.post(
        "/t/acme/apps/sampleaddon/subscribe",
        data={"_csrf_token": csrf(page), "interval": "month"},
        headers=HTML,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/t/acme/apps?done=subscribed&module=sampleaddon"
    # On at once, its priced dependency paid with it: one subscription, three items.
    assert await _modules(db, acme) == {"crm": "on", "sample": "on", "sampleaddon": "on"}
    [subscription] = _subscriptions(stripe_standin)
    assert _stripe_items(stripe_standin, subscription.id) == ["crm", "sample", "sampleaddon"]
    assert sorted(await _items(db, acme)) == ["crm", "sample", "sampleaddon"]
    assert len(stripe_standin.client().v1.customers.list().data) == 1
    made = await owner.post(
        NOTES.format(slug="acme"), json={"title": "Paid", "body": "", "tags": []}
    )
    assert made.status_code == 201, made.text
    entry = (await _actions(db, acme, subscriptions.SUBSCRIBED))[-1]
    assert entry == {
        "module": "sampleaddon",
        "modules": ["sample", "sampleaddon"],
        "interval": "month",
        "checkout": None,
    }
    # What the add-on needs cannot go while the add-on stays.
    refused = await owner.get("/t/acme/apps/sample/remove", headers=HTML)
    assert refused.status_code == 409
    assert "Remove Sample add-on first: they depend on Sample." in refused.text


async def test_a_removal_keeps_the_module_until_the_period_ends_then_the_job_takes_it_out(
    browser, db: Database, registry, make_tenant, stripe_settings, stripe_standin
) -> None:
    assert "billing_removals" in {job.key for job in CORE_JOBS}
    acme = await make_tenant("acme")
    owner = await _owner(db, browser)
    for module in ("crm", "sample"):
        await _price(db, registry, stripe_settings, module)
    await _first(owner, stripe_standin, "acme", "crm", "month")
    assert (await _post_subscribe(owner, "acme", "sample")).status_code == 303
    note = {"title": "Kept", "body": "", "tags": []}
    assert (await owner.post(NOTES.format(slug="acme"), json=note)).status_code == 201
    acct = await _account(db, acme)
    assert acct is not None
    assert acct.current_period_end is not None
    ends_at, subscription_id = acct.current_period_end, acct.stripe_subscription_id
    with use_locale("en"):
        date = when(ends_at)

    page = await owner.get("/t/acme/apps/sample/remove", headers=HTML)
    assert f"Sample stays on until {date}, the end of the period paid for." in page.text
    assert 'id="remove-last"' not in page.text
    answer = await owner.post(
        "/t/acme/apps/sample/remove", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert answer.status_code == 303, answer.text
    store = await owner.get(answer.headers["location"], headers=HTML)
    assert f"Sample stays on until {date}, then it leaves your subscription." in store.text
    assert f"Ends on {date}" in card(store, "sample")
    assert 'id="keep-sample"' in card(store, "sample")
    assert (await _items(db, acme))["sample"].ends_at == ends_at
    assert (await _modules(db, acme))["sample"] == "on"  # on until then
    assert _stripe_items(stripe_standin, subscription_id) == ["crm", "sample"]
    [scheduled] = await _actions(db, acme, subscriptions.REMOVAL_SCHEDULED)
    assert scheduled == {
        "module": "sample",
        "ends_at": ends_at.isoformat(),
        "subscription_ends": False,
    }

    # Keep undoes it; removing it again schedules it again.
    kept = await owner.post(
        "/t/acme/apps/sample/keep", data={"_csrf_token": csrf(store)}, headers=HTML
    )
    assert kept.status_code == 303, kept.text
    store = await owner.get(kept.headers["location"], headers=HTML)
    assert "Sample stays in your subscription." in store.text
    assert 'href="/t/acme/apps/sample/remove"' in card(store, "sample")
    assert (await _items(db, acme))["sample"].ends_at is None
    page = await owner.get("/t/acme/apps/sample/remove", headers=HTML)
    await owner.post("/t/acme/apps/sample/remove", data={"_csrf_token": csrf(page)}, headers=HTML)

    # The last module not ending ends the whole subscription at the period's end; Keep
    # takes that back at Stripe too.
    page = await owner.get("/t/acme/apps/crm/remove", headers=HTML)
    assert 'id="remove-last"' in page.text
    await owner.post("/t/acme/apps/crm/remove", data={"_csrf_token": csrf(page)}, headers=HTML)
    client = stripe_standin.client()
    assert client.v1.subscriptions.retrieve(subscription_id).cancel_at_period_end is True
    store = await owner.get("/t/acme/apps", headers=HTML)
    await owner.post("/t/acme/apps/crm/keep", data={"_csrf_token": csrf(store)}, headers=HTML)
    assert client.v1.subscriptions.retrieve(subscription_id).cancel_at_period_end is False
    assert (await _items(db, acme))["crm"].ends_at is None
    assert (await _items(db, acme))["sample"].ends_at == ends_at

    # The job: nothing before the end; after it, the item is gone at Stripe and the module
    # is off, its data kept.
    assert (
        await _run_removals(db, registry, stripe_settings, acme, ends_at - timedelta(minutes=1))
        == []
    )
    assert _stripe_items(stripe_standin, subscription_id) == ["crm", "sample"]
    after = ends_at + timedelta(hours=1)
    assert await _run_removals(db, registry, stripe_settings, acme, after) == ["sample"]
    assert _stripe_items(stripe_standin, subscription_id) == ["crm"]
    assert list(await _items(db, acme)) == ["crm"]
    assert await _modules(db, acme) == {"crm": "on", "sample": "off"}
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(SampleNote)) == 1
    denied = await owner.get(NOTES.format(slug="acme"))
    assert denied.json()["error"]["code"] == "module_disabled"
    [removed] = await _actions(db, acme, subscriptions.REMOVED)
    assert removed == {"module": "sample", "ended_at": ends_at.isoformat()}
    store = await owner.get("/t/acme/apps", headers=HTML)
    assert 'href="/t/acme/apps/sample/subscribe"' in card(store, "sample")
    assert await _run_removals(db, registry, stripe_settings, acme, after) == []  # once


async def test_removing_the_only_module_ends_the_subscription_with_it(
    browser, db: Database, registry, make_tenant, stripe_settings, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    owner = await _owner(db, browser)
    await _price(db, registry, stripe_settings, "crm")
    await _first(owner, stripe_standin, "acme", "crm", "month")
    page = await owner.get("/t/acme/apps/crm/remove", headers=HTML)
    await owner.post("/t/acme/apps/crm/remove", data={"_csrf_token": csrf(page)}, headers=HTML)
    acct = await _account(db, acme)
    assert acct is not None
    assert acct.cancel_at_period_end is True
    assert acct.current_period_end is not None
    # Stripe ends the subscription itself: the job deletes no item, the module goes off.
    after = acct.current_period_end + timedelta(hours=1)
    assert await _run_removals(db, registry, stripe_settings, acme, after) == ["crm"]
    assert _stripe_items(stripe_standin, str(acct.stripe_subscription_id)) == ["crm"]
    assert (await _modules(db, acme))["crm"] == "off"


async def test_what_cannot_be_subscribed_to_is_refused_and_changes_nothing(
    browser, db: Database, registry, make_tenant, stripe_settings, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    owner = await _owner(db, browser)
    no_price = await owner.get("/t/acme/apps/crm/subscribe", headers=HTML)
    assert no_price.status_code == 422
    assert "CRM has no price to subscribe with yet. Ask the Atrium operator." in no_price.text
    assert (await owner.get("/t/acme/apps/nothing/subscribe", headers=HTML)).status_code == 404
    await _price(db, registry, stripe_settings, "crm")  # monthly only
    token = csrf(await owner.get("/t/acme/apps", headers=HTML))
    yearly = await owner.post(
        "/t/acme/apps/crm/subscribe", data={"_csrf_token": token, "interval": "year"}, headers=HTML
    )
    assert yearly.status_code == 422
    assert "CRM has no price for paying yearly yet." in yearly.text
    none_chosen = await owner.post(
        "/t/acme/apps/crm/subscribe", data={"_csrf_token": token}, headers=HTML
    )
    assert none_chosen.status_code == 422
    no_csrf = await owner.post(
        "/t/acme/apps/crm/subscribe", data={"interval": "month"}, headers=HTML
    )
    assert no_csrf.status_code == 403
    assert stripe_standin.client().v1.customers.list().data == []  # nothing reached Stripe

    admin = await register(db, "ada@acme.test", "Ada")
    async with db.tenant_transaction(acme.tenant_id) as session:
        session.add(Membership(user_id=admin.id, role="admin"))
    ada = await browser(admin)
    store = await ada.get("/t/acme/apps", headers=HTML)
    assert "/apps/crm/subscribe" not in store.text
    assert (await ada.get("/t/acme/apps/crm/subscribe", headers=HTML)).status_code == 403
    for action in ("subscribe", "remove", "keep"):
        answer = await ada.post(
            f"/t/acme/apps/crm/{action}",
            data={"_csrf_token": csrf(store), "interval": "month"},
            headers=HTML,
        )
        assert answer.status_code == 403, action
    assert _subscriptions(stripe_standin) == []

    await _first(owner, stripe_standin, "acme", "crm", "month")
    again = await owner.post(
        "/t/acme/apps/crm/subscribe", data={"_csrf_token": token, "interval": "month"}, headers=HTML
    )
    assert again.status_code == 409
    assert "CRM is already in your subscription." in again.text
    await _price(db, registry, stripe_settings, "sample", "year")
    other_interval = await owner.post(
        "/t/acme/apps/sample/subscribe",
        data={"_csrf_token": token, "interval": "year"},
        headers=HTML,
    )
    assert other_interval.status_code == 409
    assert "This workspace pays monthly" in other_interval.text
    no_monthly = await owner.get("/t/acme/apps/sample/subscribe", headers=HTML)
    assert no_monthly.status_code == 422
    assert "Sample has no price for paying monthly yet." in no_monthly.text
    disable = await owner.post(
        "/t/acme/apps/crm/disable", data={"_csrf_token": token}, headers=HTML
    )
    assert disable.status_code == 409
    assert "CRM is in your subscription: remove it instead." in disable.text
    async with db.tenant_transaction(acme.tenant_id) as session:  # granted: nothing to pay
        await apply(session, registry, acme, "sampleaddon", Access(Level.ON, "granted"))
    await _price(db, registry, stripe_settings, "sampleaddon")
    granted = await owner.get("/t/acme/apps/sampleaddon/subscribe", headers=HTML)
    assert granted.status_code == 409
    assert "Sample add-on is granted by the operator: there is nothing to pay." in granted.text
    not_in = await owner.post("/t/acme/apps/sampleaddon/remove", data={"_csrf_token": token})
    assert not_in.status_code == 409
    assert sorted(await _items(db, acme)) == ["crm"]
    assert len(_subscriptions(stripe_standin)) == 1


async def test_with_the_manual_provider_subscribing_is_not_offered(
    db: Database, registry, make_tenant, settings: Settings
) -> None:
    acme = await make_tenant("acme")
    async with db.global_transaction() as session:  # a price, kept in Atrium only
        change = catalogue.PriceChange("crm", "month", "CNY", Decimal("99"))
        await catalogue.set_price(session, registry, change, operator_id=None)
    owner = await the_test_owner(db)
    async with db.tenant_transaction(acme.tenant_id) as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == owner.id))
        assert membership is not None
        rights = roles.rights(registry, roles.OWNER, [])
        actor = Actor(acme.tenant_id, owner.id, membership.id, permissions=rights.permissions)
        manual = provider_for(settings)
        assert await subscriptions.offers(session, registry, manual) == {}
        with pytest.raises(Conflict) as refused:
            await subscriptions.subscribe(
                session,
                registry,
                acme,
                manual,
                actor,
                "crm",
                interval="month",
                base_url=settings.base_url,
                grace_days=7,
            )
    assert refused.value.message == subscriptions.NOT_AVAILABLE


async def test_two_workspaces_are_apart(
    browser, db: Database, registry, make_tenant, stripe_settings, stripe_standin
) -> None:
    acme = await make_tenant("acme")
    globex = await make_tenant("globex")
    owner = await _owner(db, browser)
    await _price(db, registry, stripe_settings, "crm")
    acme_checkout = await _first(owner, stripe_standin, "acme", "crm", "month")

    # globex: nothing paid, its store still offers CRM, and acme's checkout is not its own.
    assert await _account(db, globex) is None
    assert await _items(db, globex) == {}
    stolen = await owner.get(f"/t/globex/billing/checkout/return?session_id={acme_checkout}")
    assert stolen.status_code == 404
    assert await _items(db, globex) == {}
    assert (await _modules(db, globex)).get("crm", "off") == "off"
    store = await owner.get("/t/globex/apps", headers=HTML)
    assert 'href="/t/globex/apps/crm/subscribe"' in card(store, "crm")
    async with db.tenant_transaction(globex.tenant_id) as session:  # RLS: acme's rows unseen
        assert await session.scalar(select(func.count()).select_from(BillingItem)) == 0
        assert await session.scalar(select(func.count()).select_from(BillingAccount)) == 0

    await _first(owner, stripe_standin, "globex", "crm", "month")
    acme_acct, globex_acct = await _account(db, acme), await _account(db, globex)
    assert acme_acct is not None
    assert globex_acct is not None
    assert acme_acct.stripe_customer_id != globex_acct.stripe_customer_id
    assert acme_acct.stripe_subscription_id != globex_acct.stripe_subscription_id
    customers = stripe_standin.client().v1.customers.list().data
    assert sorted(c.metadata["atrium_tenant"] for c in customers) == sorted(
        [str(acme.tenant_id), str(globex.tenant_id)]
    )
    assert len(_subscriptions(stripe_standin)) == 2
    assert len(await _actions(db, acme, subscriptions.SUBSCRIBED)) == 1
    assert len(await _actions(db, globex, subscriptions.SUBSCRIBED)) == 1
