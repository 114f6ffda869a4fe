"""Roles add up: built-in Owner/Admin/Member, custom roles with scopes, tokens cut them down."""

from __future__ import annotations

import pytest

from core.errors import Conflict, ValidationFailed
from core.models import Membership
from core.permissions import Scope
from core.plugins.registry import ModuleRegistry
from core.roles import OWNER_ONLY, all_permissions, create_role, rights, set_member_roles


def test_owner_has_everything_admin_all_but_owner_only(registry: ModuleRegistry) -> None:
    codes = {p.code for p in all_permissions(registry)}
    assert "sample.note.read" in codes  # modules' codes join core's
    assert rights(registry, "owner").permissions == codes
    assert rights(registry, "admin").permissions == codes - OWNER_ONLY
    assert rights(registry, "admin").scopes["core.party"] is Scope.ALL


def test_member_gets_what_manifests_mark_with_their_scope(registry: ModuleRegistry) -> None:
    member = rights(registry, "member")
    assert "core.party.read" in member.permissions
    assert "core.party.merge" not in member.permissions
    assert "sample.note.write" not in member.permissions
    assert member.scopes["core.party"] is Scope.OWN
    assert member.scopes["core.member"] is Scope.ALL


def test_custom_roles_widen_and_the_widest_scope_wins(registry: ModuleRegistry) -> None:
    custom = [
        (["core.party.read", "sample.note.read"], {"core.party": "department"}),
        (["core.party.read", "core.party.merge"], {"core.party": "department_tree"}),
        (["gone.module.read"], {}),  # a module since uninstalled grants nothing
    ]
    combined = rights(registry, "member", custom)
    assert {"sample.note.read", "core.party.merge"} <= combined.permissions
    assert "gone.module.read" not in combined.permissions
    assert combined.scopes["core.party"] is Scope.DEPARTMENT_TREE
    assert combined.scopes["sample.note"] is Scope.ALL  # no scope named: all records


def test_a_token_is_cut_down_to_its_permissions(registry: ModuleRegistry) -> None:
    limited = rights(registry, "owner").limited_to(["core.party.read", "not.held.code"])
    assert limited.permissions == {"core.party.read"}
    assert set(limited.scopes) == {"core.party"}


async def test_role_validation_and_uniqueness(db, registry: ModuleRegistry, make_tenant) -> None:
    acme = await make_tenant("acme-roles")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await create_role(session, registry, name="Sales", permissions=["core.party.read"])
        with pytest.raises(Conflict):
            await create_role(session, registry, name="Sales", permissions=["core.party.read"])
        with pytest.raises(ValidationFailed) as no_grant:
            await create_role(
                session,
                registry,
                name="Odd",
                permissions=["core.product.read"],
                scopes={"core.party": "own"},
            )
        assert no_grant.value.params == {"resource": "core.party"}
        with pytest.raises(ValidationFailed) as bad_scope:
            await create_role(
                session,
                registry,
                name="Odd",
                permissions=["core.party.read"],
                scopes={"core.party": "team"},
            )
        assert bad_scope.value.params == {"scope": "team"}


async def test_the_last_owner_cannot_be_demoted_but_one_of_two_can(
    db, registry: ModuleRegistry, make_tenant
) -> None:
    from sqlalchemy import select

    acme = await make_tenant("acme-owners")  # the test owner is its only owner
    async with db.tenant_transaction(acme.tenant_id) as session:
        owner = await session.scalar(select(Membership).where(Membership.role == "owner"))
        assert owner is not None
        with pytest.raises(Conflict):
            await set_member_roles(session, owner.id, base_role="admin")
    two = await make_tenant("acme-two", owner_email="founder@acme.test")
    async with db.tenant_transaction(two.tenant_id) as session:
        owners = list(await session.scalars(select(Membership).where(Membership.role == "owner")))
        assert len(owners) == 2
        demoted = await set_member_roles(session, owners[0].id, base_role="admin")
        assert demoted.role == "admin"
