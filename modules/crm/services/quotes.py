"""Quotes (报价单): an offer of products to a customer, revised until accepted or rejected.

Rules:

- A quote's number comes from the workspace's ``crm.quote`` series (Settings → Numbering)
  and is kept by its revisions: revision 1, 2, ... of ``QT-2026-000001``.
- Statuses: ``draft`` → ``sent`` → ``accepted`` or ``rejected``; ``superseded`` when a
  revision replaced it. Only a draft is changed (its header and lines). Sending mails the
  PDF to the contact's e-mail address (or one typed) and marks it sent; a quote handed
  over another way is marked sent without mail. A sent quote may be sent again.
- Accepting (only a sent quote, before its validity ends) publishes
  :class:`~modules.crm.events.QuoteAccepted` with its lines and makes the customer a
  ``customer`` in CRM. Accepting does not win the opportunity: the salesperson does that.
- Revising a sent or rejected quote copies it, lines and all, into a new draft with the
  next revision; the old one becomes ``superseded``. A partial unique index keeps one
  live revision per number, and the row lock on the old one makes revising it twice
  give one new revision and a refusal.
- Totals are ``Decimal``, rounded one way, per line, half-up to 0.01 (see
  :func:`line_amounts`): a line's gross is ``quantity × unit price``, its net amount the
  gross less the discount percent, its tax the net times the tax rate; the quote's
  subtotal is the sum of the gross amounts, the discount total the sum of (gross − net),
  the tax total the sum of the taxes and the total the sum of nets plus the taxes, so
  every total is exactly the sum of what the lines show.
- A line's tax rate is copied onto it from core's tax rates (the product's own, else the
  workspace's default sales rate, or the one chosen): changing a rate later never changes
  a quote already made.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from msgspec import UnsetType
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core import mail, numbering
from core.context import TenantContext
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import publish
from core.i18n import N_, gettext, use_locale
from core.parties.models import Party, PartyAddress, PartyContactPoint
from core.permissions import Actor, visible
from core.products import tax
from core.products.currency import base_currency
from core.products.models import Product, TaxRate
from core.records import images
from core.records.storage import FileStore
from core.records.timeline import Money, track_changes
from modules.crm import permissions as codes
from modules.crm.access import scoped_customer, scoped_get
from modules.crm.events import QuoteAccepted
from modules.crm.events import QuoteLine as AcceptedLine
from modules.crm.models import Customer, Quote, QuoteLine
from modules.crm.schemas.sales import QuoteChanges, QuoteIn, QuoteLineIn, QuotePage, QuoteSummary
from modules.crm.services import opportunities, quote_pdf
from modules.crm.services.opportunities import cents, check_contact, check_money, check_quantity
from modules.crm.services.profiles import ensure_customer
from tenants import settings as workspace_settings

RESOURCE = "crm.quote"
RECORD = "crm.quote"
VALID_DAYS = 30
NOTES_MAX = 2000
DESCRIPTION_MAX = 500
MAX_PAGE = 200
HUNDRED = Decimal(100)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
#: A quote's statuses as people read them (msgids).
STATUS_LABELS = {
    "draft": N_("Draft"),
    "sent": N_("Sent"),
    "accepted": N_("Accepted"),
    "rejected": N_("Rejected"),
    "superseded": N_("Superseded"),
}
TRACKED = {
    "status": N_("Status"),
    "valid_until": N_("Valid until"),
    "total": N_("Total"),
    "sent_to": N_("Sent to"),
}


# --- the arithmetic --------------------------------------------------------------------------


class LineAmounts(NamedTuple):
    gross: Decimal  # quantity × unit price
    net: Decimal  # after the discount, before tax
    tax: Decimal


def line_amounts(
    quantity: Decimal, unit_price: Decimal, discount_percent: Decimal, tax_rate: Decimal
) -> LineAmounts:
    """A line's amounts, each rounded half-up to 0.01 on its own."""
    gross = cents(quantity * unit_price)
    net = cents(gross * (HUNDRED - discount_percent) / HUNDRED)
    return LineAmounts(gross, net, cents(net * tax_rate))


class Totals(NamedTuple):
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal


def totals_of(lines: list[QuoteLine]) -> Totals:
    subtotal = discount = taxes = net = Decimal(0)
    for line in lines:
        amounts = line_amounts(line.quantity, line.unit_price, line.discount_percent, line.tax_rate)
        subtotal += amounts.gross
        discount += amounts.gross - amounts.net
        taxes += amounts.tax
        net += amounts.net
    return Totals(subtotal, discount, taxes, net + taxes)


# --- checks ----------------------------------------------------------------------------------


def _check_discount(discount: Decimal) -> Decimal:
    try:
        good = Decimal(0) <= discount <= HUNDRED and discount == discount.quantize(Decimal("0.01"))
    except InvalidOperation:
        good = False
    if not good:
        raise ValidationFailed(
            "A discount is a percentage from 0 to 100.", field="discount_percent"
        )
    return discount


def _check_valid_until(valid_until: date | None) -> date:
    if valid_until is None:
        return date.today() + timedelta(days=VALID_DAYS)
    if valid_until < date.today():
        raise ValidationFailed("A quote is valid until today or later.", field="valid_until")
    return valid_until


def _check_notes(notes: str) -> str:
    if len(notes) > NOTES_MAX:
        raise ValidationFailed("Notes have at most {max} characters.", max=NOTES_MAX, field="notes")
    return notes.strip()


def check_address(address: str) -> str:
    address = address.strip()
    if len(address) > 320 or not _EMAIL.match(address):
        raise ValidationFailed(
            "Enter an e-mail address such as {example}.", example="li@example.com", field="to"
        )
    return address


async def _tax_rate(
    session: AsyncSession, chosen: uuid.UUID | UnsetType | None, product: Product
) -> TaxRate | None:
    """The line's rate: the one chosen (None: no tax), else the product's, else the
    workspace's default sales rate."""
    if isinstance(chosen, UnsetType):
        if product.tax_rate_id is not None:
            return await session.scalar(select(TaxRate).where(TaxRate.id == product.tax_rate_id))
        return await tax.default_tax_rate(session, "sale")
    if chosen is None:
        return None
    rate = await session.scalar(
        select(TaxRate).where(
            TaxRate.id == chosen, TaxRate.active, TaxRate.kind.in_(("sale", "both"))
        )
    )
    if rate is None:
        raise ValidationFailed("Choose one of the sales tax rates.", field="tax_rate_id")
    return rate


async def _built_lines(
    session: AsyncSession, lines: tuple[QuoteLineIn, ...] | list[QuoteLineIn]
) -> list[QuoteLine]:
    products = await opportunities.products_by_id(session, [line.product_id for line in lines])
    built = []
    for sequence, line in enumerate(lines, start=1):
        product = products[line.product_id]
        description = (product.name if line.description is None else line.description).strip()
        if not description or len(description) > DESCRIPTION_MAX:
            raise ValidationFailed(
                "A description has 1 to {max} characters.", max=DESCRIPTION_MAX, field="description"
            )
        quantity = check_quantity(line.quantity)
        price = check_money(
            product.sale_price if line.unit_price is None else line.unit_price, "unit_price"
        )
        discount = _check_discount(line.discount_percent)
        rate = await _tax_rate(session, line.tax_rate_id, product)
        fraction = rate.rate if rate is not None else Decimal(0)
        amounts = line_amounts(quantity, price, discount, fraction)
        built.append(
            QuoteLine(
                sequence=sequence,
                product_id=product.id,
                description=description,
                quantity=quantity,
                unit_price=price,
                discount_percent=discount,
                tax_rate_id=rate.id if rate is not None else None,
                tax_rate=fraction,
                net_amount=check_money(amounts.net, "unit_price"),
                tax_amount=amounts.tax,
            )
        )
    return built


def _set_totals(quote: Quote, lines: list[QuoteLine]) -> None:
    quote.subtotal, quote.discount_total, quote.tax_total, quote.total = totals_of(lines)
    check_money(quote.subtotal, "quantity")  # a total past what numeric(18,2) holds


async def _set_lines(session: AsyncSession, quote: Quote, lines: list[QuoteLine]) -> None:
    for old in await lines_of(session, quote.id):
        await session.delete(old)
    await session.flush()
    for sequence, line in enumerate(lines, start=1):
        line.quote_id, line.sequence = quote.id, sequence
        session.add(line)
    _set_totals(quote, lines)
    await session.flush()


# --- creating and reading --------------------------------------------------------------------


async def create_quote(session: AsyncSession, actor: Actor, new: QuoteIn) -> Quote:
    """A draft quote, owned by ``actor``, in the base currency, for a customer in the actor's
    scope (and, when named, one of the actor's opportunities with that customer)."""
    actor.require(codes.QUOTE_WRITE)
    await scoped_customer(session, actor, new.party_id)
    contact_id = await check_contact(session, new.party_id, new.contact_id)
    lines_in: tuple[QuoteLineIn, ...] | list[QuoteLineIn] = new.lines or ()
    if new.opportunity_id is not None:
        deal = await opportunities.get_opportunity(session, actor, new.opportunity_id)
        if deal.party_id != new.party_id:
            raise ValidationFailed(
                "Choose an opportunity of this customer.", field="opportunity_id"
            )
        if new.lines is None:
            lines_in = [
                QuoteLineIn(
                    product_id=line.product_id, quantity=line.quantity, unit_price=line.unit_price
                )
                for line in await opportunities.lines_of(session, deal.id)
            ]
        contact_id = contact_id or deal.contact_id
    quote = Quote(
        number=await numbering.next_number(session, "crm.quote"),
        revision=1,
        party_id=new.party_id,
        contact_id=contact_id,
        opportunity_id=new.opportunity_id,
        status="draft",
        currency=await base_currency(session),
        valid_until=_check_valid_until(new.valid_until),
        notes=_check_notes(new.notes),
        owner_id=actor.user_id,
        department_id=actor.department_id,
    )
    lines = await _built_lines(session, lines_in)
    session.add(quote)
    await session.flush()
    await _set_lines(session, quote, lines)
    await ensure_customer(session, new.party_id)
    return quote


async def get_quote(
    session: AsyncSession, actor: Actor, quote_id: uuid.UUID, *, for_update: bool = False
) -> Quote:
    actor.require(codes.QUOTE_READ)
    return await scoped_get(
        session, actor, Quote, RESOURCE, quote_id, N_("No quote {id}."), for_update=for_update
    )


#: What a line says: kept as it is by a revision, the accepted event and the API.
LINE_VALUES = (
    "product_id",
    "description",
    "quantity",
    "unit_price",
    "discount_percent",
    "tax_rate",
    "net_amount",
    "tax_amount",
)


def line_values(line: QuoteLine) -> dict[str, Any]:
    return {name: getattr(line, name) for name in LINE_VALUES}


def event_lines(lines: list[QuoteLine]) -> tuple[AcceptedLine, ...]:
    """A quote's lines as its events carry them (QuoteAccepted, ContractSigned)."""
    return tuple(AcceptedLine(**line_values(line)) for line in lines)


async def lines_of(session: AsyncSession, quote_id: uuid.UUID) -> list[QuoteLine]:
    return list(
        await session.scalars(
            select(QuoteLine)
            .where(QuoteLine.quote_id == quote_id)
            .order_by(QuoteLine.sequence, QuoteLine.id)
        )
    )


async def skus_of(session: AsyncSession, lines: list[QuoteLine]) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(Product.id, Product.sku).where(Product.id.in_([line.product_id for line in lines]))
    )
    return dict(rows.all())


async def customer_name(session: AsyncSession, quote: Quote) -> str:
    return await session.scalar(select(Party.name).where(Party.id == quote.party_id)) or ""


async def quote_for_contract(session: AsyncSession, actor: Actor, quote_id: uuid.UUID) -> Quote:
    """An accepted quote in the actor's scope, with ``quote.lines`` loaded: what a contract
    is written from. Any other status is refused (409)."""
    quote = await get_quote(session, actor, quote_id)
    if quote.status != "accepted":
        raise Conflict("Only an accepted quote can become a contract.", field="quote_id")
    loaded = await session.scalar(
        select(Quote)
        .where(Quote.id == quote.id)
        .options(selectinload(Quote.lines))
        .execution_options(populate_existing=True)
    )
    assert loaded is not None
    return loaded


@dataclass(frozen=True, slots=True)
class QuoteFilters:
    status: str | None = None  # None: every live revision (superseded ones left out)
    party_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    search: str | None = None  # a number


def _where(actor: Actor, filters: QuoteFilters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [visible(actor, RESOURCE, Quote)]
    if filters.status:
        where.append(Quote.status == filters.status)
    else:
        where.append(Quote.status != "superseded")
    if filters.party_id:
        where.append(Quote.party_id == filters.party_id)
    if filters.opportunity_id:
        where.append(Quote.opportunity_id == filters.opportunity_id)
    if filters.search and filters.search.strip():
        where.append(Quote.number.icontains(filters.search.strip(), autoescape=True))
    return where


async def list_quotes(
    session: AsyncSession,
    actor: Actor,
    filters: QuoteFilters,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> QuotePage:
    """Newest first, a page at a time: ``cursor`` is the last id of the page before."""
    actor.require(codes.QUOTE_READ)
    limit = min(max(limit, 1), MAX_PAGE)
    query = (
        select(
            Quote.id,
            Quote.number,
            Quote.revision,
            Quote.status,
            Quote.party_id,
            Party.name.label("customer_name"),
            Quote.opportunity_id,
            Quote.currency,
            Quote.total,
            Quote.valid_until,
            Quote.owner_id,
            Quote.created_at,
        )
        .join(Party, (Party.tenant_id == Quote.tenant_id) & (Party.id == Quote.party_id))
        .where(*_where(actor, filters))
    )
    if cursor:
        try:
            query = query.where(Quote.id < uuid.UUID(cursor))
        except ValueError:
            raise ValidationFailed("This page link is no longer valid.") from None
    rows = (await session.execute(query.order_by(Quote.id.desc()).limit(limit + 1))).all()
    items = [QuoteSummary(**row._asdict()) for row in rows[:limit]]
    return QuotePage(items=items, next_cursor=str(items[-1].id) if len(rows) > limit else None)


async def revisions_of(session: AsyncSession, actor: Actor, quote: Quote) -> list[Quote]:
    """Every revision of the quote's number the actor may see, latest first."""
    return list(
        await session.scalars(
            select(Quote)
            .where(Quote.number == quote.number, visible(actor, RESOURCE, Quote))
            .order_by(Quote.revision.desc())
        )
    )


# --- changing a draft ------------------------------------------------------------------------


def _refuse_unless_draft(quote: Quote) -> None:
    if quote.status != "draft":
        raise Conflict("Only a draft quote can be changed: revise it to change it.")


def _tracked(quote: Quote, sent_to: str | None = None) -> dict[str, Any]:
    return {
        "status": gettext(STATUS_LABELS[quote.status]),  # in the writer's language
        "valid_until": quote.valid_until,
        "total": Money(quote.total, quote.currency),
        "sent_to": sent_to,
    }


async def _track(
    session: AsyncSession, actor: Actor, quote: Quote, before: dict[str, Any], **after: Any
) -> None:
    await session.flush()
    await track_changes(
        session, RECORD, quote.id, actor.user_id, before, _tracked(quote, **after), TRACKED
    )


async def update_quote(
    session: AsyncSession, actor: Actor, quote_id: uuid.UUID, changes: QuoteChanges
) -> Quote:
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    _refuse_unless_draft(quote)
    before = _tracked(quote)
    if not isinstance(changes.contact_id, UnsetType):
        quote.contact_id = await check_contact(session, quote.party_id, changes.contact_id)
    if not isinstance(changes.valid_until, UnsetType):
        quote.valid_until = _check_valid_until(changes.valid_until)
    if not isinstance(changes.notes, UnsetType):
        quote.notes = _check_notes(changes.notes)
    await _track(session, actor, quote, before)
    return quote


async def replace_lines(
    session: AsyncSession,
    actor: Actor,
    quote_id: uuid.UUID,
    lines: tuple[QuoteLineIn, ...] | list[QuoteLineIn],
) -> Quote:
    """The draft's lines become ``lines``; its totals are computed again."""
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    _refuse_unless_draft(quote)
    before = _tracked(quote)
    await _set_lines(session, quote, await _built_lines(session, lines))
    await _track(session, actor, quote, before)
    return quote


async def add_line(
    session: AsyncSession, actor: Actor, quote_id: uuid.UUID, line: QuoteLineIn
) -> Quote:
    """One more line at the end of a draft (the lines already there are kept as they are)."""
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    _refuse_unless_draft(quote)
    before = _tracked(quote)
    [added] = await _built_lines(session, [line])
    lines = await lines_of(session, quote.id)
    added.quote_id = quote.id
    added.sequence = max((old.sequence for old in lines), default=0) + 1
    session.add(added)
    _set_totals(quote, [*lines, added])
    await _track(session, actor, quote, before)
    return quote


async def remove_line(
    session: AsyncSession, actor: Actor, quote_id: uuid.UUID, line_id: uuid.UUID
) -> Quote:
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    _refuse_unless_draft(quote)
    before = _tracked(quote)
    lines = await lines_of(session, quote.id)
    gone = next((line for line in lines if line.id == line_id), None)
    if gone is None:
        raise NotFound("No line {id} on this quote.", id=str(line_id))
    await session.delete(gone)
    _set_totals(quote, [line for line in lines if line.id != line_id])
    await _track(session, actor, quote, before)
    return quote


# --- the PDF and sending ---------------------------------------------------------------------


async def _read_logo(store: FileStore | None, key: str | None) -> bytes | None:
    if store is None:
        return None
    opened = await images.open_image(store, key, workspace_settings.LOGO_LIMITS)
    if opened is None:
        return None
    _content_type, chunks = opened
    return b"".join([chunk async for chunk in chunks])


def _address_lines(*parts: str | None) -> tuple[str, ...]:
    return tuple(part for part in parts if part)


async def document_of(
    session: AsyncSession, ctx: TenantContext, store: FileStore | None, quote: Quote
) -> quote_pdf.QuoteDocument:
    """What the PDF shows, read from the quote, the company profile and the customer."""
    row = await workspace_settings.get_tenant(session, ctx)
    profile = workspace_settings.profile_of(row)
    company = quote_pdf.Company(
        name=profile.name,
        legal_name=profile.legal_name,
        address=_address_lines(
            profile.address_line1,
            profile.address_line2,
            " ".join(_address_lines(profile.postcode, profile.city, profile.region)),
            profile.country,
        ),
        tax_number=profile.tax_number,
        phone=profile.phone,
        email=profile.email,
        website=profile.website,
        logo=await _read_logo(store, row.logo),
    )
    party = await session.scalar(select(Party).where(Party.id == quote.party_id))
    assert party is not None  # a foreign key
    address = await session.scalar(
        select(PartyAddress)
        .where(PartyAddress.party_id == party.id)
        .order_by(PartyAddress.created_at)
        .limit(1)
    )
    contact = None
    if quote.contact_id is not None:
        contact = await session.scalar(select(Party.name).where(Party.id == quote.contact_id))
    lines = await lines_of(session, quote.id)
    skus = await skus_of(session, lines)
    customer = quote_pdf.Customer(
        name=party.name,
        address=_address_lines(
            address.line1,
            address.line2,
            " ".join(_address_lines(address.postcode, address.city, address.region)),
            address.country,
        )
        if address
        else (),
        tax_number=party.tax_id or "",
        contact=contact or "",
    )
    return quote_pdf.QuoteDocument(
        number=quote.number,
        revision=quote.revision,
        issued_on=(quote.sent_at or quote.created_at).date(),
        valid_until=quote.valid_until,
        currency=quote.currency,
        company=company,
        customer=customer,
        lines=tuple(
            quote_pdf.Line(
                sku=skus.get(line.product_id, ""),
                description=line.description,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount_percent=line.discount_percent,
                tax_rate=line.tax_rate,
                net_amount=line.net_amount,
                tax_amount=line.tax_amount,
            )
            for line in lines
        ),
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        tax_total=quote.tax_total,
        total=quote.total,
        notes=quote.notes,
    )


def pdf_name(quote: Quote) -> str:
    """``QT-2026-000001.pdf``; a later revision ``QT-2026-000001-R2.pdf``."""
    suffix = f"-R{quote.revision}" if quote.revision > 1 else ""
    return f"{quote.number}{suffix}.pdf"


async def quote_pdf_bytes(
    session: AsyncSession, ctx: TenantContext, store: FileStore | None, quote: Quote
) -> bytes:
    """The quote's PDF, in the workspace's language (the document is the customer's)."""
    document = await document_of(session, ctx, store, quote)
    with use_locale(ctx.locale):
        return quote_pdf.render(document)


async def contact_email(session: AsyncSession, quote: Quote) -> str | None:
    """The primary e-mail address of the quote's contact, else of the customer."""
    for party_id in (quote.contact_id, quote.party_id):
        if party_id is None:
            continue
        found = await session.scalar(
            select(PartyContactPoint.value)
            .where(PartyContactPoint.party_id == party_id, PartyContactPoint.kind == "email")
            .order_by(PartyContactPoint.is_primary.desc(), PartyContactPoint.created_at)
            .limit(1)
        )
        if found:
            return found
    return None


async def _sendable(session: AsyncSession, quote: Quote) -> None:
    if quote.status not in ("draft", "sent"):
        raise Conflict("Only a draft or sent quote can be sent.")
    if not await lines_of(session, quote.id):
        raise Conflict("Add a line before sending the quote.")


async def _mark_sent(
    session: AsyncSession, actor: Actor, quote: Quote, sent_to: str | None
) -> Quote:
    before = _tracked(quote)
    quote.status = "sent"
    quote.sent_at = datetime.now(UTC)
    await _track(session, actor, quote, before, sent_to=sent_to)
    return quote


async def send_quote(
    session: AsyncSession,
    actor: Actor,
    ctx: TenantContext,
    mailer: mail.Mailer,
    store: FileStore | None,
    quote_id: uuid.UUID,
    to: str | None = None,
) -> Quote:
    """Mail the quote's PDF (once the transaction commits) to ``to``, else to the
    contact's e-mail address, and mark it sent."""
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    await _sendable(session, quote)
    address = to if to is not None else await contact_email(session, quote)
    if address is None:
        raise ValidationFailed(
            "The customer has no e-mail address: type the one to send it to.", field="to"
        )
    address = check_address(address)
    await _mark_sent(session, actor, quote, address)
    pdf = await quote_pdf_bytes(session, ctx, store, quote)
    row = await workspace_settings.get_tenant(session, ctx)
    message = mail.compose(
        address,
        ctx.locale,
        "Quote {number} from {company}",
        "Hello,\n\nPlease find attached our quote {number}, valid until {valid_until}, for a "
        "total of {total} {currency}.\n\nKind regards,\n{company}",
        attachments=(mail.Attachment(pdf_name(quote), "application/pdf", pdf),),
        number=quote.number,
        company=row.name,
        valid_until=quote.valid_until.isoformat() if quote.valid_until else "",
        total=quote.total,
        currency=quote.currency,
    )
    mail.send_after_commit(session, mailer, message)
    return quote


async def mark_sent(session: AsyncSession, actor: Actor, quote_id: uuid.UUID) -> Quote:
    """A quote handed to the customer another way (printed, by chat): sent, no mail."""
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    await _sendable(session, quote)
    return await _mark_sent(session, actor, quote, None)


# --- the customer's answer, and revisions ----------------------------------------------------


async def _decided(session: AsyncSession, actor: Actor, quote_id: uuid.UUID) -> Quote:
    actor.require(codes.QUOTE_WRITE)
    quote = await get_quote(session, actor, quote_id, for_update=True)
    if quote.status != "sent":
        raise Conflict("Only a sent quote can be accepted or rejected.")
    return quote


async def accept_quote(session: AsyncSession, actor: Actor, quote_id: uuid.UUID) -> Quote:
    """The customer said yes: accepted, the event published, the customer a customer."""
    quote = await _decided(session, actor, quote_id)
    if quote.valid_until is not None and quote.valid_until < date.today():
        raise Conflict(
            "This quote expired on {day}: revise it to offer it again.",
            day=quote.valid_until.isoformat(),
        )
    before = _tracked(quote)
    quote.status, quote.decided_at = "accepted", datetime.now(UTC)
    await _track(session, actor, quote, before)
    lines = await lines_of(session, quote.id)
    await publish(
        session,
        QuoteAccepted(
            quote_id=quote.id,
            number=quote.number,
            revision=quote.revision,
            customer_id=quote.party_id,
            opportunity_id=quote.opportunity_id,
            currency=quote.currency,
            total=quote.total,
            lines=event_lines(lines),
        ),
    )
    customer = await ensure_customer(session, quote.party_id, lifecycle_stage="customer")
    await session.execute(
        update(Customer)
        .where(Customer.id == customer.id, Customer.lifecycle_stage.in_(("prospect", "churned")))
        .values(lifecycle_stage="customer")
    )
    return quote


async def reject_quote(session: AsyncSession, actor: Actor, quote_id: uuid.UUID) -> Quote:
    quote = await _decided(session, actor, quote_id)
    before = _tracked(quote)
    quote.status, quote.decided_at = "rejected", datetime.now(UTC)
    await _track(session, actor, quote, before)
    return quote


async def revise_quote(session: AsyncSession, actor: Actor, quote_id: uuid.UUID) -> Quote:
    """A new draft revision of a sent or rejected quote; the old one is superseded."""
    actor.require(codes.QUOTE_WRITE)
    old = await get_quote(session, actor, quote_id, for_update=True)
    if old.status not in ("sent", "rejected"):
        raise Conflict("Only a sent or rejected quote can be revised.")
    before = _tracked(old)
    old.status = "superseded"
    await _track(session, actor, old, before)
    valid_until = old.valid_until
    if valid_until is None or valid_until < date.today():
        valid_until = date.today() + timedelta(days=VALID_DAYS)
    latest = await session.scalar(
        select(func.max(Quote.revision)).where(Quote.number == old.number)
    )
    revision = Quote(
        number=old.number,
        revision=(latest or old.revision) + 1,
        party_id=old.party_id,
        contact_id=old.contact_id,
        opportunity_id=old.opportunity_id,
        status="draft",
        currency=old.currency,
        valid_until=valid_until,
        notes=old.notes,
        owner_id=actor.user_id,
        department_id=actor.department_id,
    )
    session.add(revision)
    await session.flush()
    copies = [
        QuoteLine(**line_values(line), tax_rate_id=line.tax_rate_id)
        for line in await lines_of(session, old.id)
    ]
    await _set_lines(session, revision, copies)
    return revision
