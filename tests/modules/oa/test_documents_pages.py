"""The document pages and JSON API over real HTTP: folders made, refused (beside the input,
with what was typed) and deleted with the CSRF token; uploads by form (a renamed .exe refused
beside the file input, 422, nothing stored); the document page with its versions and the
preview — an <img> or an <iframe> on an inline URL typed by the bytes with ``nosniff`` —
and download only for other kinds; the grants editor; a hidden folder as 404 for a member;
the API's 4xx JSON errors; another workspace's URL as 404."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from core.db import Database
from core.records.models import Attachment
from modules.oa.models import Document, DocumentFolder, DocumentGrant
from tests.conftest import Browser
from tests.modules.crm.test_contracts_pages import error_beside, form_error
from tests.modules.oa.conftest import Office
from tests.modules.oa.test_announcements_pages import browser_of, send
from tests.modules.oa.test_documents import EXE, PDF, PNG
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf

PAGES = "/t/acme/oa/documents"
API = "/api/t/acme/oa/documents"


async def count(office: Office, model: type) -> int:
    async with office.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def upload_file(
    http: httpx.AsyncClient, folder_url: str, name: str, data: bytes, content_type: str, **fields
) -> httpx.Response:
    page = await http.get(folder_url, headers=HTML)
    assert page.status_code == 200, page.text
    return await http.post(
        f"{folder_url}/upload",
        data={"_csrf_token": csrf(page), **fields},
        files={"file": (name, data, content_type)},
        headers=HTML,
    )


async def only_folder(office: Office, name: str) -> DocumentFolder:
    async with office.session() as session:
        found = await session.scalar(select(DocumentFolder).where(DocumentFolder.name == name))
    assert found is not None
    return found


async def test_folders_uploads_versions_and_previews_over_http(
    office: Office, db: Database, browser: Browser
) -> None:
    owner = await browser(await the_test_owner(db))
    top = await owner.get(PAGES, headers=HTML)
    assert top.status_code == 200
    assert 'id="shared-space-note"' in top.text
    assert 'aria-current="page">Documents' in top.text  # the OA tab

    made = await send(owner, PAGES, f"{PAGES}/folders/new", [("name", "Contracts")])
    assert (made.status_code, made.headers["location"]) == (303, PAGES)
    again = await send(owner, PAGES, f"{PAGES}/folders/new", [("name", "contracts")])
    assert again.status_code == 409
    assert "already a folder" in error_beside(again, "folder", "name")
    assert 'value="contracts"' in again.text  # what was typed stays
    assert await count(office, DocumentFolder) == 1

    contracts = await only_folder(office, "Contracts")
    here = f"{PAGES}/folders/{contracts.id}"
    refused = await upload_file(owner, here, "invoice.pdf", EXE, "application/pdf", tags="x")
    assert refused.status_code == 422
    assert "cannot be attached" in error_beside(refused, "upload", "file")
    assert await count(office, Document) == 0
    assert await count(office, Attachment) == 0

    image = await upload_file(owner, here, "logo.png", PNG, "image/png", tags="brand")
    assert image.status_code == 303
    document_url = image.headers["location"]
    image_page = await owner.get(document_url, headers=HTML)
    assert '<img src="' + document_url + '/preview"' in image_page.text
    shown = await owner.get(f"{document_url}/preview")
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "image/png"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.content == PNG

    pdf = await upload_file(owner, here, "terms.pdf", PDF, "application/pdf")
    pdf_url = pdf.headers["location"]
    assert '<iframe src="' + pdf_url + '/preview"' in (await owner.get(pdf_url, headers=HTML)).text
    inline = await owner.get(f"{pdf_url}/preview")
    assert inline.headers["content-type"] == "application/pdf"
    assert inline.headers["content-disposition"].startswith("inline;")
    assert inline.headers["x-content-type-options"] == "nosniff"

    text = await upload_file(owner, here, "notes.txt", b"v1 notes\n", "text/plain")
    text_url = text.headers["location"]
    page = await owner.get(text_url, headers=HTML)
    assert 'id="no-preview"' in page.text
    assert "<iframe" not in page.text
    assert "<img" not in page.text.split('id="document"')[1].split("</article>")[0]
    assert (await owner.get(f"{text_url}/preview")).status_code == 404  # download only
    second = await owner.post(
        f"{text_url}/versions",
        data={"_csrf_token": csrf(page)},
        files={"file": ("notes.txt", b"v2 notes, more\n", "text/plain")},
        headers=HTML,
    )
    assert second.status_code == 303
    versions = (await owner.get(text_url, headers=HTML)).text
    assert 'id="version-2"' in versions
    assert 'id="version-1"' in versions
    first = await owner.get(f"{text_url}/versions/1/file")
    assert first.content == b"v1 notes\n"
    assert first.headers["content-disposition"].startswith("attachment;")

    listed = await owner.get(here, headers=HTML)
    assert listed.text.count('id="document-') >= 3
    found = await owner.get(PAGES, params={"tag": "brand"}, headers=HTML)
    assert "logo.png" in found.text.split('id="search-results"')[1].split("</ul>")[0]

    renamed = await send(owner, text_url, f"{text_url}/edit", [("name", " "), ("tags", "a")])
    assert renamed.status_code == 422
    assert error_beside(renamed, "document", "name")
    not_empty = await send(owner, here, f"{here}/delete", [])
    assert not_empty.status_code == 409
    assert "not empty" in form_error(not_empty, "delete")


async def test_grants_editor_hides_a_folder_from_a_member(
    office: Office, db: Database, browser: Browser
) -> None:
    sales = await office.department("Sales")
    lin = await office.person("Lin", department=sales)
    mei = await office.person("Mei")
    owner = await browser(await the_test_owner(db))
    await send(owner, PAGES, f"{PAGES}/folders/new", [("name", "Sales kit")])
    kit = await only_folder(office, "Sales kit")
    grants_url = f"{PAGES}/folders/{kit.id}/grants"
    blank = await send(
        owner, grants_url, f"{grants_url}/add", [("kind", "department"), ("level", "view")]
    )
    assert blank.status_code == 422
    assert error_beside(blank, "grant", "department_id")
    added = await send(
        owner,
        grants_url,
        f"{grants_url}/add",
        [("kind", "department"), ("department_id", str(sales)), ("level", "edit")],
    )
    assert added.status_code == 303
    assert 'id="grant-0"' in (await owner.get(grants_url, headers=HTML)).text
    assert await count(office, DocumentGrant) == 1

    lin_http = await browser_of(db, browser, lin.user_id)
    mei_http = await browser_of(db, browser, mei.user_id)
    assert (await lin_http.get(f"{PAGES}/folders/{kit.id}", headers=HTML)).status_code == 200
    assert (await mei_http.get(f"{PAGES}/folders/{kit.id}", headers=HTML)).status_code == 404
    assert "Sales kit" not in (await mei_http.get(PAGES, headers=HTML)).text
    assert (await lin_http.get(grants_url, headers=HTML)).status_code == 403  # manage only
    lin_upload = await upload_file(lin_http, f"{PAGES}/folders/{kit.id}", "a.png", PNG, "image/png")
    assert lin_upload.status_code == 303  # edit level

    removed = await send(owner, grants_url, f"{grants_url}/remove", [("index", "0")])
    assert removed.status_code == 303
    assert 'id="no-grants"' in (await owner.get(grants_url, headers=HTML)).text
    assert (await mei_http.get(f"{PAGES}/folders/{kit.id}", headers=HTML)).status_code == 200


async def test_the_api_with_its_4xx_errors_and_another_workspace(
    office: Office, other_office: Office, db: Database, browser: Browser
) -> None:
    reader = await office.person("Reader")
    stranger = await office.person("Stranger")
    owner = await browser(await the_test_owner(db))
    blank = await owner.post(f"{API}/folders", json={"name": " "})
    assert blank.status_code == 422
    assert blank.json()["error"]["field"] == "name"
    made = (await owner.post(f"{API}/folders", json={"name": "Board"})).json()
    assert (await owner.post(f"{API}/folders", json={"name": "BOARD"})).status_code == 409
    child = await owner.post(f"{API}/folders", json={"name": "2026", "parent_id": made["id"]})
    assert child.json()["parent_id"] == made["id"]
    into_child = await owner.put(
        f"{API}/folders/{made['id']}", json={"parent_id": child.json()["id"]}
    )
    assert into_child.status_code == 422
    granted = await owner.put(
        f"{API}/folders/{made['id']}/grants",
        json=[{"kind": "member", "user_id": str(reader.user_id), "level": "view"}],
    )
    assert granted.status_code == 200
    assert granted.json()[0]["subject"] == "Reader"
    uploaded = await owner.post(
        f"{API}/folders/{made['id']}/documents",
        params={"tags": "minutes"},
        files={"file": ("minutes.pdf", PDF, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    document = uploaded.json()["document"]
    assert document["folder_name"] == "Board"
    assert (document["version"], document["tags"], uploaded.json()["previewable"]) == (
        1,
        ["minutes"],
        True,
    )
    exe = await owner.post(
        f"{API}/folders/{made['id']}/documents",
        files={"file": ("setup.pdf", EXE, "application/pdf")},
    )
    assert exe.status_code == 422
    assert exe.json()["error"]["field"] == "file"
    not_empty = await owner.delete(f"{API}/folders/{made['id']}")
    assert not_empty.status_code == 409
    assert "not empty" in not_empty.json()["error"]["message"]

    reader_http = await browser_of(db, browser, reader.user_id)
    stranger_http = await browser_of(db, browser, stranger.user_id)
    assert (await reader_http.get(f"{API}/{document['id']}")).status_code == 200
    view_only = await reader_http.post(
        f"{API}/{document['id']}/versions", files={"file": ("v2.pdf", PDF, "application/pdf")}
    )
    assert view_only.status_code == 403
    assert (await reader_http.put(f"{API}/folders/{made['id']}/grants", json=[])).status_code == 403
    hidden = await stranger_http.get(f"{API}/{document['id']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    assert (await stranger_http.get(f"{API}/folders/{made['id']}")).status_code == 404
    found = await reader_http.get(f"{API}/search", params={"q": "MINUTES"})
    assert [d["name"] for d in found.json()] == ["minutes.pdf"]
    assert (await stranger_http.get(f"{API}/search", params={"q": "minutes"})).json() == []
    preview = await reader_http.get(f"{API}/{document['id']}/preview")
    assert preview.headers["content-type"] == "application/pdf"
    assert preview.headers["x-content-type-options"] == "nosniff"

    elsewhere = await owner.get(f"/api/t/bolt/oa/documents/{document['id']}")
    assert elsewhere.status_code == 404  # another workspace's URL
    async with other_office.session() as session:
        assert (await session.scalars(select(Document))).all() == []


async def test_a_document_is_moved_and_an_old_version_restored_by_page_and_api(
    office: Office, db: Database, browser: Browser
) -> None:
    owner = await browser(await the_test_owner(db))
    for name in ("Drafts", "Final"):
        await send(owner, PAGES, f"{PAGES}/folders/new", [("name", name)])
    drafts, final = await only_folder(office, "Drafts"), await only_folder(office, "Final")
    made = await upload_file(
        owner, f"{PAGES}/folders/{drafts.id}", "notes.txt", b"v1\n", "text/plain"
    )
    here = made.headers["location"]
    page = await owner.get(here, headers=HTML)
    assert f'<option value="{final.id}">Final</option>' in page.text
    tampered = await send(owner, here, f"{here}/move", [("folder_id", "not-an-id")])
    assert tampered.status_code == 422
    assert error_beside(tampered, "move", "folder_id")
    moved = await send(owner, here, f"{here}/move", [("folder_id", str(final.id))])
    assert (moved.status_code, moved.headers["location"]) == (303, here)
    assert 'id="document-folder">Final<' in (await owner.get(here, headers=HTML)).text

    await owner.post(
        f"{here}/versions",
        data={"_csrf_token": csrf(await owner.get(here, headers=HTML))},
        files={"file": ("notes.txt", b"v2, wrong\n", "text/plain")},
        headers=HTML,
    )
    versions = (await owner.get(here, headers=HTML)).text
    assert 'id="restore-1"' in versions
    assert 'id="restore-2"' not in versions  # the current one is not offered
    current = await send(owner, here, f"{here}/versions/2/restore", [])
    assert current.status_code == 409
    assert "current one already" in form_error(current, "restore")
    restored = await send(owner, here, f"{here}/versions/1/restore", [])
    assert restored.status_code == 303
    assert (await owner.get(f"{here}/versions/3/file")).content == b"v1\n"

    document_id = here.rsplit("/", 1)[1]
    via_api = await owner.post(f"{API}/{document_id}/versions/2/restore")
    assert via_api.status_code == 201, via_api.text
    assert [v["number"] for v in via_api.json()["versions"]] == [4, 3, 2, 1]
    assert (await owner.post(f"{API}/{document_id}/versions/9/restore")).status_code == 404
    back = await owner.put(
        f"{API}/{document_id}", json={"name": "notes.txt", "folder_id": str(drafts.id)}
    )
    assert back.json()["document"]["folder_name"] == "Drafts"
    nowhere = await owner.put(f"{API}/{document_id}", json={"name": "notes.txt", "folder_id": None})
    assert nowhere.status_code == 422
    assert nowhere.json()["error"]["field"] == "folder_id"
