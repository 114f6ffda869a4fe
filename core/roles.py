"""Roles: the built-in Owner, Admin and Member, custom roles, and a member's effective rights.

Every member has one built-in role (``Membership.role``) and any number of
custom roles on top (``core_member_role``). Rights add up: a member may do
what any of their roles allows, and sees each resource with the widest scope
any role that grants it gives.

- **Owner**: every permission, every record. A workspace always keeps at
  least one active owner.
- **Admin**: every permission but :data:`OWNER_ONLY`, every record.
- **Member**: the permissions modules mark with ``member=`` in their
  manifest, with the scope given there (Odoo's "User: own documents").

Built-in roles are defined here, not stored: a module installed later adds
its permissions to Owner and Admin without a data migration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, organisation
from core.db import add_unique, assign_unique
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import MemberRole, Membership, Role
from core.permissions import Actor, Scope, resource_of
from core.plugins.manifest import Permission
from core.plugins.registry import ModuleRegistry

OWNER, ADMIN, MEMBER = "owner", "admin", "member"
BUILT_IN_ROLES = (OWNER, ADMIN, MEMBER)

CORE_PERMISSIONS: tuple[Permission, ...] = (
    Permission("core.member.read", "See colleagues", member="all"),
    Permission("core.member.manage", "Invite, deactivate and assign roles to members"),
    Permission("core.organisation.manage", "Change departments, positions and reporting lines"),
    Permission("core.role.manage", "Create and change roles"),
    Permission("core.settings.manage", "Change workspace settings"),
    Permission("core.billing.manage", "Manage modules and billing"),
    Permission("core.audit.read", "Read the audit log"),
    Permission("core.party.read", "See customers and suppliers", member="own"),
    Permission("core.party.write", "Create and change customers and suppliers", member="own"),
    Permission("core.party.merge", "Merge duplicate parties"),
    Permission("core.product.read", "See products", member="all"),
    Permission("core.product.write", "Create and change products"),
    Permission("core.data.import", "Import parties and products from spreadsheets"),
    Permission("core.api_token.create", "Create API tokens", member="all"),
)
OWNER_ONLY = frozenset({"core.billing.manage"})


@dataclass(frozen=True, slots=True)
class Rights:
    """What a member may do (permission codes) and see (a scope per resource)."""

    permissions: frozenset[str]
    scopes: Mapping[str, Scope]

    def limited_to(self, codes: Iterable[str]) -> Rights:
        """These rights cut down to ``codes`` (an API token's chosen permissions)."""
        allowed = self.permissions & frozenset(codes)
        resources = {resource_of(code) for code in allowed}
        return Rights(allowed, {r: s for r, s in self.scopes.items() if r in resources})


def all_permissions(registry: ModuleRegistry) -> tuple[Permission, ...]:
    """Core's permissions, then each installed module's in install order."""
    modules = tuple(p for m in registry.modules.values() for p in m.manifest.permissions)
    return CORE_PERMISSIONS + modules


def _grant(grants: dict[str, Scope], scopes: dict[str, Scope], code: str, scope: Scope) -> None:
    resource = resource_of(code)
    grants[code] = scope
    scopes[resource] = max(scopes.get(resource, scope), scope)


def rights(
    registry: ModuleRegistry,
    base_role: str,
    custom: Sequence[tuple[Sequence[str], Mapping[str, str]]] = (),
) -> Rights:
    """A member's effective rights from their built-in role and custom roles'
    ``(permissions, scopes)``."""
    declared = all_permissions(registry)
    known = {p.code for p in declared}
    grants: dict[str, Scope] = {}
    scopes: dict[str, Scope] = {}
    for permission in declared:
        if base_role == OWNER or (base_role == ADMIN and permission.code not in OWNER_ONLY):
            _grant(grants, scopes, permission.code, Scope.ALL)
        elif base_role == MEMBER and permission.member is not None:
            _grant(grants, scopes, permission.code, Scope.parse(permission.member))
    for codes, role_scopes in custom:
        for code in codes:
            if code in known:  # a code of a module since uninstalled grants nothing
                scope = role_scopes.get(resource_of(code), "all")
                _grant(grants, scopes, code, Scope.parse(scope))
    return Rights(frozenset(grants), scopes)


# --- custom roles -----------------------------------------------------------------------


def _check_role(
    registry: ModuleRegistry, name: str, permissions: Iterable[str], scopes: Mapping[str, str]
) -> tuple[str, list[str], dict[str, str]]:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A name has 1 to 100 characters.", field="name")
    known = {p.code for p in all_permissions(registry)}
    codes = sorted(set(permissions))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise ValidationFailed("Unknown permission {permission}.", permission=unknown[0])
    resources = {resource_of(code) for code in codes}
    checked: dict[str, str] = {}
    for resource, scope in scopes.items():
        if resource not in resources:
            raise ValidationFailed(
                "The role has no permission on {resource}, so it needs no scope for it.",
                resource=resource,
            )
        try:
            checked[resource] = Scope.parse(scope).key
        except KeyError:
            raise ValidationFailed("Unknown data scope {scope}.", scope=scope) from None
    return name, codes, checked


async def create_role(
    session: AsyncSession,
    registry: ModuleRegistry,
    *,
    name: str,
    permissions: Iterable[str],
    scopes: Mapping[str, str] | None = None,
    description: str = "",
    actor_id: uuid.UUID | None = None,
) -> Role:
    name, codes, checked = _check_role(registry, name, permissions, scopes or {})
    role = Role(name=name, description=description.strip()[:300], permissions=codes, scopes=checked)
    if not await add_unique(session, role):
        raise Conflict("A role named {name} already exists.", name=name, field="name")
    await audit.record(
        session,
        "core.role.created",
        actor_id=actor_id,
        subject_type="core.role",
        subject_id=role.id,
        detail={"name": name, "permissions": codes, "scopes": checked},
    )
    return role


async def update_role(
    session: AsyncSession,
    registry: ModuleRegistry,
    role_id: uuid.UUID,
    *,
    name: str,
    permissions: Iterable[str],
    scopes: Mapping[str, str] | None = None,
    description: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> Role:
    """Change a custom role; ``description=None`` keeps the one it has."""
    role = await _role(session, role_id, lock=True)
    name, codes, checked = _check_role(registry, name, permissions, scopes or {})
    before = {"name": role.name, "permissions": role.permissions, "scopes": role.scopes}
    values = {"name": name, "permissions": codes, "scopes": checked}
    if description is not None:
        values["description"] = description.strip()[:300]
    # In a savepoint: a name another role has is refused (409), not a failed transaction.
    if not await assign_unique(session, role, values):
        raise Conflict("A role named {name} already exists.", name=name, field="name")
    await audit.record(
        session,
        "core.role.changed",
        actor_id=actor_id,
        subject_type="core.role",
        subject_id=role.id,
        detail={"before": before, "after": {"name": name, "permissions": codes, "scopes": checked}},
    )
    return role


async def delete_role(
    session: AsyncSession, role_id: uuid.UUID, *, actor_id: uuid.UUID | None = None
) -> None:
    role = await _role(session, role_id, lock=True)
    await session.delete(role)
    await session.flush()
    await audit.record(
        session,
        "core.role.deleted",
        actor_id=actor_id,
        subject_type="core.role",
        subject_id=role_id,
        detail={"name": role.name},
    )


async def _role(session: AsyncSession, role_id: uuid.UUID, *, lock: bool = False) -> Role:
    query = select(Role).where(Role.id == role_id)
    role = await session.scalar(query.with_for_update() if lock else query)
    if role is None:
        raise NotFound("No role {id}.", id=str(role_id))
    return role


async def roles(session: AsyncSession) -> list[Role]:
    return list(await session.scalars(select(Role).order_by(Role.name)))


async def get_role(session: AsyncSession, role_id: uuid.UUID) -> Role:
    """A custom role; 404 for an id this workspace has no role by."""
    return await _role(session, role_id)


async def holder_counts(session: AsyncSession) -> dict[uuid.UUID, int]:
    """How many members (deactivated ones too) hold each custom role; a role nobody
    holds is not in it."""
    rows = await session.execute(
        select(MemberRole.role_id, func.count()).group_by(MemberRole.role_id)
    )
    return dict(rows.all())


async def held_role_ids(session: AsyncSession, membership_id: uuid.UUID) -> list[uuid.UUID]:
    """The custom roles a member holds."""
    return list(
        await session.scalars(
            select(MemberRole.role_id).where(MemberRole.membership_id == membership_id)
        )
    )


# --- a member's roles -------------------------------------------------------------------


async def set_member_roles(
    session: AsyncSession,
    membership_id: uuid.UUID,
    *,
    base_role: str,
    role_ids: Iterable[uuid.UUID] = (),
    actor_id: uuid.UUID | None = None,
) -> Membership:
    """Give a member their built-in role and exactly these custom roles.

    Taking the owner role from the last active owner is refused: a workspace
    nobody can administer cannot be repaired from inside.
    """
    if base_role not in BUILT_IN_ROLES:
        raise ValidationFailed("Unknown role {role}.", role=base_role)
    # Lock the owners first, then the member: two admins demoting the last two owners at
    # once are serialised on the same rows.
    owners = list(
        await session.scalars(
            select(Membership.id)
            .where(Membership.role == OWNER, Membership.active.is_(True))
            .with_for_update()
        )
    )
    member = await session.scalar(
        select(Membership).where(Membership.id == membership_id).with_for_update()
    )
    if member is None:
        raise NotFound("No member {id}.", id=str(membership_id))
    if member.role == OWNER and base_role != OWNER and owners == [member.id]:
        raise Conflict("A workspace needs at least one owner.")
    wanted = set(role_ids)
    found = set(await session.scalars(select(Role.id).where(Role.id.in_(wanted))))
    if found != wanted:
        raise NotFound("No role {id}.", id=str(next(iter(wanted - found))))
    before = {
        "role": member.role,
        "roles": sorted(
            str(r)
            for r in await session.scalars(
                select(MemberRole.role_id).where(MemberRole.membership_id == member.id)
            )
        ),
    }
    member.role = base_role
    await session.execute(
        delete(MemberRole).where(
            MemberRole.membership_id == member.id, MemberRole.role_id.not_in(wanted)
        )
    )
    held = set(
        await session.scalars(
            select(MemberRole.role_id).where(MemberRole.membership_id == member.id)
        )
    )
    session.add_all(MemberRole(membership_id=member.id, role_id=r) for r in wanted - held)
    await session.flush()
    await audit.record(
        session,
        "core.member.roles_changed",
        actor_id=actor_id,
        subject_type="core.membership",
        subject_id=member.id,
        detail={"before": before, "after": {"role": base_role, "roles": sorted(map(str, wanted))}},
    )
    return member


async def member_rights(
    session: AsyncSession, registry: ModuleRegistry, membership: Membership
) -> Rights:
    """The rights ``membership`` has now (services outside a request, e.g. jobs)."""
    rows = await session.execute(
        select(Role.permissions, Role.scopes)
        .join(
            MemberRole, (MemberRole.role_id == Role.id) & (MemberRole.tenant_id == Role.tenant_id)
        )
        .where(MemberRole.membership_id == membership.id)
    )
    return rights(registry, membership.role, [(r.permissions, r.scopes) for r in rows])


async def member_actor(
    session: AsyncSession, registry: ModuleRegistry, membership: Membership
) -> Actor:
    """The member as a request would resolve them (rights, department and the tree below
    it), for work done on a member's behalf outside a request: demo data, jobs, benchmarks."""
    granted = await member_rights(session, registry, membership)
    tree: list[uuid.UUID] = []
    if membership.department_id is not None:
        tree = await organisation.subtree_ids(session, membership.department_id)
    return Actor(
        tenant_id=membership.tenant_id,
        user_id=membership.user_id,
        membership_id=membership.id,
        permissions=granted.permissions,
        scopes=granted.scopes,
        department_id=membership.department_id,
        department_tree=tuple(tree),
    )
