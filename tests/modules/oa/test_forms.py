"""OA's approval forms through the services: the built-in forms in every workspace once,
the designer's refusals and versions, every field type's checks (Decimal money, date
ranges, choices, members, departments, lines, a required attachment), each built-in form
filed and approved through the engine with the default flow, a form's own flow branching
on the amount, return → fix → resubmit re-planned, the events on approval with Decimal
totals, the requester's and the copied member's notifications, two workspaces apart."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import Conflict, NotFound
from core.models import ApprovalRequest, Membership, OutboxEvent
from core.permissions import Actor
from core.products.currency import base_currency
from core.records.models import Attachment, Notification
from core.records.storage import LocalFileStore
from modules.oa.models import ApprovalInstance, Form, FormRequest, FormVersion
from modules.oa.services import engine, form_requests, forms
from modules.oa.services.builtin_forms import BUILTIN_FORMS
from modules.oa.services.flows import Condition
from modules.oa.services.form_requests import Upload
from modules.oa.services.forms import FormRefused
from tests.modules.crm.test_contracts import drain
from tests.modules.oa.conftest import Office, step

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

#: What a requester types into each built-in form (the page's input names).
TYPED: dict[str, dict[str, str]] = {
    "leave": {
        "f.leave_type": "annual",
        "f.period.start": "2026-03-02",
        "f.period.end": "2026-03-04",
        "f.days": "3",
        "f.reason": "Family visit",
    },
    "expense": {
        "f.lines.1.date": "2026-03-01",
        "f.lines.1.category": "travel",
        "f.lines.1.description": "Taxi",
        "f.lines.1.amount": "120.50",
        "f.lines.2.date": "2026-03-01",
        "f.lines.2.category": "meals",
        "f.lines.2.description": "Lunch",
        "f.lines.2.amount": "79.50",
    },
    "trip": {
        "f.destination": "Shanghai",
        "f.period.start": "2026-03-02",
        "f.period.end": "2026-03-03",
        "f.purpose": "Customer visit",
        "f.estimated_cost": "3000",
    },
    "car": {
        "f.day": "2026-03-02",
        "f.time": "09:00-12:00",
        "f.destination": "Airport",
        "f.passengers": "3",
        "f.purpose": "Pick up guests",
    },
    "supplies": {"f.lines.1.item": "Pens", "f.lines.1.quantity": "10"},
    "seal": {
        "f.seal_type": "contract",
        "f.document": "Supply contract",
        "f.copies": "2",
        "f.purpose": "Signing",
    },
    "purchase": {
        "f.lines.1.item": "Monitor",
        "f.lines.1.quantity": "3",
        "f.lines.1.unit_price": "19.99",
        "f.reason": "New hires",
    },
    "general": {"f.title": "A new whiteboard", "f.content": "For the meeting room."},
}
AMOUNTS = {"expense": Decimal("200.00"), "trip": Decimal("3000.00"), "purchase": Decimal("59.97")}


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path / "files")


def receipt() -> dict[str, list[Upload]]:
    return {"receipts": [Upload("receipt.png", PNG, "image/png")]}


async def file(
    office: Office,
    store: LocalFileStore,
    who: Actor,
    code: str,
    typed: dict[str, str],
    uploads: dict[str, list[Upload]] | None = None,
) -> FormRequest:
    async with office.session() as session:
        return await form_requests.file_request(
            session, office.ctx, office.registry, store, who, code, typed, uploads or {}
        )


async def approval_of(office: Office, row: FormRequest) -> tuple[ApprovalRequest, ApprovalInstance]:
    async with office.session() as session:
        request = await session.get(ApprovalRequest, (office.tenant_id, row.approval_request_id))
        instance = await session.scalar(
            select(ApprovalInstance).where(ApprovalInstance.request_id == row.approval_request_id)
        )
        assert request is not None
        assert instance is not None
        return request, instance


async def decide(office: Office, who: Actor, row: FormRequest, approve: bool = True) -> None:
    _request, instance = await approval_of(office, row)
    async with office.session() as session:
        await engine.decide(session, instance.id, who.user_id, approve=approve)


async def row_of(office: Office, row: FormRequest) -> FormRequest:
    async with office.session() as session:
        found = await session.get(FormRequest, (office.tenant_id, row.id))
        assert found is not None
        return found


async def outbox(office: Office, event_type: str) -> list[dict[str, Any]]:
    async with office.session() as session:
        rows = await session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.id)
        )
        return list(rows)


async def notifications(office: Office, who: Actor, kind: str) -> list[Notification]:
    async with office.session() as session:
        rows = await session.scalars(
            select(Notification).where(
                Notification.user_id == who.user_id, Notification.kind == kind
            )
        )
        return list(rows)


async def design(office: Office, who: Actor, code: str, fields: list[dict[str, Any]], **more: Any):
    async with office.session() as session:
        return await forms.save_form(
            session,
            who.user_id,
            code=code,
            name=more.pop("name", code.title()),
            description="",
            active=True,
            fields=fields,
            **more,
        )


def field(key: str, kind: str, required: bool = True, **more: Any) -> dict[str, Any]:
    return {"key": key, "label": key.title(), "type": kind, "required": required, **more}


# --- the forms --------------------------------------------------------------------------------


async def test_the_built_in_forms_are_in_every_oa_workspace_once(
    office: Office, other_office: Office
) -> None:
    codes = [form.key for form in BUILTIN_FORMS]
    async with office.session() as session:
        await forms.ensure_builtin(session)  # again: nothing more
        listed = await forms.list_forms(session)
        assert [f.code for f in listed] == codes
        assert len(list(await session.scalars(select(FormVersion)))) == len(codes)
        leave = await forms.form_by_code(session, "leave")
        assert leave.builtin_key == "leave"
        assert leave.version == 1
    async with other_office.session() as session:
        theirs = await forms.form_by_code(session, "leave")
    assert theirs.id != leave.id


async def test_the_designer_refuses_each_input_and_saves_versions(office: Office) -> None:
    admin = await office.person("Admin", role="admin")
    errors = forms.check_design(
        "leave",
        "",
        [
            field("item", "text") | {"label": ""},
            field("item", "number"),
            field("kind", "choice", options=[]),
            field("lines", "lines", columns=[]),
            field("form", "text"),
            field("cost", "money", min="10", max="5"),
        ],
    )
    assert set(errors) == {
        "code",  # a built-in form's code
        "name",
        "field_1_label",
        "field_2_key",  # the same key twice
        "field_3_options",
        "field_4_columns",
        "field_5_key",  # reserved
        "field_6_max",
    }
    assert "Another field has the key item." in errors["field_2_key"]

    bad_column = forms.check_design(
        "kit", "Kit", [field("lines", "lines", columns=[field("x", "attachment")])]
    )
    assert "Column 1" in bad_column["field_1_columns"]

    made = await design(office, admin, "training", [field("course", "text")])
    assert made.version == 1
    with pytest.raises(FormRefused) as taken:
        await design(office, admin, "training", [field("course", "text")])
    assert "code" in taken.value.errors
    changed = await design(
        office,
        admin,
        "training",
        [field("course", "text"), field("fee", "money")],
        existing="training",
    )
    assert changed.version == 2
    same = await design(
        office,
        admin,
        "training",
        [field("course", "text"), field("fee", "money")],
        existing="training",
    )
    assert same.version == 2  # nothing changed: no new version
    async with office.session() as session:
        first = await forms.version_of(session, made.id, 1)
        assert [f["key"] for f in first.fields] == ["course"]
        builtin = await forms.save_form(
            session,
            admin.user_id,
            code="leave",
            name="Mine now",
            description="",
            active=False,
            fields=[],
            existing="leave",
        )
        assert builtin.active is False
        assert builtin.name == "Leave"  # a built-in form keeps its fields and name
        assert builtin.version == 1


async def test_each_field_type_is_checked_by_its_type(
    office: Office, store: LocalFileStore
) -> None:
    admin = await office.person("Admin", role="admin")
    gone = await office.person("Gone")
    async with office.session() as session:
        membership = await session.get(Membership, (office.tenant_id, gone.membership_id))
        assert membership is not None
        membership.active = False
    department = await office.department("Sales")
    await design(
        office,
        admin,
        "everything",
        [
            field("name", "text"),
            field("count", "number", min="1", max="10"),
            field("cost", "money"),
            field("day", "date"),
            field("period", "daterange"),
            field("size", "choice", options=[["S", "S"], ["M", "M"]]),
            field("who", "member"),
            field("team", "department"),
            field("proof", "attachment"),
            field(
                "lines",
                "lines",
                columns=[field("item", "text"), field("price", "money")],
            ),
        ],
    )
    wei = await office.person("Wei")
    typed = {
        "f.name": "x" * 201,
        "f.count": "11",
        "f.cost": "12.345",
        "f.day": "2026-02-30",
        "f.period.start": "2026-03-05",
        "f.period.end": "2026-03-04",
        "f.size": "XL",
        "f.who": str(gone.user_id),
        "f.team": str(uuid.uuid4()),
        "f.lines.1.item": "",
        "f.lines.1.price": "",
    }
    with pytest.raises(FormRefused) as refused:
        await file(office, store, wei, "everything", typed)
    errors = refused.value.errors
    assert set(errors) == {
        "f.name",
        "f.count",
        "f.cost",
        "f.day",
        "f.period.end",
        "f.size",
        "f.who",
        "f.team",
        "f.proof",
        "f.lines",
    }
    assert "more than 2 decimal places" in errors["f.cost"]
    assert "on or after the first" in errors["f.period.end"]
    assert "active member" in errors["f.who"]
    async with office.session() as session:
        assert list(await session.scalars(select(FormRequest))) == []  # nothing half-written

    good = {
        "f.name": "Fine",
        "f.count": "2",
        "f.cost": "1,234.5",
        "f.day": "2026-03-05",
        "f.period.start": "2026-03-05",
        "f.period.end": "2026-03-05",
        "f.size": "M",
        "f.who": str(admin.user_id),
        "f.team": str(department),
        "f.lines.1.item": "Chair",
        "f.lines.1.price": "10.10",
        "f.lines.2.item": "",  # a blank line is no line
        "f.lines.2.price": "",
        "f.lines.3.item": "Desk",
        "f.lines.3.price": "abc",
    }
    with pytest.raises(FormRefused) as cell:
        await file(office, store, wei, "everything", good, {"proof": [Upload("a.png", PNG, None)]})
    assert set(cell.value.errors) == {"f.lines.3.price"}  # the refusal names its cell
    good["f.lines.3.price"] = "20"
    with pytest.raises(FormRefused) as disguised:
        await file(office, store, wei, "everything", good, {"proof": [Upload("a.pdf", PNG, None)]})
    assert "f.proof" in disguised.value.errors  # checked by content, not by name
    row = await file(
        office, store, wei, "everything", good, {"proof": [Upload("a.png", PNG, None)]}
    )
    assert row.values["cost"] == "1234.50"
    assert row.values["period"] == {"start": "2026-03-05", "end": "2026-03-05"}
    assert row.values["lines"] == [
        {"item": "Chair", "price": "10.10"},
        {"item": "Desk", "price": "20.00"},
    ]
    assert row.amount == Decimal("1234.50")  # the first money field
    request, _instance = await approval_of(office, row)
    assert request.kind == "oa.form"
    assert request.fields["form"] == "everything"
    assert request.fields["size"] == "M"
    async with office.session() as session:
        [attached] = await session.scalars(select(Attachment))
        assert attached.record_type == "oa.form_request"
        assert row.values["proof"] == [str(attached.id)]


@pytest.mark.parametrize("code", [form.key for form in BUILTIN_FORMS])
async def test_each_built_in_form_is_filed_and_approved_with_the_default_flow(
    office: Office, store: LocalFileStore, code: str
) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    row = await file(office, store, wei, code, TYPED[code], receipt() if code == "expense" else {})
    assert row.amount == AMOUNTS.get(code)
    request, instance = await approval_of(office, row)
    assert request.amount == AMOUNTS.get(code)
    assert [s["approver_ids"] for s in instance.plan] == [[str(lead.user_id)]]
    await decide(office, lead, row)
    assert (await approval_of(office, row))[0].status == "approved"
    await drain(office)
    assert (await row_of(office, row)).status == "approved"
    [told] = await notifications(office, wei, "oa_form_decided")
    assert told.message == "Approved: {title}"
    assert told.record_type == "oa.form_request"
    [approved] = await outbox(office, "oa.form_approved.v1")
    assert approved["form_code"] == code
    assert approved["request_id"] == str(row.id)
    await drain(office)  # delivered at least once: a second delivery changes nothing
    assert len(await notifications(office, wei, "oa_form_decided")) == 1


async def test_without_the_expense_receipts_nothing_is_filed(
    office: Office, store: LocalFileStore
) -> None:
    wei = await office.person("Wei")
    with pytest.raises(FormRefused) as refused:
        await file(office, store, wei, "expense", TYPED["expense"])
    assert set(refused.value.errors) == {"f.receipts"}


async def test_a_forms_own_flow_takes_the_finance_step_above_5000_only(
    office: Office, store: LocalFileStore
) -> None:
    lead = await office.person("Lead")
    finance = await office.person("Finance")
    reader = await office.person("Reader")
    wei = await office.person("Wei", manager=lead)
    await office.flow(
        step("Manager", approvers="manager"),
        step("Finance", member_ids=(finance.user_id,), condition=Condition("amount", ">", "5000")),
        kind="oa.form:expense",
        cc_ids=(reader.user_id,),
    )
    big = dict(TYPED["expense"], **{"f.lines.1.amount": "6000"})
    above = await file(office, store, wei, "expense", big, receipt())
    below = await file(office, store, wei, "expense", TYPED["expense"], receipt())
    _request, above_instance = await approval_of(office, above)
    _request, below_instance = await approval_of(office, below)
    assert [s["name"] for s in above_instance.plan] == ["Manager", "Finance"]
    assert [s["name"] for s in below_instance.plan] == ["Manager"]
    assert above_instance.flow_version_id is not None
    # The other forms keep the default flow.
    leave = await file(office, store, wei, "leave", TYPED["leave"])
    assert (await approval_of(office, leave))[1].flow_version_id is None
    copied = await notifications(office, reader, "approval_copied")
    assert len(copied) == 2  # one per expense claim
    await decide(office, lead, above)
    assert (await approval_of(office, above))[0].status == "pending"
    await decide(office, finance, above)
    assert (await approval_of(office, above))[0].status == "approved"


async def test_returned_fixed_and_resubmitted_with_a_smaller_amount_is_planned_again(
    office: Office, store: LocalFileStore
) -> None:
    lead = await office.person("Lead")
    finance = await office.person("Finance")
    wei = await office.person("Wei", manager=lead)
    await office.flow(
        step("Manager", approvers="manager"),
        step("Finance", member_ids=(finance.user_id,), condition=Condition("amount", ">", "5000")),
        kind="oa.form:expense",
    )
    big = dict(TYPED["expense"], **{"f.lines.1.amount": "6000"})
    row = await file(office, store, wei, "expense", big, receipt())
    _request, instance = await approval_of(office, row)
    version = instance.flow_version_id
    async with office.session() as session:
        with pytest.raises(Conflict):  # not returned yet: nothing to fix
            await form_requests.editable(session, wei, row.id)
        await engine.return_to(session, instance.id, lead.user_id, step=None, comment="Too much")
    # A new flow version meanwhile: the returned request keeps its own.
    await office.flow(step("Ceo", member_ids=(finance.user_id,)), kind="oa.form:expense")
    async with office.session() as session:
        other = await office.person("Other")
        with pytest.raises(NotFound):  # only the requester fixes it
            await form_requests.editable(session, other, row.id)
    async with office.session() as session:
        shown = await form_requests.editable(session, wei, row.id)
        typed = form_requests.typed_of_json(shown.fields, shown.row.values)
        assert typed["f.lines.1.amount"] == "6000.00"
        [kept] = shown.files["receipts"]
        refused_typed = dict(typed, **{"f.lines.1.amount": "-x"})
        with pytest.raises(FormRefused):
            await form_requests.resubmit_request(
                session, store, wei, row.id, refused_typed, {}, {str(kept.id)}
            )
    async with office.session() as session:
        # Removing the only receipt without a new one is refused too.
        with pytest.raises(FormRefused) as no_receipt:
            await form_requests.resubmit_request(
                session, store, wei, row.id, typed, {}, {str(kept.id)}
            )
        assert "f.receipts" in no_receipt.value.errors
    async with office.session() as session:
        typed["f.lines.1.amount"] = "300"
        await form_requests.resubmit_request(
            session, store, wei, row.id, typed, receipt(), {str(kept.id)}, "Fixed"
        )
    request, instance = await approval_of(office, row)
    assert instance.status == "pending"
    assert instance.flow_version_id == version
    assert [s["name"] for s in instance.plan] == ["Manager"]  # the finance step dropped out
    assert request.amount == Decimal("379.50")
    assert request.fields["amount"] == "379.50"
    fixed = await row_of(office, row)
    assert fixed.amount == Decimal("379.50")
    async with office.session() as session:
        files = list(await session.scalars(select(Attachment)))
    assert fixed.values["receipts"] == [str(files[0].id)]
    assert str(kept.id) not in fixed.values["receipts"]
    await decide(office, lead, row)
    assert (await approval_of(office, row))[0].status == "approved"


async def test_approval_publishes_the_leave_and_expense_events_with_decimals(
    db, make_tenant, registry, store: LocalFileStore
) -> None:
    shop = Office(db, registry, await make_tenant("shop", "oa", seed=True))
    lead = await shop.person("Lead")
    wei = await shop.person("Wei", manager=lead)
    leave = await file(shop, store, wei, "leave", TYPED["leave"])
    expense = await file(shop, store, wei, "expense", TYPED["expense"], receipt())
    rejected = await file(shop, store, wei, "general", TYPED["general"])
    for row in (leave, expense):
        await decide(shop, lead, row)
    await decide(shop, lead, rejected, approve=False)
    await drain(shop)
    [leave_event] = await outbox(shop, "oa.leave_approved.v1")
    assert leave_event == {
        "request_id": str(leave.id),
        "requester_id": str(wei.user_id),
        "leave_type": "annual",
        "start": "2026-03-02",
        "end": "2026-03-04",
        "days": "3",
    }
    [expense_event] = await outbox(shop, "oa.expense_approved.v1")
    assert expense_event["total"] == "200.00"
    async with shop.session() as session:
        assert expense_event["currency"] == await base_currency(session)  # the seeded one
    assert [line["amount"] for line in expense_event["lines"]] == ["120.50", "79.50"]
    assert expense_event["lines"][0]["spent_on"] == "2026-03-01"
    assert {e["form_code"] for e in await outbox(shop, "oa.form_approved.v1")} == {
        "leave",
        "expense",
    }
    assert (await row_of(shop, rejected)).status == "rejected"
    decided = {n.message for n in await notifications(shop, wei, "oa_form_decided")}
    assert decided == {"Approved: {title}", "Rejected: {title}"}


async def test_a_withdrawn_request_is_withdrawn_without_telling_the_requester(
    office: Office, store: LocalFileStore
) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    row = await file(office, store, wei, "general", TYPED["general"])
    _request, instance = await approval_of(office, row)
    async with office.session() as session:
        await engine.withdraw(session, instance.id, wei.user_id)
    await drain(office)
    assert (await row_of(office, row)).status == "withdrawn"
    assert await notifications(office, wei, "oa_form_decided") == []


async def test_a_form_out_of_use_takes_no_request(office: Office, store: LocalFileStore) -> None:
    admin = await office.person("Admin", role="admin")
    wei = await office.person("Wei")
    async with office.session() as session:
        await forms.save_form(
            session,
            admin.user_id,
            code="car",
            name="",
            description="",
            active=False,
            fields=[],
            existing="car",
        )
        assert "car" not in [f.code for f in await forms.list_forms(session, active_only=True)]
    with pytest.raises(Conflict):
        await file(office, store, wei, "car", TYPED["car"])


async def test_two_workspaces_keep_their_forms_and_requests_apart(
    office: Office, other_office: Office, store: LocalFileStore
) -> None:
    lead = await office.person("Lead")
    wei = await office.person("Wei", manager=lead)
    admin = await other_office.person("Admin", role="admin")
    await design(other_office, admin, "training", [field("course", "text")])
    row = await file(office, store, wei, "general", TYPED["general"])
    async with office.session() as session:
        with pytest.raises(NotFound):
            await forms.form_by_code(session, "training")
        assert len(list(await session.scalars(select(Form)))) == len(BUILTIN_FORMS)
    async with other_office.session() as session:
        assert list(await session.scalars(select(FormRequest))) == []  # RLS and the ORM
        with pytest.raises(NotFound):
            await form_requests.get_request(session, admin, row.id)
        assert len(list(await session.scalars(select(Form)))) == len(BUILTIN_FORMS) + 1
