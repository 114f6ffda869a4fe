"""OA's built-in approval forms, defined here and present in every workspace with OA
(``forms.ensure_builtin`` writes them when OA is switched on, and on first read for a
workspace that had OA before). Their labels are msgids, translated when shown; an admin
may deactivate one and edit its flow, not change its fields or delete it.

A field is a dict, as a form version stores it (``services/forms.py`` documents the keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.i18n import N_


@dataclass(frozen=True, slots=True)
class BuiltinForm:
    key: str  # also its code (its URL: /oa/forms/{code}/new)
    name: str  # a msgid
    description: str  # a msgid
    fields: tuple[dict[str, Any], ...]


def _field(
    key: str, label: str, kind: str, *, required: bool = True, **more: Any
) -> dict[str, Any]:
    return {"key": key, "label": label, "type": kind, "required": required, **more}


def _choices(*pairs: tuple[str, str]) -> list[list[str]]:
    return [[value, label] for value, label in pairs]


LEAVE_TYPES = _choices(
    ("annual", N_("Annual leave")),
    ("sick", N_("Sick leave")),
    ("personal", N_("Personal leave")),
    ("marriage", N_("Marriage leave")),
    ("maternity", N_("Maternity leave")),
    ("other", N_("Other leave")),
)
EXPENSE_CATEGORIES = _choices(
    ("travel", N_("Travel")),
    ("meals", N_("Meals")),
    ("lodging", N_("Lodging")),
    ("office", N_("Office")),
    ("entertainment", N_("Entertainment")),
    ("other", N_("Other")),
)
SEAL_TYPES = _choices(
    ("company", N_("Company seal")),
    ("contract", N_("Contract seal")),
    ("finance", N_("Finance seal")),
    ("legal", N_("Legal representative seal")),
)

BUILTIN_FORMS: tuple[BuiltinForm, ...] = (
    BuiltinForm(
        "leave",
        N_("Leave"),
        N_("Ask for days off."),
        (
            _field("leave_type", N_("Leave type"), "choice", options=LEAVE_TYPES),
            _field("period", N_("Period"), "daterange"),
            _field("days", N_("Days"), "number", min="0.5"),
            _field("reason", N_("Reason"), "textarea"),
        ),
    ),
    BuiltinForm(
        "expense",
        N_("Expense reimbursement"),
        N_("Claim back what you paid for the company, with the receipts."),
        (
            _field(
                "lines",
                N_("Expenses"),
                "lines",
                columns=[
                    _field("date", N_("Date"), "date"),
                    _field("category", N_("Category"), "choice", options=EXPENSE_CATEGORIES),
                    _field("description", N_("Description"), "text"),
                    _field("amount", N_("Amount"), "money", min="0.01"),
                ],
            ),
            _field("receipts", N_("Receipts"), "attachment"),
            _field("note", N_("Note"), "textarea", required=False),
        ),
    ),
    BuiltinForm(
        "trip",
        N_("Business trip"),
        N_("Ask to travel on the company's business."),
        (
            _field("destination", N_("Destination"), "text"),
            _field("period", N_("Period"), "daterange"),
            _field("purpose", N_("Purpose"), "textarea"),
            _field("estimated_cost", N_("Estimated cost"), "money", min="0"),
        ),
    ),
    BuiltinForm(
        "car",
        N_("Car use"),
        N_("Book a company car."),
        (
            _field("day", N_("Date"), "date"),
            _field("time", N_("Time"), "text"),
            _field("destination", N_("Destination"), "text"),
            _field("passengers", N_("Passengers"), "number", min="1"),
            _field("purpose", N_("Purpose"), "textarea"),
        ),
    ),
    BuiltinForm(
        "supplies",
        N_("Office supplies"),
        N_("Ask for office supplies."),
        (
            _field(
                "lines",
                N_("Items"),
                "lines",
                columns=[
                    _field("item", N_("Item"), "text"),
                    _field("quantity", N_("Quantity"), "number", min="1"),
                    _field("note", N_("Note"), "text", required=False),
                ],
            ),
        ),
    ),
    BuiltinForm(
        "seal",
        N_("Seal use"),
        N_("Ask to stamp a document with one of the company's seals."),
        (
            _field("seal_type", N_("Seal"), "choice", options=SEAL_TYPES),
            _field("document", N_("Document name"), "text"),
            _field("copies", N_("Copies"), "number", min="1"),
            _field("purpose", N_("Purpose"), "textarea"),
            _field("files", N_("Document"), "attachment", required=False),
        ),
    ),
    BuiltinForm(
        "purchase",
        N_("Purchase request"),
        N_("Ask to buy something for the company."),
        (
            _field(
                "lines",
                N_("Items"),
                "lines",
                columns=[
                    _field("item", N_("Item"), "text"),
                    _field("quantity", N_("Quantity"), "number", min="0.0001"),
                    _field("unit_price", N_("Unit price"), "money", min="0"),
                ],
                # A line's amount is its quantity times its unit price.
                line_total=["quantity", "unit_price"],
            ),
            _field("supplier", N_("Supplier"), "text", required=False),
            _field("reason", N_("Reason"), "textarea"),
        ),
    ),
    BuiltinForm(
        "general",
        N_("General request"),
        N_("Ask for anything else."),
        (
            _field("title", N_("Title"), "text"),
            _field("content", N_("Content"), "textarea"),
            _field("files", N_("Attachments"), "attachment", required=False),
        ),
    ),
)
BY_KEY = {form.key: form for form in BUILTIN_FORMS}
