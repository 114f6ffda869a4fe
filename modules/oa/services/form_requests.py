"""Requests filed on an approval form: reading and checking what was typed by the fields'
types, the request's row with its files, its approval through core's port (kind
``oa.form``, the form's own flow), fixing and resubmitting a returned request, and the
decision coming back (status, the requester's notification, OA's events).

What was typed is a flat mapping of input names, as the page posts it (the API's JSON
values are flattened to the same names, :func:`typed_of_json`):
``f.<key>`` for a simple field, ``f.<key>.start`` / ``f.<key>.end`` for a date range,
``f.<key>.<n>.<column>`` (n from 1) for a line of a table. Refusals are keyed the same way.

Values are stored as JSON: text as typed (trimmed), numbers and money as Decimal strings
(money with 2 places), dates ISO, a range ``{"start", "end"}``, a member or department as its
id, a table as a list of lines (blank lines dropped), attachments as the list of their ids
(core's attachments on record type ``oa.form_request``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, BinaryIO

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import i18n
from core.approvals import ApprovalDecided, request_approval
from core.context import TenantContext
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import publish
from core.exchange.imports import decimal
from core.i18n import N_
from core.models import ApprovalRequest, Department, Membership
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.products.currency import base_currency
from core.records import attachments
from core.records.models import Attachment, Notification
from core.records.storage import FileStore
from modules.oa import events
from modules.oa import permissions as codes
from modules.oa.models import ApprovalInstance, Form, FormRequest
from modules.oa.services import approval_inbox, engine, flows, forms
from modules.oa.services.forms import (
    KIND,
    FormRefused,
    amount_field,
    current_fields,
    form_by_code,
    form_name,
    say,
    version_of,
)

RECORD = "oa.form_request"
MAX_TEXT = 200
MAX_LONG_TEXT = 5000
MAX_LINES = 100
MAX_MONEY = Decimal("9999999999999999.99")
CENTS = Decimal("0.01")
#: A form posts its files together: room for a few of the largest files core accepts.
FORM_BODY_LIMIT = 5 * attachments.DEFAULT_LIMITS.max_bytes + 64 * attachments.KIB
#: The currency an expense is in when the workspace has set none (the zh-CN default).
FALLBACK_CURRENCY = "CNY"
DECIDED = {"approved": N_("Approved: {title}"), "rejected": N_("Rejected: {title}")}


@dataclass(frozen=True, slots=True)
class Upload:
    """A file chosen for an attachment field."""

    name: str
    data: BinaryIO | bytes
    declared_type: str | None


def name_of(key: str, *parts: object) -> str:
    """An input's name: ``f.<key>`` and its parts (``start``, a line's number and column)."""
    return ".".join(("f", key, *(str(p) for p in parts)))


# --- reading what was typed -------------------------------------------------------------------


def line_numbers(field: dict[str, Any], typed: dict[str, str]) -> list[int]:
    """The line numbers typed for a table (any of its inputs present), in order."""
    prefix = name_of(field["key"]) + "."
    found = set()
    for name in typed:
        if name.startswith(prefix):
            head = name[len(prefix) :].split(".", 1)[0]
            if head.isdigit():
                found.add(int(head))
    return sorted(found)


def typed_of_json(fields: list[dict[str, Any]], values: dict[str, Any]) -> dict[str, str]:
    """JSON values as the page's input names: the API's (numbers may come as JSON numbers;
    a date range as ``{"start", "end"}``, a table as a list of objects), or stored values
    (the edit page starts from them)."""
    typed: dict[str, str] = {}
    for field in fields:
        key, given = field["key"], values.get(field["key"])
        if given is None or field["type"] == "attachment":
            continue
        if field["type"] == "daterange" and isinstance(given, dict):
            typed[name_of(key, "start")] = _text(given.get("start"))
            typed[name_of(key, "end")] = _text(given.get("end"))
        elif field["type"] == "lines" and isinstance(given, list):
            for number, line in enumerate(given, start=1):
                if isinstance(line, dict):
                    for column in field["columns"]:
                        typed[name_of(key, number, column["key"])] = _text(line.get(column["key"]))
        else:
            typed[name_of(key)] = _text(given)
    return typed


def _text(value: Any) -> str:
    return "" if value is None else str(value)


async def read_values(
    session: AsyncSession,
    fields: list[dict[str, Any]],
    typed: dict[str, str],
    uploads: dict[str, list[Upload]],
    kept: dict[str, list[str]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """The values to store, and every refusal by input name (empty when all is well).
    ``kept`` are the attachment ids an attachment field keeps (editing a request)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        key, kind = field["key"], field["type"]
        where = name_of(key)
        if kind == "attachment":
            if field["required"] and not uploads.get(key) and not kept.get(key):
                errors[where] = say(N_("Attach one or more files."))
            values[key] = list(kept.get(key, []))
        elif kind == "daterange":
            values[key] = _read_range(field, typed, errors)
        elif kind == "lines":
            values[key] = _read_lines(field, typed, errors)
        else:
            values[key] = _read_simple(field, typed.get(where, ""), where, errors)
    await _check_people(session, fields, values, errors)
    return values, errors


def _read_simple(field: dict[str, Any], raw: str, where: str, errors: dict[str, str]) -> Any:
    """One value of a simple type (text, number, money, date, choice, member, department)."""
    raw = raw.strip()
    kind = field["type"]
    if not raw:
        if field["required"]:
            errors[where] = say(
                N_("Choose one.")
                if kind in ("choice", "member", "department")
                else N_("Fill this in.")
            )
        return None
    if kind in ("text", "textarea"):
        longest = MAX_TEXT if kind == "text" else MAX_LONG_TEXT
        if len(raw) > longest:
            errors[where] = say(N_("At most {count} characters."), count=longest)
        return raw
    if kind in ("number", "money"):
        return _read_number(field, raw, where, errors)
    if kind == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            errors[where] = say(N_("Type a date such as {example}."), example="2026-03-05")
            return None
    if kind == "choice":
        if raw not in {value for value, _label in field["options"]}:
            errors[where] = say(N_("Choose one of the options."))
            return None
        return raw
    try:  # member, department: an id from the list
        return str(uuid.UUID(raw))
    except ValueError:
        errors[where] = say(N_("Choose one from the list."))
        return None


def _read_number(field: dict[str, Any], raw: str, where: str, errors: dict[str, str]) -> str | None:
    money = field["type"] == "money"
    try:
        number = decimal(raw, places=2 if money else None)
    except ValidationFailed as error:
        errors[where] = say(error.message, **error.params)
        return None
    if field.get("min") is not None and number < Decimal(field["min"]):
        errors[where] = say(N_("At least {minimum}."), minimum=field["min"])
    elif field.get("max") is not None and number > Decimal(field["max"]):
        errors[where] = say(N_("At most {maximum}."), maximum=field["max"])
    elif abs(number) > MAX_MONEY:
        errors[where] = say(N_("That number is too large."))
    return str(number.quantize(CENTS)) if money else format(number.normalize(), "f")


def _read_range(field: dict[str, Any], typed: dict[str, str], errors: dict[str, str]) -> Any:
    key = field["key"]
    parts = {}
    for part in ("start", "end"):
        where = name_of(key, part)
        parts[part] = _read_simple(
            {"type": "date", "required": field["required"]}, typed.get(where, ""), where, errors
        )
    if parts["start"] is None and parts["end"] is None:
        return None
    if parts["start"] is None or parts["end"] is None:
        missing = "start" if parts["start"] is None else "end"
        errors.setdefault(name_of(key, missing), say(N_("Give both days.")))
        return None
    if parts["end"] < parts["start"]:
        errors[name_of(key, "end")] = say(N_("The last day comes on or after the first."))
    return parts


def _read_lines(
    field: dict[str, Any], typed: dict[str, str], errors: dict[str, str]
) -> list[dict[str, Any]]:
    key, columns = field["key"], field["columns"]
    lines = []
    for number in line_numbers(field, typed):
        raw = {c["key"]: typed.get(name_of(key, number, c["key"]), "") for c in columns}
        if not any(text.strip() for text in raw.values()):
            continue  # a blank line is no line
        lines.append(
            {
                c["key"]: _read_simple(c, raw[c["key"]], name_of(key, number, c["key"]), errors)
                for c in columns
            }
        )
    if field["required"] and not lines:
        errors[name_of(key)] = say(N_("Add one or more lines."))
    elif len(lines) > MAX_LINES:
        errors[name_of(key)] = say(N_("At most {count} lines."), count=MAX_LINES)
    return lines


async def _check_people(
    session: AsyncSession,
    fields: list[dict[str, Any]],
    values: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """A member field names an active member; a department field a department that exists."""
    for field in fields:
        given = values.get(field["key"])
        if given is None or field["type"] not in ("member", "department"):
            continue
        if field["type"] == "member":
            query = select(Membership.id).where(
                Membership.user_id == uuid.UUID(given), Membership.active
            )
            message = N_("Choose an active member.")
        else:
            query = select(Department.id).where(Department.id == uuid.UUID(given))
            message = N_("Choose one from the list.")
        if await session.scalar(query) is None:
            errors[name_of(field["key"])] = say(message)
            values[field["key"]] = None


# --- totals and the approval's fields ---------------------------------------------------------


def lines_total(field: dict[str, Any], lines: list[dict[str, Any]]) -> Decimal:
    """A table's total: the sum of ``a × b`` of its ``line_total``, else of its money columns."""
    total = Decimal("0")
    product = field.get("line_total")
    money = [c["key"] for c in field["columns"] if c["type"] == "money"]
    for line in lines:
        if product:
            total += Decimal(line.get(product[0]) or 0) * Decimal(line.get(product[1]) or 0)
        else:
            total += sum((Decimal(line.get(k) or 0) for k in money), Decimal("0"))
    return total.quantize(CENTS)


def amount_of(fields: list[dict[str, Any]], values: dict[str, Any]) -> Decimal | None:
    """The approval's amount (``forms.amount_field``); None for a form without money."""
    field = amount_field(fields)
    if field is None:
        return None
    if field["type"] == "lines":
        return lines_total(field, values.get(field["key"]) or [])
    given = values.get(field["key"])
    return None if given is None else Decimal(given)


def approval_fields(
    code: str, fields: list[dict[str, Any]], values: dict[str, Any], amount: Decimal | None
) -> dict[str, Any]:
    """What the form's flow may test: the form's code (its flow), the amount, its numbers,
    money and choices (all JSON text)."""
    tested: dict[str, Any] = {"form": code}
    if amount is not None:
        tested["amount"] = str(amount)
    for field in fields:
        if field["type"] in ("number", "money", "choice") and values.get(field["key"]) is not None:
            tested[field["key"]] = values[field["key"]]
    return tested


def _title(form: Form, values: dict[str, Any]) -> str:
    typed = values.get("title")
    return (typed if isinstance(typed, str) and typed else form_name(form))[:200]


# --- filing -----------------------------------------------------------------------------------


async def _attach(
    session: AsyncSession,
    store: FileStore,
    row: FormRequest,
    fields: list[dict[str, Any]],
    values: dict[str, Any],
    uploads: dict[str, list[Upload]],
    user_id: uuid.UUID,
) -> None:
    """Store the chosen files (checked by their content) on the request; a refused file is
    refused beside its input, and the caller's savepoint rolls the whole request back."""
    errors: dict[str, str] = {}
    for field in fields:
        if field["type"] != "attachment":
            continue
        for upload in uploads.get(field["key"], []):
            try:
                made = await attachments.attach(
                    session,
                    store,
                    RECORD,
                    row.id,
                    upload.name,
                    upload.data,
                    upload.declared_type,
                    user_id,
                )
            except ValidationFailed as error:
                errors[name_of(field["key"])] = say(error.message, **error.params)
                continue
            values[field["key"]] = [*values[field["key"]], str(made.id)]
    if errors:
        raise FormRefused(errors)


async def file_request(
    session: AsyncSession,
    ctx: TenantContext,
    registry: ModuleRegistry,
    store: FileStore,
    actor: Actor,
    code: str,
    typed: dict[str, str],
    uploads: dict[str, list[Upload]],
) -> FormRequest:
    """File a request on form ``code`` and start its approval, in one transaction."""
    actor.require(codes.APPROVAL_READ)
    form = await form_by_code(session, code)
    if not form.active:
        raise Conflict("The form {name} is not in use.", name=form_name(form))
    fields = await current_fields(session, form)
    values, errors = await read_values(session, fields, typed, uploads, {})
    if errors:
        raise FormRefused(errors)
    amount = amount_of(fields, values)
    row = FormRequest(
        form_id=form.id,
        form_version=form.version,
        requester_id=actor.user_id,
        title=_title(form, values),
        values=dict(values),  # a copy: the files' ids are added to ``values`` below
        amount=amount,
    )
    session.add(row)
    await session.flush()
    await _attach(session, store, row, fields, values, uploads, actor.user_id)
    row.values = dict(values)
    request = await request_approval(
        session,
        ctx,
        registry,
        kind=KIND,
        subject_type=RECORD,
        subject_id=row.id,
        requester_id=actor.user_id,
        amount=amount,
        fields=approval_fields(form.code, fields, values, amount),
    )
    row.approval_request_id = request.id
    await session.flush()
    return row


# --- reading a request ------------------------------------------------------------------------


async def instance_id_of(session: AsyncSession, row: FormRequest) -> uuid.UUID | None:
    return await session.scalar(
        select(ApprovalInstance.id).where(ApprovalInstance.request_id == row.approval_request_id)
    )


async def get_request(
    session: AsyncSession, actor: Actor, request_id: uuid.UUID, *, for_update: bool = False
) -> FormRequest:
    """The request, for whoever may see its approval (404 for anyone else)."""
    actor.require(codes.APPROVAL_READ)
    query = select(FormRequest).where(FormRequest.id == request_id)
    if for_update:
        query = query.with_for_update()
    row = await session.scalar(query)
    if row is None:
        raise NotFound("No request {id}.", id=str(request_id))
    if row.requester_id != actor.user_id:
        instance_id = await instance_id_of(session, row)
        if instance_id is None:
            raise NotFound("No request {id}.", id=str(request_id))
        try:
            await approval_inbox.visible_instance(session, actor, instance_id)
        except NotFound:
            raise NotFound("No request {id}.", id=str(request_id)) from None
    return row


async def check_visible(session: AsyncSession, actor: Actor, request_id: uuid.UUID) -> None:
    """The record type's check (attachments' downloads, notifications' links)."""
    await get_request(session, actor, request_id)


@dataclass(frozen=True, slots=True)
class Shown:
    """A request as its pages show it: the form and version it was filed under, its files,
    the names of the members and departments it names, its approval."""

    row: FormRequest
    form: Form
    fields: list[dict[str, Any]]
    files: dict[str, list[Attachment]]  # by attachment field key
    names: dict[str, str]  # member (user) and department ids → names
    instance_id: uuid.UUID | None
    instance_status: str | None

    def label(self, text: str) -> str:
        return forms.label(self.form, text)

    def option(self, field: dict[str, Any], value: str | None) -> str:
        """A choice's label for its stored value."""
        for given, text in field.get("options") or []:
            if given == value:
                return self.label(text)
        return value or ""

    def number(self, stored: str | Decimal) -> str:
        """A stored number formatted for the reader's locale."""
        return i18n.number(Decimal(stored))

    def money(self, stored: str | Decimal) -> str:
        """Money with its two places (1,234.50), grouped for the reader's locale."""
        locale = i18n.babel_locale(i18n.current_locale.get())
        return format_decimal(Decimal(stored), format="#,##0.00", locale=locale)

    def total(self, field: dict[str, Any]) -> Decimal:
        return lines_total(field, self.row.values.get(field["key"]) or [])

    def returned_to(self, user_id: uuid.UUID) -> bool:
        """Whether it waits for ``user_id`` (its requester) to fix and resubmit it."""
        return self.instance_status == "returned" and self.row.requester_id == user_id


async def shown(session: AsyncSession, actor: Actor, request_id: uuid.UUID) -> Shown:
    row = await get_request(session, actor, request_id)
    return await _shown(session, row)


async def _shown(session: AsyncSession, row: FormRequest) -> Shown:
    form = await session.scalar(select(Form).where(Form.id == row.form_id))
    assert form is not None  # a foreign key
    fields = (await version_of(session, row.form_id, row.form_version)).fields
    by_id = {str(a.id): a for a in await attachments.list_attachments(session, RECORD, row.id)}
    files = {
        f["key"]: [by_id[i] for i in row.values.get(f["key"]) or [] if i in by_id]
        for f in fields
        if f["type"] == "attachment"
    }
    instance = await session.scalar(
        select(ApprovalInstance).where(ApprovalInstance.request_id == row.approval_request_id)
    )
    return Shown(
        row,
        form,
        fields,
        files,
        await _names(session, fields, row.values),
        instance.id if instance else None,
        instance.status if instance else None,
    )


async def _names(
    session: AsyncSession, fields: list[dict[str, Any]], values: dict[str, Any]
) -> dict[str, str]:
    ids = {
        uuid.UUID(values[f["key"]])
        for f in fields
        if f["type"] in ("member", "department") and values.get(f["key"])
    }
    if not ids:
        return {}
    people = await flows.display_names(session, ids)
    places = await session.execute(
        select(Department.id, Department.name).where(Department.id.in_(ids))
    )
    return {str(i): name for i, name in [*people.items(), *places.all()]}


async def shown_for_approval(session: AsyncSession, instance_id: uuid.UUID) -> Shown | None:
    """The form request an approval is about, for the approval's page (whoever sees the
    approval sees its request); None for another subject."""
    row = await session.scalar(
        select(FormRequest)
        .join(ApprovalInstance, ApprovalInstance.request_id == FormRequest.approval_request_id)
        .where(ApprovalInstance.id == instance_id)
    )
    return None if row is None else await _shown(session, row)


async def mine(session: AsyncSession, actor: Actor, limit: int = 20) -> list[FormRequest]:
    """The member's latest requests, newest first (the forms page lists them)."""
    rows = await session.scalars(
        select(FormRequest)
        .where(FormRequest.requester_id == actor.user_id)
        .order_by(FormRequest.id.desc())
        .limit(limit)
    )
    return list(rows)


# --- fixing a returned request ----------------------------------------------------------------


async def editable(session: AsyncSession, actor: Actor, request_id: uuid.UUID) -> Shown:
    """A request its requester may fix: returned to them for changes (else 409)."""
    found = await shown(session, actor, request_id)
    if found.row.requester_id != actor.user_id:
        raise NotFound("No request {id}.", id=str(request_id))
    if found.instance_status != "returned":
        raise Conflict("Only a request returned to you for changes is edited.")
    return found


async def resubmit_request(
    session: AsyncSession,
    store: FileStore,
    actor: Actor,
    request_id: uuid.UUID,
    typed: dict[str, str],
    uploads: dict[str, list[Upload]],
    removed: set[str],
    comment: str | None = None,
) -> FormRequest:
    """The requester changes a returned request's values and files and resubmits it: the
    approval's fields and amount follow, and its flow is planned again from step 1 under
    the same flow version (``engine.resubmit(replan=True)``)."""
    await get_request(session, actor, request_id, for_update=True)
    found = await editable(session, actor, request_id)
    row, fields = found.row, found.fields
    kept = {
        key: [str(a.id) for a in files if str(a.id) not in removed]
        for key, files in found.files.items()
    }
    values, errors = await read_values(session, fields, typed, uploads, kept)
    if errors:
        raise FormRefused(errors)
    for files in found.files.values():
        for attachment in files:
            if str(attachment.id) in removed:
                await attachments.delete_attachment(session, attachment.id)
    await _attach(session, store, row, fields, values, uploads, actor.user_id)
    amount = amount_of(fields, values)
    row.values, row.amount, row.updated_at = dict(values), amount, datetime.now(UTC)
    row.title = _title(found.form, values)
    request = await session.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.id == row.approval_request_id)
        .with_for_update()
    )
    assert request is not None  # a foreign key
    assert found.instance_id is not None  # returned: it has an instance
    request.amount = amount
    request.fields = approval_fields(found.form.code, fields, values, amount)
    await session.flush()
    await engine.resubmit(session, found.instance_id, actor.user_id, comment, replan=True)
    return row


# --- the decision -----------------------------------------------------------------------------


async def on_approval_decided(
    session: AsyncSession, ctx: TenantContext, event: ApprovalDecided
) -> None:
    """The handler of ``core.approval_decided.v1`` for form requests: the request's status,
    the requester's notification (the engine notifies approvers only), OA's events. A
    request already decided is left alone (events come at least once)."""
    if event.subject_type != RECORD:
        return
    row = await session.scalar(
        select(FormRequest).where(FormRequest.id == event.subject_id).with_for_update()
    )
    if row is None or row.status != "pending":
        return
    instance_status = await session.scalar(
        select(ApprovalInstance.status).where(ApprovalInstance.request_id == event.request_id)
    )
    if instance_status == "withdrawn":
        row.status = "withdrawn"  # the requester's own doing: nobody to tell
        await session.flush()
        return
    row.status = "approved" if event.approved else "rejected"
    session.add(
        Notification(
            user_id=row.requester_id,
            kind="oa_form_decided",
            record_type=RECORD,
            record_id=row.id,
            message=DECIDED[row.status],
            params={"title": row.title},
        )
    )
    await session.flush()
    if event.approved:
        await _publish_approved(session, row)


async def _publish_approved(session: AsyncSession, row: FormRequest) -> None:
    form = await session.scalar(select(Form).where(Form.id == row.form_id))
    assert form is not None
    values = row.values
    await publish(
        session,
        events.FormApproved(
            request_id=row.id,
            form_code=form.code,
            form_version=row.form_version,
            requester_id=row.requester_id,
            amount=row.amount,
            values=values,
        ),
    )
    if form.builtin_key == "leave":
        await publish(
            session,
            events.LeaveApproved(
                request_id=row.id,
                requester_id=row.requester_id,
                leave_type=values["leave_type"],
                start=date.fromisoformat(values["period"]["start"]),
                end=date.fromisoformat(values["period"]["end"]),
                days=Decimal(values["days"]),
            ),
        )
    elif form.builtin_key == "expense":
        await publish(
            session,
            events.ExpenseApproved(
                request_id=row.id,
                requester_id=row.requester_id,
                total=row.amount or Decimal("0.00"),
                currency=await _currency(session),
                lines=tuple(
                    events.ExpenseLine(
                        spent_on=date.fromisoformat(line["date"]),
                        category=line["category"],
                        description=line["description"],
                        amount=Decimal(line["amount"]),
                    )
                    for line in values["lines"]
                ),
            ),
        )


async def _currency(session: AsyncSession) -> str:
    try:
        return await base_currency(session)
    except ValidationFailed:
        return FALLBACK_CURRENCY
