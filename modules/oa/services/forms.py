"""Approval form definitions (审批表单): the built-in forms and the ones admins design.

A form has a code (unique in the workspace; its URL), a name, a description, an active flag
and its fields, saved as versions: changing the name or the fields makes version N+1, and a
request keeps the version it was filed under. A field is a dict:

- ``key`` (``[a-z][a-z0-9_]*``, unique in the form), ``label``, ``type`` (:data:`FIELD_TYPES`),
  ``required``;
- ``options`` for a choice: ``[[value, label], ...]`` (a designed form's value is its label);
- ``min`` / ``max`` (Decimal strings) for a number or money;
- ``columns`` for a table of lines: fields of the :data:`COLUMN_TYPES`; the table's total is
  the sum of its money column(s), or with ``line_total: [a, b]`` the sum of ``a × b``.

The approval's ``amount`` is the form's first money field or money table's total. Each form
has its own approval flow, keyed ``oa.form:<code>`` (:func:`flow_key`); its conditions may
test ``amount`` and the form's number, money and choice fields (:func:`flow_fields`).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import NotFound, ValidationFailed
from core.exchange.imports import decimal
from core.i18n import N_, gettext
from core.orm import uuid7
from modules.oa.models import Form, FormVersion
from modules.oa.services.builtin_forms import BUILTIN_FORMS, BY_KEY

#: The approval kind every form request is filed under (the manifest declares it).
KIND = "oa.form"
FLOW_PREFIX = f"{KIND}:"
FIELD_TYPES = {
    "text": N_("Text, one line"),
    "textarea": N_("Text, several lines"),
    "number": N_("Number"),
    "money": N_("Money"),
    "date": N_("Date"),
    "daterange": N_("Date range"),
    "choice": N_("Choice"),
    "member": N_("Member"),
    "department": N_("Department"),
    "attachment": N_("Attachments"),
    "lines": N_("Table of lines"),
}
COLUMN_TYPES = ("text", "number", "money", "date", "choice")
#: Keys the approval's fields already use (the form's code, the amount).
RESERVED_KEYS = ("form", "amount")
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{1,39}")
MAX_NAME = 100
MAX_FIELDS = 50
MAX_OPTIONS = 50


class FormRefused(ValidationFailed):
    """Several inputs refused at once: ``errors`` maps each input's name to its message
    (translated), shown beside that input; ``field`` names the first."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(
            N_("Correct the inputs marked below."), field=next(iter(errors)), errors=errors
        )
        self.errors = errors


def say(message: str, **params: Any) -> str:
    """A refusal's message (a msgid) in the reader's language, its ``{params}`` filled in."""
    return gettext(message).format(**params)


def flow_key(code: str) -> str:
    return f"{FLOW_PREFIX}{code}"


def code_of_flow(key: str) -> str | None:
    """The form code of a flow key (``oa.form:expense`` → ``expense``); None for a kind."""
    return key.removeprefix(FLOW_PREFIX) if key.startswith(FLOW_PREFIX) else None


def flow_fields(fields: list[dict[str, Any]]) -> tuple[str, ...]:
    """What a form's flow conditions may test: the amount, its numbers, money and choices."""
    tested = [f["key"] for f in fields if f["type"] in ("number", "money", "choice")]
    return ("amount", *tested)


def amount_field(fields: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The field the approval's amount comes from: the first money field or money table."""
    for field in fields:
        if field["type"] == "money":
            return field
        if field["type"] == "lines" and any(c["type"] == "money" for c in field["columns"]):
            return field
    return None


def label(form: Form, text: str) -> str:
    """A label as shown: a built-in form's labels are msgids, a designed form's are typed."""
    return gettext(text) if form.builtin_key else text


def form_name(form: Form) -> str:
    return label(form, form.name)


# --- the built-in forms -----------------------------------------------------------------------


async def ensure_builtin(session: AsyncSession) -> None:
    """Write the built-in forms the workspace lacks (on enabling OA, and on first read for a
    workspace that had OA before). ``ON CONFLICT DO NOTHING`` on the unique keys makes two
    at once write each form once."""
    have = set(await session.scalars(select(Form.builtin_key).where(Form.builtin_key.is_not(None))))
    missing = [form for form in BUILTIN_FORMS if form.key not in have]
    if not missing:
        return
    tenant_id = session.info["tenant_id"]
    for builtin in missing:
        form_id = await session.scalar(
            insert(Form)
            .values(
                tenant_id=tenant_id,
                id=uuid7(),
                code=builtin.key,
                name=builtin.name,
                description=builtin.description,
                active=True,
                builtin_key=builtin.key,
                version=1,
            )
            .on_conflict_do_nothing()
            .returning(Form.id)
        )
        if form_id is not None:
            session.add(
                FormVersion(
                    form_id=form_id, version=1, name=builtin.name, fields=list(builtin.fields)
                )
            )
    await session.flush()


# --- reading ----------------------------------------------------------------------------------


async def list_forms(session: AsyncSession, *, active_only: bool = False) -> list[Form]:
    """The built-in forms in their order, then the designed ones by name."""
    await ensure_builtin(session)
    query = select(Form)
    if active_only:
        query = query.where(Form.active)
    found = list(await session.scalars(query))
    order = {form.key: index for index, form in enumerate(BUILTIN_FORMS)}
    return sorted(
        found,
        key=lambda f: (f.builtin_key is None, order.get(f.builtin_key or "", 0), f.name, f.code),
    )


async def form_by_code(session: AsyncSession, code: str, *, for_update: bool = False) -> Form:
    await ensure_builtin(session)
    query = select(Form).where(Form.code == code)
    if for_update:
        query = query.with_for_update()
    found = await session.scalar(query)
    if found is None:
        raise NotFound("No form {code}.", code=code)
    return found


async def version_of(session: AsyncSession, form_id: uuid.UUID, version: int) -> FormVersion:
    found = await session.scalar(
        select(FormVersion).where(FormVersion.form_id == form_id, FormVersion.version == version)
    )
    if found is None:
        raise NotFound("No version {version} of this form.", version=version)
    return found


async def current_fields(session: AsyncSession, form: Form) -> list[dict[str, Any]]:
    return (await version_of(session, form.id, form.version)).fields


# --- checking a design ------------------------------------------------------------------------


def columns_from_text(text: str) -> list[dict[str, Any]]:
    """A table's columns as the designer types them, one a line:
    ``key | label | type | option, option`` (a key ending in ``?`` is optional)."""
    columns = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.split("|")]
        key, column_label, kind, options = [*parts, "", "", "", ""][:4]
        optional = key.endswith("?")
        columns.append(
            {
                "key": key.rstrip("?").strip(),
                "label": column_label,
                "type": kind or "text",
                "required": not optional,
                "options": _options_of([o for o in options.split(",") if o.strip()]),
            }
        )
    return columns


def columns_as_text(columns: list[dict[str, Any]]) -> str:
    """The reverse of :func:`columns_from_text`, for the designer's textarea."""
    lines = []
    for column in columns:
        key = column["key"] + ("" if column.get("required", True) else "?")
        parts = [key, column["label"], column["type"]]
        if column.get("options"):
            parts.append(", ".join(label for _value, label in column["options"]))
        lines.append(" | ".join(parts))
    return "\n".join(lines)


def _options_of(labels: list[str]) -> list[list[str]]:
    """A designed choice's options: each value is its label."""
    return [[text.strip(), text.strip()] for text in labels if text.strip()]


def options_from_text(text: str) -> list[list[str]]:
    return _options_of(text.splitlines())


def check_design(code: str, name: str, fields: list[dict[str, Any]]) -> dict[str, str]:
    """Every refusal of a design, by input: ``code``, ``name``, ``fields`` and
    ``field_{n}_{part}`` (n from 1; part key, label, type, options, columns, min, max)."""
    errors: dict[str, str] = {}
    if not CODE_PATTERN.fullmatch(code):
        errors["code"] = say(N_("A code has 2 to 40 small letters, digits, - or _, from a letter."))
    elif code in BY_KEY:
        errors["code"] = say(N_("{code} is the code of a built-in form."), code=code)
    if not name.strip() or len(name) > MAX_NAME:
        errors["name"] = say(N_("A name has 1 to 100 characters."))
    if not 1 <= len(fields) <= MAX_FIELDS:
        errors["fields"] = say(N_("A form has 1 to {count} fields."), count=MAX_FIELDS)
    seen: set[str] = set()
    for number, field in enumerate(fields, start=1):
        errors |= _check_field(f"field_{number}", field, seen, FIELD_TYPES)
    return errors


def _check_field(where: str, field: dict[str, Any], seen: set[str], types: Any) -> dict[str, str]:
    errors: dict[str, str] = {}
    key, kind = str(field.get("key", "")), field.get("type", "")
    if not KEY_PATTERN.fullmatch(key) or key in RESERVED_KEYS:
        errors[f"{where}_key"] = say(
            N_("A key has small letters, digits and _, from a letter (not form or amount).")
        )
    elif key in seen:
        errors[f"{where}_key"] = say(N_("Another field has the key {key}."), key=key)
    seen.add(key)
    text = str(field.get("label", ""))
    if not text.strip() or len(text) > MAX_NAME:
        errors[f"{where}_label"] = say(N_("A label has 1 to 100 characters."))
    if kind not in types:
        errors[f"{where}_type"] = say(N_("Choose a type."))
        return errors
    if kind == "choice":
        options = field.get("options") or []
        labels = [str(o[1]) for o in options]
        if not options or len(options) > MAX_OPTIONS:
            errors[f"{where}_options"] = say(N_("A choice has 1 to 50 options, one a line."))
        elif len(set(labels)) != len(labels) or any(len(t) > MAX_NAME for t in labels):
            errors[f"{where}_options"] = say(N_("Options are different and up to 100 characters."))
    if kind in ("number", "money"):
        errors |= _check_bounds(where, field)
    if kind == "lines":
        columns = field.get("columns") or []
        if not columns:
            errors[f"{where}_columns"] = say(N_("A table has one or more columns."))
        inner: set[str] = set()
        for index, column in enumerate(columns, start=1):
            problems = _check_field(f"{where}_column_{index}", column, inner, COLUMN_TYPES)
            if problems and f"{where}_columns" not in errors:
                errors[f"{where}_columns"] = say(
                    N_("Column {number}: {problem}"),
                    number=index,
                    problem=next(iter(problems.values())),
                )
    return errors


def _check_bounds(where: str, field: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    bounds = {}
    for part in ("min", "max"):
        given = field.get(part)
        if given in (None, ""):
            continue
        try:
            bounds[part] = decimal(str(given))
        except ValidationFailed:
            errors[f"{where}_{part}"] = say(N_("Type a number."))
    if len(bounds) == 2 and bounds["min"] > bounds["max"]:
        errors[f"{where}_max"] = say(N_("The largest value is at least the smallest."))
    return errors


def _clean(field: dict[str, Any]) -> dict[str, Any]:
    """A checked field as a version stores it (only the keys its type uses)."""
    kept: dict[str, Any] = {
        "key": field["key"],
        "label": field["label"].strip(),
        "type": field["type"],
        "required": bool(field.get("required")),
    }
    if field["type"] == "choice":
        kept["options"] = [[str(v), str(t)] for v, t in field["options"]]
    if field["type"] in ("number", "money"):
        for part in ("min", "max"):
            if field.get(part) not in (None, ""):
                kept[part] = str(decimal(str(field[part])))
    if field["type"] == "lines":
        kept["columns"] = [_clean(column) for column in field["columns"]]
    return kept


# --- saving -----------------------------------------------------------------------------------


async def save_form(
    session: AsyncSession,
    actor_id: uuid.UUID,
    *,
    code: str,
    name: str,
    description: str,
    active: bool,
    fields: list[dict[str, Any]],
    existing: str | None = None,
) -> Form:
    """Create a designed form (``existing`` None) or save the one with code ``existing``: a
    changed name or changed fields make a new version. A built-in form takes only its active
    flag (its fields are defined in code)."""
    if existing is not None:
        form = await form_by_code(session, existing, for_update=True)
        if form.builtin_key:
            form.active = active
            await session.flush()
            return form
        code = form.code
    errors = check_design(code, name, fields)
    taken = existing is None and "code" not in errors
    if taken and await session.scalar(select(Form.id).where(Form.code == code)) is not None:
        errors["code"] = say(N_("Another form has the code {code}."), code=code)
    if len(description) > 2000:
        errors["description"] = say(N_("A description has at most 2000 characters."))
    if errors:
        raise FormRefused(errors)
    cleaned = [_clean(field) for field in fields]
    if existing is None:
        form = Form(code=code, name=name.strip(), description=description, active=active, version=1)
        session.add(form)
        await session.flush()
        session.add(FormVersion(form_id=form.id, version=1, name=form.name, fields=cleaned))
    else:
        current = await version_of(session, form.id, form.version)
        if current.fields != cleaned or current.name != name.strip():
            form.version += 1
            session.add(
                FormVersion(
                    form_id=form.id,
                    version=form.version,
                    name=name.strip(),
                    fields=cleaned,
                    created_by=actor_id,
                )
            )
        form.name, form.description, form.active = name.strip(), description, active
    await session.flush()
    await audit.record(
        session,
        "oa.form.saved",
        actor_id=actor_id,
        subject_type="oa.form",
        subject_id=form.id,
        detail={"code": form.code, "version": form.version},
    )
    return form
