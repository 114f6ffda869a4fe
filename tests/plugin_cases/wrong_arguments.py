"""A hook implementation asking for an argument its hookspec does not pass."""

from __future__ import annotations

import uuid

from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import ModuleManifest
from core.plugins.results import Panel


@hookimpl
def atrium_module() -> ModuleManifest:
    return ModuleManifest(key="wrongargs", name="Wrong arguments", version="1.0.0")


@hookimpl
def atrium_record_panels(
    ctx: object, session: object, record_kind: str, record_id: uuid.UUID
) -> list[Panel]:
    return []
