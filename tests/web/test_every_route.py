"""Checks over every route the app mounts, so a new page or endpoint cannot skip them:

- a member of one workspace who types another workspace's URL gets 404, whatever the
  method and path (pages and JSON API alike);
- every state-changing page route refuses a request without its CSRF token;
- a plain Member gets 403 from every route guarded by a permission the Member role lacks.

The routes are read from the app itself; path parameters are filled with plausible
values (a random id, a real module key), which is enough since neither check may
depend on the record existing.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from core import roles
from core.db import Database
from core.identity import accounts
from core.models import Membership
from core.plugins.manifest import CSRF_EXEMPT
from tests.conftest import Browser
from tests.web.test_recovery_pages import csrf
from web.app import create_app

CHANGING = ("POST", "PUT", "PATCH", "DELETE")
PARAM = re.compile(r"\{(?P<name>\w+)(?::(?P<kind>\w+))?\}")
#: Values for path parameters by name (else by type): valid in shape, naming nothing real.
BY_NAME = {
    "key": "sample",
    "module_key": "sample",
    "kind": "parties",
    "record_type": "core.party",
    "code": "EUR",
    "token": "not-a-real-token-0000000000000000",
}
BY_KIND = {"uuid": lambda: str(uuid.uuid4()), "int": lambda: "1", "date": lambda: "2026-01-05"}


def fill(path: str, slug: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match["name"], match["kind"] or "str"
        if name == "tenant_slug":
            return slug
        if name in BY_NAME:
            return BY_NAME[name]
        return BY_KIND.get(kind, lambda: "x")()

    return PARAM.sub(value, path)


def routes(settings, registry) -> list[tuple[str, str]]:
    app = create_app(settings, registry=registry)
    found = {
        (method, route.path)
        for route in app.routes
        for method in getattr(route, "methods", ()) or ()
        if method not in ("HEAD", "OPTIONS")
    }
    return sorted(found)


@pytest.fixture
async def ann(db: Database, make_tenant, browser: Browser) -> httpx.AsyncClient:
    """The owner of workspace "ant" only; workspace "bee" exists beside it."""
    await make_tenant("ant", "sample", "sampleaddon", owner_email="ann@ant.test")
    await make_tenant("bee", "sample", "sampleaddon")
    async with db.global_transaction() as session:
        user = await accounts.by_email(session, "ann@ant.test")
    assert user is not None
    return await browser(user)


async def test_another_workspaces_urls_are_404_for_every_route_and_method(
    ann: httpx.AsyncClient, settings, registry
) -> None:
    page = await ann.get("/t/ant/", headers={"accept": "text/html"})
    assert page.status_code == 200
    token = csrf(page)
    origin = {"origin": str(ann.base_url).rstrip("/")}
    answers: dict[str, int] = {}
    for method, path in routes(settings, registry):
        if not path.startswith(("/t/{tenant_slug", "/api/t/{tenant_slug")):
            continue
        url = fill(path, "bee")
        if path.startswith("/api/"):
            sent = await ann.request(method, url, headers=origin, json={})
        else:
            data = {"_csrf_token": token} if method in CHANGING else None
            sent = await ann.request(method, url, headers={"accept": "text/html"}, data=data)
        answers[f"{method} {path}"] = sent.status_code
    assert len(answers) > 100  # the check really walked the app
    assert {route: code for route, code in answers.items() if code != 404} == {}


def csrf_exempt_routes(settings, registry) -> set[tuple[str, str]]:
    """(method, path) of the handlers that opt out of the CSRF check: a module's public
    cross-site form posts (``CSRF_EXEMPT``), which the app allows under /public/ only."""
    app = create_app(settings, registry=registry)
    return {
        (method, route.path)
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if handler.opt.get(CSRF_EXEMPT)
        for method in handler.http_methods
    }


async def test_every_state_changing_page_refuses_a_request_without_its_csrf_token(
    ann: httpx.AsyncClient, settings, registry
) -> None:
    exempt = csrf_exempt_routes(settings, registry)
    assert all(path.startswith("/public/") for _method, path in exempt)
    answers: dict[str, int] = {}
    for method, path in routes(settings, registry):
        if method not in CHANGING or path.startswith(("/api/", "/static/")):
            continue
        if (method, path) in exempt:  # protected by their own throttle and honeypot instead
            continue
        sent = await ann.request(
            method, fill(path, "ant"), headers={"accept": "text/html"}, data={"x": "1"}
        )
        answers[f"{method} {path}"] = sent.status_code
    assert len(answers) > 40
    assert {route: code for route, code in answers.items() if code != 403} == {}


def guarded_routes(settings, registry, codes: set[str]) -> list[tuple[str, str, str]]:
    """(method, path, code) of the workspace routes whose own guard requires one of ``codes``
    (``web.tenancy.requires`` names its guard after the code)."""
    app = create_app(settings, registry=registry)
    by_guard = {f"requires_{code.replace('.', '_')}": code for code in codes}
    found = set()
    for route in app.routes:
        if not route.path.startswith(("/t/{tenant_slug", "/api/t/{tenant_slug")):
            continue
        for handler in getattr(route, "route_handlers", ()):
            for guard in handler.guards or ():
                code = by_guard.get(getattr(guard, "__name__", ""))
                for method in handler.http_methods if code else ():
                    found.add((method, route.path, code))
    return sorted(found)


async def test_a_member_gets_403_from_every_route_needing_a_right_members_lack(
    db: Database, make_tenant, browser: Browser, settings, registry
) -> None:
    ctx = await make_tenant("ant", "sample", "sampleaddon")
    async with db.global_transaction() as session:
        mia = await accounts.register(
            session, email="mia@ant.test", password="violet-harbour-42x", display_name="Mia"
        )
    async with db.tenant_transaction(ctx.tenant_id) as session:
        session.add(Membership(user_id=mia.id, role=roles.MEMBER))
    http = await browser(mia)
    page = await http.get("/t/ant/", headers={"accept": "text/html"})
    assert page.status_code == 200
    token = csrf(page)
    origin = {"origin": str(http.base_url).rstrip("/")}
    members_lack = {p.code for p in roles.all_permissions(registry) if p.member is None}
    answers: dict[str, int] = {}
    for method, path, code in guarded_routes(settings, registry, members_lack):
        url = fill(path, "ant")
        if path.startswith("/api/"):
            sent = await http.request(method, url, headers=origin, json={})
        else:
            data = {"_csrf_token": token} if method in CHANGING else None
            sent = await http.request(method, url, headers={"accept": "text/html"}, data=data)
        answers[f"{method} {path} ({code})"] = sent.status_code
    assert len(answers) > 40  # roles, settings, audit, members, the app store, ...
    assert {route: status for route, status in answers.items() if status != 403} == {}
