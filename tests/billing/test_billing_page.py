"""The workspace's billing page over real HTTP, with Stripe on the stand-in: the owner sees
the subscription (status, interval, period end, each module's price, per member or flat,
quantity, the end date of one removed) and the invoice Stripe made, whose PDF link answers
a real PDF and whose "View" link Stripe's page; the portal button makes a new portal
session each time and 303s to it, and the portal comes back to the page; admins and
members get 403; with no Stripe customer, with the manual provider, or with Stripe
unreachable the page says so (no 500); a workspace sees its own invoices only."""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pypdf
import pytest
from sqlalchemy import select, update

from billing.models import BillingAccount, BillingIntent, BillingItem
from billing.provider import BillingProvider, provider_for
from core.db import Database
from core.i18n import money, use_locale, when
from core.models import Membership, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.billing.stripe_settings import dead_address, with_stripe
from tests.billing.test_member_quantity import subscribe, synced_prices
from tests.conftest import LiveServer
from tests.stripe_standin.fixtures import StripeHarness
from tests.web.test_parties_api import the_test_owner
from web.auth import SESSION_COOKIE

HTML = {"accept": "text/html"}


@pytest.fixture
async def open_app(
    db: Database, registry: ModuleRegistry, tmp_path: Path, sign_in
) -> AsyncIterator:
    """``await open_app(settings, user)``: the real app with those settings on a loopback
    port, and a client signed in as ``user``; all stopped after the test."""
    from web.app import create_app

    async with contextlib.AsyncExitStack() as stack:

        async def open_as(app_settings: Settings, who: User) -> httpx.AsyncClient:
            app = create_app(
                dataclasses.replace(app_settings, data_dir=tmp_path), db=db, registry=registry
            )
            base_url = await stack.enter_async_context(LiveServer(app))
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, headers=HTML)
            )
            http.cookies.set(SESSION_COOKIE, await sign_in(who.id), domain="127.0.0.1")
            return http

        yield open_as


@pytest.fixture
def stripe_settings(settings: Settings, stripe_standin: StripeHarness) -> Settings:
    return with_stripe(settings, stripe_standin.api_base)


@pytest.fixture
def provider(stripe_settings: Settings) -> BillingProvider:
    return provider_for(stripe_settings)


async def _add_member(db: Database, tenant_id, email: str, role: str) -> User:
    async with db.global_transaction() as session:
        user = User(email=email, display_name=email.split("@")[0])
        session.add(user)
        await session.flush()
    async with db.tenant_transaction(tenant_id) as session:
        session.add(Membership(user_id=user.id, role=role))
    return user


async def test_the_owner_sees_the_subscription_and_the_invoice_with_its_pdf(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_settings: Settings,
    stripe_standin: StripeHarness,
    make_tenant,
    open_app,
) -> None:
    client = stripe_standin.client()
    ctx = await make_tenant("bill-acme")
    await _add_member(db, ctx.tenant_id, "kim@bill.test", "member")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, ctx, prices)
    removed_on = datetime.now(UTC) + timedelta(days=20)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await session.execute(
            update(BillingItem)
            .where(BillingItem.module_key == "sampleaddon")
            .values(ends_at=removed_on)
        )
        account = await session.scalar(select(BillingAccount))
        assert account is not None
    [invoice] = client.v1.invoices.list(params={"customer": account.stripe_customer_id}).data
    owner = await open_app(stripe_settings, await the_test_owner(db))

    page = await owner.get("/t/bill-acme/billing")

    assert page.status_code == 200, page.text
    html = page.text
    with use_locale("en"):
        assert "Active" in html
        assert '<dd id="billing-interval">Monthly</dd>' in html
        assert when(account.current_period_end.date()) in html
        sample = _row(html, "billing-item-sample")
        assert "$10.00 / month" in sample
        assert "Per active member" in sample
        assert '<td class="quantity">2</td>' in sample
        assert money(Decimal("20"), "USD") in sample
        addon = _row(html, "billing-item-sampleaddon")
        assert "Flat" in addon
        assert '<td class="quantity">1</td>' in addon
        assert f"Ends on {when(removed_on.date())}" in addon
        line = _row(html, f"invoice-{invoice.id}")
        assert invoice.number in line
        assert money(Decimal("20.00"), "USD") in line  # localstripe bills the first item
        assert "Paid" in line
        assert when(datetime.fromtimestamp(invoice.created, UTC).date()) in line
    assert f'href="{invoice.invoice_pdf}"' in line
    assert f'href="{invoice.hosted_invoice_url}"' in line
    assert 'href="/t/bill-acme/billing/portal"' in html

    async with httpx.AsyncClient() as outside:
        pdf = await outside.get(invoice.invoice_pdf)
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        text = pypdf.PdfReader(io.BytesIO(pdf.content), strict=True).pages[0].extract_text()
        assert invoice.number in text
        view = await outside.get(invoice.hosted_invoice_url)
        assert view.status_code == 200
        assert invoice.number in view.text

    store = await owner.get("/t/bill-acme/apps")
    assert 'href="/t/bill-acme/billing"' in store.text


def _row(html: str, element_id: str) -> str:
    """The table row with that id."""
    start = html.index(f'<tr id="{element_id}">')
    return html[start : html.index("</tr>", start)]


async def test_the_portal_button_opens_a_new_portal_session_that_comes_back(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_settings: Settings,
    stripe_standin: StripeHarness,
    make_tenant,
    open_app,
) -> None:
    client = stripe_standin.client()
    ctx = await make_tenant("bill-portal")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, ctx, prices)
    owner = await open_app(stripe_settings, await the_test_owner(db))

    first = await owner.get("/t/bill-portal/billing/portal")
    second = await owner.get("/t/bill-portal/billing/portal")

    assert first.status_code == second.status_code == 303
    location = first.headers["location"]
    assert location.startswith(f"{stripe_standin.api_base}/billing_portal/bps_")
    assert second.headers["location"] != location  # a new session, not a replay
    async with db.tenant_transaction(ctx.tenant_id) as session:
        intent = await session.scalar(select(BillingIntent).where(BillingIntent.intent == "portal"))
        assert intent is not None
        assert (intent.attempt, intent.done_at is not None) == (2, True)
        account = await session.scalar(select(BillingAccount))
        assert account is not None
    async with httpx.AsyncClient() as outside:
        portal = await outside.get(location)
    assert portal.status_code == 200
    assert account.stripe_customer_id in portal.text
    back = f"{stripe_settings.base_url}/t/bill-portal/billing"
    assert f"<a id='return' href='{back}'>" in portal.text


async def test_admins_and_members_are_refused(
    db: Database, stripe_settings: Settings, make_tenant, open_app
) -> None:
    ctx = await make_tenant("bill-staff")
    for role in ("admin", "member"):
        user = await _add_member(db, ctx.tenant_id, f"{role}@staff.test", role)
        http = await open_app(stripe_settings, user)
        assert (await http.get("/t/bill-staff/billing")).status_code == 403
        portal = await http.get("/t/bill-staff/billing/portal")
        assert portal.status_code == 403
        assert "/t/bill-staff/billing" not in (await http.get("/t/bill-staff/apps")).text


async def test_no_customer_yet_and_the_manual_provider_are_said_so(
    db: Database, settings: Settings, stripe_settings: Settings, make_tenant, open_app
) -> None:
    await make_tenant("bill-new")
    owner = await the_test_owner(db)

    with_stripe_page = await open_app(stripe_settings, owner)
    page = await with_stripe_page.get("/t/bill-new/billing")
    assert page.status_code == 200
    assert 'id="billing-no-customer"' in page.text
    assert 'id="invoice-list"' not in page.text
    refused = await with_stripe_page.get("/t/bill-new/billing/portal")
    assert refused.status_code == 409
    assert "no payment account yet" in refused.text

    assert settings.stripe.secret_key is None
    manual = await open_app(settings, owner)
    page = await manual.get("/t/bill-new/billing")
    assert page.status_code == 200
    assert 'id="billing-manual"' in page.text
    refused = await manual.get("/t/bill-new/billing/portal")
    assert refused.status_code == 409
    assert "No payment provider is configured" in refused.text


async def test_stripe_unreachable_the_page_answers_and_says_why(
    db: Database, settings: Settings, make_tenant, open_app
) -> None:
    ctx = await make_tenant("bill-down")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        session.add(BillingAccount(stripe_customer_id="cus_unreachable"))
    owner = await open_app(with_stripe(settings, dead_address()), await the_test_owner(db))

    page = await owner.get("/t/bill-down/billing")
    assert page.status_code == 200
    assert 'id="invoices-failed"' in page.text
    assert (await owner.get("/t/bill-down/billing/portal")).status_code == 502


async def test_a_workspace_sees_its_own_invoices_only(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_settings: Settings,
    stripe_standin: StripeHarness,
    make_tenant,
    open_app,
) -> None:
    client = stripe_standin.client()
    one, two = await make_tenant("bill-one"), await make_tenant("bill-two")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, one, prices)
    await subscribe(db, registry, provider, client, two, prices)
    invoice_of = {}
    for ctx in (one, two):
        async with db.tenant_transaction(ctx.tenant_id) as session:
            account = await session.scalar(select(BillingAccount))
            assert account is not None
        [invoice] = client.v1.invoices.list(params={"customer": account.stripe_customer_id}).data
        invoice_of[ctx.slug] = invoice.id
    owner = await open_app(stripe_settings, await the_test_owner(db))

    page = (await owner.get("/t/bill-one/billing")).text
    assert f'id="invoice-{invoice_of["bill-one"]}"' in page
    assert invoice_of["bill-two"] not in page
