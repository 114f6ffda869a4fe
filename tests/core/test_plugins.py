"""Loading modules: every validation failure names its culprit; order comes from ``depends``.

Each broken case is a small plugin: a :class:`FakePlugin` object carrying
@hookimpl functions, or a module under ``tests/plugin_cases``. Registries are built with
:meth:`ModuleRegistry.build` from :class:`Candidate` records, the same path
``ModuleRegistry.load`` takes after discovery.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import NotFound
from core.events import Event
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import (
    ApprovalKind,
    EventHandler,
    ModuleManifest,
    Permission,
    ScheduledJob,
)
from core.plugins.registry import Candidate, ModuleRegistry, PluginError
from core.plugins.results import Panel, SearchResult
from core.records import access
from core.records.access import RecordType
from core.settings import Settings
from tests.plugin_cases import not_a_manifest, unknown_hook, unmarked_hook, wrong_arguments
from tests.sample_addon.plugin import ENGINE

SAMPLE_PATHS = "tests.sample_module.plugin,tests.sample_addon.plugin"


class FakePlugin:
    """A plugin object whose attributes are hook functions (hashable, as pluggy needs)."""

    def __init__(self, **hooks: Any) -> None:
        self.__dict__.update(hooks)

    def __repr__(self) -> str:
        return f"FakePlugin({', '.join(self.__dict__)})"


def plugin(key: str, *, hooks: dict[str, Any] | None = None, **fields: Any) -> FakePlugin:
    """A plugin object declaring module ``key``; ``fields`` go to its manifest."""
    manifest = ModuleManifest(key=key, name=key.title(), version="1.0.0", **fields)

    @hookimpl
    def atrium_module() -> ModuleManifest:
        return manifest

    return FakePlugin(atrium_module=atrium_module, **(hooks or {}))


def candidate(obj: object, name: str | None = None, source: str | None = None) -> Candidate:
    key = name or _key_of(obj)
    return Candidate(key, obj, source or f"test plugin {key}")


def _key_of(obj: object) -> str:
    declared = obj.atrium_module()  # type: ignore[attr-defined]
    return declared.key if isinstance(declared, ModuleManifest) else repr(obj)


def build(*plugins: object, allow: set[str] | None = None) -> ModuleRegistry:
    return ModuleRegistry.build([candidate(p) for p in plugins], allow=allow)


def refused(*candidates: Candidate, allow: set[str] | None = None) -> str:
    """Build and return the PluginError's message (failing if the build succeeds)."""
    with pytest.raises(PluginError) as caught:
        ModuleRegistry.build(list(candidates), allow=allow)
    return str(caught.value)


class Pinged(Event, frozen=True, kw_only=True):
    type_name = "cases.pinged.v1"


async def on_ping(session: AsyncSession, ctx: TenantContext, event: Pinged) -> None:
    return None


async def also_on_ping(session: AsyncSession, ctx: TenantContext, event: Pinged) -> None:
    return None


async def nightly(session: AsyncSession, ctx: TenantContext) -> None:
    return None


def ctx_with(*enabled: str) -> TenantContext:
    return TenantContext(tenant_id=uuid.uuid4(), slug="acme", enabled=frozenset(enabled))


# --- keys ---------------------------------------------------------------------------------


def test_duplicate_module_keys_name_the_key_and_both_sources() -> None:
    message = refused(
        Candidate("crm", plugin("crm"), "entry point atrium.modules:crm = crm.plugin"),
        Candidate("other", plugin("crm"), "ATRIUM_EXTRA_MODULES: vendor.crm_fork.plugin"),
    )
    assert "Module key 'crm' is declared twice" in message
    assert "entry point atrium.modules:crm = crm.plugin" in message
    assert "ATRIUM_EXTRA_MODULES: vendor.crm_fork.plugin" in message


def test_the_same_plugin_discovered_twice_is_refused() -> None:
    obj = plugin("crm")
    message = refused(
        Candidate("crm", obj, "entry point atrium.modules:crm = crm.plugin"),
        Candidate("crm.plugin", obj, "ATRIUM_EXTRA_MODULES: crm.plugin"),
    )
    assert message == (
        "ATRIUM_EXTRA_MODULES: crm.plugin registers a plugin that is already registered"
    )


@pytest.mark.parametrize("key", ["Sales", "crm_leads", "crm-leads", "9lives", "x", "a" * 32])
def test_invalid_module_key_is_named(key: str) -> None:
    message = refused(candidate(plugin(key), source=f"test plugin {key}"))
    assert message.startswith(f"test plugin {key}: module key {key!r} must be")


@pytest.mark.parametrize("key", ["core", "tenants", "billing", "web", "api", "static"])
def test_reserved_module_key_is_named(key: str) -> None:
    message = refused(candidate(plugin(key), source="entry point atrium.modules:x = x"))
    assert f"module key {key!r}" in message
    assert "not a reserved name" in message


def test_entry_point_named_differently_from_the_manifest_key() -> None:
    source = "entry point atrium.modules:crm = sales.plugin"
    message = refused(Candidate("crm", plugin("sales"), source))
    assert message == (
        f"{source}: the entry point is named 'crm' but the manifest's key is 'sales'"
    )


def test_only_entry_points_must_be_named_after_the_key() -> None:
    registry = ModuleRegistry.build(
        [Candidate("vendor.sales.plugin", plugin("sales"), "ATRIUM_EXTRA_MODULES: x")]
    )
    assert registry.keys == ("sales",)


# --- the manifest ---------------------------------------------------------------------------


def test_atrium_module_must_return_a_manifest() -> None:
    source = "ATRIUM_EXTRA_MODULES: tests.plugin_cases.not_a_manifest"
    message = refused(Candidate("not_a_manifest", not_a_manifest, source))
    assert message == f"{source}: atrium_module must return a ModuleManifest"


def test_a_plugin_without_atrium_module_is_not_a_module() -> None:
    message = refused(Candidate("stray", FakePlugin(), "entry point atrium.modules:stray"))
    assert message.startswith("entry point atrium.modules:stray is not an Atrium module")


def test_duplicate_permission_codes_across_modules_name_both_modules() -> None:
    crm = plugin("crm", permissions=(Permission("crm.lead.read", "Read leads"),))
    thief = plugin("thief", permissions=(Permission("crm.lead.read", "Read leads"),))
    message = refused(candidate(crm), candidate(thief))
    assert message == "The permission code 'crm.lead.read' is declared by both 'crm' and 'thief'"


def test_a_permission_declared_twice_by_one_module() -> None:
    twice = (Permission("crm.lead.read", "Read leads"), Permission("crm.lead.read", "Read"))
    message = refused(candidate(plugin("crm", permissions=twice)))
    assert message == "Module 'crm' declares the permission 'crm.lead.read' twice"


def test_a_permission_giving_members_an_unknown_scope() -> None:
    odd = (Permission("crm.lead.read", "Read leads", member="team"),)
    message = refused(candidate(plugin("crm", permissions=odd)))
    assert message.startswith(
        "Module 'crm': permission 'crm.lead.read' gives members the unknown data scope 'team'"
    )


def test_duplicate_approval_kinds_across_modules_name_both_modules() -> None:
    erp = plugin("erp", approval_kinds=(ApprovalKind("erp.purchase", "Purchase"),))
    copy = plugin("copycat", approval_kinds=(ApprovalKind("erp.purchase", "Purchase"),))
    message = refused(candidate(copy), candidate(erp))
    assert "The approval kind code 'erp.purchase' is declared by both" in message
    assert "'erp'" in message
    assert "'copycat'" in message


def test_permission_without_the_module_prefix() -> None:
    message = refused(candidate(plugin("crm", permissions=(Permission("lead.read", "Read"),))))
    assert message == "Module 'crm' declares permission 'lead.read', which must start with 'crm.'"


def test_permission_with_a_longer_key_as_prefix() -> None:
    # "crmx.lead" starts with "crm" but not with "crm.": the dot is part of the rule.
    message = refused(candidate(plugin("crm", permissions=(Permission("crmx.lead", "Lead"),))))
    assert "'crmx.lead', which must start with 'crm.'" in message


def test_approval_kind_without_the_module_prefix() -> None:
    kinds = (ApprovalKind("purchase.order", "Purchase order"),)
    message = refused(candidate(plugin("shop", approval_kinds=kinds)))
    assert message == (
        "Module 'shop' declares approval kind 'purchase.order', which must start with 'shop.'"
    )


def test_a_permission_and_an_approval_kind_may_share_a_code() -> None:
    registry = build(
        plugin(
            "erp",
            permissions=(Permission("erp.purchase", "Purchase"),),
            approval_kinds=(ApprovalKind("erp.purchase", "Purchase"),),
        )
    )
    assert registry.approval_kind("erp.purchase") == ApprovalKind("erp.purchase", "Purchase")


def test_invalid_cron_expression_names_module_job_and_expression() -> None:
    jobs = (ScheduledJob("nightly", "0 25 * * *", nightly),)
    message = refused(candidate(plugin("hr", scheduled_jobs=jobs)))
    assert message == (
        "Module 'hr': scheduled job 'nightly' has an invalid cron expression '0 25 * * *'"
    )


def test_duplicate_event_handler_names() -> None:
    handlers = (EventHandler(Pinged, on_ping), EventHandler(Pinged, also_on_ping, name="on_ping"))
    message = refused(candidate(plugin("pinger", event_handlers=handlers)))
    assert message == "Module 'pinger' has event handlers with the same name: ['pinger.on_ping']"


def test_event_handlers_are_indexed_by_event_type() -> None:
    handler = EventHandler(Pinged, on_ping)
    other = EventHandler(Pinged, also_on_ping)
    registry = build(
        plugin("pinger", event_handlers=(handler,)),
        plugin("ponger", depends=("pinger",), event_handlers=(other,)),
    )
    assert registry.handlers_for("cases.pinged.v1") == [("pinger", handler), ("ponger", other)]
    assert registry.handlers_for("cases.unknown.v1") == []


def test_missing_migrations_folder(tmp_path: Path) -> None:
    missing = tmp_path / "migrations"
    message = refused(candidate(plugin("crm", migrations=missing)))
    assert message == f"Module 'crm': migrations folder {missing} does not exist"


def test_existing_migrations_folder_is_accepted(tmp_path: Path) -> None:
    registry = build(plugin("crm", migrations=tmp_path))
    assert registry.manifest("crm").migrations == tmp_path


# --- record types ---------------------------------------------------------------------------

LEAD_PERMISSIONS = (
    Permission("crm.lead.read", "Read leads"),
    Permission("crm.lead.write", "Write leads"),
)


async def lead_exists(session: AsyncSession, actor: Any, lead_id: uuid.UUID) -> None:
    return None


def lead_type(
    key: str = "crm.lead", write: str = "crm.lead.write", page: str | None = None
) -> RecordType:
    return RecordType(key, "crm.lead.read", write, lead_exists, page)


def test_record_types_resolve_for_the_tenants_enabled_modules_only() -> None:
    lead = lead_type()
    registry = build(plugin("crm", permissions=LEAD_PERMISSIONS, record_types=(lead,)))
    assert registry.record_type("crm.lead") == ("crm", lead)
    assert registry.record_type("crm.deal") is None
    assert access.record_type(registry, ctx_with("crm"), "crm.lead") is lead
    with pytest.raises(NotFound):
        access.record_type(registry, ctx_with(), "crm.lead")  # the module is off here
    with pytest.raises(NotFound):
        access.record_type(registry, ctx_with("crm"), "crm.deal")
    # Core's record types need no module.
    assert access.record_type(registry, ctx_with(), "core.party").read_permission == (
        "core.party.read"
    )


def test_a_record_type_without_the_module_prefix() -> None:
    crm = plugin("crm", permissions=LEAD_PERMISSIONS, record_types=(lead_type("sales.lead"),))
    message = refused(candidate(crm))
    assert message == (
        "Module 'crm' declares record type 'sales.lead', which must start with 'crm.'"
    )


def test_a_record_type_declared_twice_by_one_module() -> None:
    twice = (lead_type(), lead_type())
    message = refused(candidate(plugin("crm", permissions=LEAD_PERMISSIONS, record_types=twice)))
    assert message == "Module 'crm' declares the record type 'crm.lead' twice"


def test_a_record_type_that_does_not_look_like_module_dot_record() -> None:
    odd = (lead_type("crm.Lead-Card"),)
    message = refused(candidate(plugin("crm", permissions=LEAD_PERMISSIONS, record_types=odd)))
    assert message == (
        "Module 'crm': A record type looks like module.record (core.party), not crm.Lead-Card."
    )


def test_a_record_type_guarded_by_a_permission_the_module_does_not_declare() -> None:
    typo = (lead_type(write="crm.leads.write"),)
    message = refused(candidate(plugin("crm", permissions=LEAD_PERMISSIONS, record_types=typo)))
    assert message == (
        "Module 'crm': record type 'crm.lead' is guarded by the permission 'crm.leads.write', "
        "which the module does not declare"
    )


def test_a_record_types_page_must_start_with_a_slash_and_hold_the_id() -> None:
    for page in ("crm/leads/{id}", "/crm/leads", "/crm/leads/{lead_id}"):
        paged = (lead_type(page=page),)
        declared = plugin("crm", permissions=LEAD_PERMISSIONS, record_types=paged)
        assert refused(candidate(declared)) == (
            f"Module 'crm': record type 'crm.lead' has the page {page!r}, which must start "
            "with '/' and hold '{id}', like '/parties/{id}'"
        )


def test_a_records_page_is_under_the_workspace_while_its_module_is_enabled() -> None:
    lead = lead_type(page="/crm/leads/{id}")
    registry = build(plugin("crm", permissions=LEAD_PERMISSIONS, record_types=(lead,)))
    record_id = uuid.uuid4()
    assert access.record_page(registry, ctx_with("crm"), "crm.lead", record_id) == (
        f"/t/acme/crm/leads/{record_id}"
    )
    assert access.record_page(registry, ctx_with(), "crm.lead", record_id) is None  # off
    assert access.record_page(registry, ctx_with("crm"), "crm.deal", record_id) is None
    # Core's: parties and products have pages, a colleague has none of its own.
    assert access.record_page(registry, ctx_with(), "core.party", record_id) == (
        f"/t/acme/parties/{record_id}"
    )
    assert access.record_page(registry, ctx_with(), "core.product", record_id) == (
        f"/t/acme/products/{record_id}"
    )
    assert access.record_page(registry, ctx_with(), "core.user", record_id) is None


# --- hooks ----------------------------------------------------------------------------------


def test_atrium_function_matching_no_hookspec() -> None:
    source = "ATRIUM_EXTRA_MODULES: tests.plugin_cases.unknown_hook"
    message = refused(Candidate("unknown_hook", unknown_hook, source))
    assert message.startswith(
        "Module 'unknown' implements 'atrium_dashboard_widget', which is not an Atrium hook"
    )
    assert "atrium_dashboard_widgets" in message  # the list of known hooks shows the fix


def test_an_unmarked_atrium_function_matching_no_hookspec() -> None:
    def atrium_on_save() -> None:
        return None

    message = refused(candidate(plugin("crm", hooks={"atrium_on_save": atrium_on_save})))
    assert message.startswith("Module 'crm' implements 'atrium_on_save', which is not an Atrium")


def test_a_hookimpl_outside_the_atrium_namespace_names_the_module() -> None:
    @hookimpl
    def on_save() -> None:
        return None

    message = refused(candidate(plugin("crm", hooks={"on_save": on_save})))
    assert message.startswith("Module 'crm': unknown hook 'on_save'")


def test_hook_function_without_hookimpl() -> None:
    source = "ATRIUM_EXTRA_MODULES: tests.plugin_cases.unmarked_hook"
    message = refused(Candidate("unmarked_hook", unmarked_hook, source))
    assert message == (
        "Module 'unmarked' defines 'atrium_global_search' without @hookimpl, "
        "so it would never be called"
    )


def test_atrium_module_without_hookimpl() -> None:
    def atrium_module() -> ModuleManifest:
        return ModuleManifest(key="bare", name="Bare", version="1.0.0")

    message = refused(candidate(FakePlugin(atrium_module=atrium_module), name="bare"))
    assert message.startswith("Module 'bare' defines 'atrium_module' without @hookimpl")


def test_hookimpl_arguments_must_match_the_hookspec() -> None:
    source = "ATRIUM_EXTRA_MODULES: tests.plugin_cases.wrong_arguments"
    message = refused(Candidate("wrong_arguments", wrong_arguments, source))
    assert message.startswith(f"Module 'wrongargs' ({source}): ")
    assert "for hook 'atrium_record_panels'" in message  # pluggy's own validation
    assert "{'record_kind'} are declared in the hookimpl but can not be found" in message


def test_a_hookimpl_may_be_bound_under_another_name() -> None:
    def search_notes(ctx: Any, session: Any, query: str) -> list[SearchResult]:
        return [SearchResult(query, "/notes", "notes")]

    aliased = plugin("notes", hooks={"atrium_global_search": hookimpl(search_notes)})
    registry = build(aliased)
    found = registry.hooks_for(frozenset({"notes"})).atrium_global_search(
        ctx=None, session=None, actor=None, query="q"
    )
    assert found == [[SearchResult("q", "/notes", "notes")]]


def test_a_hookimpl_may_take_fewer_arguments_than_the_hookspec() -> None:
    @hookimpl
    def atrium_approval_engine() -> None:
        return None

    registry = build(plugin("lean", hooks={"atrium_approval_engine": atrium_approval_engine}))
    assert registry.hooks_for(frozenset({"lean"})).atrium_approval_engine(ctx=None) is None


# --- depends --------------------------------------------------------------------------------


def test_depends_on_an_unknown_module() -> None:
    message = refused(candidate(plugin("crm")), candidate(plugin("erp", depends=("ghost",))))
    assert message == (
        "Module 'erp' depends on 'ghost', which is not installed (or not in ATRIUM_MODULES)"
    )


def test_depends_on_a_module_the_allow_list_excludes() -> None:
    message = refused(
        candidate(plugin("crm")),
        candidate(plugin("erp", depends=("crm",))),
        allow={"erp"},
    )
    assert message == (
        "Module 'erp' depends on 'crm', which is not installed (or not in ATRIUM_MODULES)"
    )


def test_allow_list_excluding_a_real_dependency(settings: Settings) -> None:
    with pytest.raises(PluginError, match="Module 'sampleaddon' depends on 'sample'"):
        ModuleRegistry.load(settings.extra_modules, allow=["sampleaddon"])


@pytest.mark.parametrize(
    ("depends", "cycle"),
    [
        ({"aa": ("aa",)}, ["aa", "aa"]),
        ({"aa": ("bb",), "bb": ("aa",)}, ["aa", "bb", "aa"]),
        ({"aa": ("bb",), "bb": ("cc",), "cc": ("aa",)}, ["aa", "bb", "cc", "aa"]),
        ({"cc": ("bb",), "bb": ("aa",), "aa": ("cc",), "dd": ("aa",)}, ["aa", "cc", "bb", "aa"]),
    ],
)
def test_a_cycle_of_depends_is_shown(depends: dict[str, tuple[str, ...]], cycle: list[str]):
    message = refused(*(candidate(plugin(k, depends=d)) for k, d in depends.items()))
    assert message.startswith("Modules depend on each other in a cycle")
    shown = message.rsplit(": ", 1)[1].split(" -> ")
    assert shown[0] == shown[-1]
    # Every arrow reads "depends on", and the cycle is the one declared (from any start).
    for module, dependency in itertools.pairwise(shown):
        assert dependency in depends[module], f"{module} does not depend on {dependency}"
    assert set(shown) == set(cycle)
    assert "dd" not in shown  # a module hanging off the cycle is not part of it


def test_allow_list_naming_an_uninstalled_module() -> None:
    message = refused(candidate(plugin("crm")), allow={"crm", "hr", "erp"})
    assert message == "ATRIUM_MODULES names modules that are not installed: ['erp', 'hr']"


# --- what loads, and in which order -----------------------------------------------------------

DEPENDS = {
    "base": (),
    "ledger": ("base",),
    "sales": ("ledger", "base"),
    "stock": ("base",),
    "shop": ("sales", "stock"),
}


def test_install_order_is_a_topological_sort_whatever_the_discovery_order() -> None:
    orders = set()
    pluggy_orders = set()
    for keys in itertools.permutations(DEPENDS):
        registry = build(*(plugin(k, depends=DEPENDS[k]) for k in keys))
        installed = registry.keys
        assert sorted(installed) == sorted(DEPENDS)
        for key in installed:
            for dep in DEPENDS[key]:
                assert installed.index(dep) < installed.index(key), (keys, installed)
        orders.add(installed)
        # Pluggy calls implementations last-registered-first: that order follows discovery.
        pluggy_orders.add(tuple(m.key for m in registry.pm.hook.atrium_module()))
    assert len(orders) == 1  # the same install order for all 120 discovery orders
    assert len(pluggy_orders) > 1


def test_install_order_ignores_tryfirst_and_trylast() -> None:
    @hookimpl(tryfirst=True)
    def first() -> ModuleManifest:
        return ModuleManifest(key="shop", name="Shop", version="1", depends=("base",))

    @hookimpl(trylast=True)
    def last() -> ModuleManifest:
        return ModuleManifest(key="base", name="Base", version="1")

    registry = build(FakePlugin(atrium_module=last), FakePlugin(atrium_module=first))
    assert [m.key for m in registry.pm.hook.atrium_module()] == ["shop", "base"]
    assert registry.keys == ("base", "shop")


def test_atrium_modules_environment_allow_list_loads_only_those(registry: ModuleRegistry):
    settings = Settings.from_env({"ATRIUM_MODULES": "sample", "ATRIUM_EXTRA_MODULES": SAMPLE_PATHS})
    assert settings.modules_allow == ("sample",)
    only = ModuleRegistry.load(settings.extra_modules, settings.modules_allow)
    assert only.keys == ("sample",)
    assert only.pm.get_plugin("sampleaddon") is None  # unregistered, not merely hidden
    assert only.pm.hook.atrium_approval_engine.get_hookimpls() == []
    assert only.approval_kind("sample.note") is not None
    # Without the allow-list both load, dependency first.
    everything = Settings.from_env({"ATRIUM_EXTRA_MODULES": SAMPLE_PATHS})
    assert everything.modules_allow is None
    assert ModuleRegistry.load(everything.extra_modules).keys[-2:] == ("sample", "sampleaddon")
    assert registry.keys[-2:] == ("sample", "sampleaddon")


def test_allow_list_with_a_dependency_closure() -> None:
    registry = build(
        *(plugin(k, depends=d) for k, d in DEPENDS.items()), allow={"sales", "ledger", "base"}
    )
    assert registry.keys == ("base", "ledger", "sales")
    assert {registry.pm.get_name(p) for p in registry.pm.get_plugins()} == {
        "base",
        "ledger",
        "sales",
    }


# --- per-request hooks reach only the enabled modules -------------------------------------------


def test_hooks_for_calls_only_the_enabled_modules(registry: ModuleRegistry) -> None:
    both = ctx_with("sample", "sampleaddon")
    hooks = registry.hooks_for(frozenset({"sample", "sampleaddon"}))
    assert hooks.atrium_approval_engine(ctx=both) is ENGINE

    sample_only = ctx_with("sample")
    assert registry.hooks_for(sample_only.enabled).atrium_approval_engine(ctx=sample_only) is None
    nothing = ctx_with()
    assert registry.hooks_for(nothing.enabled).atrium_approval_engine(ctx=nothing) is None

    record = uuid.uuid4()
    kwargs = {"ctx": sample_only, "session": None, "actor": None, "record_type": "core.user"}
    panels = registry.hooks_for(frozenset({"sample"})).atrium_record_panels(
        record_id=record, **kwargs
    )
    assert panels == [[Panel("Notes", "sample/widget.html", {"count": 0}, order=50)]]
    # The addon implements no panels; without sample nobody answers.
    addon_only = registry.hooks_for(frozenset({"sampleaddon"}))
    assert addon_only.atrium_record_panels(record_id=record, **kwargs) == []


def test_hooks_for_ignores_unknown_keys_and_is_cached(registry: ModuleRegistry) -> None:
    hooks = registry.hooks_for(frozenset({"sampleaddon", "ghost"}))
    assert hooks is registry.hooks_for(frozenset({"sampleaddon"}))
    assert hooks.atrium_approval_engine(ctx=ctx_with("sampleaddon")) is ENGINE
    with pytest.raises(AttributeError):
        _ = hooks.not_a_hook


def test_hooks_for_with_several_modules_answering() -> None:
    def searcher(key: str) -> FakePlugin:
        @hookimpl
        def atrium_global_search(ctx: Any, session: Any, query: str) -> list[SearchResult]:
            return [SearchResult(f"{query} in {key}", f"/{key}", key)]

        return plugin(key, hooks={"atrium_global_search": atrium_global_search})

    registry = build(searcher("crm"), searcher("erp"), searcher("hr"))
    ctx = ctx_with("crm", "hr")
    answered = registry.hooks_for(ctx.enabled).atrium_global_search(
        ctx=ctx, session=None, actor=None, query="acme"
    )
    assert sorted(r.module for results in answered for r in results) == ["crm", "hr"]
    everyone = registry.pm.hook.atrium_global_search(
        ctx=ctx, session=None, actor=None, query="acme"
    )
    assert len(everyone) == 3  # the full hook still reaches every installed module


def test_closure_and_dependents() -> None:
    registry = build(*(plugin(k, depends=d) for k, d in DEPENDS.items()))
    assert registry.closure("base") == ["base"]
    assert registry.closure("sales") == ["base", "ledger", "sales"]
    closure = registry.closure("shop")
    assert sorted(closure) == ["base", "ledger", "sales", "shop", "stock"]
    assert closure[-1] == "shop"
    for key in closure:
        for dep in DEPENDS[key]:
            assert closure.index(dep) < closure.index(key)
    assert sorted(registry.dependents("base")) == ["ledger", "sales", "shop", "stock"]
    assert sorted(registry.dependents("ledger")) == ["sales", "shop"]
    assert registry.dependents("stock") == ["shop"]
    assert registry.dependents("shop") == []
    # dependents come in install order, so disabling them in reverse is safe
    order = registry.keys
    dependents = registry.dependents("base")
    assert dependents == sorted(dependents, key=order.index)


def test_closure_and_dependents_of_the_sample_modules(registry: ModuleRegistry) -> None:
    assert registry.closure("sampleaddon") == ["sample", "sampleaddon"]
    assert registry.closure("sample") == ["sample"]
    assert registry.dependents("sample") == ["sampleaddon"]
    assert registry.dependents("sampleaddon") == []
