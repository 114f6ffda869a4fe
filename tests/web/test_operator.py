"""The operator console has its own sign-in; being an operator opens no workspace."""

from __future__ import annotations

import pytest

from core.db import Database
from core.errors import NotFound
from core.identity import accounts
from tests.pages import csrf
from web.auth import OPERATOR_COOKIE, SESSION_COOKIE

HTML = {"accept": "text/html"}
PASSWORD = "correct horse battery staple"


async def _account(db: Database, email: str, *, operator: bool) -> None:
    async with db.global_transaction() as session:
        await accounts.register(session, email=email, password=PASSWORD, display_name="Ops")
        if operator:
            await accounts.grant_operator(session, email)


async def _sign_in(client, path: str, email: str):
    page = await client.get(path, headers=HTML)
    return await client.post(
        path,
        data={"_csrf_token": csrf(page.text), "email": email, "password": PASSWORD},
        headers=HTML,
    )


async def test_an_operator_signs_in_to_the_console_only(
    anonymous_client, db: Database, make_tenant
) -> None:
    await make_tenant("acme")
    await _account(db, "ops@atrium.test", operator=True)
    assert (await anonymous_client.get("/operator/", headers=HTML)).headers[
        "location"
    ] == "/operator/sign-in?next=/operator"
    signed_in = await _sign_in(anonymous_client, "/operator/sign-in", "ops@atrium.test")
    assert signed_in.headers["location"] == "/operator/"
    assert OPERATOR_COOKIE in anonymous_client.cookies
    assert SESSION_COOKIE not in anonymous_client.cookies
    console = await anonymous_client.get("/operator/", headers=HTML)
    assert console.status_code == 200
    assert "/t/acme/" in console.text
    # Being an operator grants nothing inside a workspace; nor does the operator cookie,
    # even when sent as a workspace session.
    anonymous_client.cookies.set(SESSION_COOKIE, anonymous_client.cookies[OPERATOR_COOKIE])
    assert (await anonymous_client.get("/api/t/acme/modules")).status_code == 401


async def test_a_member_cannot_use_the_operator_sign_in(anonymous_client, db: Database) -> None:
    await _account(db, "mei@acme.test", operator=False)
    refused = await _sign_in(anonymous_client, "/operator/sign-in", "mei@acme.test")
    assert refused.status_code == 401
    assert "The e-mail address or password is not right." in refused.text
    # And a workspace session does not open the console.
    await _sign_in(anonymous_client, "/sign-in", "mei@acme.test")
    assert SESSION_COOKIE in anonymous_client.cookies
    assert (await anonymous_client.get("/operator/", headers=HTML)).status_code == 303


async def test_granting_needs_an_existing_account(db: Database) -> None:
    async with db.global_transaction() as session:
        with pytest.raises(NotFound):
            await accounts.grant_operator(session, "nobody@atrium.test")
