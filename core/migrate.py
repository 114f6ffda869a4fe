"""Migrations: one Alembic branch for core and one per module, run as the owner.

``op.enable_tenant_rls("crm_lead")`` gives a tenant table forced row-level
security and the isolation policy; autogenerate writes it after every
``create_table`` of a tenant table, so a module author cannot forget it
(and ``tests/core/test_tenancy_schema.py`` fails if one slips through).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import renderers, rewriter
from alembic.config import Config
from alembic.operations import MigrateOperation, Operations, ops
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from core.orm import MODULE_KEY, TENANCY_KEY, Base
from core.plugins.registry import ModuleRegistry
from core.settings import Settings

CORE_MIGRATIONS = Path(__file__).parent / "migrations"
CORE_BRANCH = "core"

TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
POLICY = "tenant_isolation"


def rls_statements(table: str) -> list[str]:
    """Forced RLS and the fail-closed isolation policy for one tenant table."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {table} USING ({TENANT_PREDICATE}) "
        f"WITH CHECK ({TENANT_PREDICATE})",
    ]


@Operations.register_operation("enable_tenant_rls")
class EnableTenantRLSOp(MigrateOperation):
    """``op.enable_tenant_rls(table)``: forced RLS plus the tenant isolation policy."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @classmethod
    def enable_tenant_rls(cls, operations: Operations, table_name: str) -> Any:
        return operations.invoke(cls(table_name))

    def reverse(self) -> DisableTenantRLSOp:
        return DisableTenantRLSOp(self.table_name)


@Operations.register_operation("disable_tenant_rls")
class DisableTenantRLSOp(MigrateOperation):
    """The reverse of enable_tenant_rls (dropping the table drops the policy too)."""

    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @classmethod
    def disable_tenant_rls(cls, operations: Operations, table_name: str) -> Any:
        return operations.invoke(cls(table_name))

    def reverse(self) -> EnableTenantRLSOp:
        return EnableTenantRLSOp(self.table_name)


@Operations.implementation_for(EnableTenantRLSOp)
def _enable_tenant_rls(operations: Operations, operation: EnableTenantRLSOp) -> None:
    for statement in rls_statements(operation.table_name):
        operations.execute(statement)


@Operations.implementation_for(DisableTenantRLSOp)
def _disable_tenant_rls(operations: Operations, operation: DisableTenantRLSOp) -> None:
    table = operation.table_name
    operations.execute(f"DROP POLICY IF EXISTS {POLICY} ON {table}")
    operations.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    operations.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


@renderers.dispatch_for(EnableTenantRLSOp)
def _render_enable(_context: Any, op: EnableTenantRLSOp) -> str:
    return f"op.enable_tenant_rls({op.table_name!r})"


@renderers.dispatch_for(DisableTenantRLSOp)
def _render_disable(_context: Any, op: DisableTenantRLSOp) -> str:
    return f"op.disable_tenant_rls({op.table_name!r})"


add_rls_to_new_tenant_tables = rewriter.Rewriter()


@add_rls_to_new_tenant_tables.rewrites(ops.CreateTableOp)
def _create_table_with_rls(_context: Any, _revision: Any, op: ops.CreateTableOp) -> Any:
    table = Base.metadata.tables.get(op.table_name)
    if table is not None and table.info.get(TENANCY_KEY) == "tenant":
        return [op, EnableTenantRLSOp(op.table_name)]
    return op


# --- configuration and commands -------------------------------------------------------


# Core's tables, by area; the shared master data keeps its models beside its services.
CORE_MODELS = (
    "core.models",
    "core.mail",
    "core.identity.tokens",
    "tenants.invitations",
    "core.parties.models",
    "core.products.models",
    "core.records.models",
    "billing.models",
)


def import_models(registry: ModuleRegistry) -> None:
    """Import core's and every loaded module's ``models`` so the metadata is complete."""
    for name in CORE_MODELS:
        importlib.import_module(name)
    for loaded in registry.modules.values():
        package = loaded.plugin.__name__.rpartition(".")[0]
        if package and importlib.util.find_spec(f"{package}.models") is not None:
            importlib.import_module(f"{package}.models")


def alembic_config(
    owner: URL | None, registry: ModuleRegistry, module_key: str | None = None
) -> Config:
    """An Alembic config for core plus every loaded module's branch, as the owner."""
    import_models(registry)
    locations = [str(CORE_MIGRATIONS / "versions")]
    locations += [
        str(m.manifest.migrations) for m in registry.modules.values() if m.manifest.migrations
    ]
    cfg = Config()
    cfg.set_main_option("script_location", str(CORE_MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.attributes["owner_url"] = owner
    cfg.attributes["registry"] = registry
    cfg.attributes["module_key"] = module_key
    return cfg


def managed_modules(registry: ModuleRegistry) -> set[str]:
    """The module keys whose tables this installation manages (core plus loaded modules)."""
    return {CORE_BRANCH, *registry.keys}


# Billing's tables (billing_*) are in core's branch: billing is the platform's, not a module.
CORE_BRANCH_PREFIXES = {"billing": CORE_BRANCH}


def table_module(table_name: str) -> str:
    return table_name.split("_", 1)[0]


def include_object(cfg: Config) -> Any:
    """Limit autogenerate to the loaded modules' tables (and to one module when asked)."""
    registry: ModuleRegistry = cfg.attributes["registry"]
    only: str | None = cfg.attributes.get("module_key")
    managed = managed_modules(registry)

    def include(obj: Any, name: str | None, type_: str, _reflected: bool, _compare: Any) -> bool:
        if type_ != "table":
            return True
        if name == "alembic_version":
            return False
        module = obj.info.get(MODULE_KEY) if obj.info else None
        module = module or table_module(name or "")
        module = CORE_BRANCH_PREFIXES.get(module, module)
        if only is not None:
            return module == only
        return module in managed

    return include


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    # Alembic's env.py runs its own event loop; keep it off the caller's loop.
    return await asyncio.to_thread(fn, *args, **kwargs)


async def upgrade(owner: URL, registry: ModuleRegistry, settings: Settings) -> None:
    """Bring core and every loaded module to head, then (re)grant the app role."""
    from core.db import ensure_app_role

    await _in_thread(command.upgrade, alembic_config(owner, registry), "heads")
    await ensure_app_role(owner, settings)


async def downgrade(owner: URL, registry: ModuleRegistry, target: str = "base") -> None:
    await _in_thread(command.downgrade, alembic_config(owner, registry), target)


async def current_heads(owner: URL, registry: ModuleRegistry) -> set[str]:
    """Revisions the database is at (empty before the first upgrade)."""
    from sqlalchemy import text

    from core.db import owner_engine

    engine = owner_engine(owner)
    try:
        async with engine.connect() as conn:
            exists = (await conn.execute(text("SELECT to_regclass('alembic_version')"))).scalar()
            if exists is None:
                return set()
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


def upgraded_heads(owner: URL, registry: ModuleRegistry) -> set[str]:
    """What ``alembic_version`` holds at head: the script's heads, less those another head
    implies (a module's branch ``depends_on`` core's head, on any of its revisions)."""
    script = ScriptDirectory.from_config(alembic_config(owner, registry))
    heads = set(script.get_heads())
    implied: set[str] = set()
    for head in heads:
        below = [head]
        while below:  # every revision under this head, through down revisions and depends_on
            revision = script.get_revision(below.pop())
            if revision is None:
                continue
            for name in (revision.down_revision, revision.dependencies):
                found = (name,) if isinstance(name, str) else name or ()
                below.extend(r for r in found if r not in implied)
                implied.update(found)
    return heads - implied


def revision(
    owner: URL, registry: ModuleRegistry, module_key: str, message: str, autogenerate: bool = True
) -> Iterable[Any]:
    """Write a new revision into ``module_key``'s branch (``core`` for core)."""
    cfg = alembic_config(owner, registry, module_key=module_key)
    script = ScriptDirectory.from_config(cfg)
    if module_key == CORE_BRANCH:
        version_path = str(CORE_MIGRATIONS / "versions")
    else:
        location = registry.manifest(module_key).migrations
        if location is None:
            raise ValueError(f"Module {module_key!r} declares no migrations folder")
        version_path = str(location)
    in_branch = [r for r in script.walk_revisions() if module_key in (r.branch_labels or ())]
    has_branch = bool(in_branch)
    kwargs: dict[str, Any] = {
        "version_path": version_path,
        "rev_id": f"{module_key}_{len(in_branch) + 1:04d}",
    }
    if has_branch:
        kwargs["head"] = f"{module_key}@head"
    else:
        kwargs.update(head="base", branch_label=module_key)
        if module_key != CORE_BRANCH:
            kwargs["depends_on"] = sorted(
                r.revision for r in script.get_revisions("heads") if CORE_BRANCH in r.branch_labels
            )
    result = command.revision(cfg, message=message, autogenerate=autogenerate, **kwargs)
    return result if isinstance(result, list) else [result]


def revision_ancestry(registry: ModuleRegistry) -> dict[str, frozenset[str]]:
    """Each revision with everything it implies (ancestors and dependencies); ``*``: all.

    The schema is at head when the union over the database's current
    revisions equals ``*`` (alembic_version keeps only the branch tips).
    """
    script = ScriptDirectory.from_config(alembic_config(None, registry))
    ancestry = {
        rev.revision: frozenset(r.revision for r in script.iterate_revisions(rev.revision, "base"))
        for rev in script.walk_revisions()
    }
    ancestry["*"] = frozenset(ancestry)
    return ancestry
