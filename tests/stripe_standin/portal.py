"""``/v1/billing_portal/sessions`` and the portal page: the customer's subscriptions,
each with a Cancel button (cancels now in localstripe), and a link back."""

from __future__ import annotations

import html
import threading
import time
from typing import Any
from urllib.parse import quote

from .common import LocalStripe, Request, Response, StripeError, check_params, new_id, no_such


class Portal:
    # Provided by Standin (server.py), which mixes this class in.
    localstripe: LocalStripe
    _lock: threading.RLock
    portal_sessions: dict[str, dict[str, Any]]

    def create_portal_session(self, request: Request) -> Response:
        p, key = request.params, request.api_key or ""
        check_params(p, {"customer", "return_url", "configuration", "locale", "expand"})
        if not p.get("customer"):
            raise StripeError(400, "Missing required param: customer.", param="customer")
        try:
            self.localstripe.call("GET", f"/v1/customers/{quote(p['customer'])}", api_key=key)
        except StripeError:
            raise no_such("customer", p["customer"], "customer") from None
        session_id = new_id("bps_")
        portal = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": p.get("configuration") or "bpc_standin_default",
            "created": int(time.time()),
            "customer": p["customer"],
            "flow": None,
            "livemode": False,
            "locale": p.get("locale"),
            "on_behalf_of": None,
            "return_url": p.get("return_url"),
            "url": f"{self.url}/billing_portal/{session_id}",
        }
        with self._lock:
            self.portal_sessions[session_id] = portal | {"_api_key": key}
        return Response.json(portal)

    def portal_page(self, request: Request) -> Response:
        portal = self.portal_sessions.get(request.match["id"])
        if portal is None:
            return Response.page("Portal session not found", "", 404)
        subs = self.localstripe.call(
            "GET",
            "/v1/subscriptions",
            {"customer": portal["customer"]},
            api_key=portal["_api_key"],
        )["data"]
        rows = "".join(
            f"<li id='{sub['id']}'>{sub['id']} ({html.escape(sub['status'])}): "
            + ", ".join(html.escape(i["plan"]["id"]) for i in sub["items"]["data"])
            + f"<form method='post' action='/billing_portal/{portal['id']}/cancel/{sub['id']}'>"
            "<button type='submit'>Cancel subscription</button></form></li>"
            for sub in subs
        )
        body = f"<p>Customer {html.escape(portal['customer'])}</p>"
        body += f"<ul id='subscriptions'>{rows}</ul>"
        if portal["return_url"]:
            body += f"<p><a id='return' href='{html.escape(portal['return_url'])}'>Return</a></p>"
        return Response.page("Stand-in billing portal", body)

    def portal_cancel(self, request: Request) -> Response:
        """Stand-in only: cancel now (localstripe then sends customer.subscription.deleted)."""
        portal = self.portal_sessions.get(request.match["id"])
        if portal is None:
            return Response.page("Portal session not found", "", 404)
        key, sub_id = portal["_api_key"], request.match["sub"]
        sub = self.localstripe.call("GET", f"/v1/subscriptions/{quote(sub_id)}", api_key=key)
        if sub["customer"] != portal["customer"]:
            return Response.page("Not your subscription", "", 404)
        self.localstripe.call("DELETE", f"/v1/subscriptions/{quote(sub_id)}", api_key=key)
        return Response.redirect(f"/billing_portal/{portal['id']}")
