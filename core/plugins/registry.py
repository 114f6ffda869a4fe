"""Loading, validating and ordering modules; calling hooks for a tenant's modules.

Modules come from the ``atrium.modules`` entry-point group (built-ins too)
and, for development and tests, from ``ATRIUM_EXTRA_MODULES`` import paths.
``ATRIUM_MODULES`` restricts loading to an allow-list of keys. Every
validation failure is a :class:`PluginError` that names the culprit.
"""

from __future__ import annotations

import graphlib
import importlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
from croniter import croniter

from core.errors import ValidationFailed
from core.permissions import Scope
from core.plugins import hookspecs
from core.plugins.manifest import ApprovalKind, EventHandler, ModuleManifest, handler_name
from core.records.models import check_record_type

if TYPE_CHECKING:
    from core.records.access import RecordType

ENTRY_POINT_GROUP = "atrium.modules"
MODULE_KEY = re.compile(r"^[a-z][a-z0-9]{1,30}$")
RESERVED_KEYS = frozenset({"core", "tenants", "billing", "web", "api", "t", "static"})


class PluginError(RuntimeError):
    """The installed modules cannot be loaded as they are; the message names the culprit."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plugin found on the way in, before validation: where it came from and what it is."""

    name: str
    plugin: ModuleType | object
    source: str


@dataclass(frozen=True, slots=True)
class LoadedModule:
    manifest: ModuleManifest
    plugin: ModuleType | object
    source: str

    @property
    def key(self) -> str:
        return self.manifest.key


@cache
def installed(extra: tuple[str, ...] = (), allow: tuple[str, ...] | None = None) -> ModuleRegistry:
    """The registry as the app loads it, once per process: for core's scheduled jobs and
    platform jobs, which the worker calls with a session (or the database) and no
    registry (``installed(settings.extra_modules, settings.modules_allow)``)."""
    return ModuleRegistry.load(extra, allow)


def discover(extra: Iterable[str] = ()) -> list[Candidate]:
    """Find modules: the entry-point group, then extra import paths."""
    found = [
        Candidate(ep.name, ep.load(), f"entry point {ep.group}:{ep.name} = {ep.value}")
        for ep in entry_points(group=ENTRY_POINT_GROUP)
    ]
    for path in extra:
        plugin = importlib.import_module(path)
        found.append(Candidate(path, plugin, f"ATRIUM_EXTRA_MODULES: {path}"))
    return found


class ModuleRegistry:
    """The validated, ordered set of installed modules and their plugin manager."""

    def __init__(self, pm: pluggy.PluginManager, modules: Mapping[str, LoadedModule]) -> None:
        self.pm = pm
        self.modules = dict(modules)  # install order: dependencies first
        self._handlers = _index_handlers(self.modules.values())
        self._approval_kinds = {
            kind.code: kind for m in self.modules.values() for kind in m.manifest.approval_kinds
        }
        self._record_types = {
            declared.key: (m.key, declared)
            for m in self.modules.values()
            for declared in m.manifest.record_types
        }

    # --- construction -----------------------------------------------------------------

    @classmethod
    def load(cls, extra: Iterable[str] = (), allow: Iterable[str] | None = None) -> ModuleRegistry:
        return cls.build(discover(extra), allow=allow)

    @classmethod
    def build(
        cls, candidates: Iterable[Candidate], allow: Iterable[str] | None = None
    ) -> ModuleRegistry:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        manifests: dict[str, LoadedModule] = {}
        for candidate in candidates:
            loaded = _declare(pm, candidate, manifests)
            manifests[loaded.key] = loaded
        if allow is not None:
            manifests = _apply_allow_list(pm, manifests, set(allow))
        _check_pending(pm, manifests)
        ordered = _install_order(manifests)
        _check_unique_codes(ordered.values())
        for loaded in ordered.values():
            _check_manifest(loaded.manifest)
        return cls(pm, ordered)

    # --- queries ----------------------------------------------------------------------

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.modules)

    def manifest(self, key: str) -> ModuleManifest:
        return self.modules[key].manifest

    def handlers_for(self, event_type: str) -> list[tuple[str, EventHandler]]:
        """(module key, handler) pairs subscribed to an event type, in install order."""
        return self._handlers.get(event_type, [])

    def approval_kind(self, code: str) -> ApprovalKind | None:
        return self._approval_kinds.get(code)

    def record_type(self, key: str) -> tuple[str, RecordType] | None:
        """The module declaring record type ``key`` and its declaration; None if none does."""
        return self._record_types.get(key)

    def hooks_for(self, enabled: frozenset[str]) -> SubsetHooks:
        """Hook callers that reach only the modules in ``enabled`` (per-request hooks)."""
        return _subset_hooks(self, frozenset(enabled) & frozenset(self.modules))

    def closure(self, key: str) -> list[str]:
        """``key`` and everything it depends on, dependencies first."""
        needed: list[str] = []

        def visit(k: str) -> None:
            for dep in self.modules[k].manifest.depends:
                visit(dep)
            if k not in needed:
                needed.append(k)

        visit(key)
        return needed

    def dependents(self, key: str) -> list[str]:
        """Modules that depend on ``key``, directly or not."""
        return [k for k in self.modules if k != key and key in self.closure(k)]


class SubsetHooks:
    """``registry.hooks_for(enabled).atrium_x(...)``: a hook caller without other modules."""

    def __init__(self, registry: ModuleRegistry, enabled: frozenset[str]) -> None:
        self._registry = registry
        self._removed = [m.plugin for k, m in registry.modules.items() if k not in enabled]
        self._callers: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("atrium_"):
            raise AttributeError(name)
        caller = self._callers.get(name)
        if caller is None:
            caller = self._registry.pm.subset_hook_caller(name, remove_plugins=self._removed)
            self._callers[name] = caller
        return caller


@lru_cache(maxsize=512)
def _subset_hooks(registry: ModuleRegistry, enabled: frozenset[str]) -> SubsetHooks:
    return SubsetHooks(registry, enabled)


# --- validation steps, each with a message naming the culprit --------------------------


def _declare(
    pm: pluggy.PluginManager, candidate: Candidate, declared: Mapping[str, LoadedModule]
) -> LoadedModule:
    if pm.is_registered(candidate.plugin):
        raise PluginError(f"{candidate.source} registers a plugin that is already registered")
    impl = getattr(candidate.plugin, "atrium_module", None)
    if impl is None:
        raise PluginError(
            f"{candidate.source} is not an Atrium module: it has no atrium_module hook "
            "returning its manifest"
        )
    manifest = impl()
    if not isinstance(manifest, ModuleManifest):
        raise PluginError(f"{candidate.source}: atrium_module must return a ModuleManifest")
    key = manifest.key
    if not MODULE_KEY.match(key) or key in RESERVED_KEYS:
        raise PluginError(
            f"{candidate.source}: module key {key!r} must be 2-31 lower-case letters or "
            "digits starting with a letter, and not a reserved name"
        )
    if key in declared:  # before pm.register, which would refuse the name less clearly
        raise PluginError(
            f"Module key {key!r} is declared twice: by "
            f"{declared[key].source} and by {candidate.source}"
        )
    if candidate.source.startswith("entry point") and candidate.name != key:
        raise PluginError(
            f"{candidate.source}: the entry point is named {candidate.name!r} "
            f"but the manifest's key is {key!r}"
        )
    try:
        pm.register(candidate.plugin, name=key)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"Module {key!r} ({candidate.source}): {exc}") from exc
    # Hook names as pluggy registered them (the attribute's name, not the function's:
    # ``atrium_global_search = hookimpl(search_notes)`` is a valid implementation).
    registered = {caller.name for caller in pm.get_hookcallers(candidate.plugin) or []}
    for name in dir(candidate.plugin):
        if name in hookspecs.HOOK_NAMES and name not in registered:
            raise PluginError(
                f"Module {key!r} defines {name!r} without @hookimpl, so it would never be called"
            )
    return LoadedModule(manifest, candidate.plugin, candidate.source)


def _apply_allow_list(
    pm: pluggy.PluginManager, manifests: dict[str, LoadedModule], allow: set[str]
) -> dict[str, LoadedModule]:
    unknown = sorted(allow - set(manifests))
    if unknown:
        raise PluginError(f"ATRIUM_MODULES names modules that are not installed: {unknown}")
    for key in set(manifests) - allow:
        pm.unregister(name=key)
    return {k: v for k, v in manifests.items() if k in allow}


def _check_pending(pm: pluggy.PluginManager, manifests: Mapping[str, LoadedModule]) -> None:
    """Every ``atrium_*`` function a module defines must match a hookspec."""
    for key, loaded in manifests.items():
        for name in dir(loaded.plugin):
            if name.startswith("atrium_") and name not in hookspecs.HOOK_NAMES:
                raise PluginError(
                    f"Module {key!r} implements {name!r}, which is not an Atrium hook "
                    f"(known hooks: {', '.join(hookspecs.HOOK_NAMES)})"
                )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"Module {pm.get_name(exc.plugin)!r}: {exc}") from exc


def _install_order(manifests: Mapping[str, LoadedModule]) -> dict[str, LoadedModule]:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for key in sorted(manifests):
        for dep in manifests[key].manifest.depends:
            if dep not in manifests:
                raise PluginError(
                    f"Module {key!r} depends on {dep!r}, which is not installed "
                    "(or not in ATRIUM_MODULES)"
                )
        sorter.add(key, *sorted(manifests[key].manifest.depends))
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError as exc:
        # graphlib lists the cycle from dependency to dependent; show "a -> b": a depends on b.
        cycle = " -> ".join(reversed(exc.args[1]))
        raise PluginError(
            f"Modules depend on each other in a cycle (a -> b: a depends on b): {cycle}"
        ) from exc
    return {key: manifests[key] for key in order}


def _check_unique_codes(modules: Iterable[LoadedModule]) -> None:
    # Duplicates first, across all modules: with the prefix rule checked first, a module
    # re-declaring another's code would only hear about the prefix, not whose code it is.
    owners: dict[tuple[str, str], str] = {}
    declared: list[tuple[str, str, str]] = []
    for loaded in modules:
        manifest = loaded.manifest
        codes = [("permission", p.code) for p in manifest.permissions]
        codes += [("approval kind", a.code) for a in manifest.approval_kinds]
        codes += [("record type", r.key) for r in manifest.record_types]
        for kind, code in codes:
            if (kind, code) in owners:
                first = owners[kind, code]
                if first == manifest.key:
                    raise PluginError(f"Module {first!r} declares the {kind} {code!r} twice")
                raise PluginError(
                    f"The {kind} code {code!r} is declared by both {first!r} and {manifest.key!r}"
                )
            owners[kind, code] = manifest.key
            declared.append((manifest.key, kind, code))
    for key, kind, code in declared:
        if not code.startswith(f"{key}."):
            raise PluginError(
                f"Module {key!r} declares {kind} {code!r}, which must start with {key + '.'!r}"
            )


def _check_manifest(manifest: ModuleManifest) -> None:
    for permission in manifest.permissions:
        if permission.member is not None and permission.member.upper() not in Scope.__members__:
            raise PluginError(
                f"Module {manifest.key!r}: permission {permission.code!r} gives members the "
                f"unknown data scope {permission.member!r} "
                f"(one of {', '.join(s.key for s in Scope)})"
            )
    for job in manifest.scheduled_jobs:
        if not croniter.is_valid(job.cron):
            raise PluginError(
                f"Module {manifest.key!r}: scheduled job {job.key!r} has an invalid cron "
                f"expression {job.cron!r}"
            )
    own_permissions = {permission.code for permission in manifest.permissions}
    for record_type in manifest.record_types:
        try:
            check_record_type(record_type.key)
        except ValidationFailed as exc:
            raise PluginError(f"Module {manifest.key!r}: {exc}") from None
        for code in (record_type.read_permission, record_type.write_permission):
            if code not in own_permissions:  # a module guards its records with its own codes
                raise PluginError(
                    f"Module {manifest.key!r}: record type {record_type.key!r} is guarded by "
                    f"the permission {code!r}, which the module does not declare"
                )
        page = record_type.page
        if page is not None and not (page.startswith("/") and "{id}" in page):
            raise PluginError(
                f"Module {manifest.key!r}: record type {record_type.key!r} has the page "
                f"{page!r}, which must start with '/' and hold '{{id}}', like '/parties/{{id}}'"
            )
    for kind, spec in manifest.import_specs.items():
        if not re.fullmatch(rf"{manifest.key}\.[a-z][a-z0-9_]{{0,40}}", kind):
            raise PluginError(
                f"Module {manifest.key!r}: import kind {kind!r} must be shaped "
                f"'{manifest.key}.<records>', like 'crm.leads'"
            )
        if spec.permission not in own_permissions:  # as record types: its own codes
            raise PluginError(
                f"Module {manifest.key!r}: import kind {kind!r} needs the permission "
                f"{spec.permission!r}, which the module does not declare"
            )
    names = [handler_name(manifest.key, h) for h in manifest.event_handlers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PluginError(
            f"Module {manifest.key!r} has event handlers with the same name: {duplicates}"
        )
    if manifest.migrations is not None and not manifest.migrations.is_dir():
        raise PluginError(
            f"Module {manifest.key!r}: migrations folder {manifest.migrations} does not exist"
        )


def _index_handlers(
    modules: Iterable[LoadedModule],
) -> dict[str, list[tuple[str, EventHandler]]]:
    index: dict[str, list[tuple[str, EventHandler]]] = {}
    for loaded in modules:
        for handler in loaded.manifest.event_handlers:
            index.setdefault(handler.event.event_type(), []).append((loaded.key, handler))
    return index
