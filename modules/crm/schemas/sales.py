"""What the sales API (pipelines, opportunities, quotes) takes in and gives back.

Money and quantities are ``Decimal``: strings in JSON (``"1234.50"``); a JSON number is
read from its text. Dates are ISO 8601. A field left out of a change is not changed.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

StageKind = Literal["open", "won", "lost"]
OpportunityStatus = Literal["open", "won", "lost"]
QuoteStatus = Literal["draft", "sent", "accepted", "rejected", "superseded"]


# --- pipelines -------------------------------------------------------------------------------


class StageOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    sequence: int
    probability: Decimal  # percent, 0 to 100
    kind: StageKind
    opportunity_count: int


class PipelineOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    name: str
    is_default: bool
    active: bool
    stages: list[StageOut]


class PipelineIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new pipeline; it starts with one open, one won and one lost stage."""

    name: str
    is_default: bool = False


class PipelineChanges(msgspec.Struct, frozen=True, kw_only=True):
    name: str | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET
    active: bool | UnsetType = UNSET  # false: archived


class StageIn(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    probability: Decimal
    kind: StageKind = "open"


class StageChanges(msgspec.Struct, frozen=True, kw_only=True):
    name: str | UnsetType = UNSET
    probability: Decimal | UnsetType = UNSET
    kind: StageKind | UnsetType = UNSET


class StageOrder(msgspec.Struct, frozen=True, kw_only=True):
    """Every stage of the pipeline, once each, in the new order."""

    stage_ids: list[uuid.UUID]


# --- opportunities ---------------------------------------------------------------------------


class OpportunityLineIn(msgspec.Struct, frozen=True, kw_only=True):
    """A product in the deal; without ``unit_price``, the product's sale price."""

    product_id: uuid.UUID
    quantity: Decimal
    unit_price: Decimal | None = None


class OpportunityIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new opportunity, owned by the member creating it, in the base currency. With
    ``lines`` the amount is their sum; without a pipeline, the default one; without a
    stage, the pipeline's first open stage."""

    name: str
    party_id: uuid.UUID
    amount: Decimal = Decimal(0)
    contact_id: uuid.UUID | None = None
    expected_close_on: date | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    lines: tuple[OpportunityLineIn, ...] = ()


class OpportunityChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change on an open opportunity. ``amount`` only while it has no lines;
    ``owner_id`` hands it to another member (a user id). ``version`` is the one read: when
    the opportunity has changed since, nothing is changed (409)."""

    version: int | UnsetType = UNSET
    name: str | UnsetType = UNSET
    contact_id: uuid.UUID | UnsetType | None = UNSET
    amount: Decimal | UnsetType = UNSET
    expected_close_on: date | UnsetType | None = UNSET
    owner_id: uuid.UUID | UnsetType = UNSET


class MoveIn(msgspec.Struct, frozen=True, kw_only=True):
    """To another stage of its pipeline; into a won or lost stage, with the reason."""

    stage_id: uuid.UUID
    reason: str | None = None


class CloseIn(msgspec.Struct, frozen=True, kw_only=True):
    reason: str


class ReopenIn(msgspec.Struct, frozen=True, kw_only=True):
    """Back to an open stage: the one named, else the pipeline's last open stage."""

    stage_id: uuid.UUID | None = None


class OpportunityLines(msgspec.Struct, frozen=True, kw_only=True):
    """The whole new list of lines (empty: none; the amount then stays as it was)."""

    lines: tuple[OpportunityLineIn, ...]


class OpportunityLineOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    product_name: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class OpportunitySummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    name: str
    party_id: uuid.UUID
    customer_name: str
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    amount: Decimal
    currency: str
    expected_close_on: date | None
    status: OpportunityStatus
    owner_id: uuid.UUID | None
    owner_name: str


class OpportunityPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[OpportunitySummary]
    next_cursor: str | None


class OpportunityOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    name: str
    party_id: uuid.UUID
    customer_name: str
    contact_id: uuid.UUID | None
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    stage_kind: StageKind
    probability: Decimal
    amount: Decimal
    currency: str
    expected_close_on: date | None
    status: OpportunityStatus
    closed_at: datetime | None
    close_reason: str
    owner_id: uuid.UUID | None
    owner_name: str
    department_id: uuid.UUID | None
    lead_id: uuid.UUID | None
    version: int  # send it back with a change: a change to an older version is refused
    created_at: datetime
    lines: list[OpportunityLineOut]


class ForecastMonth(msgspec.Struct, frozen=True, kw_only=True):
    """Open opportunities expected to close in ``month`` (its first day; None: no date)."""

    month: date | None
    count: int
    amount: Decimal
    weighted: Decimal  # the sum of amount × the stage's probability


class Forecast(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    months: list[ForecastMonth]
    amount: Decimal
    weighted: Decimal


# --- quotes ----------------------------------------------------------------------------------


class QuoteLineIn(msgspec.Struct, frozen=True, kw_only=True):
    """A line of a quote. Left out: the description is the product's name, the unit price
    its sale price, the tax rate its own (else the workspace's default sales rate);
    ``tax_rate_id: null`` quotes it without tax."""

    product_id: uuid.UUID
    quantity: Decimal
    unit_price: Decimal | None = None
    discount_percent: Decimal = Decimal(0)
    tax_rate_id: uuid.UUID | UnsetType | None = UNSET
    description: str | None = None


class QuoteIn(msgspec.Struct, frozen=True, kw_only=True):
    """A new draft quote. From an opportunity and without ``lines``, it starts with the
    opportunity's lines; without ``valid_until``, valid for 30 days."""

    party_id: uuid.UUID
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    valid_until: date | None = None
    notes: str = ""
    lines: tuple[QuoteLineIn, ...] | None = None


class QuoteChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What to change on a draft quote."""

    contact_id: uuid.UUID | UnsetType | None = UNSET
    valid_until: date | UnsetType | None = UNSET
    notes: str | UnsetType = UNSET


class QuoteLines(msgspec.Struct, frozen=True, kw_only=True):
    """The whole new list of a draft quote's lines."""

    lines: tuple[QuoteLineIn, ...]


class SendIn(msgspec.Struct, frozen=True, kw_only=True):
    """Mail the quote's PDF to ``to``; without it, to the quote's contact's e-mail."""

    to: str | None = None


class QuoteLineOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    product_id: uuid.UUID
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate_id: uuid.UUID | None
    tax_rate: Decimal  # a fraction: 0.13 is 13 %
    net_amount: Decimal
    tax_amount: Decimal


class QuoteSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    revision: int
    status: QuoteStatus
    party_id: uuid.UUID
    customer_name: str
    opportunity_id: uuid.UUID | None
    currency: str
    total: Decimal
    valid_until: date | None
    owner_id: uuid.UUID | None
    created_at: datetime


class QuotePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[QuoteSummary]
    next_cursor: str | None


class QuoteOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    revision: int
    status: QuoteStatus
    party_id: uuid.UUID
    customer_name: str
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    currency: str
    valid_until: date | None
    notes: str
    subtotal: Decimal  # before discounts
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal  # after discounts, with tax
    sent_at: datetime | None
    decided_at: datetime | None
    owner_id: uuid.UUID | None
    created_at: datetime
    lines: list[QuoteLineOut]
    #: Available stock per product id, when an enabled module keeps stock (ERP); else None.
    stock: dict[uuid.UUID, Decimal] | None = None
