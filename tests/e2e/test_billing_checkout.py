"""An owner subscribes to CRM in a real browser: the app store, the Checkout stand-in's
payment page, back to Atrium with CRM on once Stripe's webhook has been handled; then
removes it and sees the day it ends.

The app is served with Stripe pointing at the stand-in (``tests/stripe_standin``), whose
signed webhooks go to the app's own endpoint, as in production.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from billing import catalogue
from billing.models import BillingItem, BillingWebhookEvent
from billing.stripe_provider import StripeProvider
from billing.webhooks import ROUTE
from core.db import Database
from core.i18n import use_locale, when
from core.identity import accounts
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.billing.stripe_settings import with_stripe
from tests.e2e.conftest import NewContext, Shoot, _SiteServer, at
from tests.e2e.test_operator_suspends import sign_in
from tests.stripe_standin.fixtures import StripeHarness

SECRET = "whsec_atrium_browser"
OWNER = ("Mei Chen", "mei@harbour.example", "cedar-lantern-ocean-31")
SLUG = "harbour-tea"


@pytest.fixture
async def site(
    settings: Settings,
    db: Database,
    registry: ModuleRegistry,
    tmp_path: Path,
    stripe_standin: StripeHarness,
) -> AsyncIterator[str]:
    """The app on a loopback port, its Stripe the stand-in, the stand-in's webhooks its own."""
    from web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    configured = with_stripe(settings, stripe_standin.api_base)
    stripe = dataclasses.replace(configured.stripe, webhook_secret=SECRET)
    app = create_app(
        dataclasses.replace(configured, stripe=stripe, data_dir=tmp_path, base_url=base_url),
        db=db,
        registry=registry,
    )
    stripe_standin.register_webhook(f"{base_url}{ROUTE}", SECRET)
    with sock:
        async with _SiteServer(app, sock):
            yield base_url


async def _crm_priced(db: Database, registry: ModuleRegistry, settings: Settings, api: str) -> None:
    provider = StripeProvider(with_stripe(settings, api).stripe)
    for interval, amount in (("month", "99"), ("year", "990")):
        async with db.global_transaction() as session:
            change = catalogue.PriceChange("crm", interval, "CNY", Decimal(amount))
            price = await catalogue.set_price(session, registry, change, operator_id=None)
        synced = await catalogue.sync_price(db, registry, provider, price.id, operator_id=None)
        assert synced.stripe_price_id


async def test_the_owner_pays_for_crm_in_checkout_and_later_removes_it(
    new_context: NewContext,
    shoot: Shoot,
    db: Database,
    registry: ModuleRegistry,
    settings: Settings,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    async with db.global_transaction() as session:
        await accounts.register(
            session, email=OWNER[1], password=OWNER[2], display_name=OWNER[0], locale="en"
        )
    ctx = await make_tenant(SLUG, owner_email=OWNER[1])
    await _crm_priced(db, registry, settings, stripe_standin.api_base)

    page = await (await new_context(locale="en-GB")).new_page()
    await sign_in(page, f"/t/{SLUG}/apps", OWNER[1], OWNER[2])
    await expect(page).to_have_url(at(f"/t/{SLUG}/apps"))
    crm = page.locator("#app-crm")
    await expect(crm).to_have_attribute("data-status", "disabled")
    await expect(page.locator("#app-crm-price")).to_contain_text("99.00 / month")
    await shoot(page, "store-before")

    await page.locator("#subscribe-crm").click()
    await expect(page.locator("#confirm-subscribe h1")).to_have_text("Subscribe to CRM")
    await page.get_by_label("Monthly").check()
    await shoot(page, "subscribe-confirm")
    await page.locator("#confirm-subscribe-button").click()

    # Stripe's page (the stand-in's), on another origin: the card, then Pay.
    await expect(page).to_have_url(
        re.compile(rf"^{re.escape(stripe_standin.api_base)}/checkout/cs_")
    )
    await expect(page.locator("input[name=card]")).to_have_value("4242424242424242")
    await shoot(page, "checkout")
    await page.locator("#pay").click()

    # Back in Atrium: CRM is on, and Stripe's checkout.session.completed was handled.
    await expect(page).to_have_url(at(f"/t/{SLUG}/apps?done=subscribed&module=crm"))
    await expect(crm).to_have_attribute("data-status", "enabled")
    async with db.global_transaction() as session:
        handled = await session.scalar(
            select(BillingWebhookEvent.outcome).where(
                BillingWebhookEvent.type == "checkout.session.completed",
                BillingWebhookEvent.workspace_id == ctx.tenant_id,
            )
        )
    assert handled == "handled"
    await shoot(page, "store-subscribed")
    await page.goto(f"/t/{SLUG}/crm")
    await expect(page.locator("main h1")).to_be_visible()

    # Removing it: on until the end of the period paid for, and the card says when.
    await page.goto(f"/t/{SLUG}/apps")
    await page.locator("#remove-crm").click()
    await expect(page.locator("#remove-until")).to_contain_text("stays on until")
    await expect(page.locator("#remove-last")).to_be_visible()
    await page.locator("#confirm-remove-button").click()
    await expect(page).to_have_url(at(f"/t/{SLUG}/apps?done=removal&module=crm"))
    async with db.tenant_transaction(ctx.tenant_id) as session:
        ends_at = await session.scalar(select(BillingItem.ends_at))
    assert ends_at is not None
    with use_locale("en"):
        shown = when(ends_at)
    await expect(page.locator("#app-crm-ends")).to_have_text(f"Ends on {shown}")
    await expect(crm).to_have_attribute("data-status", "enabled")
    await expect(page.locator("#keep-crm")).to_be_visible()
    await shoot(page, "store-removal-scheduled")
