"""Roles in the browser: the roles editor and a member's roles, under ``/t/{slug}``.

The roles editor (``core.role.manage``) shows the built-in roles read-only, with
what they grant, and creates, changes and deletes custom roles: their
permissions as checkboxes grouped by module (core first, then each installed
module in install order) and a data scope per resource. A member's roles
(``core.member.manage``) are their built-in role and any number of custom ones.

Thin handlers over :mod:`core.roles`: a refused form comes back with the
message beside its input and what was typed kept, and its 4xx status rolls the
request back, so a refused form writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import roles
from core.context import TenantContext
from core.errors import DomainError, NotFound
from core.i18n import N_
from core.models import Membership, Role, User
from core.permissions import Scope, resource_of
from core.plugins.manifest import Permission
from core.plugins.registry import ModuleRegistry
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.tenancy import requires

MANAGE_ROLES, MANAGE_MEMBERS = "core.role.manage", "core.member.manage"
CORE_GROUP_NAME = N_("Workspace")
#: The data scopes a role can give, widest last, with their names as the select shows them.
SCOPE_CHOICES = (
    (Scope.OWN.key, N_("Their own records")),
    (Scope.DEPARTMENT.key, N_("Their department's records")),
    (Scope.DEPARTMENT_TREE.key, N_("Their department's and those below it")),
    (Scope.ALL.key, N_("Every record")),
)
SCOPE_NAMES = dict(SCOPE_CHOICES)
ROLE_FIELDS = ("name", "description", "permissions")


# --- permissions grouped by module and resource (also the API tokens page's) -------------------


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    """The permissions on one resource (``core.party``), which share one data scope."""

    resource: str
    permissions: list[Permission]


@dataclass(frozen=True, slots=True)
class ModuleGroup:
    key: str
    name: str  # a msgid: the manifest's name, or core's group name
    resources: list[ResourceGroup]


def permission_groups(
    registry: ModuleRegistry, only: Iterable[str] | None = None
) -> list[ModuleGroup]:
    """Core's permissions, then each installed module's, grouped by resource; ``only``
    keeps just those codes (and drops the groups left empty)."""
    kept = None if only is None else frozenset(only)
    declared = [("core", CORE_GROUP_NAME, roles.CORE_PERMISSIONS)]
    declared += [(k, m.manifest.name, m.manifest.permissions) for k, m in registry.modules.items()]
    groups = []
    for key, name, permissions in declared:
        by_resource: dict[str, list[Permission]] = {}
        for permission in permissions:
            if kept is None or permission.code in kept:
                by_resource.setdefault(resource_of(permission.code), []).append(permission)
        if by_resource:
            resources = [ResourceGroup(r, codes) for r, codes in by_resource.items()]
            groups.append(ModuleGroup(key, name, resources))
    return groups


# --- reading a form ----------------------------------------------------------------------------


@dataclass(slots=True)
class RoleForm:
    """A role's form as typed: the text of each input, the ticked codes, the chosen scopes."""

    name: str = ""
    description: str = ""
    permissions: set[str] = field(default_factory=set)
    scopes: dict[str, str] = field(default_factory=dict)

    def chosen_scopes(self) -> dict[str, str]:
        """The scopes of the resources a ticked permission is on (an unticked resource's
        select is not part of the role)."""
        resources = {resource_of(code) for code in self.permissions}
        return {r: scope for r, scope in self.scopes.items() if r in resources}


def role_form(role: Role) -> RoleForm:
    return RoleForm(role.name, role.description, set(role.permissions), dict(role.scopes))


async def typed_role(request: Request[Any, Any, Any]) -> RoleForm:
    form = await request.form()
    return RoleForm(
        name=form.get("name", ""),
        description=form.get("description", ""),
        permissions=set(form.getall("permission", [])),
        scopes={
            key.removeprefix("scope:"): value
            for key, value in form.multi_items()
            if key.startswith("scope:")
        },
    )


def refusal(error: DomainError, fields: Sequence[str]) -> dict[str, DomainError]:
    """A refusal by the input it is about (``""``: none of the form's inputs)."""
    name = error.params.get("field")
    return {name if name in fields else "": error}


# --- the roles editor --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuiltInRole:
    key: str
    granted: frozenset[str]
    scopes: dict[str, str]  # resource → scope key


def _built_in_roles(registry: ModuleRegistry) -> list[BuiltInRole]:
    shown = []
    for key in roles.BUILT_IN_ROLES:
        rights = roles.rights(registry, key)
        scopes = {resource: scope.key for resource, scope in rights.scopes.items()}
        shown.append(BuiltInRole(key, rights.permissions, scopes))
    return shown


def _roles_url(tenant: TenantContext) -> str:
    return f"/t/{tenant.slug}/roles"


@get("/roles", guards=[requires(MANAGE_ROLES)])
async def roles_page(session: DbSession, tenant: CurrentTenant, registry: Registry) -> Template:
    return Template(
        "roles/index.html",
        context={
            "slug": tenant.slug,
            "built_in": _built_in_roles(registry),
            "custom": await roles.roles(session),
            "holders": await roles.holder_counts(session),
            "groups": permission_groups(registry),
            "scope_names": SCOPE_NAMES,
        },
    )


def _form_page(
    tenant: TenantContext,
    registry: ModuleRegistry,
    form: RoleForm,
    *,
    role: Role | None = None,
    refused: dict[str, DomainError] | None = None,
) -> Template:
    base = _roles_url(tenant)
    refused = refused or {}
    return Template(
        "roles/form.html",
        context={
            "slug": tenant.slug,
            "role": role,
            "action": f"{base}/{role.id}/edit" if role else f"{base}/new",
            "form": form,
            "refused": refused,
            "groups": permission_groups(registry),
            "scope_choices": SCOPE_CHOICES,
        },
        status_code=max((e.status_code for e in refused.values()), default=200),
    )


@get("/roles/new", guards=[requires(MANAGE_ROLES)])
async def new_role_page(tenant: CurrentTenant, registry: Registry) -> Template:
    return _form_page(tenant, registry, RoleForm())


@post("/roles/new", guards=[requires(MANAGE_ROLES)])
async def create_role_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
) -> Response[Any]:
    form = await typed_role(request)
    try:
        await roles.create_role(
            session,
            registry,
            name=form.name,
            description=form.description,
            permissions=form.permissions,
            scopes=form.chosen_scopes(),
            actor_id=actor.user_id,
        )
    except DomainError as error:
        return _form_page(tenant, registry, form, refused=refusal(error, ROLE_FIELDS))
    return Redirect(_roles_url(tenant), status_code=HTTP_303_SEE_OTHER)


@get("/roles/{role_id:uuid}/edit", guards=[requires(MANAGE_ROLES)])
async def edit_role_page(
    session: DbSession, tenant: CurrentTenant, registry: Registry, role_id: FromPath[uuid.UUID]
) -> Template:
    role = await roles.get_role(session, role_id)
    return _form_page(tenant, registry, role_form(role), role=role)


@post("/roles/{role_id:uuid}/edit", guards=[requires(MANAGE_ROLES)])
async def update_role_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    role_id: FromPath[uuid.UUID],
) -> Response[Any]:
    role = await roles.get_role(session, role_id)
    form = await typed_role(request)
    try:
        await roles.update_role(
            session,
            registry,
            role_id,
            name=form.name,
            description=form.description,
            permissions=form.permissions,
            scopes=form.chosen_scopes(),
            actor_id=actor.user_id,
        )
    except DomainError as error:
        return _form_page(tenant, registry, form, role=role, refused=refusal(error, ROLE_FIELDS))
    return Redirect(_roles_url(tenant), status_code=HTTP_303_SEE_OTHER)


@get("/roles/{role_id:uuid}/delete", guards=[requires(MANAGE_ROLES)])
async def delete_role_page(
    session: DbSession, tenant: CurrentTenant, role_id: FromPath[uuid.UUID]
) -> Template:
    """The confirmation, saying how many members hold the role."""
    role = await roles.get_role(session, role_id)
    holders = (await roles.holder_counts(session)).get(role.id, 0)
    return Template(
        "roles/delete.html", context={"slug": tenant.slug, "role": role, "holders": holders}
    )


@post("/roles/{role_id:uuid}/delete", guards=[requires(MANAGE_ROLES)])
async def delete_role_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, role_id: FromPath[uuid.UUID]
) -> Redirect:
    await roles.delete_role(session, role_id, actor_id=actor.user_id)
    return Redirect(_roles_url(tenant), status_code=HTTP_303_SEE_OTHER)


# --- a member's roles --------------------------------------------------------------------------


async def _member_roles_page(
    session: AsyncSession,
    tenant: TenantContext,
    membership_id: uuid.UUID,
    *,
    base_role: str | None = None,
    role_ids: Iterable[str] | None = None,
    error: DomainError | None = None,
) -> Template:
    """The form; ``base_role`` and ``role_ids`` are what was typed (None: what is held)."""
    row = (
        await session.execute(
            select(Membership, User.display_name, User.email)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id == membership_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No member {id}.", id=str(membership_id))
    member, name, email = row
    if role_ids is None:
        role_ids = [str(r) for r in await roles.held_role_ids(session, member.id)]
    return Template(
        "roles/member.html",
        context={
            "slug": tenant.slug,
            "member": member,
            "name": name,
            "email": email,
            "base_role": base_role or member.role,
            "held": set(role_ids),
            "built_in": roles.BUILT_IN_ROLES,
            "custom": await roles.roles(session),
            "error": error,
        },
        status_code=error.status_code if error else 200,
    )


@get("/members/{membership_id:uuid}/roles", guards=[requires(MANAGE_MEMBERS)])
async def member_roles_page(
    session: DbSession, tenant: CurrentTenant, membership_id: FromPath[uuid.UUID]
) -> Template:
    return await _member_roles_page(session, tenant, membership_id)


@post("/members/{membership_id:uuid}/roles", guards=[requires(MANAGE_MEMBERS)])
async def set_member_roles_from_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    membership_id: FromPath[uuid.UUID],
) -> Response[Any]:
    form = await request.form()
    base_role, role_ids = form.get("role", ""), form.getall("custom_role", [])
    try:
        await roles.set_member_roles(
            session,
            membership_id,
            base_role=base_role,
            role_ids=[_role_id(value) for value in role_ids],
            actor_id=actor.user_id,
        )
    except DomainError as error:
        return await _member_roles_page(
            session, tenant, membership_id, base_role=base_role, role_ids=role_ids, error=error
        )
    return Redirect(f"/t/{tenant.slug}/members", status_code=HTTP_303_SEE_OTHER)


def _role_id(value: str) -> uuid.UUID:
    """A ticked role's id; anything else did not come from the form's list."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("No role {id}.", id=value) from None


PAGES = [
    roles_page,
    new_role_page,
    create_role_from_page,
    edit_role_page,
    update_role_from_page,
    delete_role_page,
    delete_role_from_page,
    member_roles_page,
    set_member_roles_from_page,
]
