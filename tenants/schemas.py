"""API shapes for module enablement."""

from __future__ import annotations

import msgspec


class ModuleStatus(msgspec.Struct):
    key: str
    name: str
    version: str
    depends: list[str]
    enabled: bool


class EnabledModules(msgspec.Struct):
    enabled: list[str]
