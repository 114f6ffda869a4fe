"""Dunning over real HTTP, Stripe the stand-in: a payment that fails (the bank's check failed,
in localstripe) makes the subscription past due; the module stays on for the grace days with
the banners to owners and admins (not to members, not in another workspace) and the owners
are mailed in their language, once per invoice, however often Stripe tells us; at the
grace's end (a refresh with a fixed time) it is read-only; paid again, it is on and the
dunning is gone. The bank asking to confirm shows its link; a failure reported after the
payment changes nothing; a Stripe trial's end is mailed once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import or_, select

from billing import state
from billing.dunning import FAILED_SUBJECT, portal_path
from core import mail, roles
from core.context import TenantContext
from core.db import Database
from core.i18n import gettext, use_locale, when
from core.mail import MailRecord
from core.models import Membership, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.tenancy import tenant_context
from tests.billing import test_webhooks as hooks
from tests.billing.test_webhooks import (
    GOOD_CARD,
    World,
    account,
    caught,
    delivered,
    levels,
    post_event,
    stored_of,
    with_id,
)
from tests.conftest import TEST_OWNER_EMAIL
from tests.stripe_standin import WebhookReceiver
from tests.stripe_standin.fixtures import StripeHarness
from tests.web.test_parties_api import the_test_owner

HTML = {"accept": "text/html"}
GRACE = 7  # the settings' default billing_grace_days
BANK_CHECK_CARD = "4000002500003155"  # localstripe: the bank asks to confirm (3-D Secure)
NOTES = "/api/t/acme/sample/notes"

# The webhook tests' fixtures: the app on the stand-in, Stripe's side of it, the set-up.
stripe_app, http, world = hooks.stripe_app, hooks.http, hooks.world
captured, wired = hooks.captured, hooks.wired


async def person(
    db: Database, ctx: TenantContext, email: str, role: str, locale: str = "en"
) -> User:
    async with db.global_transaction() as session:
        user = User(email=email, display_name=email.split("@")[0].title(), locale=locale)
        session.add(user)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        session.add(Membership(user_id=user.id, role=role))
    return user


@pytest.fixture
async def browse(stripe_app: str, sign_in):
    """Open the app as a user (their own cookie jar)."""
    opened: list[httpx.AsyncClient] = []

    async def open_as(who: User) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=stripe_app, timeout=30)
        client.cookies.set("atrium_session", await sign_in(who.id), domain="127.0.0.1")
        opened.append(client)
        return client

    yield open_as
    for client in opened:
        await client.aclose()


async def fail_payment(world: World, customer: str, subscription: str) -> str:
    """Bill the subscription again with a card whose bank check the customer then fails:
    localstripe makes the subscription past due and sends invoice.payment_failed."""
    await world.card(customer, BANK_CHECK_CARD)
    await world.client.v1.invoice_items.create_async(
        params={
            "customer": customer,
            "amount": 1000,
            "currency": "usd",
            "subscription": subscription,
        }
    )
    invoice = await world.client.v1.invoices.create_async(
        params={"customer": customer, "subscription": subscription}
    )
    paying = await world.client.v1.invoices.pay_async(invoice.id)
    intent = await world.client.v1.payment_intents.retrieve_async(str(paying.payment_intent))
    assert intent.status == "requires_action"
    async with httpx.AsyncClient() as raw:  # localstripe's own route: the check fails
        failed = await raw.post(
            f"{world.harness.localstripe_url}/v1/payment_intents/{intent.id}/_authenticate",
            data={"client_secret": intent.client_secret, "success": "false"},
            headers={"Authorization": "Bearer sk_test_dunning"},
        )
    assert failed.status_code == 200, failed.text
    return invoice.id


async def pay_again(world: World, customer: str, invoice: str) -> None:
    await world.card(customer, GOOD_CARD)
    paid = await world.client.v1.invoices.pay_async(invoice)
    assert paid.status == "paid"


async def sent(db: Database, *subject_starts: str) -> list[MailRecord]:
    """The mail sent so far whose subject starts with one of these, by recipient."""
    await mail.drain()
    async with db.global_transaction() as session:
        found = await session.scalars(
            select(MailRecord)
            .where(or_(*(MailRecord.subject.startswith(start) for start in subject_starts)))
            .order_by(MailRecord.recipient)
        )
        return list(found)


def banner(page: str, kind: str) -> str:
    """The text of the page's ``kind`` billing banner ("" when there is none)."""
    marker = f'data-kind="{kind}">'
    if marker not in page:
        return ""
    return page.split(marker, 1)[1].split("</p>", 1)[0]


async def test_past_due_then_grace_then_read_only_then_paid_again_on(
    db: Database,
    registry: ModuleRegistry,
    settings: Settings,
    make_tenant,
    world: World,
    wired: StripeHarness,
    browse,
) -> None:
    acme, beta = await make_tenant("acme"), await make_tenant("beta")
    admin = await person(db, acme, "ada@example.com", roles.ADMIN)
    member = await person(db, acme, "max@example.com", roles.MEMBER)
    owner = await browse(await the_test_owner(db))
    price = await world.price("sample")
    customer = await world.customer(acme)
    subscription = await world.subscribe(customer, price)
    assert await delivered(wired, "customer.subscription.created") == [200]
    assert (await levels(db, acme))["sample"] == "on"

    invoice = await fail_payment(world, customer, subscription)
    assert await delivered(wired, "invoice.payment_failed") == [200]
    acct = await account(db, acme)
    assert acct is not None
    assert acct.status == "past_due"
    assert acct.payment_failed_at is not None
    assert acct.past_due_since is not None
    grace_end = acct.past_due_since + timedelta(days=GRACE)

    # In its grace: on, writable, and the owners and admins are told.
    assert (await levels(db, acme))["sample"] == "on"
    made = await owner.post(NOTES, json={"title": "In grace", "body": "", "tags": []})
    assert made.status_code == 201, made.text
    for reader in (owner, await browse(admin)):
        page = (await reader.get("/t/acme/parties", headers=HTML)).text
        failed = banner(page, "payment_failed")
        assert "Payment failed: update your card." in failed
        assert f'href="{portal_path("acme")}"' in failed
        assert "Payment for Sample failed: update your card by " in banner(page, "past_due")
    page = (await (await browse(member)).get("/t/acme/parties", headers=HTML)).text
    assert banner(page, "payment_failed") == ""
    assert banner(page, "past_due") == ""
    page = (await owner.get("/t/beta/parties", headers=HTML)).text
    assert banner(page, "payment_failed") == ""  # beta's own billing is fine

    (mailed,) = await sent(db, "Payment for Acme failed")  # the owner; not the admin
    assert mailed.recipient == TEST_OWNER_EMAIL
    assert f"{settings.base_url}/t/acme/billing/portal" in (mailed.body_text or "")
    with use_locale("en"):
        assert when(grace_end) in (mailed.body_text or "")

    # The grace ends: a refresh at that moment (as the reconciliation job makes) makes it
    # read-only; reads answer, writes are refused, the data is kept.
    async with db.tenant_transaction(acme.tenant_id) as session:
        ctx = await tenant_context(session, acme.tenant_id)
        await state.refresh(
            session, registry, ctx, world.provider, subscription, grace_days=GRACE, now=grace_end
        )
    assert (await levels(db, acme))["sample"] == "read_only"
    refused = await owner.post(NOTES, json={"title": "Too late", "body": "", "tags": []})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "module_read_only"
    assert [n["title"] for n in (await owner.get(NOTES)).json()] == ["In grace"]

    # Paid again: invoice.payment_succeeded (localstripe's name for invoice.paid) → on.
    await pay_again(world, customer, invoice)
    assert await delivered(wired, "invoice.payment_succeeded", count=2) == [200, 200]
    assert (await levels(db, acme))["sample"] == "on"
    acct = await account(db, acme)
    assert acct is not None
    assert (acct.status, acct.payment_failed_at, acct.past_due_since) == ("active", None, None)
    made = await owner.post(NOTES, json={"title": "Paid", "body": "", "tags": []})
    assert made.status_code == 201, made.text
    page = (await owner.get("/t/acme/parties", headers=HTML)).text
    assert banner(page, "payment_failed") == ""
    assert banner(page, "past_due") == ""
    assert banner(page, "read_only") == ""
    assert await account(db, beta) is None


async def test_a_failed_payment_mails_the_owners_once_per_invoice_in_their_language(
    db: Database,
    settings: Settings,
    make_tenant,
    world: World,
    captured: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    acme = await make_tenant("acme")
    await person(db, acme, "li@example.com", roles.OWNER, locale="zh-CN")
    await person(db, acme, "ada@example.com", roles.ADMIN)
    price = await world.price("sample")
    customer = await world.customer(acme)
    subscription = await world.subscribe(customer, price)
    assert (
        await post_event(http, await caught(captured, "customer.subscription.created"))
    ).is_success
    invoice = await fail_payment(world, customer, subscription)
    failure = await caught(captured, "invoice.payment_failed")

    first = await post_event(http, failure)
    assert first.json() == {"received": True, "outcome": "handled"}
    assert (await post_event(http, failure)).json() == {"received": True, "duplicate": True}
    # Stripe's next attempt at the same invoice is a new event: handled, not mailed again.
    retry = with_id(failure, f"evt_retry_{uuid.uuid4().hex[:8]}")
    assert (await post_event(http, retry)).json() == {"received": True, "outcome": "handled"}
    (retry_row,) = await stored_of(db, retry)
    assert (retry_row.detail["about"], retry_row.detail["mailed"]) == (invoice, 0)

    with use_locale("zh-CN"):
        in_chinese_subject = gettext(FAILED_SUBJECT).format(workspace="Acme")
    mailed = await sent(db, "Payment for Acme failed", in_chinese_subject)
    assert [m.recipient for m in mailed] == ["li@example.com", TEST_OWNER_EMAIL]
    acct = await account(db, acme)
    assert acct is not None
    assert acct.past_due_since is not None
    grace_end = acct.past_due_since + timedelta(days=GRACE)
    with use_locale("zh-CN"):
        in_chinese = when(grace_end)
    with use_locale("en"):
        in_english = when(grace_end)
    assert in_chinese != in_english
    chinese, english = (m.body_text or "" for m in mailed)
    assert in_chinese in chinese
    assert in_english in english
    assert in_english not in chinese
    for body in (chinese, english):
        assert f"{settings.base_url}/t/acme/billing/portal" in body

    # Paid: the success clears the dunning; the failure arriving after it changes nothing.
    await pay_again(world, customer, invoice)
    paid = await caught(captured, "invoice.payment_succeeded", 1)
    assert (await post_event(http, paid)).json()["outcome"] == "handled"
    acct = await account(db, acme)
    assert acct is not None
    assert (acct.status, acct.payment_failed_at) == ("active", None)
    late = with_id(failure, f"evt_late_{uuid.uuid4().hex[:8]}")
    assert (await post_event(http, late)).json()["outcome"] == "handled"
    (late_row,) = await stored_of(db, late)
    assert late_row.detail["stale"] is True
    acct = await account(db, acme)
    assert acct is not None
    assert acct.payment_failed_at is None
    assert len(await sent(db, "Payment for Acme failed", in_chinese_subject)) == 2


async def test_the_bank_asking_to_confirm_shows_its_link_until_paid(
    db: Database,
    make_tenant,
    world: World,
    captured: WebhookReceiver,
    http: httpx.AsyncClient,
    browse,
) -> None:
    acme = await make_tenant("acme")
    owner = await browse(await the_test_owner(db))
    price = await world.price("sample")
    customer = await world.customer(acme)
    subscription = await world.subscribe(customer, price)
    await post_event(http, await caught(captured, "customer.subscription.created"))
    invoice = await fail_payment(world, customer, subscription)
    failure = json.loads(await caught(captured, "invoice.payment_failed"))

    # localstripe sends no invoice.payment_action_required: made as Stripe sends it, for
    # the same invoice, with its hosted page, and signed.
    def asking(event_id: str, hosted: str) -> bytes:
        event = {**failure, "id": event_id, "type": "invoice.payment_action_required"}
        event["data"] = {"object": {**failure["data"]["object"], "hosted_invoice_url": hosted}}
        return json.dumps(event).encode()

    hosted = f"https://invoice.stripe.test/i/{invoice}"
    ask = asking("evt_ask_1", hosted)
    assert (await post_event(http, ask)).json() == {"received": True, "outcome": "handled"}
    assert (await post_event(http, asking("evt_ask_2", hosted))).json()["outcome"] == "handled"
    acct = await account(db, acme)
    assert acct is not None
    assert acct.payment_action_url == hosted
    page = (await owner.get("/t/acme/parties", headers=HTML)).text
    confirm = banner(page, "payment_action")
    assert "Your bank asks you to confirm the payment." in confirm
    assert f'href="{hosted}"' in confirm
    (mailed,) = await sent(db, "Your bank asks you to confirm the payment for Acme")
    assert hosted in (mailed.body_text or "")

    # A link that is not a web page is never put in the banner.
    hostile = asking("evt_ask_3", "javascript:alert(1)")
    assert (await post_event(http, hostile)).json()["outcome"] == "handled"
    acct = await account(db, acme)
    assert acct is not None
    assert acct.payment_action_url == hosted

    await pay_again(world, customer, invoice)
    paid = await caught(captured, "invoice.payment_succeeded", 1)
    assert (await post_event(http, paid)).json()["outcome"] == "handled"
    acct = await account(db, acme)
    assert acct is not None
    assert (acct.payment_action_url, acct.payment_failed_at) == (None, None)
    page = (await owner.get("/t/acme/parties", headers=HTML)).text
    assert banner(page, "payment_action") == ""
    assert banner(page, "payment_failed") == ""


async def test_a_stripe_trials_end_is_mailed_to_the_owners_once(
    db: Database, make_tenant, world: World, captured: WebhookReceiver, http: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme")
    price = await world.price("sample")
    customer = await world.customer(acme)
    subscription = await world.subscribe(customer, price, trial_period_days=14)
    created = await caught(captured, "customer.subscription.created")
    assert (await post_event(http, created)).json()["outcome"] == "handled"
    assert (await levels(db, acme))["sample"] == "on"

    # localstripe sends no trial_will_end: made as Stripe sends it (twice: two event ids).
    def ending(event_id: str) -> bytes:
        event = {**json.loads(created), "id": event_id}
        event["type"] = "customer.subscription.trial_will_end"
        return json.dumps(event).encode()

    for event_id in ("evt_trial_1", "evt_trial_2", "evt_trial_1"):
        answer = await post_event(http, ending(event_id))
        assert answer.status_code == 200, answer.text
    current = await world.client.v1.subscriptions.retrieve_async(subscription)
    assert current.status == "trialing"
    (mailed,) = await sent(db, "The free trial of Acme's subscription ends on ")
    assert mailed.recipient == TEST_OWNER_EMAIL
    with use_locale("en"):
        assert when(state.moment(current.trial_end)) in mailed.subject  # type: ignore[arg-type]
    assert "/t/acme/billing" in (mailed.body_text or "")
    (second,) = await stored_of(db, ending("evt_trial_2"))
    assert second.detail["mailed"] == 0
