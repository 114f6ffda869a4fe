"""The web app over real HTTP: tenant resolution, the module guard, errors, health, schema."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from core.db import Database, owner_engine
from core.logging import ContextFilter

HTML = {"accept": "text/html"}


@pytest.fixture
async def workspaces(make_tenant):
    return await make_tenant("acme", "sample"), await make_tenant("bare")


async def test_healthz_reports_database_and_migrations(client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "head"}


async def test_healthz_says_when_migrations_are_behind(client, db: Database) -> None:
    engine = owner_engine(db.owner)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM alembic_version"))
        await conn.execute(text("INSERT INTO alembic_version VALUES ('core_0001')"))
    await engine.dispose()
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["migrations"] == "pending"


async def test_module_api_lists_only_the_workspaces_rows(client, workspaces) -> None:
    created = await client.post("/api/t/acme/sample/notes/", json={"title": "hello", "tags": ["a"]})
    assert created.status_code == 201
    assert created.json()["tags"] == ["a"]
    listed = await client.get("/api/t/acme/sample/notes/")
    assert [n["title"] for n in listed.json()] == ["hello"]
    await client.post("/api/t/bare/modules/sample/enable")
    assert (await client.get("/api/t/bare/sample/notes/")).json() == []


async def test_unknown_workspace_is_404_on_api_and_page(client) -> None:
    api = await client.get("/api/t/nowhere/sample/notes/")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    page = await client.get("/t/nowhere/sample/", headers=HTML)
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "No workspace at this address." in page.text


async def test_disabled_module_api_is_403_naming_the_module(client, workspaces) -> None:
    response = await client.get("/api/t/bare/sample/notes/")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "module_disabled"
    assert error["module"] == "sample"


async def test_disabled_module_page_offers_to_enable_it(client, workspaces) -> None:
    page = await client.get("/t/bare/sample/", headers=HTML)
    assert page.status_code == 403
    assert 'action="/t/bare/modules/sample/enable"' in page.text
    assert 'name="_csrf_token"' in page.text


async def test_enable_form_needs_its_csrf_token(client, workspaces) -> None:
    refused = await client.post("/t/bare/modules/sample/enable", headers=HTML)
    assert refused.status_code == 403
    page = await client.get("/t/bare/sample/", headers=HTML)
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    enabled = await client.post(
        "/t/bare/modules/sample/enable", data={"_csrf_token": token}, headers=HTML
    )
    assert enabled.status_code in (301, 302, 303)
    assert enabled.headers["location"] == "/t/bare/sample/"
    assert (await client.get("/t/bare/sample/", headers=HTML)).status_code == 200


async def test_disabling_keeps_data_and_enabling_shows_it_again(client, workspaces) -> None:
    await client.post("/api/t/acme/sample/notes/", json={"title": "kept"})
    assert (await client.post("/api/t/acme/modules/sample/disable")).json() == {"enabled": []}
    assert (await client.get("/api/t/acme/sample/notes/")).status_code == 403
    assert (await client.post("/api/t/acme/modules/sample/enable")).status_code == 201
    assert [n["title"] for n in (await client.get("/api/t/acme/sample/notes/")).json()] == ["kept"]


async def test_enabling_enables_depends_first(client, workspaces) -> None:
    response = await client.post("/api/t/bare/modules/sampleaddon/enable")
    assert response.json() == {"enabled": ["sample", "sampleaddon"]}


async def test_disabling_a_dependency_is_refused_with_the_reason(client, workspaces) -> None:
    await client.post("/api/t/bare/modules/sampleaddon/enable")
    response = await client.post("/api/t/bare/modules/sample/disable")
    assert response.status_code == 409
    assert "sampleaddon" in response.json()["error"]["message"]


async def test_unknown_module_is_404(client, workspaces) -> None:
    response = await client.post("/api/t/bare/modules/nothing/enable")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_bad_input_is_4xx_json_and_writes_nothing(client, workspaces) -> None:
    empty = await client.post("/api/t/acme/sample/notes/", json={"title": "  "})
    assert empty.status_code == 422
    assert empty.json()["error"]["message"] == "A note needs a title."
    unknown_field = await client.post("/api/t/acme/sample/notes/", json={"titl": "x"})
    assert unknown_field.status_code == 400
    assert unknown_field.json()["error"]["fields"][0]["key"] == "data"
    not_json = await client.post(
        "/api/t/acme/sample/notes/", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    bad_uuid = await client.get("/api/t/acme/sample/notes/not-a-uuid")
    assert bad_uuid.status_code in (400, 404)
    assert (await client.get("/api/t/acme/sample/notes/")).json() == []


async def test_unexpected_errors_are_500_logged_with_request_and_tenant(
    client, workspaces, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.ERROR, logger="atrium.web"):
        response = await client.get(
            "/api/t/acme/sample/notes/crash", headers={"x-request-id": "req-12345"}
        )
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Something went wrong on our side. Nothing was saved.",
            "request_id": "req-12345",
        }
    }
    assert "Traceback" not in response.text
    assert "deliberate" not in response.text
    record = next(r for r in caplog.records if r.name == "atrium.web")
    acme, _bare = workspaces
    assert (record.request_id, record.tenant) == ("req-12345", str(acme.tenant_id))
    assert record.exc_info is not None


async def test_request_id_is_made_when_missing_and_unsafe_ones_are_replaced(client) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 16
    unsafe = await client.get("/healthz", headers={"x-request-id": "bad id; with spaces"})
    assert unsafe.headers["x-request-id"] != "bad id; with spaces"


async def test_openapi_lists_module_and_workspace_endpoints(client) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    assert "/api/t/{tenant_slug}/sample/notes" in paths
    assert "/api/t/{tenant_slug}/modules" in paths
    assert "/healthz" in paths
    assert not any(p.startswith("/t/") for p in paths), "pages stay out of the API schema"


async def test_static_htmx_is_vendored(client) -> None:
    response = await client.get("/static/vendor/htmx.min.js")
    assert response.status_code == 200
    assert "htmx" in response.text[:200]


async def test_layout_shows_enabled_modules_menu(client, workspaces) -> None:
    page = await client.get("/t/acme/", headers=HTML)
    assert 'data-module="sample"' in page.text
    bare = await client.get("/t/bare/", headers=HTML)
    assert 'data-module="sample"' not in bare.text


async def test_a_url_no_route_matches_still_gets_an_id_and_a_locale(client) -> None:
    response = await client.get(
        "/no/such/page", headers={"x-request-id": "req-unrouted", "accept-language": "zh-CN"}
    )
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "req-unrouted"
    assert response.json()["error"]["request_id"] == "req-unrouted"
    assert response.json()["error"]["message"] != "Not Found"  # translated


def test_an_error_message_with_a_percent_sign_reads_in_both_languages(settings, registry) -> None:
    """Jinja's newstyle ``_`` applies ``%`` formatting; the ``error_text`` filter does not."""
    from core import i18n
    from core.errors import ValidationFailed
    from web.app import create_app

    env = create_app(settings, registry=registry).template_engine.engine
    template = env.from_string("{{ error | error_text }}")
    error = ValidationFailed(
        "A tax rate is a fraction from 0 to below 1 with at most {places} decimal "
        "places (13 % is 0.13).",
        places=4,
    )
    with i18n.use_locale("en"):
        assert template.render(error=error) == (
            "A tax rate is a fraction from 0 to below 1 with at most 4 decimal places "
            "(13 % is 0.13)."
        )
    with i18n.use_locale("zh-CN"):
        expected = i18n.gettext(error.message).format(places=4)
        assert expected != error.message.format(places=4)  # the catalog translates it
        assert template.render(error=error) == expected
