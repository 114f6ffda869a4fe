"""The stand-in: Stripe's API on one loopback address, in front of localstripe.

It serves itself what localstripe lacks (Prices, Checkout Sessions, billing portal
sessions, plus the pages a customer would see at Stripe) and forwards every other
request to localstripe unchanged. See README.md beside this file.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from . import forms
from .checkout import Checkout, CheckoutSession
from .common import (
    Handler,
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
from .invoices import Invoices, invoice_links
from .payments import Payments
from .portal import Portal
from .prices import Prices, price_from_plan
from .webhooks import Delivery, Endpoint, deliver, verify

_EXPANDABLE = {
    "product": "/v1/products/",
    "customer": "/v1/customers/",
    "subscription": "/v1/subscriptions/",
}
_HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}


class Standin(Prices, Checkout, Portal, Invoices, Payments):
    """The stand-in server; ``start()`` runs it in a thread on loopback."""

    RELAY_ID = "atrium-standin"  # localstripe webhook that points back here

    def __init__(self, localstripe_url: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.localstripe = LocalStripe(localstripe_url)
        self._relay_secret = "whsec_" + secrets.token_hex(16)
        self._lock = threading.RLock()
        self.endpoints: dict[str, Endpoint] = {}
        self.deliveries: list[Delivery] = []
        self._clear()
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        for method, pattern, handler, needs_key in self._route_table():
            self._routes.append((method, re.compile(f"^{pattern}$"), handler, needs_key))
        self._server = ThreadingHTTPServer((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def _route_table(self) -> list[tuple[str, str, Handler, bool]]:
        sid = r"(?P<id>[^/]+)"
        return [
            ("POST", "/v1/prices", self.create_price, True),
            ("GET", "/v1/prices", self.list_prices, True),
            ("GET", f"/v1/prices/{sid}", self.retrieve_price, True),
            ("POST", f"/v1/prices/{sid}", self.update_price, True),
            ("POST", "/v1/checkout/sessions", self.create_session, True),
            ("GET", "/v1/checkout/sessions", self.list_sessions, True),
            ("GET", f"/v1/checkout/sessions/{sid}", self.retrieve_session, True),
            ("GET", f"/v1/checkout/sessions/{sid}/line_items", self.session_line_items, True),
            ("POST", f"/v1/checkout/sessions/{sid}/expire", self.expire_session, True),
            ("POST", "/v1/billing_portal/sessions", self.create_portal_session, True),
            ("GET", "/v1/subscription_items", self.list_subscription_items, True),
            ("DELETE", f"/v1/subscription_items/{sid}", self.delete_subscription_item, True),
            ("POST", f"/v1/subscription_items/{sid}", self.update_subscription_item, True),
            ("GET", r"/invoices/(?P<id>[^/]+)\.pdf", self.invoice_pdf, False),
            ("GET", f"/invoices/{sid}", self.invoice_page, False),
            ("GET", f"/checkout/{sid}", self.checkout_page, False),
            ("POST", f"/checkout/{sid}/pay", self.checkout_pay, False),
            ("GET", f"/billing_portal/{sid}", self.portal_page, False),
            ("POST", f"/billing_portal/{sid}/cancel/(?P<sub>[^/]+)", self.portal_cancel, False),
            ("POST", f"/_config/webhooks/{sid}", self.config_webhook, False),
            ("DELETE", "/_config/data", self.config_reset, False),
            ("POST", "/_standin/localstripe-events", self.relay, False),
            ("GET", "/v1/invoice_payments", self.list_invoice_payments, True),
            ("GET", f"/v1/invoice_payments/{sid}", self.retrieve_invoice_payment, True),
            (
                "POST",
                f"/v1/customers/{sid}/balance_transactions",
                self.create_balance_transaction,
                True,
            ),
            (
                "GET",
                f"/v1/customers/{sid}/balance_transactions",
                self.list_balance_transactions,
                True,
            ),
            (
                "GET",
                f"/v1/customers/{sid}/balance_transactions/(?P<txn>[^/]+)",
                self.retrieve_balance_transaction,
                True,
            ),
        ]

    # -- life cycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._register_relay()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _register_relay(self) -> None:
        """localstripe sends its events here; ``relay`` passes them on to the endpoints."""
        self.localstripe.call(
            "POST",
            f"/_config/webhooks/{self.RELAY_ID}",
            {"url": f"{self.url}/_standin/localstripe-events", "secret": self._relay_secret},
            api_key="sk_test_standin",
        )

    def _clear(self) -> None:
        with self._lock:
            self.prices: dict[str, dict[str, Any]] = {}
            self.sessions: dict[str, CheckoutSession] = {}
            self.portal_sessions: dict[str, dict[str, Any]] = {}
            # subscription id → {item id: item}: the items added after the first one
            self.extra_items: dict[str, dict[str, dict[str, Any]]] = {}
            # items deleted with DELETE /v1/subscription_items/<id>: left out of every answer
            self.deleted_items: set[str] = set()
            # (path, Idempotency-Key, replayed?) of every POST that carried a key, in order
            self.idempotency_log: list[tuple[str, str, bool]] = []
            self._idempotent: dict[tuple[str, str], tuple[str, Response | None]] = {}
            # customer id → its balance transactions (payments.py), oldest first
            self.balance_transactions: dict[str, list[dict[str, Any]]] = {}
            self.endpoints.clear()
            self.deliveries.clear()

    def reset(self) -> None:
        """Wipe localstripe's data and the stand-in's own (prices, sessions, endpoints)."""
        self.localstripe.send("DELETE", "/_config/data", None, {})
        self._clear()

    def register_webhook(
        self, url: str, secret: str, events: list[str] | None = None, id: str = "default"
    ) -> None:
        """Send every event, the stand-in's and localstripe's, to ``url`` signed with ``secret``."""
        with self._lock:
            self.endpoints[id] = Endpoint(url, secret, events)

    # -- dispatch -----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            for method, pattern, handler, needs_key in self._routes:
                m = pattern.match(request.path)
                if m and method == request.method:
                    if needs_key and request.api_key is None:
                        raise StripeError(
                            401,
                            "You did not provide an API key. You need to provide your API key "
                            "in the Authorization header, using Bearer auth.",
                        )
                    request.match = m.groupdict()
                    if request.method == "POST" and request.path.startswith("/v1/"):
                        return self._idempotently(request, handler)
                    return handler(request)
            if request.method == "POST" and request.path.startswith("/v1/"):
                return self._idempotently(request, self.forward)
            return self.forward(request)
        except StripeError as exc:
            return Response.json({"error": exc.error}, exc.status)

    def _idempotently(self, request: Request, handler: Handler) -> Response:
        """Same ``Idempotency-Key`` (and API key) → the first response again, replayed."""
        key = request.headers.get("idempotency-key")
        if not key:
            return handler(request)
        slot = (request.api_key or "", key)
        fingerprint = hashlib.sha256(request.path.encode() + b"?" + request.body).hexdigest()
        with self._lock:
            seen = self._idempotent.get(slot)
            if seen is None:
                self._idempotent[slot] = (fingerprint, None)  # in flight
            self.idempotency_log.append((request.path, key, seen is not None))
        if seen is not None:
            first_fingerprint, response = seen
            if first_fingerprint != fingerprint:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type="idempotency_error",
                )
            if response is None:
                raise StripeError(
                    409,
                    "There is currently another in-progress request using this Stripe API key "
                    "and idempotency key. Please try again later.",
                    type="idempotency_error",
                )
            return Response(
                response.status, response.body, {**response.headers, "Idempotent-Replayed": "true"}
            )
        try:
            response = handler(request)
        except BaseException:
            with self._lock:
                del self._idempotent[slot]
            raise
        with self._lock:
            if 200 <= response.status < 300:
                self._idempotent[slot] = (fingerprint, response)
            else:  # like Stripe for rejected parameters: nothing saved
                del self._idempotent[slot]
        return response

    # -- forwarding to localstripe --------------------------------------------------------

    _LEGACY_PLAN_PATHS = re.compile(r"^/v1/(subscriptions|subscription_items)(/[^/]+)?$")

    def forward(self, request: Request) -> Response:
        body = self._for_localstripe(request) if request.method == "POST" else request.body
        target = f"{request.path}?{request.query}" if request.query else request.path
        headers = {k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP}
        try:
            status, out_headers, raw = self.localstripe.send(
                request.method, target, body or None, headers
            )
        except OSError as exc:
            raise StripeError(502, f"localstripe is unreachable: {exc}", type="api_error") from exc
        kept = {k: v for k, v in out_headers.items() if k.lower() not in _HOP_BY_HOP}
        if not out_headers.get("Content-Type", "").startswith("application/json"):
            if status == 404:
                raise StripeError(
                    404,
                    f"Unrecognized request URL ({request.method}: {request.path}). "
                    "Neither the stand-in nor localstripe serves it.",
                )
            return Response(status, raw, kept)
        data = json.loads(raw)
        if status == 200 and data.get("object") == "subscription_item":
            self._track_item(request, data)
        return Response(status, json.dumps(self._fix_up(data)).encode(), kept)

    def _track_item(self, request: Request, item: dict[str, Any]) -> None:
        """localstripe stores a created item but leaves it out of its subscription's
        ``items`` (and the item without its ``subscription``): the stand-in remembers
        it and puts it back (see ``_fix_up``)."""
        if request.method != "POST":
            return  # read, not changed: the item stays where it is
        with self._lock:
            owner = request.params.get("subscription")
            for sub_id, extras in self.extra_items.items():
                if extras.pop(item["id"], None) is not None and request.method == "POST":
                    owner = sub_id  # an update of an item it already tracks
            if owner and request.method == "POST":
                item["subscription"] = owner
                self.extra_items.setdefault(owner, {})[item["id"]] = item

    def delete_subscription_item(self, request: Request) -> Response:
        """Stripe's ``DELETE /v1/subscription_items/<id>``: the item leaves its subscription.
        localstripe deletes the object but keeps it in its subscription's own list (and
        knows nothing of the extras), so the stand-in drops it from every answer. Like
        Stripe, it refuses to delete a subscription's last item (cancel it instead)."""
        item_id, key = request.match["id"], request.api_key or ""
        check_params(request.params, {"proration_behavior", "proration_date", "clear_usage"})
        path = f"/v1/subscription_items/{quote(item_id)}"
        if item_id in self.deleted_items:
            raise no_such("subscription_item", item_id)
        try:
            self.localstripe.call("GET", path, api_key=key)
        except StripeError:
            raise no_such("subscription_item", item_id) from None
        with self._lock:
            owner = next((s for s, extras in self.extra_items.items() if item_id in extras), None)
        if owner is None:  # the first item: localstripe's own list holds it
            listed = self.localstripe.call(
                "GET", "/v1/subscriptions", {"status": "all", "limit": 100}, api_key=key
            )["data"]
            owner = next(
                (s["id"] for s in listed if item_id in {i["id"] for i in s["items"]["data"]}),
                None,
            )
        if owner is not None:
            sub = self.localstripe.call("GET", f"/v1/subscriptions/{quote(owner)}", api_key=key)
            if len(self._fix_up(sub)["items"]["data"]) <= 1:
                raise StripeError(
                    400,
                    "A subscription must have at least one active plan. To cancel a "
                    "subscription, please use the cancel API endpoint on /v1/subscriptions.",
                )
        self.localstripe.call("DELETE", path, api_key=key)
        with self._lock:
            self.deleted_items.add(item_id)
            for extras in self.extra_items.values():
                extras.pop(item_id, None)
        return Response.json({"id": item_id, "object": "subscription_item", "deleted": True})

    def list_subscription_items(self, request: Request) -> Response:
        p = request.params
        check_params(p, {"subscription", "limit", "starting_after", "expand"})
        if not p.get("subscription"):
            raise StripeError(400, "Missing required param: subscription.", param="subscription")
        sub = self.localstripe.call(
            "GET", f"/v1/subscriptions/{quote(p['subscription'])}", api_key=request.api_key or ""
        )
        items = self._fix_up(sub)["items"]["data"]
        url = f"/v1/subscription_items?subscription={sub['id']}"
        return Response.json(self._expand(paginate(items, p, url), p, request.api_key))

    #: Stripe's ways to bill a quantity change; the stand-in accepts them and makes no
    #: proration items (localstripe has none).
    _PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")

    def update_subscription_item(self, request: Request) -> Response:
        """``POST /v1/subscription_items/<id>``: ``quantity`` (an integer, 0 or more),
        ``metadata``, ``proration_behavior``. localstripe's generic update would store the
        form's ``quantity`` as a string and refuse ``proration_behavior``: checked here and
        sent on as JSON, so the item, its subscription's ``items`` and
        ``GET /v1/subscription_items`` hold the integer."""
        p, key = request.params, request.api_key or ""
        check_params(p, {"quantity", "metadata", "proration_behavior", "expand"})
        change: dict[str, Any] = {}
        if "quantity" in p:
            quantity = as_int(p, "quantity")
            if quantity is None or quantity < 0:
                raise StripeError(400, "Invalid non-negative integer", param="quantity")
            change["quantity"] = quantity
        if "metadata" in p:
            if not isinstance(p["metadata"], dict):
                raise StripeError(400, "Invalid object", param="metadata")
            change["metadata"] = p["metadata"]
        behavior = p.get("proration_behavior")
        if behavior is not None and behavior not in self._PRORATION_BEHAVIORS:
            raise StripeError(
                400,
                "Invalid proration_behavior: must be one of "
                + ", ".join(self._PRORATION_BEHAVIORS),
                param="proration_behavior",
            )
        path = f"/v1/subscription_items/{quote(request.match['id'])}"
        try:
            item = self.localstripe.call("POST", path, change, api_key=key, as_json=True)
        except StripeError as error:
            if error.status == 404:
                raise no_such("subscription_item", request.match["id"]) from None
            raise
        self._track_item(request, item)
        return Response.json(self._expand(self._fix_up(item), p, key))

    def _for_localstripe(self, request: Request) -> bytes:
        """localstripe's items take the legacy ``plan`` (a plan's id is its price's id), and
        it keeps no trial from ``trial_period_days``: send ``trial_end`` instead."""
        m = self._LEGACY_PLAN_PATHS.match(request.path)
        if not m or "json" in request.headers.get("content-type", ""):
            return request.body
        params = request.params
        if m.group(1) == "subscription_items":
            targets = [params]
        else:
            items = params.get("items")
            targets = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
        changed = False
        days = params.get("trial_period_days") if m.group(1) == "subscriptions" else None
        if days and "trial_end" not in params:
            params["trial_end"] = int(time.time()) + int(days) * 86400
            del params["trial_period_days"]
            changed = True
        for item in targets:
            if "price" in item and "plan" not in item:
                item["plan"] = item.pop("price")
                changed = True
        # localstripe does not prorate, and refuses the parameter on items and on an update
        # of a subscription (it knows it only when creating one): Stripe's answer is the
        # same object either way.
        if (m.group(1) == "subscription_items" or m.group(2)) and "proration_behavior" in params:
            del params["proration_behavior"]
            changed = True
        return forms.encode(params).encode() if changed else request.body

    def _fix_up(self, obj: Any) -> Any:
        """Answer as Stripe does where localstripe lags: subscription items get their
        ``price``; a subscription in its trial (localstripe leaves it "incomplete",
        without an invoice) is "trialing"."""
        if isinstance(obj, list):
            return [self._fix_up(x) for x in obj]
        if not isinstance(obj, dict):
            return obj
        obj = {k: self._fix_up(v) for k, v in obj.items()}
        plan = obj.get("plan")
        if obj.get("object") == "subscription_item" and isinstance(plan, dict):
            obj.setdefault("price", self.prices.get(plan.get("id")) or price_from_plan(plan))
        extras = (
            self.extra_items.get(obj.get("id", "")) if obj.get("object") == "subscription" else None
        )
        if extras and isinstance(obj.get("items"), dict):
            known = {i.get("id") for i in obj["items"].get("data", [])}
            added = [self._fix_up(i) for i in extras.values() if i["id"] not in known]
            obj["items"]["data"] = obj["items"].get("data", []) + added
            obj["items"]["total_count"] = len(obj["items"]["data"])
        if obj.get("object") == "subscription" and isinstance(obj.get("items"), dict):
            data = obj["items"].get("data", [])
            if any(i.get("id") in self.deleted_items for i in data):
                obj["items"]["data"] = [i for i in data if i.get("id") not in self.deleted_items]
                obj["items"]["total_count"] = len(obj["items"]["data"])
        if obj.get("object") == "invoice":
            invoice_links(obj, self.url)
        if (
            obj.get("object") == "subscription"
            and obj.get("status") == "incomplete"
            and (obj.get("trial_end") or 0) > time.time()
            and not obj.get("latest_invoice")
        ):
            obj["status"] = "trialing"
            obj["trial_start"] = obj.get("trial_start") or obj.get("start_date")
        return obj

    # -- expansion --------------------------------------------------------------------

    def _expand(self, obj: dict[str, Any], params: dict[str, Any], key: str | None) -> Any:
        """A copy of ``obj`` with ``expand[]`` paths replaced by the objects they name."""
        obj = json.loads(json.dumps(obj))
        for path in params.get("expand") or []:
            targets, name = [obj], path
            if obj.get("object") == "list" and path.startswith("data."):
                targets, name = obj["data"], path[5:]
            for target in targets:
                if name == "line_items" and target.get("object") == "checkout.session":
                    target["line_items"] = self._line_items_list(target["id"], {})
                elif name in _EXPANDABLE and name in target:
                    if isinstance(target[name], str):
                        target[name] = self.localstripe.call(
                            "GET", _EXPANDABLE[name] + quote(target[name]), api_key=key or ""
                        )
                else:
                    raise StripeError(400, f"This property cannot be expanded ({path}).")
        return obj

    # -- webhooks -------------------------------------------------------------------------

    def config_webhook(self, request: Request) -> Response:
        """``POST /_config/webhooks/<id>`` with url, secret[, events[]]: localstripe's own API."""
        p = request.params
        url, secret, events = p.get("url", ""), p.get("secret"), p.get("events")
        if not url.startswith("http") or not secret or not isinstance(events, list | None):
            raise StripeError(400, "Bad request: url, secret and optional events[] expected.")
        self.register_webhook(url, secret, events, id=request.match["id"])
        return Response(200)

    def config_reset(self, request: Request) -> Response:
        self.reset()
        return Response(200)

    def _emit(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {
                "id": new_id("evt_"),
                "object": "event",
                "api_version": None,
                "created": int(time.time()),
                "data": {"object": json.loads(json.dumps(obj))},
                "livemode": False,
                "pending_webhooks": len(self.endpoints),
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            }

    def _deliver_all(self, event: dict[str, Any]) -> None:
        """Synchronously, before the caller answers: tests see the webhook when pay returns."""
        with self._lock:
            endpoints = [e for e in self.endpoints.values() if e.wants(event["type"])]
        for endpoint in endpoints:
            delivery = deliver(endpoint, event)
            with self._lock:
                self.deliveries.append(delivery)

    def relay(self, request: Request) -> Response:
        """localstripe's events arrive here (signed with the relay secret) and go on."""
        signature = request.headers.get("stripe-signature", "")
        if not verify(request.body, signature, self._relay_secret):
            raise StripeError(400, "Bad relay signature")
        event = json.loads(request.body)
        try:  # an event from before the last reset is gone from localstripe: drop it
            self.localstripe.call("GET", f"/v1/events/{event['id']}", api_key="sk_test_standin")
        except StripeError:
            return Response(200)
        self._deliver_all(self._fix_up(event))
        return Response(200)


def _make_handler(standin: Standin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                method=self.command,
                path=path,
                query=query,
                body=self.rfile.read(length),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            response = standin.handle(request)
            self.send_response(response.status)
            headers = {"Request-Id": new_id("req_", 14), **response.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
