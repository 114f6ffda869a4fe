"""API shapes for module enablement, roles and API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class ModuleStatus(msgspec.Struct):
    key: str
    name: str
    version: str
    depends: list[str]
    enabled: bool


class EnabledModules(msgspec.Struct):
    enabled: list[str]


class RoleIn(msgspec.Struct):
    name: str
    permissions: list[str]
    scopes: dict[str, str] = {}
    description: str = ""


class RoleOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    description: str
    permissions: list[str]
    scopes: dict[str, str]


class MemberRolesIn(msgspec.Struct):
    role: str  # owner | admin | member
    roles: list[uuid.UUID] = []


class ApiTokenIn(msgspec.Struct):
    name: str
    permissions: list[str]
    expires_in_days: int | None = 90


class ApiTokenOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    prefix: str
    permissions: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    token: str | None = None  # the secret, in the answer to its creation only


class SecurityIn(msgspec.Struct):
    require_two_factor: bool


class AuditEntryOut(msgspec.Struct):
    id: uuid.UUID
    action: str
    actor_id: uuid.UUID | None
    subject_type: str | None
    subject_id: uuid.UUID | None
    detail: dict[str, Any]
    ip: str | None
    at: datetime
