"""Migrations: empty → head → base → head, and no drift between models and migrations.

CI also runs this file against the machine's PostgreSQL 15 (DATABASE_URL),
proving a standard server works as well as the embedded one.
"""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL

from core import migrate
from core.db import owner_engine
from core.orm import Base
from core.plugins.registry import ModuleRegistry
from core.settings import Settings

USER_TABLES = (
    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
)
USER_FUNCTIONS = (
    "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname = 'public'"
)


async def _scalar(url: URL, sql: str) -> int:
    engine = owner_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_round_trip(
    empty_db: URL, registry: ModuleRegistry, settings: Settings
) -> None:
    await migrate.upgrade(empty_db, registry, settings)
    tables_at_head = await _scalar(empty_db, USER_TABLES)
    assert tables_at_head >= 11
    assert await migrate.current_heads(empty_db, registry) == migrate.upgraded_heads(
        empty_db, registry
    )
    # CRM's branch depends on core's head, which it then implies.
    assert any(head.startswith("crm_") for head in migrate.upgraded_heads(empty_db, registry))

    await migrate.downgrade(empty_db, registry, "base")
    assert await _scalar(empty_db, USER_TABLES) == 0
    assert await _scalar(empty_db, USER_FUNCTIONS) == 0
    assert await migrate.current_heads(empty_db, registry) == set()

    await migrate.upgrade(empty_db, registry, settings)
    assert await _scalar(empty_db, USER_TABLES) == tables_at_head


async def test_models_and_migrations_do_not_drift(
    empty_db: URL, registry: ModuleRegistry, settings: Settings
) -> None:
    await migrate.upgrade(empty_db, registry, settings)
    cfg = migrate.alembic_config(empty_db, registry)
    include = migrate.include_object(cfg)

    def diff(sync_conn):
        context = MigrationContext.configure(
            sync_conn,
            opts={
                "include_object": include,
                "compare_type": True,
                "target_metadata": Base.metadata,
            },
        )
        return compare_metadata(context, Base.metadata)

    engine = owner_engine(empty_db)
    try:
        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert changes == [], f"models and migrations differ: {changes}"


async def test_every_branch_is_labelled_by_its_module(registry: ModuleRegistry) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config(None, registry))
    labels = {label for rev in script.walk_revisions() for label in rev.branch_labels}
    with_migrations = {k for k, m in registry.modules.items() if m.manifest.migrations}
    assert labels == {"core", *with_migrations}
    for rev in script.walk_revisions():
        branch = next(iter(rev.branch_labels), None) or rev.revision.split("_")[0]
        assert rev.revision.startswith(f"{branch}_"), rev.revision


async def test_upgrade_creates_an_unprivileged_app_role(
    empty_db: URL, registry: ModuleRegistry, settings: Settings
) -> None:
    await migrate.upgrade(empty_db, registry, settings)
    row = await _scalar(
        empty_db,
        f"SELECT count(*) FROM pg_roles WHERE rolname = '{settings.app_db_role}' "
        "AND NOT rolsuper AND NOT rolbypassrls AND rolcanlogin",
    )
    assert row == 1
    # Running it twice is harmless: the role is corrected, not duplicated.
    await asyncio.gather(migrate.upgrade(empty_db, registry, settings))
