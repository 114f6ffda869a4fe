"""The schema-wide tenancy check: every tenant table is walled in by the database itself.

After ``upgrade head`` it reads the catalog and fails for any tenant table
(one with a ``tenant_id`` column) without forced RLS and the isolation
policy, whose primary key does not start with ``tenant_id``, or with a
foreign key to another tenant table that leaves ``tenant_id`` out. Every
other table must be declared global in the models.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import URL

from core.db import owner_engine
from core.orm import TENANCY_KEY, Base

TABLES = text("""
    SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
           EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                   AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS has_tenant,
           (SELECT a.attname FROM pg_index i JOIN pg_attribute a
              ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = c.oid AND i.indisprimary) AS pk_first
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
""")
POLICIES = text("""
    SELECT tablename, qual, with_check FROM pg_policies WHERE schemaname = 'public'
""")
FOREIGN_KEYS = text("""
    SELECT con.conname, src.relname AS source, dst.relname AS target,
           ARRAY(SELECT a.attname FROM unnest(con.conkey) k JOIN pg_attribute a
                 ON a.attrelid = con.conrelid AND a.attnum = k) AS source_columns,
           ARRAY(SELECT a.attname FROM unnest(con.confkey) k JOIN pg_attribute a
                 ON a.attrelid = con.confrelid AND a.attnum = k) AS target_columns
    FROM pg_constraint con
    JOIN pg_class src ON src.oid = con.conrelid
    JOIN pg_class dst ON dst.oid = con.confrelid
    JOIN pg_namespace n ON n.oid = src.relnamespace
    WHERE con.contype = 'f' AND n.nspname = 'public'
""")


async def tenancy_violations(url: URL) -> list[str]:
    """Everything in the live schema that breaks the tenancy rules, as readable lines."""
    engine = owner_engine(url)
    try:
        async with engine.connect() as conn:
            tables = {r.name: r for r in await conn.execute(TABLES)}
            policies = {r.tablename: r for r in await conn.execute(POLICIES)}
            foreign_keys = list(await conn.execute(FOREIGN_KEYS))
    finally:
        await engine.dispose()

    declared = {t.name: t.info.get(TENANCY_KEY) for t in Base.metadata.tables.values()}
    problems: list[str] = []
    for name, table in sorted(tables.items()):
        if not table.has_tenant:
            if declared.get(name) != "global":
                problems.append(f"{name}: no tenant_id and not declared global")
            continue
        if not (table.rls and table.forced):
            problems.append(f"{name}: row-level security is not enabled and forced")
        policy = policies.get(name)
        if policy is None:
            problems.append(f"{name}: no row-level security policy")
        elif not all("app.tenant_id" in (clause or "") for clause in policy[1:]):
            problems.append(f"{name}: policy does not test app.tenant_id in USING and WITH CHECK")
        if table.pk_first != "tenant_id":
            problems.append(f"{name}: primary key does not start with tenant_id")
    for fk in foreign_keys:
        source, target = tables.get(fk.source), tables.get(fk.target)
        if source is None or target is None or not (source.has_tenant and target.has_tenant):
            continue
        pairs = dict(zip(fk.source_columns, fk.target_columns, strict=True))
        if pairs.get("tenant_id") != "tenant_id":
            problems.append(f"{fk.source}: foreign key {fk.conname} leaves out tenant_id")
    return problems


async def test_every_tenant_table_is_walled_in(db_url: URL) -> None:
    assert await tenancy_violations(db_url) == []


async def test_the_check_catches_each_kind_of_violation(db_url: URL) -> None:
    """The check above can fail: plant one of each mistake and see it named."""
    engine = owner_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE stray_global (id uuid PRIMARY KEY)"))
        await conn.execute(
            text("CREATE TABLE stray_open (tenant_id uuid, id uuid, PRIMARY KEY (id, tenant_id))")
        )
        await conn.execute(text("CREATE UNIQUE INDEX ON stray_open (id)"))
        await conn.execute(
            text(
                "CREATE TABLE stray_ref (tenant_id uuid, id uuid, note_id uuid, "
                "PRIMARY KEY (tenant_id, id), "
                "CONSTRAINT stray_ref_note FOREIGN KEY (note_id) REFERENCES stray_open (id))"
            )
        )
    await engine.dispose()

    problems = await tenancy_violations(db_url)
    assert "stray_global: no tenant_id and not declared global" in problems
    assert "stray_open: row-level security is not enabled and forced" in problems
    assert "stray_open: no row-level security policy" in problems
    assert "stray_open: primary key does not start with tenant_id" in problems
    assert "stray_ref: foreign key stray_ref_note leaves out tenant_id" in problems
