"""Attachments, the timeline, activities and notifications on any record, over real HTTP.

The JSON API and the htmx sections of the party page, with the access rule of
core.records.access: the record type's read permission to look, its write
permission to add or remove (403 naming the code), the record inside the
member's data scope and workspace (else 404), and an unknown record type or a
disabled module's is 404. Uploaded files land in the test's own data folder,
so "nothing stored" is checked on disk.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from core.context import TenantContext
from core.db import Database
from core.models import User
from core.plugins.registry import ModuleRegistry
from core.records import timeline
from core.records.attachments import MIB
from tenants import services as tenant_services
from tests.sample_module.services import NoteService
from tests.web.test_parties_api import (
    Browser,
    join,
    make_party,
    the_test_owner,
    user,
)

HTML = {"accept": "text/html"}
HTMX = {**HTML, "hx-request": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200)


def stored(tmp_path: Path) -> list[Path]:
    files = tmp_path / "files"
    return sorted(p for p in files.rglob("*") if p.is_file()) if files.exists() else []


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    return await make_tenant("acme", "sample", seed=True)


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


@pytest.fixture
async def mei(db: Database, acme: TenantContext) -> User:
    """A colleague with the built-in Member role: her own parties, every product, read-only."""
    colleague = await user(db, "Mei")
    await join(db, acme, colleague)
    return colleague


def on_party(party: dict, what: str, slug: str = "acme") -> str:
    return f"/api/t/{slug}/records/core.party/{party['id']}/{what}"


async def upload(
    http: httpx.AsyncClient, url: str, name: str, content: bytes, content_type: str
) -> httpx.Response:
    return await http.post(url, files={"file": (name, content, content_type)})


async def attached(http: httpx.AsyncClient, party: dict) -> list[str]:
    listed = await http.get(on_party(party, "attachments"))
    assert listed.status_code == 200, listed.text
    return [a["file_name"] for a in listed.json()]


async def a_product(http: httpx.AsyncClient) -> dict:
    units = (await http.get("/api/t/acme/units")).json()
    made = await http.post(
        "/api/t/acme/products", json={"sku": "P-1", "name": "Cement", "uom_id": units[0]["id"]}
    )
    assert made.status_code == 201, made.text
    return made.json()


# --- attachments -------------------------------------------------------------------------------


async def test_a_file_is_uploaded_listed_downloaded_and_removed(
    owner: httpx.AsyncClient, tmp_path: Path
) -> None:
    party = await make_party(owner, "Acme Trading")
    made = await upload(
        owner, on_party(party, "attachments"), "Site photo 报价.png", PNG, "image/png"
    )
    assert made.status_code == 201, made.text
    attachment = made.json()
    assert (attachment["file_name"], attachment["content_type"], attachment["size"]) == (
        "Site photo 报价.png",
        "image/png",
        len(PNG),
    )
    assert (attachment["record_type"], attachment["record_id"]) == ("core.party", party["id"])
    assert await attached(owner, party) == ["Site photo 报价.png"]
    assert len(stored(tmp_path)) == 1

    downloaded = await owner.get(f"/api/t/acme/attachments/{attachment['id']}")
    assert downloaded.status_code == 200
    assert downloaded.content == PNG
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.headers["content-length"] == str(len(PNG))
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert downloaded.headers["content-disposition"] == (
        'attachment; filename="Site photo __.png"; '
        "filename*=UTF-8''Site%20photo%20%E6%8A%A5%E4%BB%B7.png"
    )

    removed = await owner.delete(f"/api/t/acme/attachments/{attachment['id']}")
    assert removed.status_code == 204
    assert await attached(owner, party) == []
    gone = await owner.get(f"/api/t/acme/attachments/{attachment['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


async def test_a_disguised_empty_or_oversized_file_is_refused_and_nothing_is_stored(
    owner: httpx.AsyncClient, tmp_path: Path
) -> None:
    party = await make_party(owner, "Acme Trading")
    url = on_party(party, "attachments")
    refusals = {
        "an exe named .pdf": await upload(owner, url, "invoice.pdf", EXE, "application/pdf"),
        "a PNG named .pdf": await upload(owner, url, "invoice.pdf", PNG, "application/pdf"),
        "an empty file": await upload(owner, url, "empty.txt", b"", "text/plain"),
        "one byte too many": await upload(
            owner, url, "big.pdf", PDF + bytes(25 * MIB + 1 - len(PDF)), "application/pdf"
        ),
    }
    for what, answer in refusals.items():
        assert answer.status_code == 422, (what, answer.text)
        assert answer.json()["error"]["code"] == "validation_failed", what
    messages = {what: answer.json()["error"]["message"] for what, answer in refusals.items()}
    assert messages["an exe named .pdf"].startswith("Files of this type cannot be attached.")
    assert messages["a PNG named .pdf"] == (
        "The file's content is PNG, but its name or type says PDF."
    )
    assert messages["one byte too many"] == "A file may be at most 25 MiB."

    no_file = await owner.post(url, files={"other": ("a.pdf", PDF, "application/pdf")})
    assert no_file.status_code == 400
    assert no_file.json()["error"]["code"] == "bad_request"
    assert await attached(owner, party) == []
    assert stored(tmp_path) == []


async def test_a_part_without_a_content_type_is_judged_by_its_bytes_and_name(
    owner: httpx.AsyncClient,
) -> None:
    party = await make_party(owner, "Acme Trading")
    boundary = "atrium-boundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="scan.pdf"\r\n\r\n'
        ).encode()
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    made = await owner.post(
        on_party(party, "attachments"),
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["content_type"] == "application/pdf"


# --- the timeline ------------------------------------------------------------------------------


async def test_a_mention_notifies_the_member_until_read(
    db: Database, owner: httpx.AsyncClient, browser: Browser, mei: User
) -> None:
    party = await make_party(owner, "Acme Trading")
    body = f"@[Mei](user:{mei.id}) please call them about the quote."
    posted = await owner.post(on_party(party, "comments"), json={"body": body})
    assert posted.status_code == 201, posted.text
    entry = posted.json()
    assert (entry["kind"], entry["body"], entry["author_name"]) == ("comment", body, "Test Owner")

    as_mei = await browser(mei)
    [notification] = (await as_mei.get("/api/t/acme/notifications")).json()
    assert {k: notification[k] for k in ("kind", "record_type", "record_id", "message")} == {
        "kind": "mention",
        "record_type": "core.party",
        "record_id": party["id"],
        "message": "Test Owner mentioned you.",
    }
    assert (await owner.get("/api/t/acme/notifications")).json() == []  # the author is not told
    chinese = await as_mei.get("/api/t/acme/notifications", params={"lang": "zh-CN"})
    assert chinese.json()[0]["message"] != "Test Owner mentioned you."
    assert "Test Owner" in chinese.json()[0]["message"]

    read = await as_mei.post("/api/t/acme/notifications/read", json={})
    assert read.status_code == 200
    assert read.json() == {"marked": 1}
    assert (await as_mei.get("/api/t/acme/notifications")).json() == []

    [shown] = (await owner.get(on_party(party, "timeline"))).json()["items"]
    assert shown["id"] == entry["id"]


async def test_an_activity_is_planned_done_and_put_on_the_timeline(
    owner: httpx.AsyncClient, browser: Browser, mei: User
) -> None:
    as_mei = await browser(mei)
    party = await make_party(as_mei, "Mei's Customer")
    planned = await owner.post(
        on_party(party, "activities"),
        json={
            "activity_type": "call",
            "summary": "Call about the quote",
            "due_on": "2026-03-05",
            "assignee_id": str(mei.id),
        },
    )
    assert planned.status_code == 201, planned.text
    activity = planned.json()
    assert (activity["assignee_name"], activity["due_on"], activity["done_at"]) == (
        "Mei",
        "2026-03-05",
        None,
    )
    assert [a["id"] for a in (await as_mei.get("/api/t/acme/activities")).json()] == [
        activity["id"]
    ]
    assert [a["id"] for a in (await as_mei.get(on_party(party, "activities"))).json()] == [
        activity["id"]
    ]
    [assigned] = (await as_mei.get("/api/t/acme/notifications")).json()
    assert assigned["message"] == "Test Owner assigned you an activity: Call about the quote"

    done = await as_mei.post(
        f"/api/t/acme/activities/{activity['id']}/done", json={"feedback": "They will order."}
    )
    assert done.status_code == 200, done.text
    entry = done.json()
    assert (entry["kind"], entry["body"], entry["author_name"]) == (
        "activity",
        "They will order.",
        "Mei",
    )
    assert entry["activity"]["summary"] == "Call about the quote"
    assert entry["activity"]["done_at"] is not None
    assert (await as_mei.get("/api/t/acme/activities")).json() == []
    assert (await as_mei.get(on_party(party, "activities"))).json() == []
    [on_timeline] = (await owner.get(on_party(party, "timeline"))).json()["items"]
    assert on_timeline == entry
    again = await as_mei.post(f"/api/t/acme/activities/{activity['id']}/done")
    assert again.status_code == 409

    dropped = (
        await as_mei.post(
            on_party(party, "activities"),
            json={"activity_type": "todo", "summary": "Send the brochure", "due_on": "2026-03-06"},
        )
    ).json()
    assert dropped["assignee_id"] == str(mei.id)  # no assignee: the author's own
    cancelled = await as_mei.post(f"/api/t/acme/activities/{dropped['id']}/cancel")
    assert cancelled.status_code == 204
    assert (await as_mei.get(on_party(party, "activities"))).json() == []
    assert (await as_mei.post(f"/api/t/acme/activities/{dropped['id']}/cancel")).status_code == 404

    refused = {
        "unknown type": {"activity_type": "lunch", "summary": "x", "due_on": "2026-03-05"},
        "blank summary": {"activity_type": "call", "summary": " ", "due_on": "2026-03-05"},
        "a stranger": {
            "activity_type": "call",
            "summary": "x",
            "due_on": "2026-03-05",
            "assignee_id": str(uuid.uuid4()),
        },
    }
    for what, body in refused.items():
        answer = await owner.post(on_party(party, "activities"), json=body)
        assert answer.status_code == 422, (what, answer.text)
    blank = await owner.post(on_party(party, "comments"), json={"body": "  "})
    assert blank.status_code == 422
    bad_date = await owner.post(
        on_party(party, "activities"),
        json={"activity_type": "call", "summary": "x", "due_on": "soon"},
    )
    assert bad_date.status_code == 400
    assert [e["kind"] for e in (await owner.get(on_party(party, "timeline"))).json()["items"]] == [
        "activity"
    ]


async def test_the_timeline_pages_newest_first_by_keyset(owner: httpx.AsyncClient) -> None:
    party = await make_party(owner, "Acme Trading")
    for number in range(1, 6):
        await owner.post(on_party(party, "comments"), json={"body": f"Comment {number}"})
    seen: list[list[str]] = []
    before = None
    while True:
        params = {"limit": 2, **({"before": before} if before else {})}
        page = (await owner.get(on_party(party, "timeline"), params=params)).json()
        seen.append([e["body"] for e in page["items"]])
        before = page["next_cursor"]
        if before is None:
            break
    assert seen == [["Comment 5", "Comment 4"], ["Comment 3", "Comment 2"], ["Comment 1"]]


async def test_tracked_changes_read_with_their_labels_in_the_readers_language(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    party = await make_party(owner, "Acme")
    async with db.tenant_transaction(acme.tenant_id) as session:
        await timeline.track_changes(
            session,
            "core.party",
            uuid.UUID(party["id"]),
            None,  # the system changed it
            {"name": "Acme", "website": None, "is_supplier": False, "credit": None},
            {
                "name": "Acme Trading",
                "website": None,
                "is_supplier": True,
                "credit": timeline.Money(Decimal("6780.5"), "CNY"),
            },
            labels={
                "name": "Name",
                "website": "Website",
                "is_supplier": "Supplier",
                "credit": "Amount",
            },
        )
    [entry] = (await owner.get(on_party(party, "timeline"))).json()["items"]
    assert (entry["kind"], entry["author_name"]) == ("change", "")
    plain = {"boolean": False, "currency": None}
    assert entry["changes"] == [
        {"field": "name", "label": "Name", "from": "Acme", "to": "Acme Trading", **plain},
        {
            "field": "is_supplier",
            "label": "Supplier",
            "from": "false",
            "to": "true",
            "boolean": True,
            "currency": None,
        },
        {  # kept as the plain number, with its currency for the reader
            "field": "credit",
            "label": "Amount",
            "from": None,
            "to": "6780.5",
            "boolean": False,
            "currency": "CNY",
        },
    ]
    chinese = await owner.get(on_party(party, "timeline"), params={"lang": "zh-CN"})
    assert chinese.json()["items"][0]["changes"][0]["label"] == "名称"
    page = await owner.get(f"/t/acme/parties/{party['id']}", headers=HTML)
    assert "Name: Acme → Acme Trading" in page.text
    assert "Supplier: No → Yes" in page.text  # a yes/no field in words, not "false → true"
    assert "Amount: – → CN¥6,780.50" in page.text  # money as money, in the reader's locale
    assert "System" in page.text
    chinese_page = await owner.get(
        f"/t/acme/parties/{party['id']}", headers=HTML, params={"lang": "zh-CN"}
    )
    assert "否 → 是" in chinese_page.text
    assert "– → ¥6,780.50" in chinese_page.text


# --- who may see and change what ---------------------------------------------------------------


async def test_a_record_of_another_workspace_is_404(
    make_tenant, owner: httpx.AsyncClient, tmp_path: Path
) -> None:
    await make_tenant("other")
    theirs = await make_party(owner, "Other Trading", slug="other")
    file = (
        await upload(
            owner, on_party(theirs, "attachments", "other"), "a.pdf", PDF, "application/pdf"
        )
    ).json()
    activity = (
        await owner.post(
            on_party(theirs, "activities", "other"),
            json={"activity_type": "call", "summary": "Call", "due_on": "2026-03-05"},
        )
    ).json()

    for answer in (
        await owner.get(on_party(theirs, "attachments")),
        await upload(owner, on_party(theirs, "attachments"), "b.pdf", PDF, "application/pdf"),
        await owner.get(on_party(theirs, "timeline")),
        await owner.post(on_party(theirs, "comments"), json={"body": "Hello"}),
        await owner.get(on_party(theirs, "panels")),
        await owner.get(f"/api/t/acme/attachments/{file['id']}"),
        await owner.delete(f"/api/t/acme/attachments/{file['id']}"),
        await owner.post(f"/api/t/acme/activities/{activity['id']}/done"),
        await owner.post(f"/api/t/acme/activities/{activity['id']}/cancel"),
    ):
        assert answer.status_code == 404, answer.request.url
        assert answer.json()["error"]["code"] == "not_found"
    listed = await owner.get(on_party(theirs, "attachments", "other"))
    assert [a["id"] for a in listed.json()] == [file["id"]]
    assert len(stored(tmp_path)) == 1
    assert (await owner.get(on_party(theirs, "timeline", "other"))).json()["items"] == []


async def test_a_member_gets_404_for_a_party_outside_her_scope(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser, mei: User
) -> None:
    ken = await user(db, "Ken")
    await join(db, acme, ken)
    kens = await make_party(await browser(ken), "Ken's Customer")
    file = (
        await upload(owner, on_party(kens, "attachments"), "a.pdf", PDF, "application/pdf")
    ).json()
    activity = (
        await owner.post(
            on_party(kens, "activities"),
            json={"activity_type": "call", "summary": "Call", "due_on": "2026-03-05"},
        )
    ).json()
    as_mei = await browser(mei)
    for answer in (
        await as_mei.get(on_party(kens, "attachments")),
        await upload(as_mei, on_party(kens, "attachments"), "b.pdf", PDF, "application/pdf"),
        await as_mei.get(on_party(kens, "timeline")),
        await as_mei.get(on_party(kens, "activities")),
        await as_mei.post(on_party(kens, "comments"), json={"body": "Mine now"}),
        await as_mei.get(on_party(kens, "panels")),
        await as_mei.get(f"/api/t/acme/attachments/{file['id']}"),
        await as_mei.delete(f"/api/t/acme/attachments/{file['id']}"),
        await as_mei.post(f"/api/t/acme/activities/{activity['id']}/done"),
        await as_mei.get(f"/t/acme/records/core.party/{kens['id']}/timeline", headers=HTMX),
    ):
        assert answer.status_code == 404, answer.request.url
    assert [a["id"] for a in (await owner.get(on_party(kens, "attachments"))).json()] == [
        file["id"]
    ]
    assert (await owner.get(on_party(kens, "timeline"))).json()["items"] == []

    hers = await make_party(as_mei, "Mei's Customer")
    for answer in (
        await as_mei.get(on_party(hers, "attachments")),
        await as_mei.get(on_party(hers, "timeline")),
        await as_mei.get(on_party(hers, "panels")),
    ):
        assert answer.status_code == 200, answer.request.url


async def test_adding_or_removing_needs_the_record_types_write_permission(
    owner: httpx.AsyncClient, browser: Browser, mei: User, tmp_path: Path
) -> None:
    product = await a_product(owner)
    on_product = f"/api/t/acme/records/core.product/{product['id']}"
    file = (
        await upload(owner, f"{on_product}/attachments", "spec.pdf", PDF, "application/pdf")
    ).json()
    activity = (
        await owner.post(
            f"{on_product}/activities",
            json={"activity_type": "todo", "summary": "Check the price", "due_on": "2026-03-05"},
        )
    ).json()
    as_mei = await browser(mei)  # a Member reads the catalogue but may not change it

    assert (await as_mei.get(f"{on_product}/timeline")).status_code == 200
    assert [a["id"] for a in (await as_mei.get(f"{on_product}/attachments")).json()] == [file["id"]]
    assert (await as_mei.get(f"/api/t/acme/attachments/{file['id']}")).content == PDF
    for answer in (
        await upload(as_mei, f"{on_product}/attachments", "b.pdf", PDF, "application/pdf"),
        await as_mei.post(f"{on_product}/comments", json={"body": "Too expensive"}),
        await as_mei.post(
            f"{on_product}/activities",
            json={"activity_type": "call", "summary": "Call", "due_on": "2026-03-05"},
        ),
        await as_mei.delete(f"/api/t/acme/attachments/{file['id']}"),
        await as_mei.post(f"/api/t/acme/activities/{activity['id']}/done"),
        await as_mei.post(f"/api/t/acme/activities/{activity['id']}/cancel"),
    ):
        assert answer.status_code == 403, answer.request.url
        error = answer.json()["error"]
        assert error["permission"] == "core.product.write"
        assert "core.product.write" in error["message"]
    assert len(stored(tmp_path)) == 1
    assert (await owner.get(f"{on_product}/timeline")).json()["items"] == []
    assert len((await owner.get(f"{on_product}/activities")).json()) == 1


async def test_an_unknown_record_type_or_a_disabled_modules_is_404(
    db: Database, registry: ModuleRegistry, acme: TenantContext, owner: httpx.AsyncClient
) -> None:
    async with db.tenant_transaction(acme.tenant_id) as session:
        note = await NoteService(session).create("Plan the quarter")
    on_note = f"/api/t/acme/records/sample.note/{note.id}"
    posted = await owner.post(f"{on_note}/comments", json={"body": "Let us start on Monday."})
    assert posted.status_code == 201, posted.text
    assert len((await owner.get(f"{on_note}/timeline")).json()["items"]) == 1
    assert (
        await owner.get(f"/api/t/acme/records/sample.note/{uuid.uuid4()}/timeline")
    ).status_code == 404

    for record_type in ("crm.lead", "nonsense", "core.nothing"):
        answer = await owner.get(f"/api/t/acme/records/{record_type}/{uuid.uuid4()}/timeline")
        assert answer.status_code == 404, record_type
        assert answer.json()["error"]["code"] == "not_found"

    async with db.tenant_transaction(acme.tenant_id) as session:
        await tenant_services.disable_module(session, registry, acme, "sample")
    for answer in (
        await owner.get(f"{on_note}/timeline"),
        await owner.get(f"{on_note}/attachments"),
        await owner.post(f"{on_note}/comments", json={"body": "Still here?"}),
        await owner.get(f"{on_note}/panels"),
    ):
        assert answer.status_code == 404, answer.request.url


# --- the party page ----------------------------------------------------------------------------


async def test_the_party_page_shows_attachments_and_takes_comments_by_htmx(
    owner: httpx.AsyncClient, mei: User, tmp_path: Path
) -> None:
    party = await make_party(owner, "Acme Trading")
    file = (
        await upload(owner, on_party(party, "attachments"), "Quote.pdf", PDF, "application/pdf")
    ).json()
    page = await owner.get(f"/t/acme/parties/{party['id']}", headers=HTML)
    assert page.status_code == 200
    for shown in (
        '<section class="card" id="record-attachments">',
        f'<li id="attachment-{file["id"]}">',
        f'href="/api/t/acme/attachments/{file["id"]}"',
        ">Quote.pdf</a>",
        'id="attachment-upload"',
        '<section class="card" id="record-timeline">',
        'id="comment-form"',
        'id="activity-form"',
        f'<option value="{mei.id}">Mei</option>',
        "Nothing has happened here yet.",
    ):
        assert shown in page.text, shown
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    comments = f"/t/acme/records/core.party/{party['id']}/comments"
    back = f"/t/acme/parties/{party['id']}"

    posted = await owner.post(
        comments,
        data={"_csrf_token": token, "back": back, "body": f"Ask @[Mei](user:{mei.id}) first."},
        headers=HTMX,
    )
    assert posted.status_code == 200, posted.text
    assert "<html" not in posted.text  # the section only, for htmx to swap in
    assert '<section class="card" id="record-timeline">' in posted.text
    assert 'id="record-attachments"' not in posted.text
    assert "Ask @Mei first." in posted.text
    assert (await owner.get(on_party(party, "timeline"))).json()["items"][0]["body"] == (
        f"Ask @[Mei](user:{mei.id}) first."
    )

    blank = await owner.post(
        comments, data={"_csrf_token": token, "back": back, "body": " "}, headers=HTMX
    )
    assert blank.status_code == 200  # htmx swaps 2xx only: the section shows the reason
    assert 'id="comment-error"' in blank.text  # beside the comment box
    assert 'aria-describedby="comment-error"' in blank.text
    assert "A comment has 1 to 10000 characters." in blank.text
    assert len((await owner.get(on_party(party, "timeline"))).json()["items"]) == 1

    # Without htmx the refusal is a page holding the section, with what was typed.
    long = "w" * 10_001
    too_long = await owner.post(
        comments, data={"_csrf_token": token, "back": back, "body": long}, headers=HTML
    )
    assert too_long.status_code == 422
    assert "<html" in too_long.text
    assert f'href="{back}"' in too_long.text
    assert 'id="comment-error"' in too_long.text
    assert f">{long}</textarea>" in too_long.text
    planned = await owner.post(
        f"/t/acme/records/core.party/{party['id']}/activities",
        data={"_csrf_token": token, "back": back, "summary": "Call back", "due_on": "2026-02-30"},
        headers=HTMX,
    )
    assert 'id="activity-error"' in planned.text
    assert 'value="Call back"' in planned.text
    assert 'value="2026-02-30"' in planned.text
    assert len((await owner.get(on_party(party, "timeline"))).json()["items"]) == 1

    await owner.post(on_party(party, "comments"), json={"body": "A later word."})
    newest = (await owner.get(on_party(party, "timeline"))).json()["items"][0]
    older = await owner.get(
        f"/t/acme/records/core.party/{party['id']}/timeline",
        params={"before": newest["id"]},
        headers=HTMX,
    )
    assert older.status_code == 200
    assert 'id="record-timeline"' not in older.text  # rows only, for the "Older entries" link
    assert "Ask @Mei first." in older.text
    assert "A later word." not in older.text

    without_htmx = await owner.post(
        comments, data={"_csrf_token": token, "back": back, "body": "Called them."}, headers=HTML
    )
    assert without_htmx.status_code == 303
    assert without_htmx.headers["location"] == back
    assert (
        await owner.post(comments, data={"back": back, "body": "x"}, headers=HTMX)
    ).status_code == 403

    uploads = f"/t/acme/records/core.party/{party['id']}/attachments"
    disguised = await owner.post(
        uploads,
        data={"_csrf_token": token, "back": back},
        files={"file": ("invoice.pdf", EXE, "application/pdf")},
        headers=HTMX,
    )
    assert disguised.status_code == 200
    assert 'id="attachments-error"' in disguised.text
    assert "Files of this type cannot be attached." in disguised.text
    assert len(stored(tmp_path)) == 1
    photo = await owner.post(
        uploads,
        data={"_csrf_token": token, "back": back},
        files={"file": ("site.png", PNG, "image/png")},
        headers=HTMX,
    )
    assert photo.status_code == 200
    assert ">site.png</a>" in photo.text
    assert await attached(owner, party) == ["site.png", "Quote.pdf"]


async def test_an_activity_is_planned_and_done_from_the_party_page(
    owner: httpx.AsyncClient, mei: User
) -> None:
    party = await make_party(owner, "Acme Trading")
    page = await owner.get(f"/t/acme/parties/{party['id']}", headers=HTML)
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    back = f"/t/acme/parties/{party['id']}"
    planned = await owner.post(
        f"/t/acme/records/core.party/{party['id']}/activities",
        data={
            "_csrf_token": token,
            "back": back,
            "activity_type": "meeting",
            "summary": "Visit the warehouse",
            "due_on": "2026-03-05",
            "assignee_id": str(mei.id),
        },
        headers=HTMX,
    )
    assert planned.status_code == 200, planned.text
    [activity] = (await owner.get(on_party(party, "activities"))).json()
    assert f'<li id="activity-{activity["id"]}">' in planned.text
    assert "Visit the warehouse" in planned.text

    no_day = await owner.post(
        f"/t/acme/records/core.party/{party['id']}/activities",
        data={"_csrf_token": token, "back": back, "activity_type": "call", "summary": "x"},
        headers=HTMX,
    )
    assert "Enter the day the activity is due." in no_day.text

    done = await owner.post(
        f"/t/acme/activities/{activity['id']}/done",
        data={"_csrf_token": token, "back": back, "feedback": "Stock looks fine."},
        headers=HTMX,
    )
    assert done.status_code == 200
    assert f'<li id="activity-{activity["id"]}">' not in done.text
    assert "Done: Visit the warehouse" in done.text
    assert "Stock looks fine." in done.text
