"""Invoices as a customer opens them at Stripe: the hosted page and the PDF.

localstripe's invoices have neither ``invoice_pdf`` nor ``hosted_invoice_url`` (nor a
``number``); the stand-in's fix-up adds them to every finalized invoice (see
:func:`invoice_links`), pointing at the two pages served here. The invoice itself is
read from localstripe, so the pages show what the API answers.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from babel.numbers import get_currency_precision

from .common import LocalStripe, Request, Response, StripeError

#: localstripe holds one account: any ``sk_`` key reads it (the pages have no caller's key).
READ_KEY = "sk_test_standin"


def invoice_links(invoice: dict[str, Any], base_url: str) -> None:
    """What Stripe gives a finalized invoice and localstripe does not: its number (Stripe's
    ``PREFIX-0001`` shape, stable per invoice) and the addresses of its page and PDF."""
    if invoice.get("status") == "draft" or not invoice.get("id"):
        return  # Stripe leaves them empty until the invoice is finalized
    page = f"{base_url}/invoices/{quote(invoice['id'])}"
    invoice.setdefault("number", invoice["id"].removeprefix("in_")[:8].upper() + "-0001")
    invoice.setdefault("hosted_invoice_url", page)
    invoice.setdefault("invoice_pdf", f"{page}.pdf")


def _amount(minor: int, currency: str) -> str:
    places = get_currency_precision(currency.upper())
    return f"{Decimal(minor).scaleb(-places):.{places}f} {currency.upper()}"


def pdf_document(lines: list[str]) -> bytes:
    """A one-page PDF (PDF 1.4, Helvetica) with ``lines`` of ASCII text, offsets exact."""
    text = "".join(
        "({}) Tj 0 -18 Td ".format(
            line.encode("ascii", "replace")
            .decode()
            .replace("\\", "\\\\")
            .replace("(", "\\(")
            .replace(")", "\\)")
        )
        for line in lines
    )
    content = f"BT /F1 12 Tf 72 770 Td {text}ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


class Invoices:
    # Provided by Standin (server.py), which mixes this class in.
    localstripe: LocalStripe
    url: str

    def _fixed_invoice(self, invoice_id: str) -> dict[str, Any] | None:
        try:
            invoice = self.localstripe.call(
                "GET", f"/v1/invoices/{quote(invoice_id)}", api_key=READ_KEY
            )
        except StripeError:
            return None
        invoice_links(invoice, self.url)
        return invoice

    def _summary(self, invoice: dict[str, Any]) -> list[str]:
        lines = [f"Invoice {invoice.get('number') or invoice['id']}"]
        lines += [
            f"{line.get('description') or 'Item'} x {line.get('quantity') or 1}: "
            f"{_amount(line['amount'], invoice['currency'])}"
            for line in invoice.get("lines", {}).get("data", [])
        ]
        lines += [
            f"Amount due: {_amount(invoice['amount_due'], invoice['currency'])}",
            f"Amount paid: {_amount(invoice['amount_paid'], invoice['currency'])}",
            f"Status: {invoice['status']}",
        ]
        return lines

    def invoice_page(self, request: Request) -> Response:
        """``GET /invoices/<id>``: the hosted invoice page (what Stripe shows the customer)."""
        invoice = self._fixed_invoice(request.match["id"])
        if invoice is None:
            return Response.page("Invoice not found", "", 404)
        first, *rest = self._summary(invoice)
        items = "".join(f"<li>{html.escape(line)}</li>" for line in rest)
        body = f"<p id='number'>{html.escape(first)}</p><ul id='invoice'>{items}</ul>"
        if invoice.get("invoice_pdf"):  # a draft has none yet
            body += f"<p><a id='pdf' href='{html.escape(invoice['invoice_pdf'])}'>PDF</a></p>"
        return Response.page("Stand-in invoice", body)

    def invoice_pdf(self, request: Request) -> Response:
        """``GET /invoices/<id>.pdf``: the invoice as a small real PDF."""
        invoice = self._fixed_invoice(request.match["id"])
        if invoice is None:
            return Response.page("Invoice not found", "", 404)
        name = f"{invoice.get('number') or invoice['id']}.pdf"
        headers = {"Content-Type": "application/pdf"}
        headers["Content-Disposition"] = f'inline; filename="{name}"'
        return Response(200, pdf_document(self._summary(invoice)), headers)
