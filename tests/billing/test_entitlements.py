"""Entitlements: the pure derivation for every subscription state and its boundaries, and
``apply`` writing ``core_tenant_module`` (on, read-only, off with the data kept) per tenant, and
a read-only module's scheduled jobs waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from billing.entitlements import (
    DEFAULT_GRACE_DAYS,
    Access,
    Level,
    SubscriptionState,
    apply,
    derive,
)
from core.db import Database
from core.models import TenantModule
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.worker import Worker
from tests.core.test_events import drain, effects
from tests.sample_module.models import SampleNote

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "level", "source"),
    [
        ("active", Level.ON, "paid"),
        ("unpaid", Level.READ_ONLY, "paid"),
        ("paused", Level.READ_ONLY, "paid"),
        ("canceled", Level.OFF, "paid"),
        ("incomplete", Level.OFF, "paid"),
        ("incomplete_expired", Level.OFF, "paid"),
    ],
)
def test_each_plain_status_gives_its_access(status: str, level: Level, source: str) -> None:
    assert derive(SubscriptionState(status), NOW) == Access(level, source)


def test_a_trial_is_on_until_its_end_and_read_only_from_it() -> None:
    end = NOW + timedelta(days=3)
    trialing = SubscriptionState("trialing", trial_end=end)
    assert derive(trialing, NOW) == Access(Level.ON, "trial", read_only_from=end)
    assert derive(trialing, end - timedelta(microseconds=1)).level is Level.ON
    assert derive(trialing, end) == Access(Level.READ_ONLY, "trial")
    assert not derive(trialing, NOW).past_due


def test_past_due_is_on_with_the_banner_for_the_grace_days_then_read_only() -> None:
    since = NOW - timedelta(days=2)
    past_due = SubscriptionState("past_due", past_due_since=since)
    grace_end = since + timedelta(days=DEFAULT_GRACE_DAYS)
    on = derive(past_due, NOW)
    assert on == Access(Level.ON, "paid", read_only_from=grace_end)
    assert on.past_due
    assert derive(past_due, grace_end - timedelta(microseconds=1)).level is Level.ON
    # Exactly the grace days after it went past due: read-only.
    assert derive(past_due, grace_end) == Access(Level.READ_ONLY, "paid")
    # The operator's grace days, not the default.
    assert derive(past_due, NOW, grace_days=1) == Access(Level.READ_ONLY, "paid")
    assert derive(past_due, NOW, grace_days=30).read_only_from == since + timedelta(days=30)


def test_granted_wins_over_any_subscription_state() -> None:
    for status in ("active", "past_due", "unpaid", "canceled", "trialing", "none"):
        state = SubscriptionState(status, trial_end=NOW - timedelta(days=1), granted=True)
        assert derive(state, NOW) == Access(Level.ON, "granted")


def test_a_state_entitlements_cannot_read_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="past due"):
        derive(SubscriptionState("past_due"), NOW)
    with pytest.raises(ValueError, match="Unknown subscription status 'frozen'"):
        derive(SubscriptionState("frozen"), NOW)


def test_the_grace_days_are_an_operator_setting_defaulting_to_seven() -> None:
    assert Settings.from_env({}).billing_grace_days == 7
    assert Settings.from_env({"ATRIUM_BILLING_GRACE_DAYS": "14"}).billing_grace_days == 14


async def _rows(db: Database, tenant_id) -> dict[str, TenantModule]:
    async with db.tenant_transaction(tenant_id) as session:
        return {row.module_key: row for row in await session.scalars(select(TenantModule))}


async def test_apply_writes_the_row_and_each_tenant_keeps_its_own(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme")
    globex = await make_tenant("globex", "sample")
    grace_end = NOW + timedelta(days=5)

    async with db.tenant_transaction(acme.tenant_id) as session:
        after = await apply(
            session, registry, acme, "sample", Access(Level.ON, "paid", read_only_from=grace_end)
        )
    assert "sample" in after.enabled
    assert "sample" not in after.read_only  # the grace's end is ahead
    row = (await _rows(db, acme.tenant_id))["sample"]
    assert (row.enabled, row.source, row.access, row.read_only_from) == (
        True,
        "paid",
        "full",
        grace_end,
    )

    async with db.tenant_transaction(globex.tenant_id) as session:
        after = await apply(session, registry, globex, "sample", Access(Level.READ_ONLY, "paid"))
    assert "sample" in after.enabled
    assert "sample" in after.read_only
    theirs = (await _rows(db, globex.tenant_id))["sample"]
    assert (theirs.enabled, theirs.access, theirs.read_only_from) == (True, "read_only", None)
    # Acme's row is untouched by Globex's change.
    mine = (await _rows(db, acme.tenant_id))["sample"]
    assert (mine.access, mine.read_only_from) == ("full", grace_end)

    # Paid again: fully on, no date left behind.
    async with db.tenant_transaction(globex.tenant_id) as session:
        after = await apply(session, registry, globex, "sample", Access(Level.ON, "paid"))
    assert "sample" not in after.read_only
    theirs = (await _rows(db, globex.tenant_id))["sample"]
    assert (theirs.access, theirs.read_only_from) == ("full", None)


async def test_a_passed_read_only_date_makes_the_module_read_only_without_a_job(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme", "sample")
    ended = datetime.now(UTC) - timedelta(seconds=1)
    async with db.tenant_transaction(acme.tenant_id) as session:
        after = await apply(
            session, registry, acme, "sample", Access(Level.ON, "trial", read_only_from=ended)
        )
    assert "sample" in after.enabled
    assert "sample" in after.read_only


async def test_off_keeps_the_row_and_the_data_and_on_again_brings_it_back(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme", "sample")
    async with db.tenant_transaction(acme.tenant_id) as session:
        session.add(SampleNote(title="Kept"))
    async with db.tenant_transaction(acme.tenant_id) as session:
        await apply(session, registry, acme, "sample", Access(Level.READ_ONLY, "paid"))
    async with db.tenant_transaction(acme.tenant_id) as session:
        after = await apply(session, registry, acme, "sample", Access(Level.OFF, "paid"))
    assert "sample" not in after.enabled
    row = (await _rows(db, acme.tenant_id))["sample"]
    assert (row.enabled, row.access) == (False, "full")  # switched on later, it is writable
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(SampleNote)) == 1
        after = await apply(session, registry, acme, "sample", Access(Level.ON, "paid"))
    assert "sample" in after.enabled
    assert "sample" not in after.read_only


async def test_a_read_only_modules_jobs_wait_while_a_full_ones_run(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    paid = await make_tenant("paid", "sample")
    lapsed = await make_tenant("lapsed", "sample")
    async with db.tenant_transaction(lapsed.tenant_id) as session:
        await apply(session, registry, lapsed, "sample", Access(Level.READ_ONLY, "paid"))
    worker = Worker(db, registry, core_jobs=(), platform_jobs=())
    assert await worker.fire_due_jobs(datetime(2026, 3, 2, 8, 30, tzinfo=UTC)) == 2
    await drain(worker)
    assert [e.detail for e in await effects(db, paid.tenant_id, "digest")] == ["paid"]
    assert await effects(db, lapsed.tenant_id, "digest") == []
