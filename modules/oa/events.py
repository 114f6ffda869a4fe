"""The events OA publishes: its public contract with the other modules.

Each is written to the outbox in the transaction that records the decision of a form
request (``services/form_requests.on_approval_decided``). Change a field only by adding a
``.v2`` beside the old one. Amounts are ``Decimal`` (strings on the wire).

OA consumes ``core.approval_decided.v1`` for its form requests (subject type
``oa.form_request``). HR will take ``oa.leave_approved.v1`` into its leave balances and
Finance ``oa.expense_approved.v1`` into its payables once those modules exist.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from core.events import Event


class FormApproved(Event, frozen=True, kw_only=True):
    """A request filed on any form (built-in or designed) was approved."""

    type_name = "oa.form_approved.v1"

    request_id: uuid.UUID  # the oa_form_request
    form_code: str
    form_version: int
    requester_id: uuid.UUID
    amount: Decimal | None
    values: dict[str, Any]  # as stored: Decimals and dates as strings, lines as lists


class LeaveApproved(Event, frozen=True, kw_only=True):
    """A leave request (the built-in form ``leave``) was approved: for HR's balances."""

    type_name = "oa.leave_approved.v1"

    request_id: uuid.UUID
    requester_id: uuid.UUID
    leave_type: str  # annual | sick | personal | marriage | maternity | other
    start: date
    end: date
    days: Decimal


class ExpenseLine(msgspec.Struct, frozen=True, kw_only=True):
    spent_on: date
    category: str  # travel | meals | lodging | office | entertainment | other
    description: str
    amount: Decimal


class ExpenseApproved(Event, frozen=True, kw_only=True):
    """An expense claim (the built-in form ``expense``) was approved: for Finance's payables."""

    type_name = "oa.expense_approved.v1"

    request_id: uuid.UUID
    requester_id: uuid.UUID
    total: Decimal
    currency: str  # the workspace's base currency
    lines: tuple[ExpenseLine, ...]
