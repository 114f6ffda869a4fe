"""The operator console's billing over real HTTP, as an operator, with Stripe on the stand-in:
MRR exact in Decimal per currency (monthly plus yearly / 12, quantities; active and past due
counted, trials, ended items and canceled subscriptions not) and its change against the run
of 30 days ago; subscriptions by module; trials ending within 7 days and past-due
workspaces with their grace end; a workspace's subscription and invoices on its page; each
action (confirmation page, CSRF, audit in the workspace's log and the security log, Stripe's
state after): refund in part then in full (over the paid amount 422, a form sent twice
409), credit on the customer balance, cancel at period end then at once, extend an ended
trial (a module not on a trial 409); the manual provider's recorded payment; the operator
guard; two workspaces apart."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from billing import catalogue, console, console_actions, intents
from billing.entitlements import TRIAL, Access, Level, apply
from billing.models import (
    BillingAccount,
    BillingItem,
    BillingPrice,
    BillingReconcileRun,
    BillingRevenueSnapshot,
    BillingTrial,
)
from billing.provider import BillingProvider, provider_for
from core.context import TenantContext
from core.db import Database
from core.i18n import use_locale, when
from core.models import AuditEntry, SecurityEvent, TenantModule, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tenants import operator as ops
from tests.billing.conftest import Console
from tests.billing.stripe_settings import dead_address, with_stripe
from tests.billing.test_member_quantity import subscribe, synced_prices
from tests.pages import csrf, hidden
from tests.stripe_standin.fixtures import StripeHarness

HTML = {"accept": "text/html"}
GRACE = 7  # the test settings' grace days (Settings.billing_grace_days)
NOW = datetime.now(UTC)


@pytest.fixture
def stripe_settings(settings: Settings, stripe_standin: StripeHarness) -> Settings:
    return with_stripe(settings, stripe_standin.api_base)


@pytest.fixture
def provider(stripe_settings: Settings) -> BillingProvider:
    return provider_for(stripe_settings)


def _path(tenant_id: uuid.UUID, action: str | None = None) -> str:
    path = f"/operator/tenants/{tenant_id}/billing"
    return f"{path}/{action}" if action else path


async def _act(
    http: httpx.AsyncClient, tenant_id: uuid.UUID, action: str, **form: str
) -> httpx.Response:
    """Open the action's confirmation page, then send its form (with the attempt it shows)."""
    page = await http.get(_path(tenant_id, action), params={"module": form.get("module", "")})
    assert page.status_code == 200, page.text
    if 'name="attempt"' in page.text:
        form.setdefault("attempt", hidden(page.text, "attempt"))
    if 'name="invoice"' in page.text:
        form.setdefault("invoice", page.text.split('name="invoice" value="')[1].split('"')[0])
    return await http.post(_path(tenant_id, action), data={"_csrf_token": csrf(page.text), **form})


async def _entries(db: Database, ctx: TenantContext, action: str) -> list[AuditEntry]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(found)


async def _security(db: Database, action: str) -> list[SecurityEvent]:
    async with db.global_transaction() as session:
        found = await session.scalars(
            select(SecurityEvent).where(SecurityEvent.action == action).order_by(SecurityEvent.id)
        )
        return list(found)


def _row(page: str, marker: str) -> str:
    """The table row that carries ``marker`` in its opening tag."""
    return page.split(marker, 1)[1].split("</tr>", 1)[0]


def _last_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, UTC)


# --- the overview -------------------------------------------------------------------------------


async def _price(
    db: Database, registry: ModuleRegistry, module: str, interval: str, currency: str, amount: str
) -> BillingPrice:
    async with db.global_transaction() as session:
        change = catalogue.PriceChange(module, interval, currency, Decimal(amount))
        return await catalogue.set_price(session, registry, change, operator_id=None)


async def _bill(
    db: Database,
    ctx: TenantContext,
    status: str,
    *items: tuple[BillingPrice, int, datetime | None],
    past_due_since: datetime | None = None,
) -> None:
    """Atrium's copy of a subscription (what the webhooks and reconciliation keep)."""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        session.add(
            BillingAccount(
                stripe_customer_id=f"cus_{ctx.slug}",
                stripe_subscription_id=f"sub_{ctx.slug}",
                status=status,
                past_due_since=past_due_since,
            )
        )
        for price, quantity, ends_at in items:
            session.add(
                BillingItem(
                    module_key=price.module_key,
                    price_id=price.id,
                    quantity=quantity,
                    ends_at=ends_at,
                )
            )


async def _past_run(db: Database, days_ago: int, mrr: dict[str, str], finished: bool = True):
    async with db.global_transaction() as session:
        started = NOW - timedelta(days=days_ago)
        run = BillingReconcileRun(
            started_at=started, finished_at=started if finished else None, checked=1
        )
        session.add(run)
        await session.flush()
        session.add_all(
            BillingRevenueSnapshot(run_id=run.id, currency=c, mrr=Decimal(a), subscriptions=1)
            for c, a in mrr.items()
        )


async def test_mrr_is_exact_per_currency_and_module_with_its_change_against_30_days_ago(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    settings: Settings,
    make_tenant,
) -> None:
    per_member = await _price(db, registry, "sample", "month", "CNY", "99.00")
    yearly_addon = await _price(db, registry, "sampleaddon", "year", "CNY", "990.00")
    crm_month = await _price(db, registry, "crm", "month", "USD", "19.99")
    crm_year = await _price(db, registry, "crm", "year", "USD", "100.00")
    later, earlier = NOW + timedelta(days=10), NOW - timedelta(days=1)
    a, b, c, d, e, f = [await make_tenant(f"mrr-{x}") for x in "abcdef"]
    await _bill(db, a, "active", (per_member, 3, None), (yearly_addon, 1, None))  # 297 + 82.50
    since = NOW - timedelta(days=2)
    await _bill(db, b, "past_due", (per_member, 2, None), past_due_since=since)  # 198
    await _bill(db, c, "trialing", (per_member, 4, None))  # a trial pays nothing yet
    await _bill(db, d, "active", (crm_month, 1, None), (per_member, 1, earlier))  # 19.99
    await _bill(db, e, "active", (crm_year, 1, None), (yearly_addon, 1, later))  # 8.33.. + 82.50
    await _bill(db, f, "canceled", (per_member, 1, None))
    await _past_run(db, 40, {"CNY": "1.00"}, finished=False)  # never finished: not compared
    await _past_run(db, 31, {"CNY": "600.00"})
    await _past_run(db, 10, {"CNY": "650.00"})  # too recent to compare with

    view = await console.overview(db, registry, grace_days=GRACE)

    assert [(x.currency, x.mrr, x.subscriptions, x.before, x.change) for x in view.figures] == [
        ("CNY", Decimal("660.00"), 3, Decimal("600.00"), Decimal("60.00")),
        ("USD", Decimal("28.32"), 2, Decimal(0), Decimal("28.32")),
    ]
    assert view.compared_at is not None
    assert view.compared_at.date() == (NOW - timedelta(days=31)).date()
    assert [(m.module_key, m.currency, m.subscriptions, m.mrr) for m in view.modules] == [
        ("crm", "USD", 2, Decimal("28.32")),
        ("sample", "CNY", 2, Decimal("495.00")),
        ("sampleaddon", "CNY", 2, Decimal("165.00")),
    ]
    assert [(p.workspace.slug, p.since, p.grace_ends) for p in view.past_due] == [
        ("mrr-b", since, since + timedelta(days=GRACE))
    ]

    async with operator_console(with_stripe(settings, dead_address())) as http:
        page = await http.get("/operator/billing")
    assert page.status_code == 200, page.text
    assert 'href="/operator/billing"' in page.text  # the console's menu
    cny = _row(page.text, 'data-currency="CNY"')
    assert 'class="mrr" data-amount="660.00"' in cny
    assert 'class="mrr-change" data-amount="60.00"' in cny
    with use_locale("en"):
        assert f"Change since {when((NOW - timedelta(days=31)).date())}" in page.text
        assert when(since + timedelta(days=GRACE)) in _row(page.text, 'data-workspace="mrr-b"')
    assert 'data-amount="495.00"' in _row(page.text, 'data-module="sample" data-currency="CNY"')


async def test_trials_ending_within_7_days_are_listed(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    settings: Settings,
    ops_user: User,
    make_tenant,
) -> None:
    soon, other, far = [await make_tenant(s) for s in ("trial-soon", "trial-op", "trial-far")]
    for ctx, days in ((soon, 3), (far, 10)):
        async with db.tenant_transaction(ctx.tenant_id) as session:
            ends = NOW + timedelta(days=days)
            await apply(session, registry, ctx, "sample", Access(Level.ON, TRIAL, ends))
    op_end = NOW + timedelta(days=5)
    await ops.grant_trial(
        db, registry, other.tenant_id, "crm", until=op_end, operator_id=ops_user.id
    )

    view = await console.overview(db, registry, grace_days=GRACE)

    assert [(t.workspace.slug, t.module_key, t.then_read_only) for t in view.trials] == [
        ("trial-soon", "sample", True),
        ("trial-op", "crm", False),
    ]
    async with operator_console(with_stripe(settings, dead_address())) as http:
        page = await http.get("/operator/billing")
    assert "Read-only until paid" in _row(page.text, 'data-workspace="trial-soon"')
    assert "Off (the operator's trial)" in _row(page.text, 'data-workspace="trial-op"')
    assert 'data-workspace="trial-far"' not in page.text


# --- a workspace's billing and its actions -----------------------------------------------------


async def _refunds(stripe_standin: StripeHarness, customer: str) -> list[int]:
    """The invoice's refunds' amounts, smallest first (two made in one second have no
    order in localstripe's list)."""
    client = stripe_standin.client()
    [invoice] = client.v1.invoices.list(params={"customer": customer}).data
    [payment] = client.v1.invoice_payments.list(params={"invoice": invoice.id}).data
    refunds = client.v1.refunds.list(params={"payment_intent": payment.payment.payment_intent})
    return sorted(refund.amount for refund in refunds.data)


async def _account(db: Database, ctx: TenantContext) -> BillingAccount:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        account = await session.scalar(select(BillingAccount))
        assert account is not None
        return account


async def test_the_workspace_page_shows_its_subscription_and_invoices_and_refunds(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_settings: Settings,
    stripe_standin: StripeHarness,
    ops_user: User,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    acme, globex = await make_tenant("con-acme"), await make_tenant("con-globex")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, acme, prices)
    await subscribe(db, registry, provider, client, globex, prices)
    customer = (await _account(db, acme)).stripe_customer_id
    assert customer is not None
    [invoice] = client.v1.invoices.list(params={"customer": customer}).data
    assert invoice.amount_paid == 1000  # $10.00: one member of the per-member module

    async with operator_console(stripe_settings) as http:
        tenant_page = await http.get(f"/operator/tenants/{acme.tenant_id}")
        assert f'hx-get="{_path(acme.tenant_id)}"' in tenant_page.text
        partial = await http.get(_path(acme.tenant_id), headers={"hx-request": "true"})
        assert partial.status_code == 200
        assert "<html" not in partial.text
        assert 'id="billing-status" data-status="active"' in partial.text
        assert f'id="invoice-{invoice.id}" data-status="paid"' in partial.text
        items = partial.text.split('id="billing-items"')[1].split("</table>")[0]
        assert 'data-module="sample"' in items
        globex_page = await http.get(_path(globex.tenant_id))
        assert invoice.id not in globex_page.text  # each workspace its own invoices

        over = await _act(http, acme.tenant_id, "refund", amount="12.00")
        assert over.status_code == 422
        assert "Enter at most 10.00." in over.text
        assert await _refunds(stripe_standin, customer) == []

        part = await _act(http, acme.tenant_id, "refund", amount="4.00")
        assert part.status_code == 303, part.text
        assert part.headers["location"] == f"{_path(acme.tenant_id)}?done=refunded"
        assert await _refunds(stripe_standin, customer) == [400]
        # the same form sent again (a double click): refused, not refunded twice
        page = await http.get(_path(acme.tenant_id, "refund"))
        assert hidden(page.text, "attempt") == "2"
        again = await http.post(
            _path(acme.tenant_id, "refund"),
            data={
                "_csrf_token": csrf(page.text),
                "invoice": invoice.id,
                "amount": "4.00",
                "attempt": "1",
            },
        )
        assert again.status_code == 409
        assert await _refunds(stripe_standin, customer) == [400]
        no_csrf = await http.post(
            _path(acme.tenant_id, "refund"), data={"invoice": invoice.id, "attempt": "2"}
        )
        assert no_csrf.status_code == 403
        # another workspace's invoice is not this one's to refund
        foreign = await _act(http, globex.tenant_id, "refund", invoice=invoice.id, amount="1")
        assert foreign.status_code == 404

        rest = await _act(http, acme.tenant_id, "refund")  # blank: all that is left
        assert rest.status_code == 303, rest.text
        assert await _refunds(stripe_standin, customer) == [400, 600]
        done = await http.get(_path(acme.tenant_id, "refund"))
        assert done.status_code == 409
        assert "refunded in full already" in done.text

    entries = await _entries(db, acme, console_actions.REFUNDED)
    assert [(e.actor_id, e.detail["amount"], e.detail["full"]) for e in entries] == [
        (ops_user.id, "4.00", False),
        (ops_user.id, "6.00", True),
    ]
    logged = await _security(db, console_actions.REFUNDED)
    assert [(s.user_id, s.detail["tenant_id"], s.detail["invoice"]) for s in logged] == [
        (ops_user.id, str(acme.tenant_id), invoice.id)
    ] * 2
    key = intents.key(acme.tenant_id, console_actions.refund_intent(invoice.id), 1)
    assert ("/v1/refunds", key, False) in stripe_standin.standin.idempotency_log
    assert await _entries(db, globex, console_actions.REFUNDED) == []


async def test_a_credit_goes_to_the_customer_balance_at_stripe(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_settings: Settings,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    ctx = await make_tenant("con-credit")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, ctx, prices)
    customer = (await _account(db, ctx)).stripe_customer_id
    assert customer is not None

    async with operator_console(stripe_settings) as http:
        blank = await _act(http, ctx.tenant_id, "credit", amount="25.50", description=" ")
        assert blank.status_code == 422
        assert "Say what the credit is for" in blank.text
        made = await _act(
            http, ctx.tenant_id, "credit", amount="25.50", description="Sorry for the outage"
        )
        assert made.status_code == 303, made.text

    [credit] = client.v1.customers.balance_transactions.list(customer).data
    assert (credit.amount, credit.currency, credit.description, credit.ending_balance) == (
        -2550,
        "usd",
        "Sorry for the outage",
        -2550,
    )
    [entry] = await _entries(db, ctx, console_actions.CREDITED)
    assert entry.detail == {
        "balance_transaction": credit.id,
        "amount": "25.50",
        "currency": "USD",
        "description": "Sorry for the outage",
    }
    assert len(await _security(db, console_actions.CREDITED)) == 1


async def test_cancel_at_the_period_end_then_at_once(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_settings: Settings,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    ctx = await make_tenant("con-cancel")
    prices = await synced_prices(db, registry, provider)
    subscription = await subscribe(db, registry, provider, client, ctx, prices)

    async with operator_console(stripe_settings) as http:
        later = await _act(http, ctx.tenant_id, "cancel", when="period_end")
        assert later.status_code == 303, later.text
        at_stripe = client.v1.subscriptions.retrieve(subscription)
        assert (at_stripe.status, at_stripe.cancel_at_period_end) == ("active", True)
        account = await _account(db, ctx)
        assert account.cancel_at_period_end
        async with db.tenant_transaction(ctx.tenant_id) as session:
            ends = {i.module_key: i.ends_at for i in await session.scalars(select(BillingItem))}
            on = {r.module_key: r.enabled for r in await session.scalars(select(TenantModule))}
        assert ends == dict.fromkeys(("sample", "sampleaddon"), account.current_period_end)
        assert on == {"sample": True, "sampleaddon": True}
        twice = await _act(http, ctx.tenant_id, "cancel", when="period_end")
        assert twice.status_code == 409

        now = await _act(http, ctx.tenant_id, "cancel", when="now")
        assert now.status_code == 303, now.text
        assert client.v1.subscriptions.retrieve(subscription).status == "canceled"
        assert (await _account(db, ctx)).status == "canceled"
        async with db.tenant_transaction(ctx.tenant_id) as session:
            on = {r.module_key: r.enabled for r in await session.scalars(select(TenantModule))}
        assert on == {"sample": False, "sampleaddon": False}
        page = await http.get(_path(ctx.tenant_id))
        assert 'id="cancel-link"' not in page.text

    entries = await _entries(db, ctx, console_actions.SUBSCRIPTION_CANCELED)
    assert [(e.detail["at_period_end"], e.detail["off"]) for e in entries] == [
        (True, []),
        (False, ["sampleaddon", "sample"]),
    ]
    assert len(await _security(db, console_actions.SUBSCRIPTION_CANCELED)) == 2


async def test_extend_an_ended_trial_and_refuse_a_module_not_on_one(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    settings: Settings,
    make_tenant,
) -> None:
    ctx, other = await make_tenant("con-trial"), await make_tenant("con-other")
    started, ended = NOW - timedelta(days=16), NOW - timedelta(days=2)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        session.add(
            BillingTrial(
                module_key="sampleaddon", started_at=started, ends_at=ended, ended_at=ended
            )
        )
        for key in ("sample", "sampleaddon"):  # as the daily job leaves an ended trial
            await apply(session, registry, ctx, key, Access(Level.READ_ONLY, TRIAL))
    new_day = (NOW + timedelta(days=20)).date()

    async with operator_console(with_stripe(settings, dead_address())) as http:
        page = await http.get(_path(ctx.tenant_id))
        assert f'{_path(ctx.tenant_id)}/extend?module=sampleaddon"' in page.text
        early = await _act(
            http, ctx.tenant_id, "extend", module="sampleaddon", until=ended.date().isoformat()
        )
        assert early.status_code == 422
        not_trial = await _act(
            http, ctx.tenant_id, "extend", module="crm", until=new_day.isoformat()
        )
        assert not_trial.status_code == 409
        assert "is not on a trial" in not_trial.text
        extended = await _act(
            http, ctx.tenant_id, "extend", module="sampleaddon", until=new_day.isoformat()
        )
        assert extended.status_code == 303, extended.text

    end = _last_day(new_day)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        trial = await session.scalar(select(BillingTrial))
        assert trial is not None
        assert (trial.ends_at, trial.ended_at, trial.warned_at) == (end, None, None)
        rows = {r.module_key: r for r in await session.scalars(select(TenantModule))}
    for key in ("sample", "sampleaddon"):
        assert (rows[key].enabled, rows[key].access, rows[key].read_only_from) == (
            True,
            "full",
            end,
        )
    [entry] = await _entries(db, ctx, console_actions.TRIAL_EXTENDED)
    assert (entry.detail["also"], entry.detail["until"]) == (["sample"], end.isoformat())
    assert len(await _security(db, console_actions.TRIAL_EXTENDED)) == 1
    async with db.tenant_transaction(other.tenant_id) as session:
        assert await session.scalar(select(BillingTrial)) is None


async def test_the_manual_provider_records_a_payment_and_stripe_refuses_it(
    operator_console: Console,
    db: Database,
    registry: ModuleRegistry,
    settings: Settings,
    ops_user: User,
    make_tenant,
) -> None:
    ctx = await make_tenant("con-manual")
    last_day = (NOW + timedelta(days=30)).date()
    form = {"module": "sampleaddon", "amount": "120", "currency": "cny"}

    async with operator_console(settings) as http:  # no STRIPE_SECRET_KEY: the manual provider
        page = await http.get(_path(ctx.tenant_id))
        assert "Stripe is not configured" in page.text
        overview = await http.get("/operator/billing")
        assert 'id="billing-manual"' in overview.text
        bad = await _act(http, ctx.tenant_id, "payment", **{**form, "amount": "0"}, until="x")
        assert bad.status_code == 422
        paid = await _act(http, ctx.tenant_id, "payment", **form, until=last_day.isoformat())
        assert paid.status_code == 303, paid.text
    async with operator_console(with_stripe(settings, dead_address())) as http:
        refused = await _act(http, ctx.tenant_id, "payment", **form, until=last_day.isoformat())
        assert refused.status_code == 409

    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = {r.module_key: r for r in await session.scalars(select(TenantModule))}
    for key in ("sample", "sampleaddon"):  # what it needs comes along
        assert (rows[key].enabled, rows[key].source, rows[key].until) == (
            True,
            "paid",
            _last_day(last_day),
        )
    [entry] = await _entries(db, ctx, console_actions.PAYMENT_RECORDED)
    assert (entry.actor_id, entry.detail["amount"], entry.detail["currency"]) == (
        ops_user.id,
        "120",
        "CNY",
    )
    assert entry.detail["also"] == ["sample"]
    assert len(await _security(db, console_actions.PAYMENT_RECORDED)) == 1


async def test_the_operator_guard_keeps_others_out(
    db: Database, make_tenant, anonymous_client: httpx.AsyncClient
) -> None:
    ctx = await make_tenant("con-guard")
    for path in ("/operator/billing", _path(ctx.tenant_id), _path(ctx.tenant_id, "refund")):
        answer = await anonymous_client.get(path, headers=HTML, follow_redirects=False)
        assert answer.status_code in (302, 303), path
        assert answer.headers["location"].startswith("/operator/sign-in")
    posted = await anonymous_client.post(
        _path(ctx.tenant_id, "payment"), data={"module": "crm"}, follow_redirects=False
    )
    assert posted.status_code in (302, 303, 403)
    assert await _entries(db, ctx, console_actions.PAYMENT_RECORDED) == []
