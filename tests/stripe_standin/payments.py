"""What the operator's refunds and credits need and localstripe lacks: Invoice Payments
(today's way from an invoice to the payment intent a refund names) and a customer's
balance transactions (a credit is a negative one).

- ``GET /v1/invoice_payments?invoice=`` (``status``, ``limit``, ``starting_after``) and
  ``GET /v1/invoice_payments/<id>``: an invoice's default payment, made from the
  localstripe invoice (its ``payment_intent``, amounts and status), so it always says
  what localstripe has;
- ``POST /v1/customers/<id>/balance_transactions`` (``amount``, ``currency``,
  ``description``, ``metadata``), ``GET`` the list (newest first) and one: kept here, with
  ``ending_balance`` the customer's balance after each. A customer's balance has one
  currency, fixed by its first transaction, as at Stripe.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import quote

from .common import (
    LocalStripe,
    Request,
    Response,
    StripeError,
    as_int,
    check_params,
    new_id,
    no_such,
    paginate,
)

INVOICE_PAYMENT_STATUS = {"paid": "paid", "void": "canceled"}  # anything else: open
MAX_DESCRIPTION = 350


def invoice_payment(invoice: dict[str, Any]) -> dict[str, Any] | None:
    """The invoice's default Invoice Payment, or None when nothing is to be paid by card
    (a draft, or an invoice of nothing: no payment intent)."""
    intent = invoice.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    if not intent:
        return None
    status = INVOICE_PAYMENT_STATUS.get(invoice.get("status") or "", "open")
    return {
        "id": "inpay_" + invoice["id"].removeprefix("in_"),
        "object": "invoice_payment",
        "amount_paid": invoice["amount_paid"] if status == "paid" else None,
        "amount_requested": invoice["amount_due"],
        "created": invoice["created"],
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": intent},
        "status": status,
        "status_transitions": {
            "canceled_at": invoice["created"] if status == "canceled" else None,
            "paid_at": invoice["created"] if status == "paid" else None,
        },
    }


class Payments:
    # Provided by Standin (server.py), which mixes this class in.
    localstripe: LocalStripe
    _lock: threading.RLock
    # customer id → its balance transactions, oldest first
    balance_transactions: dict[str, list[dict[str, Any]]]

    # -- invoice payments -----------------------------------------------------------------

    def _invoice(self, invoice_id: str, key: str, param: str | None) -> dict[str, Any]:
        try:
            return self.localstripe.call("GET", f"/v1/invoices/{quote(invoice_id)}", api_key=key)
        except StripeError:
            raise no_such("invoice", invoice_id, param) from None

    def list_invoice_payments(self, request: Request) -> Response:
        p = request.params
        check_params(p, {"invoice", "status", "limit", "starting_after", "expand"})
        if not p.get("invoice"):  # Stripe lists every payment too; the product never does
            raise StripeError(400, "Missing required param: invoice.", param="invoice")
        payment = invoice_payment(self._invoice(p["invoice"], request.api_key or "", "invoice"))
        found = [payment] if payment is not None else []
        if p.get("status"):
            found = [x for x in found if x["status"] == p["status"]]
        url = f"/v1/invoice_payments?invoice={p['invoice']}"
        return Response.json(paginate(found, p, url))

    def retrieve_invoice_payment(self, request: Request) -> Response:
        payment_id = request.match["id"]
        invoice_id = "in_" + payment_id.removeprefix("inpay_")
        payment = None
        if payment_id.startswith("inpay_"):
            payment = invoice_payment(self._invoice(invoice_id, request.api_key or "", None))
        if payment is None:
            raise no_such("invoice_payment", payment_id)
        return Response.json(payment)

    # -- customer balance transactions --------------------------------------------------

    def _customer(self, customer_id: str, key: str) -> None:
        try:
            self.localstripe.call("GET", f"/v1/customers/{quote(customer_id)}", api_key=key)
        except StripeError:
            raise no_such("customer", customer_id) from None

    def create_balance_transaction(self, request: Request) -> Response:
        p, customer = request.params, request.match["id"]
        check_params(p, {"amount", "currency", "description", "metadata", "expand"})
        self._customer(customer, request.api_key or "")
        amount = as_int(p, "amount")
        if not amount:
            raise StripeError(400, "Missing required param: amount.", param="amount")
        currency = p.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeError(400, "Missing required param: currency.", param="currency")
        description = p.get("description")
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise StripeError(
                400,
                f"Invalid string: must be at most {MAX_DESCRIPTION} characters",
                param="description",
            )
        with self._lock:
            ledger = self.balance_transactions.setdefault(customer, [])
            if ledger and ledger[0]["currency"] != currency:
                raise StripeError(
                    400,
                    f"The currency of this balance transaction ({currency}) must match the "
                    f"customer's balance currency ({ledger[0]['currency']}).",
                    param="currency",
                )
            balance = (ledger[-1]["ending_balance"] if ledger else 0) + amount
            transaction = {
                "id": new_id("cbtxn_"),
                "object": "customer_balance_transaction",
                "amount": amount,
                "checkout_session": None,
                "created": int(time.time()),
                "credit_note": None,
                "currency": currency,
                "customer": customer,
                "description": description,
                "ending_balance": balance,
                "invoice": None,
                "livemode": False,
                "metadata": p.get("metadata") or {},
                "type": "adjustment",
            }
            ledger.append(transaction)
        return Response.json(transaction)

    def list_balance_transactions(self, request: Request) -> Response:
        p, customer = request.params, request.match["id"]
        check_params(p, {"limit", "starting_after", "expand"})
        self._customer(customer, request.api_key or "")
        with self._lock:
            newest_first = list(reversed(self.balance_transactions.get(customer, [])))
        url = f"/v1/customers/{customer}/balance_transactions"
        return Response.json(paginate(newest_first, p, url))

    def retrieve_balance_transaction(self, request: Request) -> Response:
        customer, transaction_id = request.match["id"], request.match["txn"]
        with self._lock:
            ledger = list(self.balance_transactions.get(customer, []))
        for transaction in ledger:
            if transaction["id"] == transaction_id:
                return Response.json(transaction)
        raise no_such("customer_balance_transaction", transaction_id)
