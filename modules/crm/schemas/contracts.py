"""What the contracts, payments, tickets and targets API takes in and gives back.

Money is ``Decimal``: strings in JSON (``"1234.50"``); a JSON number is read from its text.
Dates are ISO 8601 (a target's ``month`` is any day of it). A field left out of a change
is not changed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

ContractStatus = Literal[
    "draft", "pending_approval", "approved", "signed", "completed", "terminated"
]
Priority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["open", "in_progress", "resolved", "closed"]

# --- contracts -------------------------------------------------------------------------------


class ContractIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new draft. With ``quote_id`` (an accepted quote) the customer, contact, amount and
    discount are the quote's and ``party_id``/``amount`` are not needed."""

    title: str
    party_id: uuid.UUID | None = None
    amount: Decimal | None = None
    discount_percent: Decimal = Decimal(0)
    contact_id: uuid.UUID | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    terms: str = ""
    quote_id: uuid.UUID | None = None


class ContractChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Changes to a draft."""

    title: str | UnsetType = UNSET
    amount: Decimal | UnsetType = UNSET
    discount_percent: Decimal | UnsetType = UNSET
    contact_id: uuid.UUID | UnsetType | None = UNSET
    starts_on: date | UnsetType | None = UNSET
    ends_on: date | UnsetType | None = UNSET
    terms: str | UnsetType = UNSET


class InstallmentIn(msgspec.Struct, frozen=True, kw_only=True):
    due_on: date
    amount: Decimal


class PlanIn(msgspec.Struct, frozen=True, kw_only=True):
    """The whole new payment plan, in order; its amounts add up to the contract's (an
    empty list clears it)."""

    installments: list[InstallmentIn]


class SplitIn(msgspec.Struct, frozen=True, kw_only=True):
    """Replace the plan by ``count`` equal monthly installments from ``first_due_on``."""

    count: int
    first_due_on: date


class DecisionIn(msgspec.Struct, frozen=True, kw_only=True):
    """An owner's or admin's decision on a contract waiting for core's default rule."""

    approve: bool
    comment: str = ""


class SignIn(msgspec.Struct, frozen=True, kw_only=True):
    signed_on: date | None = None  # None: today


class TerminateIn(msgspec.Struct, frozen=True, kw_only=True):
    reason: str


class InstallmentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    sequence: int
    due_on: date
    amount: Decimal
    paid_amount: Decimal
    open_amount: Decimal
    days_late: int  # 0 unless overdue


class ContractOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    title: str
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    quote_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    amount: Decimal
    currency: str
    discount_percent: Decimal
    status: ContractStatus
    starts_on: date | None
    ends_on: date | None
    signed_on: date | None
    base_amount: Decimal | None  # the amount in the base currency, once signed
    terms: str
    approval_request_id: uuid.UUID | None
    closed_at: datetime | None
    close_reason: str
    owner_id: uuid.UUID | None
    department_id: uuid.UUID | None
    received: Decimal
    installments: list[InstallmentOut]
    created_at: datetime


class ContractSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    title: str
    customer_id: uuid.UUID
    customer_name: str
    amount: Decimal
    currency: str
    status: ContractStatus
    signed_on: date | None
    owner_id: uuid.UUID | None


class ContractPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ContractSummary]
    next_cursor: str | None


# --- payments --------------------------------------------------------------------------------


class PaymentIn(msgspec.Struct, frozen=True, kw_only=True):
    installment_id: uuid.UUID
    amount: Decimal
    received_on: date
    method: str = "bank_transfer"
    reference: str = ""


class PaymentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    installment_id: uuid.UUID | None
    amount: Decimal
    received_on: date
    method: str
    reference: str
    source: Literal["manual", "finance"]
    external_id: str | None


class PaymentSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    contract_id: uuid.UUID
    contract_number: str
    customer_name: str
    installment_sequence: int | None
    amount: Decimal
    currency: str
    received_on: date
    method: str
    reference: str
    source: Literal["manual", "finance"]


class PaymentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[PaymentSummary]
    next_cursor: str | None


class OverdueOut(msgspec.Struct, frozen=True, kw_only=True):
    installment_id: uuid.UUID
    contract_id: uuid.UUID
    contract_number: str
    customer_name: str
    owner_id: uuid.UUID | None
    sequence: int
    due_on: date
    amount: Decimal
    paid_amount: Decimal
    overdue_amount: Decimal
    currency: str
    days_late: int


# --- tickets ---------------------------------------------------------------------------------


class TicketIn(msgspec.Struct, frozen=True, kw_only=True):
    party_id: uuid.UUID
    subject: str
    description: str = ""
    priority: Priority = "normal"
    contact_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None  # None: whoever opens it


class TicketChanges(msgspec.Struct, frozen=True, kw_only=True):
    subject: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assignee_id: uuid.UUID | UnsetType = UNSET


class TicketOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    contact_id: uuid.UUID | None
    subject: str
    description: str
    priority: Priority
    status: TicketStatus
    sla_due_at: datetime
    overdue: bool
    resolved_at: datetime | None
    assignee_id: uuid.UUID | None
    department_id: uuid.UUID | None
    created_at: datetime


class TicketSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    subject: str
    customer_id: uuid.UUID
    customer_name: str
    priority: Priority
    status: TicketStatus
    sla_due_at: datetime
    overdue: bool
    assignee_id: uuid.UUID | None
    assignee_name: str | None


class TicketPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TicketSummary]
    next_cursor: str | None


# --- targets ---------------------------------------------------------------------------------


class TargetIn(msgspec.Struct, frozen=True, kw_only=True):
    """A salesperson's (``user_id``) or a team's (``team_id``) target for a month."""

    month: date
    amount: Decimal
    user_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None


class TargetOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    month: date
    amount: Decimal
    user_id: uuid.UUID | None
    team_id: uuid.UUID | None


class MonthOut(msgspec.Struct, frozen=True, kw_only=True):
    month: date
    target: Decimal | None
    attained: Decimal
    percent: Decimal | None


class HolderYearOut(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["user", "team"]
    holder_id: uuid.UUID
    name: str
    months: list[MonthOut]
    target_total: Decimal
    attained_total: Decimal
    percent: Decimal | None


class AttainmentOut(msgspec.Struct, frozen=True, kw_only=True):
    year: int
    currency: str  # the base currency every amount is in
    holders: list[HolderYearOut]
