"""``atrium_module`` returning a dict that looks like a manifest but is not one."""

from __future__ import annotations

from typing import Any

from core.plugins.hookspecs import hookimpl


@hookimpl
def atrium_module() -> dict[str, Any]:
    return {"key": "dicty", "name": "Dicty", "version": "1.0.0"}
