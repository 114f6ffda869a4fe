"""The "Export and deletion" settings tab over real HTTP: ask for an export, watch its
progress, download it once the worker built it; delete the workspace by typing its address."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from core.context import TenantContext
from core.db import Database
from core.models import Membership, Tenant, User, WorkspaceExport
from core.records.storage import file_store
from core.settings import Settings
from core.workspace import export
from tests.conftest import TEST_OWNER_EMAIL, Browser
from tests.web.test_recovery_pages import HTML, csrf, register

HTMX = {**HTML, "hx-request": "true"}
PAGE = "/t/acme/settings/data"


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", seed=True)


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    async with db.global_transaction() as session:
        user = await session.scalar(select(User).where(User.email == TEST_OWNER_EMAIL))
    assert user is not None
    return await browser(user)


async def _with_role(db: Database, acme: TenantContext, browser: Browser, role: str):
    user = await register(db, f"{role}@acme.test", role.title())
    async with db.tenant_transaction(acme.tenant_id) as session:
        session.add(Membership(user_id=user.id, role=role))
    return await browser(user)


async def _post(http: httpx.AsyncClient, action: str, fields: dict[str, str], headers=HTMX):
    opened = await http.get(PAGE, headers=HTML)
    assert opened.status_code == 200, opened.text
    return await http.post(action, data={"_csrf_token": csrf(opened), **fields}, headers=headers)


async def _latest(db: Database, acme: TenantContext) -> WorkspaceExport:
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await export.latest_export(session)
    assert row is not None
    return row


async def test_an_export_is_asked_for_watched_and_downloaded(
    owner: httpx.AsyncClient,
    db: Database,
    acme: TenantContext,
    settings: Settings,
    tmp_path: Path,
) -> None:
    page = await owner.get(PAGE, headers=HTML)
    assert page.status_code == 200
    assert 'id="tab-data"' in page.text
    assert "No export has been made yet." in page.text

    asked = await _post(owner, f"{PAGE}/export", {})
    assert asked.status_code == 200
    assert 'id="settings-data"' in asked.text
    assert 'hx-trigger="every 2s"' in asked.text  # queued: the status polls
    again = await _post(owner, f"{PAGE}/export", {})
    assert "An export of this workspace is already being prepared." in again.text

    # Half way through a build, as the worker writes it after each table.
    row = await _latest(db, acme)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            update(WorkspaceExport)
            .where(WorkspaceExport.id == row.id)
            .values(status="running", done=3, total=10)
        )
    status = await owner.get(f"{PAGE}/export/status", headers=HTMX)
    assert "Exporting: 3 of 10 steps done." in status.text
    assert '<progress max="10" value="3">' in status.text
    assert 'hx-trigger="every 2s"' in status.text
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            update(WorkspaceExport).where(WorkspaceExport.id == row.id).values(status="queued")
        )

    # The worker's step, run here directly, with the live app's file store.
    store = file_store(dataclasses.replace(settings, data_dir=tmp_path))
    assert await export.build_export(db, store, acme.tenant_id, row.id)
    status = await owner.get(f"{PAGE}/export/status", headers=HTMX)
    assert "every 2s" not in status.text  # finished: the polling stops
    link = f"/t/acme/settings/data/exports/{row.id}/download"
    assert f'href="{link}"' in status.text

    download = await owner.get(link)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"].startswith('attachment; filename="acme-export-')
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert json.loads(archive.read("manifest.json"))["workspace"]["slug"] == "acme"


async def test_only_settings_managers_reach_exports(
    owner: httpx.AsyncClient,
    db: Database,
    acme: TenantContext,
    browser: Browser,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await _post(owner, f"{PAGE}/export", {})
    row = await _latest(db, acme)
    store = file_store(dataclasses.replace(settings, data_dir=tmp_path))
    await export.build_export(db, store, acme.tenant_id, row.id)
    member = await _with_role(db, acme, browser, "member")
    link = f"/t/acme/settings/data/exports/{row.id}/download"
    assert (await member.get(link, headers=HTML)).status_code == 403
    assert (await member.get(PAGE, headers=HTML)).status_code == 403
    gone = f"/t/acme/settings/data/exports/{acme.tenant_id}/download"
    assert (await owner.get(gone, headers=HTML)).status_code == 404


async def test_deleting_asks_for_the_exact_address_and_an_owner(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext, browser: Browser
) -> None:
    admin = await _with_role(db, acme, browser, "admin")
    admin_page = await admin.get(PAGE, headers=HTML)
    assert 'id="delete-owner-only"' in admin_page.text
    assert 'id="delete-form"' not in admin_page.text
    refused = await _post(admin, f"{PAGE}/delete", {"confirm_slug": "acme"})
    assert "Only an owner can delete the workspace." in refused.text

    wrong = await _post(owner, f"{PAGE}/delete", {"confirm_slug": "acme-typo"})
    assert wrong.status_code == 200
    assert 'id="delete-confirm_slug-error"' in wrong.text
    assert "Type the workspace's address acme exactly to confirm." in wrong.text
    assert 'value="acme-typo"' in wrong.text
    async with db.global_transaction() as session:
        assert (await session.get(Tenant, acme.tenant_id)).status == "active"

    deleted = await _post(owner, f"{PAGE}/delete", {"confirm_slug": "acme"})
    assert deleted.headers["hx-redirect"] == "/t/acme/"
    home = await owner.get("/t/acme/", headers=HTML)
    assert home.status_code == 403
    assert 'id="workspace-deleted"' in home.text
    assert (await admin.get("/t/acme/settings", headers=HTML)).status_code == 403
