"""Who is acting, what they may do, and which records they may see.

An :class:`Actor` is a member acting in one workspace (through a browser
session or an API token). It carries the permission codes their roles grant
and, per resource, the widest data scope any of those roles gives. A
resource is a permission code without its verb: ``core.party`` for
``core.party.read`` and ``core.party.write``.

Data scopes are enforced in the query: a repository adds
``visible(actor, "core.party", Party)`` to its WHERE clause, so lists,
details, exports, reports, search and the API see the same rows. A record
outside the scope is then simply not found (404), never "forbidden".
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, false, or_, true

from core.errors import PermissionDenied


class Scope(enum.IntEnum):
    """How far a role sees into a resource; a larger value sees more."""

    OWN = 1  # records the member owns
    DEPARTMENT = 2  # records of the member's department
    DEPARTMENT_TREE = 3  # the member's department and every department below it
    ALL = 4  # every record of the workspace

    @classmethod
    def parse(cls, name: str) -> Scope:
        return cls[name.upper()]

    @property
    def key(self) -> str:
        return self.name.lower()


def resource_of(code: str) -> str:
    """``crm.opportunity.write`` → ``crm.opportunity``."""
    return code.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Actor:
    """A member acting in one workspace, with their effective rights.

    ``departments`` lists the member's department and, for the tree scope,
    the ids below it: resolved once per request, so a scoped query is one
    indexed ``department_id = ANY(...)`` rather than a join on the tree.
    """

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    membership_id: uuid.UUID
    permissions: frozenset[str] = frozenset()
    scopes: Mapping[str, Scope] = field(default_factory=dict)
    department_id: uuid.UUID | None = None
    department_tree: tuple[uuid.UUID, ...] = ()  # the member's department and those below

    def can(self, code: str) -> bool:
        return code in self.permissions

    def require(self, code: str) -> None:
        """Raise 403 naming ``code`` unless the actor holds it."""
        if code not in self.permissions:
            raise PermissionDenied("You need the permission {permission}.", permission=code)

    def scope(self, resource: str) -> Scope | None:
        """The widest scope this actor has on ``resource``; None: no rights on it at all."""
        return self.scopes.get(resource)


def visible(actor: Actor, resource: str, model: Any) -> ColumnElement[bool]:
    """The WHERE clause limiting ``model`` (an :class:`core.orm.Owned` table) to what
    ``actor`` may see of ``resource``."""
    scope = actor.scope(resource)
    if scope is None:
        return false()
    if scope is Scope.ALL:
        return true()
    mine = model.owner_id == actor.user_id
    if scope is Scope.OWN:
        return mine
    departments = (
        actor.department_tree
        if scope is Scope.DEPARTMENT_TREE
        else (actor.department_id,)
        if actor.department_id
        else ()
    )
    if not departments:
        return mine
    return or_(mine, model.department_id.in_(departments))
