"""The whole workspace: its export (a zip of every tenant table and its files, built by the
worker) and its deletion (owner only, restorable, then purged by a platform job)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import URL

from core.db import Database, owner_engine
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.models import Membership, SecurityEvent, Tenant, User, WorkspaceExport
from core.parties.models import Party
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.products import services as catalogue
from core.records import attachments
from core.records.storage import file_store
from core.settings import Settings
from core.worker import Worker
from core.workspace import export
from core.workspace.purge import purge_due
from tenants import deletion, operator

HTML = {"accept": "text/html"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
TENANT_TABLES = text(
    """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r'
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                    AND a.attname = 'tenant_id' AND NOT a.attisdropped)
    """
)


async def _member(db: Database, tenant_id: uuid.UUID, role: str) -> Actor:
    async with db.global_transaction() as session:
        user = User(email=f"{role}.{uuid.uuid4().hex[:6]}@export.test", display_name=role)
        session.add(user)
    async with db.tenant_transaction(tenant_id) as session:
        membership = Membership(user_id=user.id, role=role)
        session.add(membership)
    return Actor(
        tenant_id=tenant_id,
        user_id=user.id,
        membership_id=membership.id,
        permissions=frozenset(),
        scopes={},
        department_id=None,
        department_tree=(),
    )


async def _fill(db: Database, settings: Settings, tenant_id: uuid.UUID, name: str) -> str:
    """A party, a product and an attachment in the workspace; returns the attachment's key."""
    async with db.tenant_transaction(tenant_id) as session:
        await catalogue.seed_defaults(session, "en")
        pcs = await catalogue.unit_by_code(session, "pcs")
        await catalogue.create_product(
            session,
            sku=f"{name}-1",
            name=f"{name} widget",
            uom_id=pcs.id,
            sale_price=Decimal("12.50"),
        )
        party = Party(kind="company", name=f"{name} Ltd", name_normalised=f"{name} ltd")
        session.add(party)
        await session.flush()
        attachment = await attachments.attach(
            session,
            file_store(settings),
            "core.party",
            party.id,
            "logo.png",
            PNG,
            "image/png",
            None,
        )
        return attachment.storage_key


@pytest.fixture
async def acme(make_tenant):
    return await make_tenant("acme-export")


@pytest.fixture
async def other(make_tenant):
    return await make_tenant("other-export")


async def _zip(settings: Settings, row: WorkspaceExport) -> zipfile.ZipFile:
    chunks = await file_store(settings).open(row.file_key)
    return zipfile.ZipFile(io.BytesIO(b"".join([c async for c in chunks])))


async def _export_row(db: Database, tenant_id: uuid.UUID, export_id: uuid.UUID) -> WorkspaceExport:
    async with db.tenant_transaction(tenant_id) as session:
        return await export.export_by_id(session, export_id)


async def test_an_export_holds_the_workspaces_rows_and_files_and_nothing_of_another(
    db: Database, registry: ModuleRegistry, settings: Settings, acme, other
) -> None:
    key = await _fill(db, settings, acme.tenant_id, "acme")
    other_key = await _fill(db, settings, other.tenant_id, "other")
    admin = await _member(db, acme.tenant_id, "admin")
    async with db.tenant_transaction(acme.tenant_id) as session:
        requested = await export.request_export(session, actor_id=admin.user_id)
    assert requested.status == export.QUEUED

    # The worker delivers the event to core's handler, which builds the zip.
    await Worker(db, registry).run_once()

    row = await _export_row(db, acme.tenant_id, requested.id)
    assert row.status == export.DONE, row.error
    assert row.done == row.total > 1
    assert row.file_key == f"exports/{acme.tenant_id}/{row.id}"
    assert row.expires_at - row.finished_at == timedelta(days=7)
    archive = await _zip(settings, row)
    names = set(archive.namelist())
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["workspace"]["slug"] == "acme-export"
    assert manifest["atrium_version"]
    assert "sample_note" in manifest["tables"]  # a module's table, found in the catalog
    assert {"core_outbox", "core_workspace_export"}.isdisjoint(manifest["tables"])
    for table, count in manifest["tables"].items():
        assert len(json.loads(archive.read(f"tables/{table}.json"))) == count
    parties = json.loads(archive.read("tables/core_party.json"))
    assert [p["name"] for p in parties] == ["acme Ltd"]
    products = json.loads(archive.read("tables/core_product.json"))
    assert [(p["sku"], p["sale_price"]) for p in products] == [("acme-1", "12.50")]
    assert datetime.fromisoformat(products[0]["created_at"]).tzinfo is not None
    assert f"files/{key}" in names
    assert archive.read(f"files/{key}") == PNG
    assert f"files/{other_key}" not in names
    every_tenant_id = {
        r["tenant_id"]
        for t in manifest["tables"]
        for r in json.loads(archive.read(f"tables/{t}.json"))
    }
    assert every_tenant_id == {str(acme.tenant_id)}
    assert all(
        "token_hash" not in r for r in json.loads(archive.read("tables/core_invitation.json"))
    )


async def test_two_requests_at_once_give_one_export_in_progress(
    db: Database, settings: Settings, acme
) -> None:
    admin = await _member(db, acme.tenant_id, "admin")

    async def ask() -> object:
        async with db.tenant_transaction(acme.tenant_id) as session:
            row = await export.request_export(session, actor_id=admin.user_id)
            await asyncio.sleep(0.05)  # hold the transaction open while the other one asks
            return row

    outcomes = await asyncio.gather(ask(), ask(), return_exceptions=True)
    assert sum(isinstance(o, Conflict) for o in outcomes) == 1
    async with db.tenant_transaction(acme.tenant_id) as session:
        statuses = list(await session.scalars(select(WorkspaceExport.status)))
    assert statuses == [export.QUEUED]

    # Once built, another may be asked for.
    [done] = [o for o in outcomes if isinstance(o, WorkspaceExport)]
    assert await export.build_export(db, file_store(settings), acme.tenant_id, done.id)
    assert not await export.build_export(db, file_store(settings), acme.tenant_id, done.id)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await export.request_export(session, actor_id=admin.user_id)


async def test_expired_exports_are_removed_with_their_file(
    db: Database, settings: Settings, acme
) -> None:
    store = file_store(settings)
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await export.request_export(session, actor_id=None)
    await export.build_export(db, store, acme.tenant_id, row.id)
    row = await _export_row(db, acme.tenant_id, row.id)
    assert await store.exists(row.file_key)
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await export.sweep_exports(session, store, datetime.now(UTC)) == 0
        assert (
            await export.sweep_exports(session, store, row.expires_at + timedelta(seconds=1)) == 1
        )
    assert not await store.exists(row.file_key)
    assert await _export_row(db, acme.tenant_id, row.id) is None


async def test_deleting_needs_an_owner_and_the_exact_address(db: Database, acme) -> None:
    admin = await _member(db, acme.tenant_id, "admin")
    owner = await _member(db, acme.tenant_id, "owner")
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(PermissionDenied):
            await deletion.delete_workspace(session, acme, admin, "acme-export")
        for typed in ("acme", "ACME-EXPORT", ""):
            with pytest.raises(ValidationFailed) as refused:
                await deletion.delete_workspace(session, acme, owner, typed)
            assert refused.value.params["field"] == "confirm_slug"
        assert (await session.get(Tenant, acme.tenant_id)).status == "active"
        row = await deletion.delete_workspace(session, acme, owner, " acme-export ")
    assert row.status == "deleted"
    assert row.purge_after - row.deleted_at == timedelta(days=30)
    async with db.global_transaction() as session:
        logged = await session.scalar(
            select(SecurityEvent).where(SecurityEvent.action == deletion.WORKSPACE_DELETED)
        )
    assert logged.detail["slug"] == "acme-export"


async def test_members_of_a_deleted_workspace_are_told_so_until_the_operator_restores_it(
    db: Database, client, acme
) -> None:
    owner = await _member(db, acme.tenant_id, "owner")
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await deletion.delete_workspace(session, acme, owner, "acme-export")
    until = row.purge_after.date().isoformat()

    page = await client.get("/t/acme-export/", headers=HTML)
    assert page.status_code == 403
    assert "workspace-deleted" in page.text
    assert until in page.text
    api = await client.get("/api/t/acme-export/parties")
    assert api.status_code == 403
    assert api.json()["error"]["code"] == "tenant_deleted"
    assert api.json()["error"]["restorable_until"] == until

    async with db.global_transaction() as session:
        operator_user = User(email="ops@export.test", display_name="Ops")
        session.add(operator_user)
    await operator.reactivate(db, acme.tenant_id, operator_id=operator_user.id, reason="asked")
    async with db.global_transaction() as session:
        restored = await session.get(Tenant, acme.tenant_id)
    assert (restored.status, restored.deleted_at, restored.purge_after) == ("active", None, None)
    assert (await client.get("/t/acme-export/", headers=HTML)).status_code == 200


async def _rows_of(db_url: URL, tenant_id: uuid.UUID) -> dict[str, int]:
    """Every tenant table's row count for one tenant, read as the owner (past RLS)."""
    engine = owner_engine(db_url)
    try:
        async with engine.connect() as conn:
            tables = [r[0] for r in await conn.execute(TENANT_TABLES)]
            counts = {}
            for table in tables:
                counts[table] = (
                    await conn.execute(
                        text(f'SELECT count(*) FROM "{table}" WHERE tenant_id = :t'),
                        {"t": tenant_id},
                    )
                ).scalar_one()
            return counts
    finally:
        await engine.dispose()


async def test_the_purge_removes_every_row_and_file_of_a_due_workspace_only(
    db: Database, db_url: URL, settings: Settings, acme, other
) -> None:
    store = file_store(settings)
    key = await _fill(db, settings, acme.tenant_id, "acme")
    other_key = await _fill(db, settings, other.tenant_id, "other")
    owner = await _member(db, acme.tenant_id, "owner")
    async with db.tenant_transaction(acme.tenant_id) as session:
        requested = await export.request_export(session, actor_id=owner.user_id)
    await export.build_export(db, store, acme.tenant_id, requested.id)
    async with db.tenant_transaction(acme.tenant_id) as session:
        await deletion.delete_workspace(session, acme, owner, "acme-export")
    before_other = await _rows_of(db_url, other.tenant_id)
    assert sum((await _rows_of(db_url, acme.tenant_id)).values()) > 10

    # Within the grace period nothing goes; the database refuses a purge asked too early.
    assert await purge_due(db, store, datetime.now(UTC)) == []
    async with db.global_transaction() as session:
        with pytest.raises(Exception, match="not deleted and past its grace period"):
            await session.execute(
                text("SELECT * FROM core_purge_tenant(:t)"), {"t": other.tenant_id}
            )

    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant)
            .where(Tenant.id == acme.tenant_id)
            .values(purge_after=datetime.now(UTC) - timedelta(minutes=1))
        )
    assert await purge_due(db, store, datetime.now(UTC)) == [acme.tenant_id]

    left = await _rows_of(db_url, acme.tenant_id)
    assert {table: n for table, n in left.items() if n} == {}
    assert await _rows_of(db_url, other.tenant_id) == before_other
    assert not await store.exists(key)
    assert [k async for k in store.keys(f"exports/{acme.tenant_id}", datetime.now(UTC))] == []
    assert await store.exists(other_key)
    async with db.global_transaction() as session:
        assert await session.get(Tenant, acme.tenant_id) is None
        assert await session.get(Tenant, other.tenant_id) is not None
        purged = await session.scalar(
            select(SecurityEvent).where(SecurityEvent.action == "core.workspace.purged")
        )
    assert purged.detail["slug"] == "acme-export"
    assert purged.detail["rows"]["core_party"] == 1
    assert purged.detail["files"] >= 2  # the attachment and the export


async def test_the_worker_runs_the_purge_once_per_due_time(
    db: Database, registry: ModuleRegistry, acme
) -> None:
    owner = await _member(db, acme.tenant_id, "owner")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await deletion.delete_workspace(session, acme, owner, "acme-export")
    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == acme.tenant_id).values(purge_after=datetime.now(UTC))
        )
    first, second = Worker(db, registry, name="first"), Worker(db, registry, name="second")
    await first.fire_due_jobs()
    await second.fire_due_jobs()  # the tick is taken: nothing runs twice
    async with db.global_transaction() as session:
        assert await session.get(Tenant, acme.tenant_id) is None
        purges = list(
            await session.scalars(
                select(SecurityEvent.id).where(SecurityEvent.action == "core.workspace.purged")
            )
        )
    assert len(purges) == 1
