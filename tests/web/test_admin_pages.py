"""The workspace's admin pages over real HTTP: the roles editor, a member's roles, my API
tokens and the department tree, with refusals shown inline, guards, CSRF and two workspaces.

Each person is their own browser (a session cookie for that user) against the real app
on a loopback port.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from core import organisation, roles
from core.context import TenantContext
from core.db import Database
from core.models import Membership, Role, User
from tests.conftest import Browser
from tests.pages import csrf
from tests.web.test_parties_api import HTML, HTMX, join, make_party, the_test_owner, user


async def submit(
    http: httpx.AsyncClient,
    page_url: str,
    action: str,
    fields: dict[str, str] | list[tuple[str, str]],
    headers: dict[str, str] = HTML,
) -> httpx.Response:
    """Open the page (for its CSRF token) and post its form; a list posts repeated names."""
    page = await http.get(page_url, headers=HTML)
    assert page.status_code == 200, page.text
    pairs = list(fields.items()) if isinstance(fields, dict) else fields
    body = urlencode([("_csrf_token", csrf(page)), *pairs])
    form = {"content-type": "application/x-www-form-urlencoded", **headers}
    return await http.post(action, content=body, headers=form)


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme")


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def _membership_of(db: Database, tenant: TenantContext, who: User) -> Membership:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        member = await session.scalar(select(Membership).where(Membership.user_id == who.id))
        assert member is not None
        return member


async def _role_named(db: Database, tenant: TenantContext, name: str) -> Role | None:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        return await session.scalar(select(Role).where(Role.name == name))


# --- roles ---------------------------------------------------------------------------------------


async def test_a_custom_role_gives_its_member_what_it_allows_with_its_scope(
    owner: httpx.AsyncClient, browser: Browser, db: Database, acme: TenantContext
) -> None:
    bea, cal, dan = await user(db, "Bea"), await user(db, "Cal"), await user(db, "Dan")
    async with db.tenant_transaction(acme.tenant_id) as session:
        sales = await organisation.create_department(session, "Sales")
        support = await organisation.create_department(session, "Support")
    for who, department in ((bea, sales), (cal, sales), (dan, support)):
        member = await join(db, acme, who)
        async with db.tenant_transaction(acme.tenant_id) as session:
            await organisation.place_member(session, member.id, department_id=department.id)
    cal_web, dan_web, bea_web = await browser(cal), await browser(dan), await browser(bea)
    await make_party(cal_web, "Cal's client")
    await make_party(dan_web, "Dan's client")
    assert "Cal's client" not in (await bea_web.get("/t/acme/parties", headers=HTML)).text
    assert (await bea_web.get("/t/acme/products/new", headers=HTML)).status_code == 403

    form = await owner.get("/t/acme/roles/new", headers=HTML)
    assert form.status_code == 200
    # Grouped by module, core first, with readable names and a scope select per resource.
    assert form.text.index('id="permissions-core"') < form.text.index('id="permissions-sample"')
    assert "See customers and suppliers" in form.text
    assert 'name="scope:core.party"' in form.text
    assert '<label for="permission-core.party.read">' in form.text
    made = await submit(
        owner,
        "/t/acme/roles/new",
        "/t/acme/roles/new",
        [
            ("name", "Sales lead"),
            ("description", "Sees the department's customers"),
            ("permission", "core.party.read"),
            ("permission", "core.product.write"),
            ("scope:core.party", "department"),
            ("scope:core.member", "own"),  # no permission ticked on it: not part of the role
        ],
    )
    assert made.status_code == 303, made.text
    role = await _role_named(db, acme, "Sales lead")
    assert role is not None
    assert (role.permissions, role.scopes, role.description) == (
        ["core.party.read", "core.product.write"],
        {"core.party": "department"},
        "Sees the department's customers",
    )

    bea_member = await _membership_of(db, acme, bea)
    roles_url = f"/t/acme/members/{bea_member.id}/roles"
    assert f'href="{roles_url}"' in (await owner.get("/t/acme/members", headers=HTML)).text
    given = await submit(
        owner, roles_url, roles_url, [("role", "member"), ("custom_role", str(role.id))]
    )
    assert given.status_code == 303, given.text
    assert f'value="{role.id}" checked' in (await owner.get(roles_url, headers=HTML)).text
    listed = await owner.get("/t/acme/roles", headers=HTML)
    assert "Sales lead" in listed.text
    assert "<td>1</td>" in listed.text

    parties = (await bea_web.get("/t/acme/parties", headers=HTML)).text
    assert "Cal&#39;s client" in parties  # her department's, through the role
    assert "Dan&#39;s client" not in parties  # another department's
    assert (await bea_web.get("/t/acme/products/new", headers=HTML)).status_code == 200

    confirm = await owner.get(f"/t/acme/roles/{role.id}/delete", headers=HTML)
    assert "Members who hold this role: 1." in confirm.text
    gone = await submit(
        owner, f"/t/acme/roles/{role.id}/delete", f"/t/acme/roles/{role.id}/delete", {}
    )
    assert gone.status_code == 303
    assert await _role_named(db, acme, "Sales lead") is None
    assert (await bea_web.get("/t/acme/products/new", headers=HTML)).status_code == 403


async def test_a_custom_role_is_edited_and_a_name_clash_is_refused_inline(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    for name in ("Buyers", "Sellers"):
        await submit(
            owner, "/t/acme/roles/new", "/t/acme/roles/new",
            [("name", name), ("permission", "core.product.read")],
        )  # fmt: skip
    sellers = await _role_named(db, acme, "Sellers")
    assert sellers is not None
    edit = f"/t/acme/roles/{sellers.id}/edit"
    page = await owner.get(edit, headers=HTML)
    assert 'value="Sellers"' in page.text
    assert 'value="core.product.read" checked' in page.text

    clash = await submit(owner, edit, edit, [("name", "Buyers"), ("permission", "core.party.read")])
    assert clash.status_code == 409
    assert '<p class="notice" role="alert" id="name-error">A role named Buyers already exists.' in (
        clash.text
    )
    assert 'value="Buyers"' in clash.text
    assert 'value="core.party.read" checked' in clash.text
    assert (await _role_named(db, acme, "Sellers")) is not None

    changed = await submit(
        owner, edit, edit,
        [("name", "Sales"), ("permission", "core.party.write"), ("scope:core.party", "own")],
    )  # fmt: skip
    assert changed.status_code == 303, changed.text
    renamed = await _role_named(db, acme, "Sales")
    assert renamed is not None
    assert renamed.id == sellers.id
    assert (renamed.permissions, renamed.scopes) == (["core.party.write"], {"core.party": "own"})


async def test_an_empty_or_taken_role_name_is_shown_inline_with_the_values_kept(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    typed = [
        ("name", "  "),
        ("description", "Warehouse staff"),
        ("permission", "core.product.write"),
        ("scope:core.product", "department_tree"),
    ]
    empty = await submit(owner, "/t/acme/roles/new", "/t/acme/roles/new", typed)
    assert empty.status_code == 422
    assert 'id="name-error">A name has 1 to 100 characters.' in empty.text
    assert 'aria-describedby="name-error"' in empty.text
    assert ">Warehouse staff</textarea>" in empty.text
    assert 'value="core.product.write" checked' in empty.text
    assert '<option value="department_tree" selected>' in empty.text
    assert await _role_named(db, acme, "Warehouse staff") is None

    await submit(owner, "/t/acme/roles/new", "/t/acme/roles/new", [("name", "Stock")])
    taken = await submit(
        owner, "/t/acme/roles/new", "/t/acme/roles/new", [("name", "Stock"), *typed[1:]]
    )
    assert taken.status_code == 409
    assert 'id="name-error">A role named Stock already exists.' in taken.text
    assert 'value="Stock"' in taken.text
    assert 'value="core.product.write" checked' in taken.text


async def test_the_built_in_roles_show_what_they_grant_and_cannot_be_edited(
    owner: httpx.AsyncClient,
) -> None:
    page = await owner.get("/t/acme/roles", headers=HTML)
    assert page.status_code == 200
    built_in = page.text.split('id="built-in-roles"')[1]
    assert "<form" not in built_in
    assert "/edit" not in built_in
    admin = built_in.split('id="built-in-admin"')[1].split("</details>")[0]
    assert "Invite, deactivate and assign roles to members" in admin
    assert "Manage modules and billing" not in admin  # owner-only
    member = built_in.split('id="built-in-member"')[1].split("</details>")[0]
    assert 'See customers and suppliers <span class="muted">(Their own records)</span>' in member
    assert "Create and change roles" not in member
    for key in roles.BUILT_IN_ROLES:
        assert (await owner.get(f"/t/acme/roles/{key}/edit", headers=HTML)).status_code == 404
    posted = await submit(owner, "/t/acme/roles", "/t/acme/roles/owner/edit", {"name": "Boss"})
    assert posted.status_code in (404, 405)


async def test_the_last_owner_is_not_demoted_and_the_page_says_why(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    me = await _membership_of(db, acme, await the_test_owner(db))
    url = f"/t/acme/members/{me.id}/roles"
    refused = await submit(owner, url, url, {"role": "admin"})
    assert refused.status_code == 409
    assert "A workspace needs at least one owner." in refused.text
    assert '<option value="admin" selected>' in refused.text  # what was chosen stays
    assert (await _membership_of(db, acme, await the_test_owner(db))).role == "owner"


async def test_a_plain_member_is_refused_the_admin_pages_and_sees_no_admin_entries(
    owner: httpx.AsyncClient, browser: Browser, db: Database, acme: TenantContext
) -> None:
    bea = await user(db, "Bea")
    bea_member = await join(db, acme, bea)
    async with db.tenant_transaction(acme.tenant_id) as session:
        sales = await organisation.create_department(session, "Sales")
    bea_web = await browser(bea)

    for url in ("/t/acme/roles", "/t/acme/roles/new", f"/t/acme/members/{bea_member.id}/roles"):
        assert (await bea_web.get(url, headers=HTML)).status_code == 403, url
    tree = await bea_web.get("/t/acme/departments", headers=HTML)
    assert tree.status_code == 200
    assert "Sales" in tree.text
    assert "<form" not in tree.text.split('id="organisation"')[1]
    token = csrf(tree)
    for action, fields in (
        ("/t/acme/departments", {"name": "Mine"}),
        (f"/t/acme/departments/{sales.id}/rename", {"name": "Mine"}),
        (f"/t/acme/departments/{sales.id}/delete", {}),
        ("/t/acme/positions", {"name": "Chief"}),
        ("/t/acme/roles/new", {"name": "Mine"}),
    ):
        answer = await bea_web.post(action, data={"_csrf_token": token, **fields}, headers=HTML)
        assert answer.status_code == 403, action
    nav = tree.text.split('id="module-nav"')[1].split("</nav>")[0]
    assert 'href="/t/acme/roles"' not in nav
    owner_nav = (await owner.get("/t/acme/", headers=HTML)).text.split('id="module-nav"')[1]
    assert 'href="/t/acme/roles"' in owner_nav
    assert 'href="/t/acme/departments"' in owner_nav


# --- API tokens ----------------------------------------------------------------------------------


async def test_a_token_made_on_the_page_is_shown_once_works_and_stops_when_revoked(
    owner: httpx.AsyncClient, live: str, db: Database, acme: TenantContext
) -> None:
    page = await owner.get("/t/acme/api-tokens", headers=HTML)
    assert page.status_code == 200
    assert 'id="permissions-core"' in page.text
    assert "See colleagues" in page.text
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()

    refused = await submit(
        owner, "/t/acme/api-tokens", "/t/acme/api-tokens",
        [("name", "Shop sync"), ("expires_on", expires)],
    )  # fmt: skip
    assert refused.status_code == 422
    assert "Choose at least one permission for the token." in refused.text
    assert 'value="Shop sync"' in refused.text
    assert f'value="{expires}"' in refused.text
    bad_date = await submit(
        owner, "/t/acme/api-tokens", "/t/acme/api-tokens",
        [("name", "Shop sync"), ("expires_on", "soon"), ("permission", "core.member.read")],
    )  # fmt: skip
    assert bad_date.status_code == 422
    assert 'id="expires_on-error">Choose the date the token stops working.' in bad_date.text
    assert 'value="core.member.read" checked' in bad_date.text

    made = await submit(
        owner, "/t/acme/api-tokens", "/t/acme/api-tokens",
        [("name", "Shop sync"), ("expires_on", expires), ("permission", "core.member.read")],
    )  # fmt: skip
    assert made.status_code == 200, made.text
    assert made.headers["cache-control"] == "no-store"
    secret = made.text.split('id="token-secret" value="')[1].split('"')[0]
    assert secret.startswith("atr_")
    assert "shown this once" in made.text

    listed = await owner.get("/t/acme/api-tokens", headers=HTML)
    assert "Shop sync" in listed.text
    assert secret not in listed.text
    assert secret[:12] in listed.text  # the prefix tells it apart
    async with httpx.AsyncClient(base_url=live) as program:
        bearer = {"authorization": f"Bearer {secret}"}
        assert (await program.get("/api/t/acme/members", headers=bearer)).status_code == 200
        assert (await program.get("/api/t/acme/roles", headers=bearer)).status_code == 403
        row = listed.text.split('<tr id="api-token-')[1]
        token_id = row.split('"')[0]
        revoke = f"/t/acme/api-tokens/{token_id}/revoke"
        confirm = await owner.get(revoke, headers=HTML)
        assert "Programs using this token are refused from now on." in confirm.text
        assert (await submit(owner, revoke, revoke, {})).status_code == 303
        assert (await program.get("/api/t/acme/members", headers=bearer)).status_code == 401
    after = await owner.get("/t/acme/api-tokens", headers=HTML)
    assert "Revoked" in after.text
    assert f'href="{revoke}"' not in after.text


# --- departments and positions -------------------------------------------------------------------


async def test_the_department_tree_is_edited_and_a_move_under_its_own_child_is_refused(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    tree = "/t/acme/departments"
    assert (await submit(owner, tree, tree, {"name": "Sales", "parent_id": ""})).status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        [sales] = [n.department for n in await organisation.departments(session)]
    made = await submit(owner, tree, tree, {"name": "Inside sales", "parent_id": str(sales.id)})
    assert made.status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        nodes = {n.department.name: n for n in await organisation.departments(session)}
        await organisation.place_member(
            session,
            (await _membership_of(db, acme, await the_test_owner(db))).id,
            department_id=nodes["Inside sales"].department.id,
        )
    inside = nodes["Inside sales"].department

    page = await owner.get(tree, headers=HTML)
    sales_item = page.text.split(f'id="department-{sales.id}"')[1]
    assert f'id="department-{inside.id}"' in sales_item  # nested under Sales
    assert "Members: 1" in page.text.split(f'id="department-{inside.id}"')[1]
    move_form = page.text.split(f'id="move-{sales.id}"')[1].split("</form>")[0]
    assert f'value="{inside.id}"' not in move_form  # its own subtree is not offered

    move = f"/t/acme/departments/{sales.id}/move"
    refused = await submit(owner, tree, move, {"parent_id": str(inside.id)})
    assert refused.status_code == 409
    form = refused.text.split(f'id="move-{sales.id}"')[1].split("</form>")[0]
    assert "A department cannot move under itself or one of its own." in form
    partial = await submit(owner, tree, move, {"parent_id": str(inside.id)}, headers=HTMX)
    assert partial.status_code == 200  # htmx swaps the section with the refusal in it
    assert "<html" not in partial.text
    assert 'id="organisation"' in partial.text
    assert "A department cannot move under itself or one of its own." in partial.text

    renamed = await submit(
        owner, tree, f"/t/acme/departments/{inside.id}/rename", {"name": "Sales"}, headers=HTMX
    )
    assert "There is already a department called Sales here." not in renamed.text  # not a sibling
    assert f'id="rename-{inside.id}-name" name="name" value="Sales"' in renamed.text
    clash = await submit(owner, tree, tree, {"name": "Sales", "parent_id": ""})
    assert clash.status_code == 409
    assert 'id="add-top-error">There is already a department called Sales here.' in clash.text

    to_top = f"/t/acme/departments/{inside.id}/move"
    same_name = await submit(owner, tree, to_top, {"parent_id": ""})
    assert same_name.status_code == 409  # the top already has a Sales
    assert f'id="move-{inside.id}-error">There is already a department called Sales' in (
        same_name.text
    )
    old = await submit(owner, tree, f"/t/acme/departments/{sales.id}/rename", {"name": "Old"})
    assert old.status_code == 303
    assert (await submit(owner, tree, to_top, {"parent_id": ""})).status_code == 303
    refused_delete = await submit(owner, tree, f"/t/acme/departments/{inside.id}/delete", {})
    assert refused_delete.status_code == 409  # a member sits there
    assert (
        await submit(owner, tree, f"/t/acme/departments/{sales.id}/delete", {})
    ).status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        left = [(n.department.name, n.depth) for n in await organisation.departments(session)]
    assert left == [("Sales", 0)]  # the renamed one, now at the top


async def test_positions_are_added_renamed_and_deleted(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    tree = "/t/acme/departments"
    assert (await submit(owner, tree, "/t/acme/positions", {"name": "Clerk"})).status_code == 303
    empty = await submit(owner, tree, "/t/acme/positions", {"name": " "}, headers=HTMX)
    assert 'id="add-position-error">A name has 1 to 100 characters.' in empty.text
    async with db.tenant_transaction(acme.tenant_id) as session:
        [(clerk, _count)] = await organisation.positions(session)
    renamed = await submit(
        owner, tree, f"/t/acme/positions/{clerk.id}/rename", {"name": "Senior clerk"}
    )
    assert renamed.status_code == 303
    assert "Senior clerk" in (await owner.get(tree, headers=HTML)).text
    deleted = await submit(owner, tree, f"/t/acme/positions/{clerk.id}/delete", {})
    assert deleted.status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await organisation.positions(session) == []


# --- two workspaces, CSRF ------------------------------------------------------------------------


async def test_another_workspaces_roles_departments_and_members_are_not_found(
    owner: httpx.AsyncClient, db: Database, make_tenant
) -> None:
    globex = await make_tenant("globex")
    async with db.tenant_transaction(globex.tenant_id) as session:
        theirs = Role(name="Theirs", permissions=["core.party.read"], scopes={})
        session.add(theirs)
        department = await organisation.create_department(session, "Their sales")
        member = Membership(user_id=(await user(db, "Gus")).id, role="member")
        session.add(member)
        await session.flush()

    for url in (
        f"/t/acme/roles/{theirs.id}/edit",
        f"/t/acme/roles/{theirs.id}/delete",
        f"/t/acme/members/{member.id}/roles",
    ):
        assert (await owner.get(url, headers=HTML)).status_code == 404, url
    tree = "/t/acme/departments"
    for action, fields in (
        (f"/t/acme/departments/{department.id}/rename", {"name": "Ours"}),
        (f"/t/acme/departments/{department.id}/delete", {}),
        ("/t/acme/departments", {"name": "Ours", "parent_id": str(department.id)}),
        (f"/t/acme/roles/{theirs.id}/delete", {}),
    ):
        assert (await submit(owner, tree, action, fields)).status_code == 404, action
    async with db.tenant_transaction(globex.tenant_id) as session:
        [node] = await organisation.departments(session)
        assert node.department.name == "Their sales"
        assert await session.get(Role, (globex.tenant_id, theirs.id)) is not None


async def test_a_form_posted_without_its_csrf_token_is_refused(
    owner: httpx.AsyncClient, db: Database, acme: TenantContext
) -> None:
    await owner.get("/t/acme/roles/new", headers=HTML)  # the CSRF cookie is set, not sent back
    for action, fields in (
        ("/t/acme/roles/new", {"name": "Sneaky", "permission": "core.party.read"}),
        ("/t/acme/departments", {"name": "Sneaky"}),
        ("/t/acme/api-tokens", {"name": "Sneaky", "permission": "core.member.read"}),
    ):
        answer = await owner.post(action, data=fields, headers=HTML)
        assert answer.status_code == 403, action
    assert await _role_named(db, acme, "Sneaky") is None
    async with db.tenant_transaction(acme.tenant_id) as session:
        assert await organisation.departments(session) == []
