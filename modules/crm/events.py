"""The events CRM publishes: its public contract with the other modules.

Each is written to the outbox in the same transaction as the change it reports
(``core.events.publish``). Change a field only by adding a ``.v2`` beside the old one.
Amounts are ``Decimal`` (strings on the wire), in ``currency``.

CRM consumes ``core.approval_decided.v1`` for kind ``crm.contract`` (the approval port),
and, once Finance exists, Finance's payment event (docs/modules/crm.md, "Payments").
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import msgspec

from core.events import Event


class LeadConverted(Event, frozen=True, kw_only=True):
    """A lead became a customer, a contact and (when asked for) an opportunity."""

    type_name = "crm.lead_converted.v1"

    lead_id: uuid.UUID
    customer_id: uuid.UUID  # the core party
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    owner_id: uuid.UUID | None


class OpportunityClosed(Event, frozen=True, kw_only=True):
    """An opportunity was won or lost, with the reason given."""

    type_name = "crm.opportunity_closed.v1"

    opportunity_id: uuid.UUID
    customer_id: uuid.UUID
    won: bool
    amount: Decimal
    currency: str
    reason: str
    owner_id: uuid.UUID | None


class QuoteLine(msgspec.Struct, frozen=True, kw_only=True):
    """A line as the customer agreed it: what an ERP sales order is made from."""

    product_id: uuid.UUID
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate: Decimal  # a fraction: 0.13 is 13 %
    net_amount: Decimal
    tax_amount: Decimal


class QuoteAccepted(Event, frozen=True, kw_only=True):
    """The customer accepted a quote (this revision)."""

    type_name = "crm.quote_accepted.v1"

    quote_id: uuid.UUID
    number: str
    revision: int
    customer_id: uuid.UUID
    opportunity_id: uuid.UUID | None
    currency: str
    total: Decimal
    lines: tuple[QuoteLine, ...]


class ContractApproved(Event, frozen=True, kw_only=True):
    """The contract's approval came back approved (through OA or core's default rule)."""

    type_name = "crm.contract_approved.v1"

    contract_id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    amount: Decimal
    currency: str
    approval_request_id: uuid.UUID


class Installment(msgspec.Struct, frozen=True, kw_only=True):
    sequence: int
    due_on: date
    amount: Decimal


class ContractSigned(Event, frozen=True, kw_only=True):
    """The customer signed: ERP makes the sales order from ``lines`` (empty for a contract
    written without a quote), Finance expects the ``installments``."""

    type_name = "crm.contract_signed.v1"

    contract_id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    owner_id: uuid.UUID | None
    signed_on: date
    amount: Decimal
    currency: str
    quote_id: uuid.UUID | None
    lines: tuple[QuoteLine, ...]
    installments: tuple[Installment, ...]


class PaymentRecorded(Event, frozen=True, kw_only=True):
    """Money was received against a contract (typed in CRM, or from Finance's event)."""

    type_name = "crm.payment_recorded.v1"

    payment_id: uuid.UUID
    contract_id: uuid.UUID
    installment_id: uuid.UUID | None
    customer_id: uuid.UUID
    amount: Decimal
    currency: str
    received_on: date
    source: str  # manual | finance


class TicketOpened(Event, frozen=True, kw_only=True):
    """A customer's service ticket was opened."""

    type_name = "crm.ticket_opened.v1"

    ticket_id: uuid.UUID
    number: str
    customer_id: uuid.UUID
    priority: str
    assignee_id: uuid.UUID | None
