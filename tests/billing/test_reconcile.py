"""Reconciliation against the Stripe stand-in over real HTTP: a paid module made read-only
by hand and a quantity changed by hand are put back as Stripe has them and listed for the
operator (and a second run finds nothing); an account pointing at a subscription Stripe
does not have is pointed at the one it has; paid modules with no subscription at Stripe at
all (no customer, or a customer without subscriptions) go off, their data kept; a
workspace whose Stripe fetch fails is recorded as a failed check, rolled back, and the
others are still repaired; the manual provider compares nothing; two workspaces apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from billing import console, reconcile
from billing.entitlements import PAID, Access, Level, apply
from billing.manual import ManualProvider
from billing.models import BillingAccount, BillingItem, BillingReconcileRun, BillingRepair
from billing.provider import BillingProvider, provider_for
from core.context import TenantContext
from core.db import Database
from core.jobs import PLATFORM_JOBS
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.tenancy import tenant_context
from tests.billing.stripe_settings import with_stripe
from tests.billing.test_member_quantity import subscribe, synced_prices
from tests.sample_module.models import SampleNote
from tests.stripe_standin.fixtures import StripeHarness

GRACE = 7


@pytest.fixture
def provider(settings: Settings, stripe_standin: StripeHarness) -> BillingProvider:
    return provider_for(with_stripe(settings, stripe_standin.api_base))


async def _modules(db: Database, ctx: TenantContext) -> dict[str, tuple[bool, str, str | None]]:
    """module → (enabled, access, source)"""
    async with db.tenant_transaction(ctx.tenant_id) as session:
        rows = await session.scalars(select(TenantModule))
        return {r.module_key: (r.enabled, r.access, r.source) for r in rows}


async def _items(db: Database, ctx: TenantContext) -> dict[str, int]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return {r.module_key: r.quantity for r in await session.scalars(select(BillingItem))}


async def _repairs(db: Database, run: BillingReconcileRun) -> list[tuple]:
    """(workspace, module, aspect, before, after, reason) of the run's repairs, in order."""
    async with db.global_transaction() as session:
        rows = await session.scalars(
            select(BillingRepair)
            .where(BillingRepair.run_id == run.id)
            .order_by(BillingRepair.created_at, BillingRepair.id)
        )
        return [(r.workspace_id, r.module_key, r.aspect, r.before, r.after, r.reason) for r in rows]


async def _run(db: Database, registry: ModuleRegistry, provider: BillingProvider):
    return await reconcile.run(db, registry, provider, grace_days=GRACE)


async def test_a_broken_entitlement_is_repaired_listed_and_a_second_run_finds_nothing(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    acme, globex = await make_tenant("rec-acme"), await make_tenant("rec-globex")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, acme, prices)
    await subscribe(db, registry, provider, client, globex, prices)
    healthy = await _modules(db, acme)
    assert healthy["sampleaddon"] == (True, "full", PAID)
    # Broken by hand: the paid add-on read-only, the per-member quantity wrong.
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            update(TenantModule)
            .where(TenantModule.module_key == "sampleaddon")
            .values(access="read_only")
        )
        await session.execute(
            update(BillingItem).where(BillingItem.module_key == "sample").values(quantity=5)
        )
    globex_before = (await _modules(db, globex), await _items(db, globex))

    run = await _run(db, registry, provider)

    assert await _modules(db, acme) == healthy
    assert await _items(db, acme) == {"sample": 1, "sampleaddon": 1}
    assert await _repairs(db, run) == [
        (acme.tenant_id, "sample", "item", "5", "1", "stripe_differs"),
        (acme.tenant_id, "sampleaddon", "access", "read_only", "on", "stripe_differs"),
    ]
    assert (run.checked, run.repaired, run.failed) == (2, 2, 0)
    assert run.finished_at is not None
    # the other workspace was compared and left as it was
    assert (await _modules(db, globex), await _items(db, globex)) == globex_before
    # the operator's page reads the same run
    view = await console.overview(db, registry, grace_days=GRACE)
    assert view.run is not None
    assert view.run.id == run.id
    assert [(r.workspace and r.workspace.slug, r.row.aspect) for r in view.repairs] == [
        ("rec-acme", "item"),
        ("rec-acme", "access"),
    ]

    again = await _run(db, registry, provider)
    assert await _repairs(db, again) == []
    assert (again.checked, again.repaired, again.failed) == (2, 0, 0)


async def test_an_account_pointing_at_a_subscription_stripe_lacks_is_repointed(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    ctx = await make_tenant("rec-pointer")
    prices = await synced_prices(db, registry, provider)
    real = await subscribe(db, registry, provider, client, ctx, prices)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await session.execute(update(BillingAccount).values(stripe_subscription_id="sub_gone"))

    run = await _run(db, registry, provider)

    assert await _repairs(db, run) == [
        (ctx.tenant_id, None, "subscription", "sub_gone", real, "subscription_missing"),
    ]
    async with db.tenant_transaction(ctx.tenant_id) as session:
        account = await session.scalar(select(BillingAccount))
        assert account is not None
        assert (account.stripe_subscription_id, account.status) == (real, "active")
    assert (await _modules(db, ctx))["sampleaddon"] == (True, "full", PAID)


async def test_paid_modules_with_no_subscription_at_stripe_go_off_with_their_data_kept(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    # No Stripe customer at all, yet "sample" on as paid, with a note in it.
    bare = await make_tenant("rec-bare")
    async with db.tenant_transaction(bare.tenant_id) as session:
        await apply(session, registry, bare, "sample", Access(Level.ON, PAID))
        session.add(SampleNote(title="Kept"))
    # A customer Stripe has, with no subscription, and an account pointing at one.
    lost = await make_tenant("rec-lost")
    customer = client.v1.customers.create(params={"email": "owner@rec-lost.test"})
    async with db.tenant_transaction(lost.tenant_id) as session:
        session.add(
            BillingAccount(
                stripe_customer_id=customer.id, stripe_subscription_id="sub_gone", status="active"
            )
        )
        await apply(session, registry, lost, "sample", Access(Level.ON, PAID))
    # An operator's recorded payment (paid until a date) is not Stripe's to judge.
    manual = await make_tenant("rec-manual")
    async with db.tenant_transaction(manual.tenant_id) as session:
        await apply(session, registry, manual, "sample", Access(Level.ON, PAID))
        await session.execute(update(TenantModule).values(until=datetime(2099, 1, 1, tzinfo=UTC)))

    run = await _run(db, registry, provider)

    assert await _repairs(db, run) == [
        (bare.tenant_id, "sample", "access", "on", "off", "no_subscription"),
        (lost.tenant_id, None, "subscription", "sub_gone", None, "subscription_missing"),
        (lost.tenant_id, None, "status", "active", None, "no_subscription"),
        (lost.tenant_id, "sample", "access", "on", "off", "no_subscription"),
    ]
    assert (await _modules(db, bare))["sample"][0] is False
    async with db.tenant_transaction(bare.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(SampleNote)) == 1
    async with db.tenant_transaction(lost.tenant_id) as session:
        account = await session.scalar(select(BillingAccount))
        assert account is not None
        assert (account.stripe_customer_id, account.stripe_subscription_id) == (customer.id, None)
    assert (await _modules(db, manual))["sample"] == (True, "full", PAID)
    assert (run.checked, run.repaired) == (2, 4)


async def test_a_workspace_whose_stripe_fetch_fails_does_not_stop_the_others(
    db: Database,
    registry: ModuleRegistry,
    provider: BillingProvider,
    stripe_standin: StripeHarness,
    make_tenant,
) -> None:
    client = stripe_standin.client()
    failing, fine = await make_tenant("rec-failing"), await make_tenant("rec-fine")
    prices = await synced_prices(db, registry, provider)
    await subscribe(db, registry, provider, client, failing, prices)
    await subscribe(db, registry, provider, client, fine, prices)
    for ctx in (failing, fine):  # the same drift in both
        async with db.tenant_transaction(ctx.tenant_id) as session:
            await session.execute(
                update(TenantModule)
                .where(TenantModule.module_key == "sampleaddon")
                .values(access="read_only")
            )
    # Stripe answers 404 for the first one's customer: its check fails.
    async with db.tenant_transaction(failing.tenant_id) as session:
        await session.execute(update(BillingAccount).values(stripe_customer_id="cus_nowhere"))

    run = await _run(db, registry, provider)

    assert (run.checked, run.repaired, run.failed) == (1, 1, 1)
    assert await _repairs(db, run) == [
        (failing.tenant_id, None, "check", None, None, "check_failed"),
        (fine.tenant_id, "sampleaddon", "access", "read_only", "on", "stripe_differs"),
    ]
    assert (await _modules(db, failing))["sampleaddon"][1] == "read_only"  # left as it was
    assert (await _modules(db, fine))["sampleaddon"][1] == "full"
    view = await console.overview(db, registry, grace_days=GRACE)
    [failure] = [r.failure for r in view.repairs if r.failure is not None]
    assert str(failure) == "The payment provider did not accept the change: Not Found"


async def test_the_manual_provider_compares_nothing_and_the_job_is_a_platform_job(
    db: Database, registry: ModuleRegistry, make_tenant
) -> None:
    ctx = await make_tenant("rec-dev")
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await apply(session, registry, ctx, "sample", Access(Level.ON, PAID))

    run = await reconcile.run(db, registry, ManualProvider(), grace_days=GRACE)

    assert (run.checked, run.repaired, run.failed) == (0, 0, 0)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        assert (await tenant_context(session, ctx.tenant_id)).enabled == {"sample"}
    job = next(job for job in PLATFORM_JOBS if job.key == reconcile.JOB_KEY)
    assert job.run is reconcile.reconcile_job
    # the job as the worker calls it: the installation's provider (here the manual one)
    run_id = await job.run(db, datetime.now(UTC))
    async with db.global_transaction() as session:
        assert (await session.get(BillingReconcileRun, run_id)) is not None
