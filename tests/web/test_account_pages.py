"""The profile, password and avatar pages over real HTTP, and a member's avatar in a workspace.

Each browser is its own client on the live app; uploaded pictures land in this
test's own data folder, so "nothing stored" is checked on disk.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from core.context import TenantContext
from core.db import Database
from core.identity import accounts, passwords
from core.models import Membership, User
from tests.conftest import Browser
from tests.pages import csrf
from web.auth import SESSION_COOKIE
from web.middleware import LOCALE_COOKIE

HTML = {"accept": "text/html"}
PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a fresh and rather long passphrase"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"


async def _user(db: Database, email: str, name: str) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(session, email=email, password=PASSWORD, display_name=name)


async def _join(db: Database, tenant: TenantContext, user: User) -> None:
    async with db.tenant_transaction(tenant.tenant_id) as session:
        session.add(Membership(user_id=user.id, role="member"))


async def _reload(db: Database, user_id: uuid.UUID) -> User:
    async with db.global_transaction() as session:
        found = await session.get(User, user_id)
        assert found is not None
        return found


async def _submit(
    http: httpx.AsyncClient, page_url: str, action: str, fields: dict[str, str]
) -> httpx.Response:
    page = await http.get(page_url, headers=HTML)
    assert page.status_code == 200, page.text
    return await http.post(action, data={"_csrf_token": csrf(page), **fields}, headers=HTML)


async def _upload(http: httpx.AsyncClient, name: str, data: bytes, kind: str) -> httpx.Response:
    page = await http.get("/account/profile", headers=HTML)
    return await http.post(
        "/account/avatar",
        data={"_csrf_token": csrf(page)},
        files={"avatar": (name, data, kind)},
        headers=HTML,
    )


def _stored(tmp_path: Path) -> list[Path]:
    files = tmp_path / "files"
    return sorted(p for p in files.rglob("*") if p.is_file()) if files.exists() else []


@pytest.fixture
async def ada(db: Database) -> User:
    return await _user(db, "ada@example.test", "Ada")


# --- profile -------------------------------------------------------------------------------------


async def test_the_profile_is_edited_inline_and_a_new_language_switches_the_pages(
    db: Database, browser: Browser, ada: User
) -> None:
    http = await browser(ada)
    account = await http.get("/account", headers=HTML)
    assert 'href="/account/profile"' in account.text
    assert 'href="/account/password"' in account.text
    page = await http.get("/account/profile", headers=HTML)
    assert '<html lang="en">' in page.text
    assert 'value="ada@example.test" readonly' in page.text
    assert '<option value="Asia/Shanghai">' in page.text  # the time zone suggestions

    blank = await _submit(
        http,
        "/account/profile",
        "/account/profile",
        {"display_name": "  ", "locale": "zh-CN", "time_zone": "Asia/Shanghai"},
    )
    assert blank.status_code == 422
    assert 'id="display-name-error"' in blank.text
    assert "Enter a display name." in blank.text
    unknown_zone = await _submit(
        http,
        "/account/profile",
        "/account/profile",
        {"display_name": "Ada Lovelace", "locale": "zh-CN", "time_zone": "Europe/Atlantis"},
    )
    assert unknown_zone.status_code == 422
    assert 'id="time-zone-error"' in unknown_zone.text
    assert "The time zone Europe/Atlantis is not known." in unknown_zone.text
    assert 'value="Ada Lovelace"' in unknown_zone.text  # what was typed is kept
    unchanged = await _reload(db, ada.id)
    assert (unchanged.display_name, unchanged.locale, unchanged.time_zone) == ("Ada", "en", "UTC")
    assert LOCALE_COOKIE not in http.cookies

    saved = await _submit(
        http,
        "/account/profile",
        "/account/profile",
        {"display_name": " Ada Lovelace ", "locale": "zh-CN", "time_zone": "Asia/Shanghai"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/account/profile?notice=saved"
    assert http.cookies[LOCALE_COOKIE] == "zh-CN"
    user = await _reload(db, ada.id)
    assert (user.display_name, user.locale, user.time_zone) == (
        "Ada Lovelace",
        "zh-CN",
        "Asia/Shanghai",
    )
    after = await http.get(saved.headers["location"], headers=HTML)
    assert '<html lang="zh-CN">' in after.text
    assert "电子邮箱" in after.text  # "E-mail address", now in Chinese
    assert 'id="profile-notice"' in after.text
    assert '<option value="zh-CN" selected>' in after.text


# --- password ------------------------------------------------------------------------------------


async def test_a_password_change_keeps_this_browser_and_signs_out_the_others(
    live: str, db: Database, browser: Browser, ada: User
) -> None:
    here = await browser(ada)
    elsewhere = await browser(ada)
    before = here.cookies[SESSION_COOKIE]
    wrong = await _submit(
        here,
        "/account/password",
        "/account/password",
        {"current": "not my password", "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert wrong.status_code == 401
    assert 'id="current-error"' in wrong.text
    assert "The current password is not right." in wrong.text
    mismatch = await _submit(
        here,
        "/account/password",
        "/account/password",
        {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD + "!"},
    )
    assert mismatch.status_code == 422
    assert 'id="repeat-error"' in mismatch.text
    weak = await _submit(
        here,
        "/account/password",
        "/account/password",
        {"current": PASSWORD, "new": "short", "repeat": "short"},
    )
    assert weak.status_code == 422
    assert 'id="new-error"' in weak.text
    assert "A password needs at least 10 characters." in weak.text
    assert passwords.verify((await _reload(db, ada.id)).password_hash, PASSWORD)
    assert (await elsewhere.get("/account", headers=HTML)).status_code == 200

    changed = await _submit(
        here,
        "/account/password",
        "/account/password",
        {"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/account/password?notice=changed"
    assert here.cookies[SESSION_COOKIE] != before  # a new session id
    done = await here.get(changed.headers["location"], headers=HTML)
    assert done.status_code == 200
    assert 'id="password-notice"' in done.text
    assert (await here.get("/account", headers=HTML)).status_code == 200
    signed_out = await elsewhere.get("/account", headers=HTML)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/sign-in")
    async with httpx.AsyncClient(base_url=live) as old_cookie:
        old_cookie.cookies.set(SESSION_COOKIE, before)
        assert (await old_cookie.get("/account", headers=HTML)).status_code == 303

    async with httpx.AsyncClient(base_url=live) as fresh:
        sign_in = await _submit(
            fresh, "/sign-in", "/sign-in", {"email": ada.email, "password": NEW_PASSWORD}
        )
        assert sign_in.status_code == 303
        assert sign_in.headers["location"] == "/account"


async def test_an_account_without_a_password_is_pointed_to_the_reset_link(
    db: Database, browser: Browser
) -> None:
    async with db.global_transaction() as session:
        invited = User(email="invited@example.test", display_name="Invited")
        session.add(invited)
        await session.flush()
    page = await (await browser(invited)).get("/account/password", headers=HTML)
    assert page.status_code == 200
    assert 'id="no-password"' in page.text
    assert 'href="/forgot-password"' in page.text
    assert 'id="password-form"' not in page.text


# --- avatar --------------------------------------------------------------------------------------


async def test_an_avatar_is_shown_to_colleagues_and_not_in_another_workspace(
    db: Database, make_tenant, browser: Browser, ada: User, tmp_path: Path
) -> None:
    acme = await make_tenant("acme", "sample")
    globex = await make_tenant("globex", "sample")
    mei = await _user(db, "mei@example.test", "Mei")
    bob = await _user(db, "bob@example.test", "Bob")
    await _join(db, acme, ada)
    await _join(db, acme, mei)
    await _join(db, globex, bob)
    await _join(db, globex, mei)
    http = await browser(ada)

    disguised = await _upload(http, "me.png", PDF, "image/png")
    assert disguised.status_code == 422
    assert 'id="avatar-error"' in disguised.text
    assert "content is PDF, but its name or type says PNG" in disguised.text
    assert _stored(tmp_path) == []
    assert (await http.get("/account/avatar")).status_code == 404

    uploaded = await _upload(http, "me.png", PNG, "image/png")
    assert uploaded.status_code == 303
    assert uploaded.headers["location"] == "/account/profile?notice=avatar-saved"
    [file] = _stored(tmp_path)
    assert file.relative_to(tmp_path / "files").parts[:2] == ("avatars", str(ada.id))
    own = await http.get("/account/avatar")
    assert own.status_code == 200
    assert own.content == PNG
    assert own.headers["content-type"] == "image/png"
    assert own.headers["cache-control"] == "private, max-age=300"
    assert own.headers["x-content-type-options"] == "nosniff"
    assert 'id="avatar-image"' in (await http.get("/account/profile", headers=HTML)).text

    colleague = await browser(mei)
    seen = await colleague.get(f"/t/acme/members/{ada.id}/avatar")
    assert seen.status_code == 200
    assert seen.content == PNG
    assert seen.headers["cache-control"] == "private, max-age=300"
    assert seen.headers["x-content-type-options"] == "nosniff"
    # Mei is in globex too, but Ada is not: there, Ada is nobody.
    assert (await colleague.get(f"/t/globex/members/{ada.id}/avatar")).status_code == 404
    outsider = await browser(bob)
    assert (await outsider.get(f"/t/acme/members/{ada.id}/avatar")).status_code == 404
    assert (await outsider.get(f"/t/globex/members/{ada.id}/avatar")).status_code == 404
    # A member without a picture: 404 as well.
    assert (await colleague.get(f"/t/globex/members/{bob.id}/avatar")).status_code == 404

    page = await http.get("/account/profile", headers=HTML)
    removed = await http.post(
        "/account/avatar/remove", data={"_csrf_token": csrf(page)}, headers=HTML
    )
    assert removed.status_code == 303
    assert _stored(tmp_path) == []
    assert (await colleague.get(f"/t/acme/members/{ada.id}/avatar")).status_code == 404
