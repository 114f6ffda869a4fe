"""Read-only and past-due modules over real HTTP: a read-only CRM's pages and API read as
usual and refuse every write with the way to pay (nothing written), core stays writable,
the billing banners (past due to owners and admins only), and off as disabling was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from billing.entitlements import Access, Level, apply
from core import roles
from core.context import TenantContext
from core.db import Database
from core.models import User
from core.parties.models import Party
from core.plugins.registry import ModuleRegistry
from modules.crm.models import Customer
from tests.conftest import Browser
from tests.web.test_parties_api import HTML, join, the_test_owner
from tests.web.test_recovery_pages import csrf

REFUSAL = (
    "CRM is read-only until its subscription is paid: your data is kept. "
    "An owner or admin can pay in Apps."
)


async def _set(db: Database, registry: ModuleRegistry, tenant: TenantContext, access: Access):
    async with db.tenant_transaction(tenant.tenant_id) as session:
        return await apply(session, registry, tenant, "crm", access)


async def _counts(db: Database, tenant: TenantContext) -> tuple[int, int]:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        customers = await session.scalar(select(func.count()).select_from(Customer))
        parties = await session.scalar(select(func.count()).select_from(Party))
    return customers, parties


async def _person(db: Database, tenant: TenantContext, email: str, role: str) -> User:
    async with db.global_transaction() as session:
        user = User(email=email, display_name=email.split("@")[0].title())
        session.add(user)
    await join(db, tenant, user, role)
    return user


async def test_a_read_only_module_reads_and_refuses_every_write(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    acme = await make_tenant("acme", "crm")
    owner = await browser(await the_test_owner(db))
    made = await owner.post("/api/t/acme/crm/customers", json={"name": "Shenzhen Drones"})
    assert made.status_code == 201, made.text
    await _set(db, registry, acme, Access(Level.READ_ONLY, "paid"))
    before = await _counts(db, acme)

    listed = await owner.get("/t/acme/crm/customers", headers=HTML)
    assert listed.status_code == 200, listed.text
    assert "Shenzhen Drones" in listed.text
    assert "CRM is read-only until its subscription is paid: your data is kept." in listed.text
    api_list = await owner.get("/api/t/acme/crm/customers")
    assert api_list.status_code == 200
    assert [c["name"] for c in api_list.json()["items"]] == ["Shenzhen Drones"]

    form = await owner.get("/t/acme/crm/customers/new", headers=HTML)
    assert form.status_code == 200
    posted = await owner.post(
        "/t/acme/crm/customers/new",
        data={"_csrf_token": csrf(form), "kind": "company", "name": "Toy Town"},
        headers=HTML,
    )
    assert posted.status_code == 403
    assert "text/html" in posted.headers["content-type"]
    assert REFUSAL in posted.text

    api_post = await owner.post("/api/t/acme/crm/customers", json={"name": "Toy Town"})
    assert api_post.status_code == 403
    error = api_post.json()["error"]
    assert (error["code"], error["message"], error["module"]) == (
        "module_read_only",
        REFUSAL,
        "crm",
    )
    assert await _counts(db, acme) == before

    # Core's own routes stay writable.
    party = await owner.post("/api/t/acme/parties", json={"kind": "company", "name": "Core Co"})
    assert party.status_code == 201, party.text
    assert await _counts(db, acme) == (before[0], before[1] + 1)


async def test_a_trial_ended_unpaid_is_read_only_too(
    db: Database, make_tenant, registry: ModuleRegistry, client: httpx.AsyncClient
) -> None:
    acme = await make_tenant("acme", "crm")
    ended = datetime.now(UTC) - timedelta(seconds=1)
    await _set(db, registry, acme, Access(Level.ON, "trial", read_only_from=ended))
    refused = await client.post("/api/t/acme/crm/customers", json={"name": "Toy Town"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "module_read_only"
    assert (await client.get("/api/t/acme/crm/customers")).status_code == 200


async def test_past_due_shows_admins_a_banner_with_the_date_and_members_none(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    acme = await make_tenant("acme", "crm")
    grace_end = datetime.now(UTC) + timedelta(days=5)
    await _set(db, registry, acme, Access(Level.ON, "paid", read_only_from=grace_end))
    admin = await browser(await _person(db, acme, "ada@example.com", roles.ADMIN))
    member = await browser(await _person(db, acme, "max@example.com", roles.MEMBER))

    page = await admin.get("/t/acme/parties", headers=HTML)
    assert page.status_code == 200
    banner = page.text.split('id="billing-past_due-1"', 1)[1].split("</p>", 1)[0]
    assert "Payment for CRM failed: update your card by " in banner
    assert str(grace_end.year) in banner
    assert 'href="/t/acme/apps"' in banner
    # Still fully on: writes go through.
    made = await admin.post("/api/t/acme/crm/customers", json={"name": "Still On"})
    assert made.status_code == 201, made.text

    seen = await member.get("/t/acme/parties", headers=HTML)
    assert seen.status_code == 200
    assert "billing-past_due" not in seen.text
    assert "Payment for CRM failed" not in seen.text


async def test_read_only_is_said_to_everyone_and_the_apps_link_to_admins(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    acme = await make_tenant("acme", "crm")
    await _set(db, registry, acme, Access(Level.READ_ONLY, "paid"))
    member = await browser(await _person(db, acme, "max@example.com", roles.MEMBER))
    owner = await browser(await the_test_owner(db))

    seen = await member.get("/t/acme/parties", headers=HTML)
    banner = seen.text.split('id="billing-read_only-1"', 1)[1].split("</p>", 1)[0]
    assert "CRM is read-only until its subscription is paid: your data is kept." in banner
    assert "/apps" not in banner
    owners = await owner.get("/t/acme/parties", headers=HTML)
    assert 'href="/t/acme/apps"' in owners.text.split('id="billing-read_only-1"', 1)[1]
    store = await owner.get("/t/acme/apps", headers=HTML)
    status = store.text.split('id="app-crm-status">', 1)[1].split("</dd>", 1)[0]
    assert "Read-only until paid" in status


async def test_off_answers_module_disabled_and_keeps_the_data(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    acme = await make_tenant("acme", "crm")
    owner = await browser(await the_test_owner(db))
    made = await owner.post("/api/t/acme/crm/customers", json={"name": "Kept Co"})
    assert made.status_code == 201, made.text
    await _set(db, registry, acme, Access(Level.OFF, "paid"))

    closed = await owner.get("/api/t/acme/crm/customers")
    assert closed.status_code == 403
    assert closed.json()["error"]["code"] == "module_disabled"
    assert (await _counts(db, acme))[0] == 1

    await _set(db, registry, acme, Access(Level.ON, "paid"))
    back = await owner.get("/api/t/acme/crm/customers")
    assert [c["name"] for c in back.json()["items"]] == ["Kept Co"]
