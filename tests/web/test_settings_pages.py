"""The workspace settings pages over real HTTP: company profile and logo, currencies and
rates, tax rates, numbering, security; who may open them, and CSRF."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from core import numbering
from core.context import TenantContext
from core.db import Database
from core.models import AuditEntry, Membership, Tenant, User
from core.products.models import ExchangeRate, TaxRate
from tests.conftest import TEST_OWNER_EMAIL, Browser
from tests.core.test_profile import PNG
from tests.web.test_recovery_pages import HTML, csrf, register

HTMX = {**HTML, "hx-request": "true"}
PROFILE = {
    "name": "Acme",
    "legal_name": "Acme Trading GmbH",
    "address_line1": "Hauptstraße 1",
    "city": "Berlin",
    "postcode": "10115",
    "country": "DE",
    "tax_number": "DE 123 456 789",
    "email": "office@acme.de",
    "website": "acme.de",
}


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", seed=True)


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        user = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
    assert user is not None
    return await browser(user)


async def _submit(
    http: httpx.AsyncClient,
    page: str,
    action: str,
    fields: dict[str, str],
    headers: dict[str, str] = HTML,
) -> httpx.Response:
    opened = await http.get(page, headers=HTML)
    assert opened.status_code == 200, opened.text
    return await http.post(action, data={"_csrf_token": csrf(opened), **fields}, headers=headers)


async def _tenant(db: Database, ctx: TenantContext) -> Tenant:
    async with db.global_transaction() as session:
        tenant = await session.get(Tenant, ctx.tenant_id)
    assert tenant is not None
    return tenant


async def _audited(db: Database, ctx: TenantContext) -> list[str]:
    async with db.tenant_transaction(ctx.tenant_id) as session:
        return list(await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- company ---------------------------------------------------------------------------------


async def test_the_profile_is_saved_and_shown(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    page = "/t/acme/settings/company"
    saved = await _submit(owner, page, page, PROFILE)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{page}?notice=saved"
    shown = await owner.get(saved.headers["location"], headers=HTML)
    assert 'value="Acme Trading GmbH"' in shown.text
    assert 'value="DE123456789"' in shown.text  # as it is kept: spaces dropped
    assert 'value="https://acme.de"' in shown.text
    assert '<option value="DE" selected>' in shown.text
    tenant = await _tenant(db, acme)
    assert (tenant.legal_name, tenant.city, tenant.website) == (
        "Acme Trading GmbH",
        "Berlin",
        "https://acme.de",
    )
    home = await owner.get("/t/acme/settings", headers=HTML)
    assert "Acme Trading GmbH" in home.text
    assert "Base currency: USD" in home.text


@pytest.mark.parametrize(
    ("change", "field"), [({"email": "office at acme"}, "email"), ({"name": "N" * 201}, "name")]
)
async def test_a_refused_profile_is_shown_inline_and_writes_nothing(
    owner: httpx.AsyncClient,
    db: Database,
    acme: TenantContext,
    change: dict[str, str],
    field: str,
) -> None:
    page = "/t/acme/settings/company"
    typed = {**PROFILE, **change}
    refused = await _submit(owner, page, page, typed)
    assert refused.status_code == 422
    assert f'id="profile-{field}-error"' in refused.text
    assert f'value="{typed[field]}"' in refused.text  # what was typed is kept
    assert 'value="Acme Trading GmbH"' in refused.text

    swapped = await _submit(owner, page, page, typed, headers=HTMX)
    assert swapped.status_code == 200  # htmx swaps only 2xx answers
    assert 'id="settings-company"' in swapped.text
    assert "<html" not in swapped.text
    assert f'id="profile-{field}-error"' in swapped.text
    assert (await _tenant(db, acme)).legal_name is None
    assert await _audited(db, acme) == []


async def test_a_logo_is_shown_to_members_and_not_in_another_workspace(
    owner: httpx.AsyncClient,
    db: Database,
    acme: TenantContext,
    make_tenant,
    browser: Browser,
) -> None:
    await make_tenant("other")
    page = "/t/acme/settings/company"
    opened = await owner.get(page, headers=HTML)
    disguised = await owner.post(
        "/t/acme/settings/logo",
        data={"_csrf_token": csrf(opened)},
        files={"logo": ("logo.png", b"MZ\x90\x00" + bytes(range(200)), "image/png")},
        headers=HTML,
    )
    assert disguised.status_code == 422
    assert 'id="logo-logo-error"' in disguised.text
    assert (await _tenant(db, acme)).logo is None

    uploaded = await owner.post(
        "/t/acme/settings/logo",
        data={"_csrf_token": csrf(opened)},
        files={"logo": ("logo.png", PNG, "image/png")},
        headers=HTML,
    )
    assert uploaded.status_code == 303, uploaded.text
    assert 'id="company-logo"' in (await owner.get(page, headers=HTML)).text

    bea = await register(db, "bea@acme.test", "Bea")
    async with db.tenant_transaction(acme.tenant_id) as session:
        session.add(Membership(user_id=bea.id, role="member"))
    member = await browser(bea)
    served = await member.get("/t/acme/settings/logo")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == PNG
    assert (await owner.get("/t/other/settings/logo")).status_code == 404  # no logo there
    assert (await member.get("/t/other/settings/logo")).status_code == 404  # not a member


# --- currencies ------------------------------------------------------------------------------


async def test_a_rate_is_kept_exactly_and_then_the_base_cannot_change(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    page = "/t/acme/settings/currencies"
    enabled = await _submit(owner, page, page, {"code": "eur"}, headers=HTMX)
    assert enabled.status_code == 200
    assert 'id="currency-EUR"' in enabled.text

    bad = await _submit(
        owner, page, f"{page}/EUR/rates", {"valid_on": "2026-03-05", "rate": "abc"}, HTML
    )
    assert bad.status_code == 422
    assert 'id="rate-EUR-rate-error"' in bad.text
    assert 'value="abc"' in bad.text

    added = await _submit(
        owner, page, f"{page}/EUR/rates", {"valid_on": "2026-03-05", "rate": "7.12345678"}, HTML
    )
    assert added.status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        stored = await session.scalar(select(ExchangeRate.rate))
    assert stored == Decimal("7.12345678")
    shown = await owner.get(page, headers=HTML)
    assert 'id="rate-EUR-2026-03-05"' in shown.text
    assert "7.12345678" in shown.text
    assert 'id="base-locked"' in shown.text  # the reason, and no form

    refused = await _submit(owner, page, f"{page}/base", {"code": "CNY"}, headers=HTMX)
    assert refused.status_code == 200
    assert "The base currency cannot change from USD to CNY" in refused.text
    deleted = await _submit(owner, page, f"{page}/EUR/rates/2026-03-05/delete", {}, headers=HTMX)
    assert deleted.status_code == 200
    assert 'id="rate-EUR-2026-03-05"' not in deleted.text
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await session.scalar(select(ExchangeRate.id)) is None
    assert "core.currency.base_changed" not in await _audited(db, acme)


# --- tax rates -------------------------------------------------------------------------------


async def test_a_tax_rate_is_created_made_default_and_archived(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    page = "/t/acme/settings/tax-rates"
    bad = await _submit(owner, page, page, {"name": "Odd", "percent": "150", "kind": "sale"})
    assert bad.status_code == 422
    assert 'id="new-tax-percent-error"' in bad.text

    made = await _submit(
        owner, page, page, {"name": "VAT 13%", "percent": "13", "kind": "sale", "is_default": "on"}
    )
    assert made.status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        rate = await session.scalar(select(TaxRate).where(TaxRate.name == "VAT 13%"))
    assert rate is not None
    assert (rate.rate, rate.kind, rate.is_default) == (Decimal("0.1300"), "sale", True)
    assert f'id="tax-{rate.id}"' in (await owner.get(page, headers=HTML)).text

    archived = await _submit(owner, page, f"{page}/{rate.id}/archive", {}, headers=HTMX)
    assert archived.status_code == 200
    assert "Archived" in archived.text
    async with db.tenant_transaction(acme.tenant_id) as session:
        after = await session.get(TaxRate, (acme.tenant_id, rate.id))
    assert after is not None
    assert (after.active, after.is_default) == (False, False)


# --- numbering -------------------------------------------------------------------------------


async def test_a_pattern_change_shows_in_the_next_number(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    year = date.today().year
    async with db.tenant_transaction(acme.tenant_id) as session:
        await numbering.configure(session, "erp.sales_order", prefix="SO", gapless=True)
        for _ in range(123):
            await numbering.next_number(session, "erp.sales_order")
    page = "/t/acme/settings/numbering"
    shown = await owner.get(page, headers=HTML)
    assert f"SO-{year}-000124" in shown.text
    assert "Gapless" in shown.text

    action = f"{page}/erp.sales_order"
    refused = await _submit(owner, page, action, {"prefix": "SO", "pattern": "{prefix}-{seq}"})
    assert refused.status_code == 422
    assert 'id="series-erp.sales_order-pattern-error"' in refused.text
    assert 'value="{prefix}-{seq}"' in refused.text

    changed = await _submit(
        owner, page, action, {"prefix": "XS", "pattern": "{prefix}{year}-{seq:05d}"}, HTMX
    )
    assert changed.status_code == 200
    assert f"XS{year}-00124" in changed.text


# --- security, permissions, CSRF -------------------------------------------------------------


async def test_two_factor_can_be_required(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    page = "/t/acme/settings/security"
    opened = await owner.get(page, headers=HTML)
    assert "1 active member has not turned two-factor sign-in on yet" in opened.text
    saved = await owner.post(
        page, data={"_csrf_token": csrf(opened), "require_two_factor": "on"}, headers=HTML
    )
    assert saved.status_code == 303
    assert (await _tenant(db, acme)).require_two_factor is True
    assert await _audited(db, acme) == ["core.settings.two_factor_required"]


async def test_a_plain_member_is_refused(
    db: Database, acme: TenantContext, browser: Browser
) -> None:
    bea = await register(db, "bea@acme.test", "Bea")
    async with db.tenant_transaction(acme.tenant_id) as session:
        session.add(Membership(user_id=bea.id, role="member"))
    member = await browser(bea)
    for path in ("/t/acme/settings", "/t/acme/settings/company", "/t/acme/settings/security"):
        assert (await member.get(path, headers=HTML)).status_code == 403
    home = await member.get("/t/acme/", headers=HTML)
    assert 'href="/t/acme/settings"' not in home.text
    tried = await member.post(
        "/t/acme/settings/security", data={"require_two_factor": "on"}, headers=HTML
    )
    assert tried.status_code == 403
    assert (await _tenant(db, acme)).require_two_factor is False


async def test_a_form_without_its_csrf_token_is_refused(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    home = await owner.get("/t/acme/", headers=HTML)
    assert 'href="/t/acme/settings"' in home.text  # the menu entry
    refused = await owner.post("/t/acme/settings/company", data=PROFILE, headers=HTML)
    assert refused.status_code == 403
    assert (await _tenant(db, acme)).legal_name is None


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_every_tab_opens_in_both_languages(
    owner: httpx.AsyncClient, acme: TenantContext, lang: str
) -> None:
    for tab in ("", "/company", "/currencies", "/tax-rates", "/numbering", "/security"):
        opened = await owner.get(f"/t/acme/settings{tab}", params={"lang": lang}, headers=HTML)
        assert opened.status_code == 200, (tab, opened.text)
        assert 'id="settings-tabs"' in opened.text
