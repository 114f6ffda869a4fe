"""A hook function written without @hookimpl: pluggy would silently never call it."""

from __future__ import annotations

from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import ModuleManifest
from core.plugins.results import SearchResult


@hookimpl
def atrium_module() -> ModuleManifest:
    return ModuleManifest(key="unmarked", name="Unmarked", version="1.0.0")


def atrium_global_search(ctx: object, session: object, query: str) -> list[SearchResult]:
    return []
