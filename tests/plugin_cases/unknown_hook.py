"""An ``atrium_*`` hook implementation that matches no hookspec (a typo of a real hook)."""

from __future__ import annotations

from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import ModuleManifest


@hookimpl
def atrium_module() -> ModuleManifest:
    return ModuleManifest(key="unknown", name="Unknown hook", version="1.0.0")


@hookimpl
def atrium_dashboard_widget(ctx: object, session: object) -> list[object]:
    return []
