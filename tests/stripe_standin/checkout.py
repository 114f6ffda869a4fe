"""``/v1/checkout/sessions`` in ``mode=subscription``, and the page where the customer
pays: ``GET /checkout/<id>`` shows it, ``POST /checkout/<id>/pay`` starts the
subscription in localstripe, completes the session, sends ``checkout.session.completed``
and redirects to ``success_url``."""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass
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

TEST_CARD = "4242424242424242"
_SESSION_FILTERS = ("customer", "subscription", "status")


@dataclass
class CheckoutSession:
    public: dict[str, Any]  # what the API returns
    line_items: list[dict[str, Any]]
    subscription_data: dict[str, Any]
    api_key: str


class Checkout:
    # Provided by Standin (server.py), which mixes this class in.
    localstripe: LocalStripe
    _lock: threading.RLock
    sessions: dict[str, CheckoutSession]

    def _session(self, id: str) -> CheckoutSession:
        with self._lock:
            session = self.sessions.get(id)
        if session is None:
            raise no_such("checkout.session", id)
        return session

    def create_session(self, request: Request) -> Response:
        p, key = request.params, request.api_key or ""
        check_params(
            p,
            {
                "mode",
                "line_items",
                "customer",
                "customer_email",
                "success_url",
                "cancel_url",
                "client_reference_id",
                "metadata",
                "subscription_data",
                "expand",
                "locale",
                "allow_promotion_codes",
                "billing_address_collection",
                "payment_method_types",
                "automatic_tax",
                "tax_id_collection",
                "customer_update",
            },
        )
        if p.get("mode") != "subscription":
            raise StripeError(
                400, "The stand-in serves Checkout in mode=subscription only.", param="mode"
            )
        items = p.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeError(400, "Missing required param: line_items.", param="line_items")
        line_items = []
        for i, item in enumerate(items):
            param = f"line_items[{i}][price]"
            price = self._price(item.get("price", ""), param) if isinstance(item, dict) else None
            if price is None:
                raise StripeError(400, f"Missing required param: {param}.", param=param)
            if not price["active"]:
                raise StripeError(
                    400,
                    "The price specified is inactive. This field only accepts active prices.",
                    param=param,
                )
            if price["type"] != "recurring":
                raise StripeError(
                    400,
                    "You must specify at least one recurring price in `subscription` mode.",
                    param=param,
                )
            quantity = as_int(item, "quantity", 1)
            line_items.append(
                {
                    "id": new_id("li_"),
                    "object": "item",
                    "amount_subtotal": price["unit_amount"] * quantity,
                    "amount_total": price["unit_amount"] * quantity,
                    "currency": price["currency"],
                    "description": price["nickname"] or price["lookup_key"] or price["id"],
                    "price": price,
                    "quantity": quantity,
                }
            )
        if p.get("customer") and p.get("customer_email"):
            raise StripeError(
                400, "You may only specify one of these parameters: customer, customer_email."
            )
        if p.get("customer"):
            try:
                self.localstripe.call("GET", f"/v1/customers/{quote(p['customer'])}", api_key=key)
            except StripeError:
                raise no_such("customer", p["customer"], "customer") from None
        subscription_data = p.get("subscription_data") or {}
        check_params(subscription_data, {"trial_period_days", "metadata", "description"})
        trial = as_int(subscription_data, "trial_period_days")
        if trial is not None and trial < 1:
            raise StripeError(400, "Invalid trial_period_days.", param="trial_period_days")
        now = int(time.time())
        session_id = new_id("cs_test_", 58)
        public = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": sum(li["amount_subtotal"] for li in line_items),
            "amount_total": sum(li["amount_total"] for li in line_items),
            "cancel_url": p.get("cancel_url"),
            "client_reference_id": p.get("client_reference_id"),
            "created": now,
            "currency": line_items[0]["currency"],
            "customer": p.get("customer"),
            "customer_details": None,
            "customer_email": p.get("customer_email"),
            "expires_at": now + 24 * 3600,
            "livemode": False,
            "locale": p.get("locale"),
            "metadata": p.get("metadata") or {},
            "mode": "subscription",
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": p.get("success_url"),
            "url": f"{self.url}/checkout/{session_id}",
        }
        session = CheckoutSession(public, line_items, subscription_data | {"trial": trial}, key)
        with self._lock:
            self.sessions[session_id] = session
        return Response.json(self._expand(public, p, key))

    def retrieve_session(self, request: Request) -> Response:
        session = self._session(request.match["id"])
        return Response.json(self._expand(session.public, request.params, request.api_key))

    def list_sessions(self, request: Request) -> Response:
        p = request.params
        check_params(p, {"customer", "subscription", "status", "limit", "starting_after", "expand"})
        with self._lock:
            found = [
                s.public
                for s in reversed(self.sessions.values())
                if all(s.public[f] == p[f] for f in _SESSION_FILTERS if f in p)
            ]
        return Response.json(
            self._expand(paginate(found, p, "/v1/checkout/sessions"), p, request.api_key)
        )

    def _line_items_list(self, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
        items = self._session(session_id).line_items
        return paginate(items, params, f"/v1/checkout/sessions/{session_id}/line_items")

    def session_line_items(self, request: Request) -> Response:
        return Response.json(self._line_items_list(request.match["id"], request.params))

    def expire_session(self, request: Request) -> Response:
        session = self._session(request.match["id"])
        with self._lock:
            if session.public["status"] != "open":
                raise StripeError(
                    400,
                    f'Only Checkout Sessions with a status in ["open"] can be expired. '
                    f'This Checkout Session has a status of "{session.public["status"]}".',
                )
            session.public["status"] = "expired"
        event = self._emit("checkout.session.expired", session.public)
        self._deliver_all(event)
        return Response.json(session.public)

    def checkout_page(self, request: Request) -> Response:
        try:
            s = self._session(request.match["id"])
        except StripeError:
            return Response.page("Checkout session not found", "", 404)
        rows = "".join(
            f"<li>{html.escape(li['description'])} × {li['quantity']}: "
            f"{li['amount_total']} {li['currency']} / {li['price']['recurring']['interval']}</li>"
            for li in s.line_items
        )
        trial = s.subscription_data.get("trial")
        body = f"<ul id='line-items'>{rows}</ul>"
        if trial:
            body += f"<p id='trial'>{trial}-day free trial</p>"
        if s.public["status"] != "open":
            return Response.page(f"Checkout session {s.public['status']}", body)
        body += (
            f"<form method='post' action='/checkout/{s.public['id']}/pay'>"
            f"<label>Card number <input name='card' value='{TEST_CARD}'></label> "
            "<button id='pay' type='submit'>Pay</button></form>"
        )
        if s.public["cancel_url"]:
            body += f"<p><a id='cancel' href='{html.escape(s.public['cancel_url'])}'>Cancel</a></p>"
        return Response.page("Stand-in Checkout", body)

    def checkout_pay(self, request: Request) -> Response:
        """Stand-in only: the customer pays; their subscription starts in localstripe."""
        try:
            s = self._session(request.match["id"])
        except StripeError:
            return Response.page("Checkout session not found", "", 404)
        with self._lock:
            if s.public["status"] != "open":
                return Response.page(f"Checkout session is {s.public['status']}", "", 400)
            s.public["status"] = "paying"  # no second payment meanwhile; never shown
        try:
            subscription = self._start_subscription(s, request.params.get("card") or TEST_CARD)
        except StripeError as exc:
            with self._lock:
                s.public["status"] = "open"
            message = html.escape(exc.error["message"])
            return Response.page("Payment failed", f"<p id='error'>{message}</p>", 402)
        with self._lock:
            s.public.update(
                status="complete",
                customer=subscription["customer"],
                subscription=subscription["id"],
                payment_status="no_payment_required"
                if s.subscription_data.get("trial")
                else "paid",
            )
        self._deliver_all(self._emit("checkout.session.completed", s.public))
        if not s.public["success_url"]:
            return Response.page("Payment complete", "")
        return Response.redirect(
            s.public["success_url"].replace("{CHECKOUT_SESSION_ID}", s.public["id"])
        )

    def _start_subscription(self, s: CheckoutSession, card: str) -> dict[str, Any]:
        call, key = self.localstripe.call, s.api_key
        customer = s.public["customer"]
        if customer is None:
            customer = call(
                "POST", "/v1/customers", {"email": s.public["customer_email"]}, api_key=key
            )["id"]
        pm = call(
            "POST",
            "/v1/payment_methods",
            {
                "type": "card",
                "card": {"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"},
            },
            api_key=key,
        )["id"]
        call("POST", f"/v1/payment_methods/{pm}/attach", {"customer": customer}, api_key=key)
        call(
            "POST",
            f"/v1/customers/{customer}",
            {"invoice_settings": {"default_payment_method": pm}},
            api_key=key,
        )
        first, *more = s.line_items
        trial = s.subscription_data.get("trial")
        subscription = call(
            "POST",
            "/v1/subscriptions",
            {
                "customer": customer,
                "items": [{"plan": first["price"]["id"], "quantity": first["quantity"]}],
                "trial_end": int(time.time()) + trial * 86400 if trial else None,
                "metadata": s.subscription_data.get("metadata"),
            },
            api_key=key,
        )
        if not trial and subscription["status"] != "active":  # with a trial: no invoice yet
            call("DELETE", f"/v1/subscriptions/{subscription['id']}", api_key=key)
            raise StripeError(402, "Your card was declined.", type="card_error")
        for li in more:
            call(
                "POST",
                "/v1/subscription_items",
                {
                    "subscription": subscription["id"],
                    "plan": li["price"]["id"],
                    "quantity": li["quantity"],
                },
                api_key=key,
            )
        return subscription
