"""Billing's trials: once per workspace and module, ever (the unique key decides between two
owners at once); the refusals; the module on until the end and its dependencies along; the
app store's button and days left over HTTP; the daily job with fixed times (the owners
mailed three days before the end, once, each in their language; the end made read-only,
a paid module left alone); the expiry by the job itself over HTTP (reads 200, writes
403); and two workspaces."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select, text

from billing import catalogue, trials
from billing.entitlements import Access, Level, apply
from billing.models import BillingTrial
from core import mail, roles
from core.context import TenantContext
from core.db import Database
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.jobs import CORE_JOBS
from core.mail import MailRecord
from core.models import AuditEntry, Membership, TenantModule, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.tenancy import tenant_context
from tenants import services
from tests.web.test_parties_api import HTML
from tests.web.test_recovery_pages import csrf

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)


async def _price(
    db: Database, registry: ModuleRegistry, module: str, days: int, interval: str = "month"
) -> None:
    async with db.global_transaction() as session:
        change = catalogue.PriceChange(module, interval, "USD", Decimal("99"), trial_days=days)
        await catalogue.set_price(session, registry, change, operator_id=None)


async def _member(
    db: Database,
    registry: ModuleRegistry,
    ctx: TenantContext,
    name: str,
    role: str = roles.OWNER,
    locale: str = "en",
) -> Actor:
    async with db.global_transaction() as session:
        email = f"{name.lower()}.{uuid.uuid4().hex[:6]}@trials.test"
        user = User(email=email, display_name=name, locale=locale)
        session.add(user)
    async with db.tenant_transaction(ctx.tenant_id) as session:
        membership = Membership(user_id=user.id, role=role)
        session.add(membership)
    granted = roles.rights(registry, role, [])
    return Actor(
        tenant_id=ctx.tenant_id,
        user_id=user.id,
        membership_id=membership.id,
        permissions=granted.permissions,
        scopes=granted.scopes,
    )


async def _start(
    db: Database,
    registry: ModuleRegistry,
    ctx: TenantContext,
    module: str,
    actor: Actor,
    now: datetime | None = None,
) -> BillingTrial:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return await trials.start(session, registry, ctx, module, actor, now=now)


async def _run(
    db: Database, registry: ModuleRegistry, ctx: TenantContext, now: datetime
) -> trials.TrialRun:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        done = await trials.run_due(
            session, registry, ctx, mail.DevMailbox(db), "https://atrium.example", now
        )
    await mail.drain()
    return done


async def _module(db: Database, ctx: TenantContext, key: str) -> TenantModule:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        row = await session.scalar(select(TenantModule).where(TenantModule.module_key == key))
        assert row is not None
        return row


async def _actions(db: Database, ctx: TenantContext, action: str) -> list[dict]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        query = select(AuditEntry.detail).where(AuditEntry.action == action)
        return list(await session.scalars(query.order_by(AuditEntry.id)))


async def _mails(db: Database) -> list[MailRecord]:
    async with db.global_transaction() as session:
        return list(await session.scalars(select(MailRecord).order_by(MailRecord.recipient)))


async def test_a_trial_switches_the_module_on_until_its_end_once_ever(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme")
    await _price(db, registry, "crm", 14)
    await _price(db, registry, "crm", 30, "year")  # the longest of the prices' trials
    owner = await _member(db, registry, acme, "Wei")
    trial = await _start(db, registry, acme, "crm", owner)

    assert trial.ends_at - trial.started_at == timedelta(days=30)
    row = await _module(db, acme, "crm")
    assert (row.enabled, row.source, row.access, row.until) == (True, "trial", "full", None)
    assert row.read_only_from == trial.ends_at
    async with db.tenant_transaction(acme.tenant_id) as session:
        ctx = await tenant_context(session, acme.tenant_id)
        assert "crm" in ctx.enabled
        assert "crm" not in ctx.read_only
        assert await trials.views(session) == {"crm": trials.TrialView(0, 30)}
    [started] = await _actions(db, acme, trials.TRIAL_STARTED)
    assert (started["module"], started["enabled"], started["days"]) == ("crm", ["crm"], 30)

    with pytest.raises(Conflict) as again:
        await _start(db, registry, acme, "crm", owner)
    assert "already tried" in again.value.message
    # Switched off and back: still tried, ever.
    async with db.tenant_transaction(acme.tenant_id) as session:
        await services.disable_module(session, registry, acme, "crm")
    with pytest.raises(Conflict) as after_off:
        await _start(db, registry, acme, "crm", owner)
    assert "already tried" in after_off.value.message
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(BillingTrial)) == 1


async def test_what_cannot_be_tried(db: Database, make_tenant, registry: ModuleRegistry) -> None:
    acme = await make_tenant("acme", "sample")
    owner = await _member(db, registry, acme, "Wei")
    with pytest.raises(ValidationFailed) as unpriced:
        await _start(db, registry, acme, "crm", owner)
    assert unpriced.value.message == "{module} has no free trial."
    await _price(db, registry, "crm", 0)
    with pytest.raises(ValidationFailed):
        await _start(db, registry, acme, "crm", owner)
    await _price(db, registry, "sample", 14)
    with pytest.raises(Conflict) as enabled:  # already on (development mode here)
        await _start(db, registry, acme, "sample", owner)
    assert enabled.value.message == "{module} is already enabled."
    with pytest.raises(NotFound):
        await _start(db, registry, acme, "ghost", owner)
    await _price(db, registry, "crm", 14)
    admin = await _member(db, registry, acme, "Ada", roles.ADMIN)
    with pytest.raises(PermissionDenied):
        await _start(db, registry, acme, "crm", admin)
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(BillingTrial)) == 0
        assert "crm" not in (await tenant_context(session, acme.tenant_id)).enabled


async def test_two_owners_starting_the_same_trial_at_once_make_one_trial(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme")
    await _price(db, registry, "crm", 14)
    wei, li = await _member(db, registry, acme, "Wei"), await _member(db, registry, acme, "Li")
    outcomes = await asyncio.gather(
        _start(db, registry, acme, "crm", wei),
        _start(db, registry, acme, "crm", li),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["BillingTrial", "Conflict"]
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(func.count()).select_from(BillingTrial)) == 1
    assert len(await _actions(db, acme, trials.TRIAL_STARTED)) == 1


async def test_the_modules_it_needs_come_along_and_end_with_it(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme")
    await _price(db, registry, "sampleaddon", 7)
    owner = await _member(db, registry, acme, "Wei")
    trial = await _start(db, registry, acme, "sampleaddon", owner, now=NOW)
    for key in ("sample", "sampleaddon"):
        row = await _module(db, acme, key)
        assert (row.source, row.read_only_from) == ("trial", trial.ends_at)

    done = await _run(db, registry, acme, trial.ends_at)
    assert done.ended == ["sampleaddon"]
    for key in ("sample", "sampleaddon"):
        row = await _module(db, acme, key)
        assert (row.enabled, row.access, row.read_only_from) == (True, "read_only", None)
    [ended] = await _actions(db, acme, trials.TRIAL_ENDED)
    assert sorted(ended["read_only"]) == ["sample", "sampleaddon"]


async def test_the_job_mails_the_owners_three_days_before_the_end_once(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme")
    await _price(db, registry, "crm", 14)
    wei = await _member(db, registry, acme, "Wei")
    li = await _member(db, registry, acme, "Li", locale="zh-CN")
    await _member(db, registry, acme, "Ada", roles.ADMIN)  # not an owner: not mailed
    trial = await _start(db, registry, acme, "crm", wei, now=NOW)

    assert await _run(db, registry, acme, trial.ends_at - WARN_EARLY) == trials.TrialRun()
    assert await _mails(db) == []
    warned_at = trial.ends_at - trials.WARN_BEFORE + timedelta(hours=1)
    assert (await _run(db, registry, acme, warned_at)).warned == ["crm"]
    mails = {m.recipient: m for m in await _mails(db)}
    async with db.global_transaction() as session:
        owner_emails = set(
            await session.scalars(select(User.email).where(User.id.in_([wei.user_id, li.user_id])))
        )
    assert owner_emails <= set(mails)
    assert not any(address.startswith("ada.") for address in mails)
    english = next(m for address, m in mails.items() if address.startswith("wei."))
    assert english.subject.startswith("Your free trial of CRM ends on ")
    assert english.body_text is not None
    assert "Hello Wei," in english.body_text
    assert "https://atrium.example/t/acme/apps" in english.body_text
    assert "Dec 15, 2026" in english.body_text
    chinese = next(m for address, m in mails.items() if address.startswith("li."))
    assert "2026年12月15日" in chinese.subject  # her language's date

    sent = len(mails)
    assert (await _run(db, registry, acme, warned_at + DAY)).warned == []
    assert len(await _mails(db)) == sent
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.scalar(select(BillingTrial))
        assert row is not None
        assert row.warned_at == warned_at


WARN_EARLY = timedelta(days=4)


async def test_a_trial_paid_for_is_neither_warned_about_nor_made_read_only(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme = await make_tenant("acme")
    await _price(db, registry, "crm", 14)
    owner = await _member(db, registry, acme, "Wei")
    trial = await _start(db, registry, acme, "crm", owner, now=NOW)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await apply(session, registry, acme, "crm", Access(Level.ON, "paid"))

    assert (await _run(db, registry, acme, trial.ends_at - DAY)).warned == []
    done = await _run(db, registry, acme, trial.ends_at + DAY)
    assert done.ended == ["crm"]
    row = await _module(db, acme, "crm")
    assert (row.source, row.access, row.read_only_from) == ("paid", "full", None)
    [ended] = await _actions(db, acme, trials.TRIAL_ENDED)
    assert ended["read_only"] == []
    assert await _mails(db) == []
    assert (await _run(db, registry, acme, trial.ends_at + 2 * DAY)).ended == []  # noted once


async def test_the_store_offers_the_trial_and_counts_the_days_left(
    db: Database, make_tenant, registry: ModuleRegistry, client: httpx.AsyncClient
) -> None:
    await make_tenant("acme")
    await _price(db, registry, "crm", 14)
    store = await client.get("/t/acme/apps", headers=HTML)
    assert store.status_code == 200
    assert 'id="trial-crm"' in store.text
    assert "Try free for 14 days" in store.text
    assert 'id="trial-sample"' not in store.text  # no price, no trial

    started = await client.post(
        "/t/acme/apps/crm/trial", data={"_csrf_token": csrf(store)}, headers=HTML
    )
    assert started.status_code == 303, started.text
    assert started.headers["location"] == "/t/acme/apps?done=trial&module=crm"
    store = await client.get(started.headers["location"], headers=HTML)
    assert "Your free trial of CRM has started. Nothing is charged." in store.text
    status = store.text.split('id="app-crm-status">', 1)[1].split("</dd>", 1)[0]
    assert "Trial: 14 days left" in status
    assert 'id="trial-crm"' not in store.text
    made = await client.post("/api/t/acme/crm/customers", json={"name": "Shenzhen Drones"})
    assert made.status_code == 201, made.text

    again = await client.post(
        "/t/acme/apps/crm/trial", data={"_csrf_token": csrf(store)}, headers=HTML
    )
    assert again.status_code == 409
    no_csrf = await client.post("/t/acme/apps/crm/trial", headers=HTML)
    assert no_csrf.status_code == 403


async def test_the_job_ends_a_trial_read_only_its_data_readable_and_writes_refused(
    db: Database,
    make_tenant,
    registry: ModuleRegistry,
    settings: Settings,
    client: httpx.AsyncClient,
) -> None:
    assert "billing_trials" in {job.key for job in CORE_JOBS}
    acme = await make_tenant("acme")
    await _price(db, registry, "crm", 14)
    owner = await _member(db, registry, acme, "Wei")
    began = datetime.now(UTC) - timedelta(days=13)
    await _start(db, registry, acme, "crm", owner, now=began)
    made = await client.post("/api/t/acme/crm/customers", json={"name": "Shenzhen Drones"})
    assert made.status_code == 201, made.text
    # The trial ends: move it back a day, as the clock would.
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            text(
                "UPDATE billing_trial SET started_at = started_at - interval '2 days',"
                " ends_at = ends_at - interval '2 days'"
            )
        )
        await session.execute(
            text(
                "UPDATE core_tenant_module SET read_only_from = read_only_from - interval '2 days'"
                " WHERE module_key = 'crm'"
            )
        )

    async with db.tenant_transaction(acme.tenant_id) as session:  # the worker's call
        ctx = await tenant_context(session, acme.tenant_id)
        await trials.trials_job(session, ctx)
    row = await _module(db, acme, "crm")
    assert (row.enabled, row.access) == (True, "read_only")
    [ended] = await _actions(db, acme, trials.TRIAL_ENDED)
    assert ended["read_only"] == ["crm"]

    listed = await client.get("/api/t/acme/crm/customers")
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["items"]] == ["Shenzhen Drones"]
    refused = await client.post("/api/t/acme/crm/customers", json={"name": "Toy Town"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "module_read_only"
    store = await client.get("/t/acme/apps", headers=HTML)
    status = store.text.split('id="app-crm-status">', 1)[1].split("</dd>", 1)[0]
    assert "Read-only until paid" in status
    assert 'id="trial-crm"' not in store.text  # tried: never offered again


async def test_two_workspaces_each_have_their_own_trials(
    db: Database, make_tenant, registry: ModuleRegistry
) -> None:
    acme, globex = await make_tenant("acme"), await make_tenant("globex")
    await _price(db, registry, "crm", 14)
    trial = await _start(db, registry, acme, "crm", await _member(db, registry, acme, "Wei"))
    async with db.tenant_transaction(globex.tenant_id) as session:
        seen = await session.scalar(text("SELECT count(*) FROM billing_trial"))
        assert seen == 0  # RLS: acme's trial is not globex's row
        assert await trials.views(session) == {"crm": trials.TrialView(14, None)}
        assert "crm" not in (await tenant_context(session, globex.tenant_id)).enabled
    theirs = await _start(db, registry, globex, "crm", await _member(db, registry, globex, "Bo"))
    assert theirs.tenant_id == globex.tenant_id

    assert (await _run(db, registry, globex, trial.ends_at + DAY)).ended == ["crm"]
    acme_row = await _module(db, acme, "crm")
    assert acme_row.access == "full"  # globex's job leaves acme's trial alone
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.scalar(select(BillingTrial))
        assert row is not None
        assert row.ended_at is None
