"""What a workspace route handler can ask for, by name and type.

``session: DbSession`` is the request's tenant-scoped session (committed or
rolled back as the response starts), ``tenant: CurrentTenant`` the resolved
workspace with its enabled modules, ``actor: CurrentActor`` the member
acting (their permissions and data scopes), ``registry: Registry`` the
installed modules. They exist on routes behind the tenant guard (every module route).
"""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry

DbSession = NamedDependency[AsyncSession]
CurrentTenant = NamedDependency[TenantContext]
CurrentActor = NamedDependency[Actor]
Registry = NamedDependency[ModuleRegistry]

__all__ = ["CurrentActor", "CurrentTenant", "DbSession", "Registry"]
