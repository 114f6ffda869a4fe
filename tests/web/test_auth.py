"""Signing in over real HTTP: cookies, fixation, 2FA, membership, tokens, guards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from sqlalchemy import select, update

from core.db import Database
from core.identity import accounts, api_tokens, sessions, two_factor
from core.models import ApiToken, Membership, Tenant, User
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.roles import member_rights
from core.settings import Settings
from tests.pages import csrf
from web.auth import SESSION_COOKIE

HTML = {"accept": "text/html"}
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def acme(make_tenant):
    return await make_tenant("acme", "sample")


async def _user(db: Database, email: str) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(
            session, email=email, password=PASSWORD, display_name=email.split("@")[0]
        )


async def _join(db: Database, tenant_id, user: User, role: str = "member") -> Membership:
    async with db.tenant_transaction(tenant_id) as session:
        member = Membership(user_id=user.id, role=role)
        session.add(member)
        return member


async def _two_factor_on(db: Database, user_id) -> pyotp.TOTP:
    """2FA switched on for the user a minute ago (so the current code is still unused)."""
    async with db.global_transaction() as session:
        row = await session.get(User, user_id)
        assert row is not None
        await two_factor.begin(session, row)
        app = pyotp.TOTP(row.totp_secret)
        earlier = datetime.now(UTC) - timedelta(seconds=60)
        await two_factor.confirm(session, row, app.at(earlier), now=earlier)
    return app


async def _form_sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD):
    page = await client.get("/sign-in", headers=HTML)
    return await client.post(
        "/sign-in",
        data={"_csrf_token": csrf(page), "email": email, "password": password, "next": "/t/acme/"},
        headers=HTML,
    )


async def test_a_browser_without_a_session_is_sent_to_sign_in(anonymous_client, acme) -> None:
    page = await anonymous_client.get("/t/acme/sample/", headers=HTML)
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=/t/acme/sample"
    api = await anonymous_client.get("/api/t/acme/sample/notes/")
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "unauthenticated"


async def test_sign_in_sets_a_locked_down_cookie_and_opens_the_workspace(
    anonymous_client, db: Database, acme
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    signed_in = await _form_sign_in(anonymous_client, "MEI@acme.test")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/t/acme/"
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the test environment serves plain HTTP; production sets it
    assert (await anonymous_client.get("/t/acme/", headers=HTML)).status_code == 200


async def test_signing_in_drops_a_language_left_by_the_browsers_last_user(
    anonymous_client, db: Database, acme
) -> None:
    """The previous person chose Chinese on this computer; Mei's own language is English."""
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    anonymous_client.cookies.set("atrium_lang", "zh-CN", domain="127.0.0.1")
    assert '<html lang="zh-CN">' in (await anonymous_client.get("/sign-in", headers=HTML)).text
    signed_in = await _form_sign_in(anonymous_client, "mei@acme.test")
    assert any(c.startswith('atrium_lang=""') for c in signed_in.headers.get_list("set-cookie"))
    workspace = await anonymous_client.get("/t/acme/", headers=HTML)
    assert '<html lang="en">' in workspace.text


async def test_a_wrong_password_shows_the_form_again_with_a_message(
    anonymous_client, db: Database, acme
) -> None:
    await _user(db, "mei@acme.test")
    refused = await _form_sign_in(anonymous_client, "mei@acme.test", "not the password")
    assert refused.status_code == 401
    assert "The e-mail address or password is not right." in refused.text
    assert SESSION_COOKIE not in anonymous_client.cookies


async def test_a_planted_session_id_is_never_promoted(anonymous_client, db: Database, acme) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    anonymous_client.cookies.set(SESSION_COOKIE, "planted-by-an-attacker", domain="127.0.0.1")
    await _form_sign_in(anonymous_client, "mei@acme.test")
    issued = anonymous_client.cookies[SESSION_COOKIE]
    assert issued != "planted-by-an-attacker"
    attacker = httpx.AsyncClient(base_url=str(anonymous_client.base_url))
    attacker.cookies.set(SESSION_COOKIE, "planted-by-an-attacker")
    async with attacker:
        assert (await attacker.get("/api/t/acme/sample/notes/")).status_code == 401


async def test_two_factor_sign_in_takes_a_code_and_issues_a_new_session(
    anonymous_client, db: Database, acme
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    app = await _two_factor_on(db, user.id)
    first = await _form_sign_in(anonymous_client, "mei@acme.test")
    assert first.headers["location"] == "/sign-in/two-factor?area=workspace&next=/t/acme/"
    assert SESSION_COOKIE not in anonymous_client.cookies
    # The waiting sign-in opens nothing.
    assert (await anonymous_client.get("/api/t/acme/sample/notes/")).status_code == 401
    page = await anonymous_client.get("/sign-in/two-factor", headers=HTML)
    wrong = await anonymous_client.post(
        "/sign-in/two-factor",
        data={"_csrf_token": csrf(page), "code": "000000", "next": "/t/acme/"},
        headers=HTML,
    )
    assert wrong.status_code == 401
    assert "That code is not right." in wrong.text
    done = await anonymous_client.post(
        "/sign-in/two-factor",
        data={"_csrf_token": csrf(page), "code": app.now(), "next": "/t/acme/"},
        headers=HTML,
    )
    assert done.status_code == 303
    assert (await anonymous_client.get("/api/t/acme/sample/notes/")).status_code == 200


async def test_a_signed_in_user_who_is_not_a_member_gets_404(
    anonymous_client, db: Database, acme, sign_in
) -> None:
    outsider = await _user(db, "eve@elsewhere.test")
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(outsider.id))
    response = await anonymous_client.get("/api/t/acme/sample/notes/")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No workspace at this address."


async def test_a_deactivated_member_loses_access_mid_session(
    anonymous_client, db: Database, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    member = await _join(db, acme.tenant_id, user)
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    assert (await anonymous_client.get("/api/t/acme/sample/notes/")).status_code == 200
    async with db.tenant_transaction(acme.tenant_id) as session:
        await session.execute(
            update(Membership).where(Membership.id == member.id).values(active=False)
        )
    assert (await anonymous_client.get("/api/t/acme/sample/notes/")).status_code == 404


async def test_sign_out_ends_the_session(
    anonymous_client, db: Database, settings: Settings, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    token = await sign_in(user.id)
    anonymous_client.cookies.set(SESSION_COOKIE, token)
    page = await anonymous_client.get("/sign-in", headers=HTML)
    out = await anonymous_client.post("/sign-out", data={"_csrf_token": csrf(page)}, headers=HTML)
    assert out.status_code == 303
    async with db.global_transaction() as session:
        assert await sessions.resolve(session, settings, token) is None


async def test_a_missing_permission_is_403_naming_it(
    anonymous_client, db: Database, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    response = await anonymous_client.post("/api/t/acme/modules/sample/disable")
    assert response.status_code == 403
    assert response.json()["error"]["permission"] == "core.billing.manage"
    assert "core.billing.manage" in response.json()["error"]["message"]


async def test_a_cookie_api_call_from_another_site_is_refused(client, acme) -> None:
    refused = await client.post(
        "/api/t/acme/sample/notes/", json={"title": "x"}, headers={"origin": "https://evil.test"}
    )
    assert refused.status_code == 403
    same = await client.post(
        "/api/t/acme/sample/notes/",
        json={"title": "x"},
        headers={"origin": str(client.base_url).rstrip("/")},
    )
    assert same.status_code == 201


async def test_a_workspace_can_require_two_factor(client, db: Database, acme) -> None:
    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == acme.tenant_id).values(require_two_factor=True)
        )
    response = await client.get("/api/t/acme/sample/notes/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "two_factor_required"


async def _actor(db: Database, registry: ModuleRegistry, tenant_id, user: User) -> Actor:
    async with db.tenant_transaction(tenant_id) as session:
        member = await session.scalar(select(Membership).where(Membership.user_id == user.id))
        assert member is not None
        granted = await member_rights(session, registry, member)
        return Actor(
            tenant_id=tenant_id,
            user_id=user.id,
            membership_id=member.id,
            permissions=granted.permissions,
            scopes=granted.scopes,
        )


async def test_api_tokens_carry_their_permissions_expiry_and_last_use(
    anonymous_client, db: Database, registry: ModuleRegistry, make_tenant, acme
) -> None:
    other = await make_tenant("other", "sample")
    user = await _user(db, "bot-owner@acme.test")
    await _join(db, acme.tenant_id, user, role="owner")
    await _join(db, other.tenant_id, user, role="owner")
    actor = await _actor(db, registry, acme.tenant_id, user)
    async with db.tenant_transaction(acme.tenant_id) as session:
        plaintext, token = await api_tokens.create(
            session, actor, name="sync", permissions=["core.member.read"]
        )
    bearer = {"authorization": f"Bearer {plaintext}"}
    notes = await anonymous_client.get("/api/t/acme/sample/notes/", headers=bearer)
    assert notes.status_code == 200
    # The token may not do what it was not given, though its owner may.
    refused = await anonymous_client.post("/api/t/acme/modules/sample/disable", headers=bearer)
    assert refused.status_code == 403
    # It belongs to one workspace only.
    assert (
        await anonymous_client.get("/api/t/other/sample/notes/", headers=bearer)
    ).status_code == 401
    # Not on pages: a token is for the API.
    page = await anonymous_client.get("/t/acme/", headers={**bearer, **HTML})
    assert page.status_code == 303
    async with db.tenant_transaction(acme.tenant_id) as session:
        row = await session.get(ApiToken, (acme.tenant_id, token.id))
        assert row is not None
        assert row.last_used_at is not None
        assert row.token_hash != plaintext
        assert plaintext.startswith(row.prefix)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = await anonymous_client.get("/api/t/acme/sample/notes/", headers=bearer)
    assert expired.status_code == 401


async def test_a_revoked_token_stops_at_once(
    anonymous_client, db: Database, registry: ModuleRegistry, acme
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    actor = await _actor(db, registry, acme.tenant_id, user)
    async with db.tenant_transaction(acme.tenant_id) as session:
        plaintext, token = await api_tokens.create(
            session, actor, name="cli", permissions=["core.party.read"]
        )
    bearer = {"authorization": f"Bearer {plaintext}"}
    assert (
        await anonymous_client.get("/api/t/acme/sample/notes/", headers=bearer)
    ).status_code == 200
    async with db.tenant_transaction(acme.tenant_id) as session:
        await api_tokens.revoke(session, actor, token.id)
    assert (
        await anonymous_client.get("/api/t/acme/sample/notes/", headers=bearer)
    ).status_code == 401


async def test_a_token_cannot_exceed_its_creators_rights(
    db: Database, registry: ModuleRegistry, acme
) -> None:
    from core.errors import PermissionDenied

    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    actor = await _actor(db, registry, acme.tenant_id, user)
    async with db.tenant_transaction(acme.tenant_id) as session:
        with pytest.raises(PermissionDenied) as refused:
            await api_tokens.create(
                session, actor, name="too much", permissions=["core.billing.manage"]
            )
    assert refused.value.params == {"permission": "core.billing.manage"}


async def test_the_account_page_lists_sessions_and_signs_out_everywhere(
    anonymous_client, db: Database, settings: Settings, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    async with db.global_transaction() as session:
        phone, _row = await sessions.start(session, settings, user.id, user_agent="Phone/1.0")
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    page = await anonymous_client.get("/account", headers=HTML)
    assert page.status_code == 200
    assert "Phone/1.0" in page.text
    assert 'href="/t/acme/"' in page.text
    out = await anonymous_client.post(
        "/account/sign-out-everywhere", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert out.headers["location"] == "/sign-in"
    async with db.global_transaction() as session:
        assert await sessions.active(session, settings, user.id) == []
        assert await sessions.resolve(session, settings, phone) is None


async def test_roles_and_tokens_over_the_api(client, db: Database, acme) -> None:
    made = await client.post(
        "/api/t/acme/roles",
        json={
            "name": "Sales",
            "permissions": ["core.party.read", "core.party.write"],
            "scopes": {"core.party": "department_tree"},
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["scopes"] == {"core.party": "department_tree"}
    unknown = await client.post(
        "/api/t/acme/roles", json={"name": "Odd", "permissions": ["crm.nothing.read"]}
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"]["permission"] == "crm.nothing.read"
    async with db.tenant_transaction(acme.tenant_id) as session:
        owner = await session.scalar(select(Membership).where(Membership.role == "owner"))
        assert owner is not None
    last_owner = await client.put(
        f"/api/t/acme/members/{owner.id}/roles", json={"role": "member", "roles": []}
    )
    assert last_owner.status_code == 409
    token = await client.post(
        "/api/t/acme/api-tokens", json={"name": "sync", "permissions": ["core.party.read"]}
    )
    assert token.status_code == 201
    secret = token.json()["token"]
    assert secret.startswith(token.json()["prefix"])
    listed = (await client.get("/api/t/acme/api-tokens")).json()
    assert [t["token"] for t in listed] == [None]  # never shown again
    gone = await client.delete(f"/api/t/acme/api-tokens/{listed[0]['id']}")
    assert gone.status_code == 204


async def test_turning_on_two_factor_satisfies_a_workspace_that_requires_it(
    client, db: Database, acme
) -> None:
    required = await client.put("/api/t/acme/settings/security", json={"require_two_factor": True})
    assert required.status_code == 200
    refused = await client.get("/api/t/acme/sample/notes/")
    assert refused.json()["error"]["code"] == "two_factor_required"
    before = client.cookies[SESSION_COOKIE]
    setup = await client.get("/account/two-factor", headers=HTML)
    secret = setup.text.split('id="totp-secret">')[1].split("<")[0]
    done = await client.post(
        "/account/two-factor",
        data={"_csrf_token": csrf(setup), "code": pyotp.TOTP(secret).now()},
        headers=HTML,
    )
    assert done.status_code == 200
    assert done.text.count("<code>") == 10  # the recovery codes, shown once
    assert client.cookies[SESSION_COOKIE] != before  # a new session id on privilege change
    assert (await client.get("/api/t/acme/sample/notes/")).status_code == 200
    async with db.tenant_transaction(acme.tenant_id) as session:
        from core.models import AuditEntry

        actions = set(await session.scalars(select(AuditEntry.action)))
    assert "core.settings.two_factor_required" in actions


async def test_admins_read_the_audit_log_and_members_may_not(
    client, anonymous_client, db: Database, acme, sign_in
) -> None:
    await client.post("/api/t/acme/roles", json={"name": "Clerks", "permissions": []})
    log = await client.get("/api/t/acme/audit", params={"action": "core.role.created"})
    assert log.status_code == 200
    assert [e["detail"]["name"] for e in log.json()] == ["Clerks"]
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    refused = await anonymous_client.get("/api/t/acme/audit")
    assert refused.json()["error"]["permission"] == "core.audit.read"


async def test_two_factor_is_turned_off_with_the_password_and_a_code(
    anonymous_client, db: Database, settings: Settings, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    app = await _two_factor_on(db, user.id)
    before = await sign_in(user.id)
    anonymous_client.cookies.set(SESSION_COOKIE, before, domain="127.0.0.1")
    page = await anonymous_client.get("/account/two-factor", headers=HTML)
    assert page.status_code == 200
    assert 'action="/account/two-factor/off"' in page.text
    assert "Unused recovery codes: 10" in page.text

    wrong = await anonymous_client.post(
        "/account/two-factor/off",
        data={"_csrf_token": csrf(page), "password": PASSWORD, "code": "000000"},
        headers=HTML,
    )
    assert wrong.status_code == 401
    assert "The password or the code is not right." in wrong.text
    off = await anonymous_client.post(
        "/account/two-factor/off",
        data={"_csrf_token": csrf(page), "password": PASSWORD, "code": app.now()},
        headers=HTML,
    )
    assert off.status_code == 303
    assert off.headers["location"] == "/account?notice=two-factor-off"
    assert anonymous_client.cookies[SESSION_COOKIE] != before  # a new session id
    account = await anonymous_client.get(off.headers["location"], headers=HTML)
    assert "Two-factor sign-in is off." in account.text
    async with db.global_transaction() as session:
        assert await sessions.resolve(session, settings, before) is None
        row = await session.get(User, user.id)
        assert row is not None
        assert (row.totp_secret, row.totp_enabled_at) == (None, None)
    # Signing in now takes the password alone.
    anonymous_client.cookies.clear()
    signed_in = await _form_sign_in(anonymous_client, "mei@acme.test")
    assert signed_in.headers["location"] == "/t/acme/"


async def test_a_workspace_that_requires_two_factor_keeps_it_on(
    anonymous_client, db: Database, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    await _join(db, acme.tenant_id, user)
    app = await _two_factor_on(db, user.id)
    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == acme.tenant_id).values(require_two_factor=True)
        )
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    page = await anonymous_client.get("/account/two-factor", headers=HTML)
    assert "a workspace that requires it: Acme." in page.text
    assert 'action="/account/two-factor/off"' not in page.text  # no form to turn it off
    refused = await anonymous_client.post(  # a form kept open from before
        "/account/two-factor/off",
        data={"_csrf_token": csrf(page), "password": PASSWORD, "code": app.now()},
        headers=HTML,
    )
    assert refused.status_code == 403
    assert "The workspace Acme requires two-factor sign-in" in refused.text
    async with db.global_transaction() as session:
        row = await session.get(User, user.id)
        assert row is not None
        assert row.totp_enabled_at is not None


async def test_new_recovery_codes_are_shown_once(
    anonymous_client, db: Database, acme, sign_in
) -> None:
    user = await _user(db, "mei@acme.test")
    app = await _two_factor_on(db, user.id)
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(user.id))
    page = await anonymous_client.get("/account/two-factor", headers=HTML)
    wrong = await anonymous_client.post(
        "/account/two-factor/recovery-codes",
        data={"_csrf_token": csrf(page), "password": "not it at all", "code": app.now()},
        headers=HTML,
    )
    assert wrong.status_code == 401
    new = await anonymous_client.post(
        "/account/two-factor/recovery-codes",
        data={"_csrf_token": csrf(page), "password": PASSWORD, "code": app.now()},
        headers=HTML,
    )
    assert new.status_code == 200
    assert new.text.count("<code>") == 10
    assert "Your earlier recovery codes no longer work." in new.text
    assert new.headers["cache-control"] == "no-store"
