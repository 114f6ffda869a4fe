"""The operator console over real HTTP: find workspaces, see them in counts, suspend and
reactivate them, grant trials; and nobody but an operator gets any of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from core.db import Database
from core.identity import sessions
from core.models import AuditEntry, Membership, Operator, Tenant, TenantModule, User
from core.settings import Settings
from tenants import operator as ops
from tests.pages import csrf
from web.auth import OPERATOR_COOKIE, SESSION_COOKIE

HTML = {"accept": "text/html"}


async def _user(db: Database, email: str) -> User:
    async with db.global_transaction() as session:
        user = User(email=email, display_name=email.split("@")[0].title())
        session.add(user)
        await session.flush()
        return user


async def _member(db: Database, tenant_id: uuid.UUID, email: str) -> User:
    user = await _user(db, email)
    async with db.tenant_transaction(tenant_id) as session:
        session.add(Membership(user_id=user.id, role="member"))
    return user


async def _operator_session(db: Database, settings: Settings, user: User) -> str:
    async with db.global_transaction() as session:
        token, _row = await sessions.start(session, settings, user.id, area=sessions.OPERATOR)
    return token


@pytest.fixture
async def ops_user(db: Database) -> User:
    user = await _user(db, "ops@atrium.test")
    async with db.global_transaction() as session:
        session.add(Operator(user_id=user.id))
    return user


@pytest.fixture
async def console(
    live: str, db: Database, settings: Settings, ops_user: User
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the operator console."""
    async with httpx.AsyncClient(base_url=live, headers=HTML) as http:
        token = await _operator_session(db, settings, ops_user)
        http.cookies.set(OPERATOR_COOKIE, token, domain="127.0.0.1")
        yield http


async def _post(http: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    """Submit the form of the confirmation page at ``path``, as a browser does."""
    page = await http.get(path)
    assert page.status_code == 200, page.text
    return await http.post(path, data={"_csrf_token": csrf(page.text), **form})


def _slugs(page: httpx.Response) -> list[str]:
    assert page.status_code == 200, page.text
    return [part.split('"')[0] for part in page.text.split('data-slug="')[1:]]


async def _status(db: Database, tenant_id: uuid.UUID) -> str:
    async with db.global_transaction() as session:
        return (await session.get(Tenant, tenant_id)).status


async def _operator_entries(db: Database, tenant_id: uuid.UUID) -> list[AuditEntry]:
    async with db.tenant_transaction(tenant_id) as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("operator.%")).order_by(AuditEntry.id)
        )
        return list(found)


async def test_the_list_searches_and_filters(
    console: httpx.AsyncClient, db: Database, settings: Settings, make_tenant, ops_user: User
) -> None:
    acme = await make_tenant("acme", "sample")
    globex = await make_tenant("globex")
    initech = await make_tenant("initech")
    async with db.global_transaction() as session:  # globex is older than the others
        await session.execute(
            update(Tenant)
            .where(Tenant.id == globex.tenant_id)
            .values(created_at=datetime.now(UTC) - timedelta(days=10))
        )
    mei = await _member(db, acme.tenant_id, "mei@acme.test")
    async with db.global_transaction() as session:  # Mei uses acme: its last activity
        await sessions.start(session, settings, mei.id)
    await ops.suspend(
        db, initech.tenant_id, operator_id=ops_user.id, reason="Unpaid", show_to_members=False
    )

    assert _slugs(await console.get("/operator/tenants")) == ["initech", "globex", "acme"]
    assert _slugs(await console.get("/operator/tenants?q=GLOB")) == ["globex"]
    rows = await console.get("/operator/tenants?q=GLOB", headers={"hx-request": "true"})
    assert _slugs(rows) == ["globex"]
    assert "<form" not in rows.text  # the rows alone, for the "More" link's swap
    assert _slugs(await console.get("/operator/tenants?q=inite")) == ["initech"]
    assert _slugs(await console.get("/operator/tenants?status=suspended")) == ["initech"]
    assert _slugs(await console.get("/operator/tenants?status=active")) == ["globex", "acme"]
    assert _slugs(await console.get("/operator/tenants?module=sample")) == ["acme"]
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    assert _slugs(await console.get(f"/operator/tenants?created_to={yesterday}")) == ["globex"]
    assert _slugs(await console.get(f"/operator/tenants?created_from={yesterday}")) == [
        "initech",
        "acme",
    ]
    assert _slugs(await console.get("/operator/tenants?activity=7d")) == ["acme"]
    # The operator's own suspension is not activity of the workspace.
    assert _slugs(await console.get("/operator/tenants?activity=never")) == ["initech", "globex"]
    assert _slugs(await console.get("/operator/tenants?activity=idle30&module=sample")) == []
    refused = await console.get("/operator/tenants?created_from=yesterday")
    assert refused.status_code == 422
    assert "yesterday is not a date" in refused.text

    home = await console.get("/operator/")
    assert home.status_code == 200
    assert '<dd id="figure-tenants">3</dd>' in home.text
    assert '<dd id="figure-active">1</dd>' in home.text  # acme: active and used
    assert '<dd id="figure-suspended">1</dd>' in home.text
    assert '<tr data-module="sample"><td>Sample</td><td>1</td></tr>' in home.text


async def test_the_list_pages_by_keyset_through_filters(
    db: Database, registry, make_tenant
) -> None:
    made = [await make_tenant(slug, "sample") for slug in ("aaa", "bbb", "ccc")]
    await make_tenant("plain")  # no module: filtered out between the pages
    filters = ops.TenantFilters(module="sample")
    first = await ops.list_tenants(db, filters, limit=2)
    assert [row.tenant.slug for row in first.rows] == ["ccc", "bbb"]
    assert first.rows[0].facts.modules == ("sample",)
    second = await ops.list_tenants(db, filters, after=first.next_after, limit=2)
    assert [row.tenant.slug for row in second.rows] == ["aaa"]
    assert second.next_after is None
    assert made[0].tenant_id == second.rows[0].tenant.id


async def test_the_tenant_page_shows_counts_and_no_contents(
    console: httpx.AsyncClient, browser, db: Database, make_tenant
) -> None:
    acme = await make_tenant("acme", "sample")
    owner = await _member(db, acme.tenant_id, "boss@acme.test")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            update(Membership).where(Membership.user_id == owner.id).values(role="owner")
        )
    await _member(db, acme.tenant_id, "gone@acme.test")
    async with db.tenant_transaction(acme.tenant_id) as session:
        gone = await session.scalar(
            select(Membership).join(User).where(User.email == "gone@acme.test")
        )
        gone.active = False
    as_boss = await browser(owner)
    made = await as_boss.post(
        "/api/t/acme/parties", json={"kind": "company", "name": "Zebra Secret Trading"}
    )
    assert made.status_code == 201, made.text

    page = await console.get(f"/operator/tenants/{acme.tenant_id}")
    assert page.status_code == 200
    # the test owner and the boss are active, one member deactivated
    assert '<dd id="usage-active-members">2</dd>' in page.text
    assert '<dd id="usage-deactivated-members">1</dd>' in page.text
    assert '<dd id="usage-parties">1</dd>' in page.text
    assert '<dd id="usage-products">0</dd>' in page.text
    assert '<dd id="usage-storage">0</dd>' in page.text
    assert 'data-module="sample" data-source="development"' in page.text
    for secret in ("Zebra Secret", "boss@acme.test", "gone@acme.test", "Boss"):
        assert secret not in page.text
    assert (await console.get(f"/operator/tenants/{uuid.uuid4()}")).status_code == 404


async def test_suspending_closes_the_workspace_to_its_members_until_reactivated(
    console: httpx.AsyncClient, browser, db: Database, make_tenant, ops_user: User
) -> None:
    acme = await make_tenant("acme", "sample")
    other = await make_tenant("other")
    mei = await _member(db, acme.tenant_id, "mei@acme.test")
    stranger = await _user(db, "stranger@elsewhere.test")
    as_mei, as_stranger = await browser(mei), await browser(stranger)
    assert (await as_mei.get("/t/acme/", headers=HTML)).status_code == 200

    base = f"/operator/tenants/{acme.tenant_id}"
    refused = await _post(console, f"{base}/suspend", {"reason": "  "})
    assert refused.status_code == 422
    assert "Give a reason" in refused.text
    assert await _status(db, acme.tenant_id) == "active"
    done = await _post(
        console, f"{base}/suspend", {"reason": "Invoices overdue", "show_to_members": "on"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == base

    page = await as_mei.get("/t/acme/", headers=HTML)
    assert page.status_code == 403
    assert "This workspace is suspended" in page.text
    assert "Invoices overdue" in page.text
    api = await as_mei.get("/api/t/acme/modules")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "tenant_suspended"
    assert api.json()["error"]["reason"] == "Invoices overdue"
    # Someone who is not a member still learns nothing; the other workspace is untouched.
    assert (await as_stranger.get("/api/t/acme/modules")).status_code == 404
    kim = await _member(db, other.tenant_id, "kim@other.test")
    assert (await (await browser(kim)).get("/api/t/other/modules")).status_code == 200
    assert (await console.get(f"{base}/suspend")).status_code == 200
    twice = await _post(console, f"{base}/suspend", {"reason": "Again"})
    assert twice.status_code == 409
    assert "already suspended" in twice.text

    back = await _post(console, f"{base}/reactivate", {"reason": "Paid in full"})
    assert back.status_code == 303
    assert (await as_mei.get("/t/acme/", headers=HTML)).status_code == 200
    modules = await as_mei.get("/api/t/acme/modules")
    assert modules.status_code == 200
    assert {m["key"]: m["enabled"] for m in modules.json()}["sample"] is True  # data kept

    entries = await _operator_entries(db, acme.tenant_id)
    assert [(e.action, e.actor_id) for e in entries] == [
        (ops.TENANT_SUSPENDED, ops_user.id),
        (ops.TENANT_REACTIVATED, ops_user.id),
    ]
    assert entries[0].detail == {"reason": "Invoices overdue", "shown_to_members": True}
    page = await console.get(base)
    assert "Workspace suspended by the operator" in page.text
    assert "Paid in full" in page.text
    assert "Ops" in page.text


async def test_a_reason_not_shown_stays_off_the_members_page(
    browser, db: Database, make_tenant, ops_user: User
) -> None:
    acme = await make_tenant("acme")
    mei = await _member(db, acme.tenant_id, "mei@acme.test")
    await ops.suspend(
        db, acme.tenant_id, operator_id=ops_user.id, reason="Fraud check", show_to_members=False
    )
    as_mei = await browser(mei)
    page = await as_mei.get("/t/acme/", headers=HTML, params={"lang": "zh-CN"})
    assert page.status_code == 403
    assert "Fraud check" not in page.text
    api = await as_mei.get("/api/t/acme/modules")
    assert api.json()["error"]["code"] == "tenant_suspended"
    assert "reason" not in api.json()["error"]


async def test_a_trial_is_granted_then_extended_and_audited(
    console: httpx.AsyncClient, browser, db: Database, make_tenant, ops_user: User
) -> None:
    acme = await make_tenant("acme")
    base = f"/operator/tenants/{acme.tenant_id}"
    first_day = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    granted = await _post(console, f"{base}/trial", {"module": "sampleaddon", "until": first_day})
    assert granted.status_code == 303, granted.text
    async with db.tenant_transaction(acme.tenant_id) as session:
        rows = {r.module_key: r for r in await session.scalars(select(TenantModule))}
    until = datetime.combine(
        date.fromisoformat(first_day) + timedelta(days=1), datetime.min.time(), UTC
    )
    # the add-on and the module it depends on, both on the same trial
    assert {k: (r.source, r.until, r.enabled) for k, r in rows.items()} == {
        "sample": ("trial", until, True),
        "sampleaddon": ("trial", until, True),
    }
    mei = await _member(db, acme.tenant_id, "mei@acme.test")
    modules = (await (await browser(mei)).get("/api/t/acme/modules")).json()
    assert {m["key"] for m in modules if m["enabled"]} == {"sample", "sampleaddon"}

    later_day = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    extended = await _post(console, f"{base}/trial", {"module": "sampleaddon", "until": later_day})
    assert extended.status_code == 303
    later = until + timedelta(days=26)
    async with db.tenant_transaction(acme.tenant_id) as session:
        rows = {r.module_key: r for r in await session.scalars(select(TenantModule))}
    assert rows["sampleaddon"].until == later
    assert rows["sample"].until == later

    too_far = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()
    refused = await _post(console, f"{base}/trial", {"module": "sample", "until": too_far})
    assert refused.status_code == 422
    assert "within a year" in refused.text
    past = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    refused = await _post(console, f"{base}/trial", {"module": "sample", "until": past})
    assert refused.status_code == 422
    assert "in the future" in refused.text

    entries = await _operator_entries(db, acme.tenant_id)
    assert [(e.action, e.actor_id, e.detail["module"]) for e in entries] == [
        (ops.TRIAL_GRANTED, ops_user.id, "sampleaddon"),
        (ops.TRIAL_EXTENDED, ops_user.id, "sampleaddon"),
    ]
    assert entries[1].detail["until"] == later.isoformat()
    page = await console.get(base)
    assert "Module trial granted by the operator" in page.text
    assert "Module trial changed by the operator" in page.text


async def test_a_paid_module_gets_no_trial(
    console: httpx.AsyncClient, db: Database, make_tenant
) -> None:
    acme = await make_tenant("acme", "sample")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(update(TenantModule).values(source="paid"))
    base = f"/operator/tenants/{acme.tenant_id}"
    page = await console.get(f"{base}/trial")
    assert 'value="sample"' not in page.text  # not offered
    day = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    refused = await console.post(
        f"{base}/trial", data={"_csrf_token": csrf(page.text), "module": "sample", "until": day}
    )
    assert refused.status_code == 409
    assert "The module sample is paid for" in refused.text
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.scalar(select(TenantModule))
    assert (row.source, row.until) == ("paid", None)
    assert await _operator_entries(db, acme.tenant_id) == []


async def test_nobody_but_an_operator_opens_the_console(
    live: str, db: Database, settings: Settings, make_tenant, sign_in
) -> None:
    acme = await make_tenant("acme")
    mei = await _member(db, acme.tenant_id, "mei@acme.test")
    former = await _user(db, "former@atrium.test")
    async with db.global_transaction() as session:
        session.add(Operator(user_id=former.id, active=False))
    pages = [
        "/operator/",
        "/operator/tenants",
        f"/operator/tenants/{acme.tenant_id}",
        f"/operator/tenants/{acme.tenant_id}/suspend",
        f"/operator/tenants/{acme.tenant_id}/trial",
    ]
    workspace_token = await sign_in(mei.id)
    credentials = [
        {},  # nobody signed in
        {SESSION_COOKIE: workspace_token},  # a member's workspace session
        {OPERATOR_COOKIE: workspace_token},  # the same, offered as an operator session
        {OPERATOR_COOKIE: await _operator_session(db, settings, mei)},  # not an operator
        {OPERATOR_COOKIE: await _operator_session(db, settings, former)},  # no longer one
    ]
    for cookies in credentials:
        async with httpx.AsyncClient(base_url=live, headers=HTML) as http:
            for name, value in cookies.items():
                http.cookies.set(name, value, domain="127.0.0.1")
            for path in pages:
                answer = await http.get(path)
                assert answer.status_code == 303, (cookies.keys(), path)
                assert answer.headers["location"].startswith("/operator/sign-in")
                assert "Acme" not in answer.text
            token = csrf((await http.get("/operator/sign-in")).text)
            tried = await http.post(
                f"/operator/tenants/{acme.tenant_id}/suspend",
                data={"_csrf_token": token, "reason": "x"},
            )
            assert tried.status_code == 303
            json_answer = await http.get(
                "/operator/tenants", headers={"accept": "application/json"}
            )
            assert json_answer.status_code == 401
    assert await _status(db, acme.tenant_id) == "active"


async def test_a_form_without_its_csrf_token_is_refused(
    console: httpx.AsyncClient, db: Database, make_tenant
) -> None:
    acme = await make_tenant("acme")
    base = f"/operator/tenants/{acme.tenant_id}"
    await console.get(f"{base}/suspend")  # the CSRF cookie is set, the token not sent
    refused = await console.post(f"{base}/suspend", data={"reason": "No token"})
    assert refused.status_code == 403
    assert await _status(db, acme.tenant_id) == "active"
    assert await _operator_entries(db, acme.tenant_id) == []
