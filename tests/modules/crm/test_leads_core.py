"""The two core seams the leads area added: a module's import kinds (``import_specs``,
checked at startup, offered only while the module is on) and its public pages
(``public_routers`` under ``/public/{key}``, with no tenant guard, and the CSRF opt-out
allowed to them alone)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import get, post

from core.context import TenantContext
from core.exchange.api import CORE_SPECS, import_specs
from core.plugins.manifest import CSRF_EXEMPT, Permission
from core.plugins.registry import ModuleRegistry, PluginError
from core.settings import Settings
from modules.crm.services.lead_import import LEAD_IMPORT
from tests.core.test_plugins import candidate, plugin, refused
from web.app import create_app

NOTE_WRITE = Permission("notes.note.write", "Write notes")


def test_an_import_kind_is_prefixed_with_its_modules_key() -> None:
    for kind in ("leads", "crm.leads", "notes.Leads", "notes."):
        declared = plugin("notes", permissions=(NOTE_WRITE,), import_specs={kind: LEAD_IMPORT})
        assert refused(candidate(declared)) == (
            f"Module 'notes': import kind {kind!r} must be shaped 'notes.<records>', "
            "like 'crm.leads'"
        )


def test_an_import_kind_needs_a_permission_of_its_own_module() -> None:
    declared = plugin("notes", permissions=(NOTE_WRITE,), import_specs={"notes.leads": LEAD_IMPORT})
    assert refused(candidate(declared)) == (
        "Module 'notes': import kind 'notes.leads' needs the permission 'crm.lead.write', "
        "which the module does not declare"
    )


def test_a_modules_import_kinds_are_offered_while_it_is_enabled(registry: ModuleRegistry) -> None:
    on = TenantContext(tenant_id=None, slug="acme", enabled=frozenset({"crm"}))  # type: ignore[arg-type]
    off = TenantContext(tenant_id=None, slug="acme", enabled=frozenset())  # type: ignore[arg-type]
    assert list(import_specs(registry, on)) == [*CORE_SPECS, "crm.leads"]
    assert import_specs(registry, off) == CORE_SPECS


@get("/hello", sync_to_thread=False)
def hello() -> str:
    return "hello"


@post("/hello", opt={CSRF_EXEMPT: True}, sync_to_thread=False)
def take_a_post() -> str:
    return "thanks"


def _app_with(settings: Settings, **fields: Any):
    """The app with one test module ("notes", whose folder is this one's) declaring ``fields``."""
    notes = plugin("notes", hooks={"__file__": __file__}, **fields)
    return create_app(settings, registry=ModuleRegistry.build([candidate(notes)]))


def test_public_routers_are_mounted_under_public_and_the_modules_key(settings: Settings) -> None:
    app = _app_with(settings, public_routers=[hello, take_a_post])
    paths = {route.path: route for route in app.routes}
    assert "/public/notes/hello" in paths
    handlers = paths["/public/notes/hello"].route_handlers  # type: ignore[attr-defined]
    assert all(not handler.guards for handler in handlers)  # no tenant guard
    assert {handler.opt["module"] for handler in handlers} == {"notes"}


def test_only_a_public_page_may_opt_out_of_the_csrf_check(settings: Settings) -> None:
    with pytest.raises(PluginError) as caught:
        _app_with(settings, view_routers=[take_a_post])
    assert str(caught.value) == (
        "The route /t/{tenant_slug:str}/hello opts out of the CSRF check "
        f"({CSRF_EXEMPT}); only a module's public_routers (under /public/) may"
    )
