"""The approval form pages and API over real HTTP: the reimbursement path the browser test
will walk (the admin sets the expense form's flow with a finance step above 5000 and a copy
and previews it; the employee files a claim with a receipt; the manager returns it; the
employee fixes it on the edit page and resubmits; manager and finance approve; the
requester sees "Approved", the copied member has a notification), "Add a line" without
JavaScript, refusals beside their inputs with the typing kept, the designer's pages, a
post without its CSRF token, the JSON API's answers and 4xx, another workspace's 404."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from core.db import Database
from core.records.models import Notification
from modules.oa.models import FormRequest
from tests.conftest import Browser
from tests.modules.crm.test_contracts import drain
from tests.modules.oa.conftest import Office
from tests.modules.oa.test_approvals_pages import as_user, opened, owner_actor
from tests.modules.oa.test_forms import PNG, TYPED
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf

FORMS = "/t/acme/oa/forms"
FLOW = "/t/acme/oa/approvals/flows/oa.form:expense"
API = "/api/t/acme/oa"


async def post_form(
    http: httpx.AsyncClient, page_url: str, target: str, fields: dict[str, str], files=None
) -> httpx.Response:
    """Open ``page_url`` for its CSRF token and post ``fields`` (multipart with ``files``)."""
    token = csrf(await opened(http, page_url))
    return await http.post(target, data={"_csrf_token": token, **fields}, files=files, headers=HTML)


def receipt_file() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("f.receipts", ("receipt.png", PNG, "image/png"))]


def instance_path(answer: httpx.Response) -> str:
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["location"]


async def test_the_reimbursement_path_from_flow_to_approved(
    db: Database, office: Office, browser: Browser
) -> None:
    lead = await office.person("Lead")
    finance = await office.person("Finance")
    reader = await office.person("Reader")
    wei = await office.person("Wei", manager=lead)
    admin = await browser(await the_test_owner(db))

    listed = await opened(admin, "/t/acme/oa/approvals/flows")
    assert 'id="kind-oa-form-expense"' in listed.text
    assert "oa.form:leave" in listed.text
    flow = {
        "name_1": "Manager",
        "approvers_1": "manager",
        "mode_1": "any",
        "levels_1": "1",
        "name_2": "Finance",
        "approvers_2": "member",
        "members_2": str(finance.user_id),
        "mode_2": "any",
        "cond_field_2": "amount",
        "cond_op_2": ">",
        "cond_value_2": "5000",
        "cc": str(reader.user_id),
        "missing": "admins",
        "auto_approve_repeat": "on",
        "requester": str(wei.user_id),
        "field_amount": "6000",
    }
    previewed = await post_form(admin, FLOW, FLOW, {"do": "preview", **flow})
    assert previewed.status_code == 200, previewed.text
    preview = previewed.text.split('id="flow-preview"')[1].split("</ol>")[0]
    assert "Lead" in preview
    assert "Finance" in preview
    assert (await post_form(admin, FLOW, FLOW, {"do": "save", **flow})).status_code == 303

    http = await as_user(db, browser, wei)
    start = await opened(http, FORMS)
    assert 'id="form-expense"' in start.text
    new = f"{FORMS}/expense/new"
    page = await opened(http, new)
    assert 'name="f.lines.1.amount"' in page.text
    assert 'id="add-line-lines"' in page.text
    assert 'type="file" name="f.receipts"' in page.text

    claim = dict(TYPED["expense"], **{"f.lines.1.amount": "6000"})
    more = await post_form(http, new, new, {**claim, "do": "line:lines"})
    assert more.status_code == 200
    assert 'name="f.lines.3.amount"' in more.text  # one more line, the typing kept
    assert 'value="Taxi"' in more.text

    refused = await post_form(http, new, new, {**claim, "f.lines.2.amount": "1.999"})
    assert refused.status_code == 422
    assert 'id="error-f-receipts"' in refused.text
    assert 'id="error-f-lines-2-amount"' in refused.text
    assert 'value="1.999"' in refused.text
    again = await post_form(
        http, new, new, {**claim, "f.lines.2.amount": "1.999"}, files=receipt_file()
    )
    assert 'id="files-again"' in again.text  # chosen files must be chosen again
    async with office.session() as session:
        assert list(await session.scalars(select(FormRequest))) == []

    filed = await post_form(http, new, new, {**claim, "do": "submit"}, files=receipt_file())
    request_url = instance_path(filed)
    assert re.fullmatch(r"/t/acme/oa/forms/requests/[0-9a-f-]+", request_url)
    approval_url = instance_path(await http.get(request_url, headers=HTML))
    shown = await opened(http, approval_url)
    assert 'id="total-lines"' in shown.text
    assert "6,079.50" in shown.text
    assert "receipt.png" in shown.text
    download = re.search(r'href="(/api/t/acme/attachments/[0-9a-f-]+)"', shown.text)
    assert download is not None
    got = await http.get(download.group(1))
    assert got.status_code == 200
    assert got.content == PNG

    manager = await as_user(db, browser, lead)
    returned = await post_form(
        manager, approval_url, f"{approval_url}/return", {"step": "", "comment": "One receipt"}
    )
    assert returned.status_code == 303
    theirs = await opened(http, approval_url)
    assert 'id="edit-request"' in theirs.text
    edit = f"{request_url}/edit"
    editing = await opened(http, edit)
    assert 'value="6000.00"' in editing.text
    attachment_id = re.search(r'name="remove" value="([0-9a-f-]+)"', editing.text)
    assert attachment_id is not None
    fixed = dict(claim, **{"f.lines.1.amount": "5500", "comment": "Receipt added"})
    resubmitted = await post_form(http, edit, edit, fixed, files=receipt_file())
    assert instance_path(resubmitted) == approval_url
    assert (await http.get(edit, headers=HTML)).status_code == 409  # no longer returned

    approved = await post_form(manager, approval_url, f"{approval_url}/approve", {"comment": ""})
    assert approved.status_code == 303
    money = await as_user(db, browser, finance)
    done = await post_form(money, approval_url, f"{approval_url}/approve", {"comment": "Paid"})
    assert done.status_code == 303
    await drain(office)
    final = await opened(http, approval_url)
    assert 'id="approval-status">Approved<' in final.text
    assert "5,579.50" in final.text
    assert len(re.findall(r'id="download-', final.text)) == 2
    listed_mine = await opened(http, FORMS)
    assert "Approved" in listed_mine.text.split('id="my-requests"')[1]
    async with office.session() as session:
        copied = await session.scalar(
            select(Notification).where(
                Notification.user_id == reader.user_id, Notification.kind == "approval_copied"
            )
        )
        told = await session.scalar(
            select(Notification).where(
                Notification.user_id == wei.user_id, Notification.kind == "oa_form_decided"
            )
        )
    assert copied is not None
    assert told is not None


async def test_the_designer_adds_orders_refuses_and_saves_without_javascript(
    db: Database, office: Office, browser: Browser
) -> None:
    admin = await browser(await the_test_owner(db))
    designer = "/t/acme/oa/form-designer"
    listed = await opened(admin, designer)
    assert 'id="design-expense"' in listed.text
    new = f"{designer}/new"
    typed = {
        "code": "training",
        "name": "Training",
        "description": "",
        "active": "on",
        "field_1_key": "course",
        "field_1_label": "Course",
        "field_1_type": "text",
        "field_1_required": "on",
    }
    added = await post_form(admin, new, new, {**typed, "do": "add"})
    assert added.status_code == 200
    assert 'name="field_2_key"' in added.text
    assert 'value="course"' in added.text
    two = {
        **typed,
        "field_2_key": "level",
        "field_2_label": "Level",
        "field_2_type": "choice",
        "field_2_options": "",
    }
    moved = await post_form(admin, new, new, {**two, "do": "up:2"})
    assert moved.text.index('value="level"') < moved.text.index('value="course"')
    refused = await post_form(admin, new, new, {**two, "field_2_key": "course", "do": "save"})
    assert refused.status_code == 422
    assert 'id="error-field_2_key"' in refused.text
    assert 'id="error-field_2_options"' in refused.text
    saved = await post_form(
        admin,
        new,
        new,
        {**two, "field_2_options": "Beginner\nAdvanced", "do": "save"},
    )
    assert instance_path(saved) == f"{designer}/training"
    page = await opened(admin, f"{designer}/training")
    assert "Version 1" in page.text
    assert 'href="/t/acme/oa/approvals/flows/oa.form:training"' in page.text
    form_page = await opened(admin, f"{FORMS}/training/new")
    assert '<option value="Advanced">Advanced</option>' in form_page.text
    builtin = await opened(admin, f"{designer}/leave")
    assert 'id="builtin-note"' in builtin.text
    off = await post_form(
        admin, f"{designer}/leave", f"{designer}/leave", {"code": "leave", "name": "", "do": "save"}
    )
    assert off.status_code == 303
    assert 'id="form-leave"' not in (await opened(admin, FORMS)).text

    wei = await office.person("Wei")
    member = await as_user(db, browser, wei)
    assert (await member.get(designer, headers=HTML)).status_code == 403
    unsigned = await member.post(
        f"{FORMS}/general/new", data={"f.title": "x", "f.content": "y"}, headers=HTML
    )
    assert unsigned.status_code == 403  # no CSRF token


async def test_the_json_api_files_and_refuses_with_4xx(
    db: Database, office: Office, other_office: Office, browser: Browser
) -> None:
    await owner_actor(db, office)
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    http = await as_user(db, browser, wei)
    listed = await http.get(f"{API}/forms")
    assert listed.status_code == 200
    assert [f["code"] for f in listed.json()][:2] == ["leave", "expense"]
    leave = (await http.get(f"{API}/forms/leave")).json()
    assert leave["flow_key"] == "oa.form:leave"
    assert leave["fields"][0]["options"][0] == ["annual", "Annual leave"]
    assert (await http.get(f"{API}/forms/nope")).status_code == 404

    values = {
        "leave_type": "annual",
        "period": {"start": "2026-03-04", "end": "2026-03-02"},
        "days": 3,
        "reason": "Rest",
    }
    refused = await http.post(f"{API}/forms/leave/requests", json={"values": values})
    assert refused.status_code == 422
    assert "f.period.end" in refused.json()["error"]["errors"]
    assert (await http.post(f"{API}/forms/leave/requests", content=b"{")).status_code == 422
    assert (await http.post(f"{API}/forms/leave/requests", json={"values": []})).status_code == 422
    values["period"] = {"start": "2026-03-02", "end": "2026-03-04"}
    filed = await http.post(f"{API}/forms/leave/requests", json={"values": values})
    assert filed.status_code == 201, filed.text
    made = filed.json()
    assert made["values"]["days"] == "3"
    assert made["approval_status"] == "pending"
    got = await http.get(f"{API}/form-requests/{made['id']}")
    assert got.json()["id"] == made["id"]

    no_receipt = await http.post(
        f"{API}/forms/expense/requests",
        json={
            "values": {
                "lines": [
                    {
                        "date": "2026-03-01",
                        "category": "travel",
                        "description": "Taxi",
                        "amount": "10",
                    }
                ]
            }
        },
    )
    assert no_receipt.status_code == 422
    assert "f.receipts" in no_receipt.json()["error"]["errors"]
    expense = await http.post(
        f"{API}/forms/expense/requests",
        data={
            "values": '{"lines": [{"date": "2026-03-01", "category": "travel",'
            ' "description": "Taxi", "amount": "10.5"}]}'
        },
        files=receipt_file(),
    )
    assert expense.status_code == 201, expense.text
    assert expense.json()["amount"] == "10.50"
    assert [f["file_name"] for f in expense.json()["files"]] == ["receipt.png"]

    design = {"code": "kit", "name": "Kit", "fields": [{"key": "x", "label": "", "type": "text"}]}
    assert (await http.post(f"{API}/forms", json=design)).status_code == 403  # a member
    admin = await browser(await the_test_owner(db))
    bad = await admin.post(f"{API}/forms", json=design)
    assert bad.status_code == 422
    assert "field_1_label" in bad.json()["error"]["errors"]
    design["fields"][0]["label"] = "X"
    assert (await admin.post(f"{API}/forms", json=design)).status_code == 201
    changed = await admin.put(
        f"{API}/forms/kit",
        json={
            **design,
            "fields": [*design["fields"], {"key": "n", "label": "N", "type": "number"}],
        },
    )
    assert changed.json()["version"] == 2

    # Another workspace: its forms and requests are not found here.
    other = await admin.get(f"/api/t/bolt/oa/form-requests/{made['id']}")
    assert other.status_code == 404
    assert (await admin.get("/api/t/bolt/oa/forms/kit")).status_code == 404


async def test_a_designed_forms_name_is_shown_as_typed_wherever_its_approvals_are(
    db: Database, office: Office, browser: Browser
) -> None:
    """A form's name is typed text: markup in it is shown, not run, and a "%" in it is
    text (Jinja's gettext would mark it safe and %-format it)."""
    admin = await browser(await the_test_owner(db))
    new = "/t/acme/oa/form-designer/new"
    typed = "<i>Refund</i> 100%"
    saved = await post_form(
        admin,
        new,
        new,
        {
            "code": "refund",
            "name": typed,
            "description": "",
            "active": "on",
            "field_1_key": "reason",
            "field_1_label": "Reason",
            "field_1_type": "text",
            "field_1_required": "on",
            "do": "save",
        },
    )
    assert instance_path(saved) == "/t/acme/oa/form-designer/refund"
    filed = await post_form(
        admin, f"{FORMS}/refund/new", f"{FORMS}/refund/new", {"f.reason": "Overcharged"}
    )
    request_page = await admin.get(instance_path(filed), headers=HTML)
    pages = [
        "/t/acme/oa/approvals/flows",
        "/t/acme/oa/approvals/flows/oa.form:refund",
        "/t/acme/oa/approvals?box=mine",
        instance_path(request_page),  # the request's page is its approval's
    ]
    for page in pages:
        shown = await opened(admin, page)
        assert "&lt;i&gt;Refund&lt;/i&gt; 100%" in shown.text, page
        assert typed not in shown.text, page
