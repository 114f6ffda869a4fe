"""A quote as a PDF for the customer (reportlab).

The text is set in reportlab's built-in CID font ``STSong-Light`` (Adobe's Simplified
Chinese font that every PDF reader carries), so Chinese and Latin text render with no font
file shipped or embedded. Labels are translated into the locale the caller has set
(:func:`core.i18n.use_locale`: the workspace's language, the customer's side of the deal);
money and dates are formatted for it.

What it shows: the workspace's company profile (name, legal name, address, tax number,
phone, e-mail, website; the logo when there is one and it can be read), the customer (name,
address, tax number, contact), the quote's number, revision, date and validity, every
line (SKU and description, quantity, unit price, discount, tax rate, net amount, tax), the
totals, and the notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.i18n import gettext as _
from core.i18n import money, number, when

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
LOGO_HEIGHT = 18 * mm
_TEXT = ParagraphStyle("text", fontName=FONT, fontSize=9, leading=12)
_SMALL = ParagraphStyle("small", parent=_TEXT, fontSize=8, leading=10, textColor=colors.grey)
_TITLE = ParagraphStyle("title", parent=_TEXT, fontSize=18, leading=22)
_HEADING = ParagraphStyle("heading", parent=_TEXT, fontSize=11, leading=14)
_RIGHT = ParagraphStyle("right", parent=_TEXT, alignment=TA_RIGHT)


@dataclass(frozen=True, slots=True)
class Company:
    name: str
    legal_name: str = ""
    address: tuple[str, ...] = ()  # lines, as printed
    tax_number: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""
    logo: bytes | None = None  # PNG, JPEG or WebP


@dataclass(frozen=True, slots=True)
class Customer:
    name: str
    address: tuple[str, ...] = ()
    tax_number: str = ""
    contact: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate: Decimal  # a fraction
    net_amount: Decimal
    tax_amount: Decimal


@dataclass(frozen=True, slots=True)
class QuoteDocument:
    number: str
    revision: int
    issued_on: date
    valid_until: date | None
    currency: str
    company: Company
    customer: Customer
    lines: tuple[Line, ...]
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    notes: str = ""


def _p(text: str, style: ParagraphStyle = _TEXT) -> Paragraph:
    """A paragraph of plain text (escaped: a customer's name is not markup)."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _percent(fraction_or_percent: Decimal) -> str:
    return f"{number(fraction_or_percent.normalize())} %"


def _logo(data: bytes | None) -> Image | None:
    if not data:
        return None
    try:
        reader = ImageReader(BytesIO(data))
        width, height = reader.getSize()
    except OSError:  # bytes Pillow cannot read: the PDF goes without the logo
        return None
    return Image(BytesIO(data), width=LOGO_HEIGHT * width / height, height=LOGO_HEIGHT)


def _company_block(company: Company) -> list[Paragraph]:
    facts = [_p(company.name, _HEADING)]
    if company.legal_name and company.legal_name != company.name:
        facts.append(_p(company.legal_name))
    facts += [_p(line) for line in company.address if line]
    if company.tax_number:
        facts.append(_p(_("Tax number: {number}").format(number=company.tax_number)))
    contact = " · ".join(v for v in (company.phone, company.email, company.website) if v)
    if contact:
        facts.append(_p(contact, _SMALL))
    return facts


def _heading(document: QuoteDocument) -> Table:
    logo = _logo(document.company.logo)
    cells = [[logo or "", _company_block(document.company)]]
    table = Table(cells, colWidths=[60 * mm, 110 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _parties(document: QuoteDocument) -> Table:
    customer = document.customer
    to = [_p(_("For"), _SMALL), _p(customer.name, _HEADING)]
    to += [_p(line) for line in customer.address if line]
    if customer.tax_number:
        to.append(_p(_("Tax number: {number}").format(number=customer.tax_number)))
    if customer.contact:
        to.append(_p(_("Attention: {name}").format(name=customer.contact)))
    facts = [
        [_p(_("Quote number")), _p(document.number, _RIGHT)],
        [_p(_("Revision")), _p(str(document.revision), _RIGHT)],
        [_p(_("Date")), _p(when(document.issued_on), _RIGHT)],
    ]
    if document.valid_until:
        facts.append([_p(_("Valid until")), _p(when(document.valid_until), _RIGHT)])
    facts.append([_p(_("Currency")), _p(document.currency, _RIGHT)])
    table = Table([[to, Table(facts, colWidths=[30 * mm, 40 * mm])]], colWidths=[100 * mm, 70 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _lines(document: QuoteDocument) -> Table:
    header = [
        _("Item"),
        _("Quantity"),
        _("Unit price"),
        _("Discount"),
        _("Tax rate"),
        _("Net amount"),
        _("Tax"),
    ]
    rows: list[list[Paragraph]] = [[_p(label, _SMALL) for label in header]]
    for line in document.lines:
        item = f"{line.description}\n{line.sku}" if line.sku else line.description
        rows.append(
            [
                _p(item),
                _p(number(line.quantity.normalize()), _RIGHT),
                _p(money(line.unit_price, document.currency), _RIGHT),
                _p(_percent(line.discount_percent), _RIGHT),
                _p(_percent(line.tax_rate * 100), _RIGHT),
                _p(money(line.net_amount, document.currency), _RIGHT),
                _p(money(line.tax_amount, document.currency), _RIGHT),
            ]
        )
    widths = [58 * mm, 18 * mm, 22 * mm, 16 * mm, 14 * mm, 24 * mm, 18 * mm]
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _totals(document: QuoteDocument) -> Table:
    amounts = [
        (_("Subtotal"), document.subtotal),
        (_("Discount"), -document.discount_total),
        (_("Tax"), document.tax_total),
        (_("Total"), document.total),
    ]
    rows = [
        [_p(label, _RIGHT), _p(money(amount, document.currency), _RIGHT)]
        for label, amount in amounts
    ]
    table = Table(rows, colWidths=[130 * mm, 40 * mm])
    table.setStyle(TableStyle([("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]))
    return table


def render(document: QuoteDocument) -> bytes:
    """The PDF's bytes (``%PDF-…``), in the current locale."""
    out = BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=_("Quote {number}").format(number=document.number),
        author=document.company.name,
    )
    story = [
        _heading(document),
        Spacer(1, 8 * mm),
        _p(_("Quote"), _TITLE),
        Spacer(1, 4 * mm),
        _parties(document),
        Spacer(1, 6 * mm),
        _lines(document),
        Spacer(1, 4 * mm),
        _totals(document),
    ]
    if document.notes:
        story += [Spacer(1, 6 * mm), _p(_("Notes"), _HEADING), _p(document.notes)]
    if document.valid_until:
        validity = _("This quote is valid until {day}.").format(day=when(document.valid_until))
        story += [Spacer(1, 6 * mm), _p(validity, _SMALL)]
    pdf.build(story)
    return out.getvalue()
