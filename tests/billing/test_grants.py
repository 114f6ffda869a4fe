"""Complimentary modules over real HTTP, as an operator: a grant puts a module on for free
(its dependencies along, whatever it was: off, ended, on trial, read-only) with Stripe
unreachable, so nothing calls it; a revocation switches it off with its data kept; the
refusals say why and change nothing; another workspace is never touched."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from billing.entitlements import Access, Level, apply
from core.db import Database
from core.identity import sessions
from core.models import AuditEntry, Membership, Operator, TenantModule, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tenants import deletion
from tenants import operator as ops
from tests.billing.stripe_settings import dead_address, with_stripe
from tests.conftest import LiveServer
from tests.pages import csrf
from tests.sample_module.models import SampleNote
from tests.web.test_parties_api import the_test_owner
from web.auth import OPERATOR_COOKIE

HTML = {"accept": "text/html"}
NOTES = "/api/t/acme/sample/notes"


@pytest.fixture
async def live(
    settings: Settings, db: Database, registry: ModuleRegistry, tmp_path: Path
) -> AsyncIterator[str]:
    """The app with Stripe configured but unreachable: any Stripe call would fail."""
    from web.app import create_app

    app_settings = dataclasses.replace(with_stripe(settings, dead_address()), data_dir=tmp_path)
    async with LiveServer(create_app(app_settings, db=db, registry=registry)) as base_url:
        yield base_url


@pytest.fixture
async def ops_user(db: Database) -> User:
    async with db.global_transaction() as session:
        user = User(email="ops@atrium.test", display_name="Ops Olga")
        session.add(user)
        await session.flush()
        session.add(Operator(user_id=user.id))
        return user


@pytest.fixture
async def console(
    live: str, db: Database, settings: Settings, ops_user: User
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live, headers=HTML) as http:
        async with db.global_transaction() as session:
            token, _ = await sessions.start(session, settings, ops_user.id, area=sessions.OPERATOR)
        http.cookies.set(OPERATOR_COOKIE, token, domain="127.0.0.1")
        yield http


async def _act(
    http: httpx.AsyncClient, tenant_id: uuid.UUID, action: str, module: str
) -> httpx.Response:
    """Open the confirmation page from the module's link, then submit its form."""
    path = f"/operator/tenants/{tenant_id}/{action}"
    page = await http.get(path, params={"module": module})
    assert page.status_code == 200, page.text
    return await http.post(path, data={"_csrf_token": csrf(page.text), "module": module})


async def _modules(db: Database, tenant_id: uuid.UUID) -> dict[str, tuple]:
    """module -> (enabled, source, until, access)"""
    async with db.tenant_transaction(tenant_id) as session:
        rows = await session.scalars(select(TenantModule))
        return {r.module_key: (r.enabled, r.source, r.until, r.access) for r in rows}


async def _entries(db: Database, tenant_id: uuid.UUID) -> list[AuditEntry]:
    async with db.tenant_transaction(tenant_id) as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("operator.%")).order_by(AuditEntry.id)
        )
        return list(found)


async def _notes(db: Database, tenant_id: uuid.UUID) -> int:
    async with db.tenant_transaction(tenant_id) as session:
        return await session.scalar(select(func.count()).select_from(SampleNote))


async def test_a_grant_puts_the_module_on_for_free_and_a_revocation_keeps_its_data(
    console: httpx.AsyncClient, browser, db: Database, make_tenant, ops_user: User
) -> None:
    acme = await make_tenant("acme")
    globex = await make_tenant("globex")
    owner = await browser(await the_test_owner(db))
    assert (await owner.get(NOTES)).json()["error"]["code"] == "module_disabled"
    page = await console.get(f"/operator/tenants/{acme.tenant_id}")
    assert f'href="/operator/tenants/{acme.tenant_id}/grant?module=sampleaddon"' in page.text
    form = await console.get(f"/operator/tenants/{acme.tenant_id}/grant?module=sampleaddon")
    assert '<option value="sampleaddon" selected>' in form.text

    granted = await _act(console, acme.tenant_id, "grant", "sampleaddon")
    assert granted.status_code == 303, granted.text
    # the add-on and what it needs, on for good, with Stripe unreachable all along
    assert await _modules(db, acme.tenant_id) == {
        "sample": (True, "granted", None, "full"),
        "sampleaddon": (True, "granted", None, "full"),
    }
    made = await owner.post(NOTES, json={"title": "Kept", "body": "", "tags": []})
    assert made.status_code == 201, made.text
    assert (await owner.get("/t/acme/sample/", headers=HTML)).status_code == 200
    store = await owner.get("/t/acme/apps", headers=HTML)
    assert store.text.count("Enabled: granted by the operator") == 2
    [entry] = await _entries(db, acme.tenant_id)
    assert (entry.action, entry.actor_id, entry.subject_id) == (
        ops.MODULE_GRANTED,
        ops_user.id,
        acme.tenant_id,
    )
    assert entry.detail == {
        "module": "sampleaddon",
        "also": ["sample"],
        "previous_source": None,
        "previous_until": None,
    }
    page = await console.get(f"/operator/tenants/{acme.tenant_id}")
    assert 'data-module="sampleaddon" data-source="granted"' in page.text
    assert "Module granted free of charge by the operator" in page.text
    assert f"/operator/tenants/{acme.tenant_id}/revoke?module=sampleaddon" in page.text

    # what the add-on needs goes last: refused while the add-on is on
    refused = await _act(console, acme.tenant_id, "revoke", "sample")
    assert refused.status_code == 409
    assert "Revoke or disable Sample add-on first: they depend on Sample." in refused.text
    assert (await _act(console, acme.tenant_id, "revoke", "sampleaddon")).status_code == 303
    assert (await _act(console, acme.tenant_id, "revoke", "sample")).status_code == 303
    assert {k: v[0] for k, v in (await _modules(db, acme.tenant_id)).items()} == {
        "sample": False,
        "sampleaddon": False,
    }
    assert (await owner.get(NOTES)).json()["error"]["code"] == "module_disabled"
    assert await _notes(db, acme.tenant_id) == 1  # kept: a new grant shows it again
    assert (await _act(console, acme.tenant_id, "grant", "sample")).status_code == 303
    assert [n["title"] for n in (await owner.get(NOTES)).json()] == ["Kept"]

    entries = await _entries(db, acme.tenant_id)
    assert [(e.action, e.detail["module"]) for e in entries] == [
        (ops.MODULE_GRANTED, "sampleaddon"),
        (ops.MODULE_REVOKED, "sampleaddon"),
        (ops.MODULE_REVOKED, "sample"),
        (ops.MODULE_GRANTED, "sample"),
    ]
    assert {e.actor_id for e in entries} == {ops_user.id}
    page = await console.get(f"/operator/tenants/{acme.tenant_id}")
    assert "Complimentary module revoked by the operator" in page.text
    # the other workspace: nothing on, nothing in its log
    assert await _modules(db, globex.tenant_id) == {}
    assert await _entries(db, globex.tenant_id) == []


async def test_a_grant_overrides_a_trial_an_ended_trial_and_read_only(
    console: httpx.AsyncClient,
    browser,
    db: Database,
    registry: ModuleRegistry,
    make_tenant,
    ops_user: User,
) -> None:
    acme = await make_tenant("acme")
    until = datetime.now(UTC) + timedelta(days=5)
    await ops.grant_trial(
        db, registry, acme.tenant_id, "sampleaddon", until=until, operator_id=ops_user.id
    )
    # the dependency's trial would end under the grant: it is granted along
    assert (await _act(console, acme.tenant_id, "grant", "sampleaddon")).status_code == 303
    assert await _modules(db, acme.tenant_id) == {
        "sample": (True, "granted", None, "full"),
        "sampleaddon": (True, "granted", None, "full"),
    }
    entry = (await _entries(db, acme.tenant_id))[-1]
    assert (entry.detail["previous_source"], entry.detail["previous_until"]) == (
        "trial",
        until.isoformat(),
    )

    globex = await make_tenant("globex", "sample")
    async with db.tenant_transaction(globex.tenant_id) as session:  # a trial that ran out
        await session.execute(
            update(TenantModule).values(source="trial", until=datetime.now(UTC) - timedelta(days=1))
        )
    assert (await _act(console, globex.tenant_id, "grant", "sample")).status_code == 303
    assert await _modules(db, globex.tenant_id) == {"sample": (True, "granted", None, "full")}

    initech = await make_tenant("initech", "sample")
    async with db.tenant_transaction(initech.tenant_id) as session:
        await apply(session, registry, initech, "sample", Access(Level.READ_ONLY, "paid"))
    owner = await browser(await the_test_owner(db))
    note = {"title": "Paid up", "body": "", "tags": []}
    notes = "/api/t/initech/sample/notes"
    assert (await owner.post(notes, json=note)).json()["error"]["code"] == "module_read_only"
    assert (await _act(console, initech.tenant_id, "grant", "sample")).status_code == 303
    assert await _modules(db, initech.tenant_id) == {"sample": (True, "granted", None, "full")}
    assert (await owner.post(notes, json=note)).status_code == 201
    assert (await _entries(db, initech.tenant_id))[-1].detail["previous_source"] == "paid"


async def test_refusals_say_why_and_change_nothing(
    console: httpx.AsyncClient, db: Database, make_tenant, ops_user: User
) -> None:
    acme = await make_tenant("acme", "sample")  # enabled in development, not granted
    base = f"/operator/tenants/{acme.tenant_id}"
    token = csrf((await console.get(f"{base}/grant")).text)

    unknown = await console.post(f"{base}/grant", data={"_csrf_token": token, "module": "nope"})
    assert unknown.status_code == 404
    assert "There is no module nope." in unknown.text
    not_granted = await _act(console, acme.tenant_id, "revoke", "sample")
    assert not_granted.status_code == 409
    assert "The module sample is not complimentary: there is no grant to revoke." in (
        not_granted.text
    )
    never_on = await _act(console, acme.tenant_id, "revoke", "sampleaddon")
    assert never_on.status_code == 409
    assert (await _act(console, acme.tenant_id, "grant", "sample")).status_code == 303
    again = await console.post(f"{base}/grant", data={"_csrf_token": token, "module": "sample"})
    assert again.status_code == 409
    assert "The module sample is complimentary already." in again.text
    assert len(await _entries(db, acme.tenant_id)) == 1

    await ops.suspend(
        db, acme.tenant_id, operator_id=ops_user.id, reason="Fraud check", show_to_members=False
    )
    page = await console.get(base)
    assert "/grant?module=" not in page.text
    assert "/revoke?module=" not in page.text
    for action, module in (("grant", "sampleaddon"), ("revoke", "sample")):
        refused = await console.post(
            f"{base}/{action}", data={"_csrf_token": token, "module": module}
        )
        assert refused.status_code == 409
        assert "This workspace is suspended: reactivate it before changing its modules." in (
            refused.text
        )

    globex = await make_tenant("globex")
    owner = await the_test_owner(db)
    async with db.tenant_transaction(globex.tenant_id) as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == owner.id))
        actor = Actor(globex.tenant_id, owner.id, membership.id)
        await deletion.delete_workspace(session, globex, actor, "globex")
    refused = await console.post(
        f"/operator/tenants/{globex.tenant_id}/grant",
        data={"_csrf_token": token, "module": "sample"},
    )
    assert refused.status_code == 409
    assert "This workspace was deleted by its owner: restore it" in refused.text

    assert await _modules(db, acme.tenant_id) == {"sample": (True, "granted", None, "full")}
    assert await _modules(db, globex.tenant_id) == {}
    assert [e.action for e in await _entries(db, acme.tenant_id)] == [
        ops.MODULE_GRANTED,
        ops.TENANT_SUSPENDED,
    ]
    assert await _entries(db, globex.tenant_id) == []
    missing = await console.post(
        f"/operator/tenants/{uuid.uuid4()}/grant", data={"_csrf_token": token, "module": "sample"}
    )
    assert missing.status_code == 404
