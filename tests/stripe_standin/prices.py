"""``/v1/prices``: create, retrieve, update, list. A recurring price gets a localstripe
plan with the same id, since localstripe's subscription items take the legacy ``plan``."""

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
    as_bool,
    as_int,
    check_params,
    new_id,
    no_such,
    paginate,
)


class Prices:
    # Provided by Standin (server.py), which mixes this class in.
    localstripe: LocalStripe
    _lock: threading.RLock
    prices: dict[str, dict[str, Any]]

    def _price(self, id: str, param: str | None = None) -> dict[str, Any]:
        with self._lock:
            price = self.prices.get(id)
        if price is None:
            raise no_such("price", id, param)
        return price

    def create_price(self, request: Request) -> Response:
        p = request.params
        check_params(
            p,
            {
                "currency",
                "product",
                "product_data",
                "unit_amount",
                "recurring",
                "lookup_key",
                "transfer_lookup_key",
                "metadata",
                "nickname",
                "active",
                "tax_behavior",
                "expand",
            },
        )
        currency = p.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeError(400, "Missing required param: currency.", param="currency")
        unit_amount = as_int(p, "unit_amount")
        if unit_amount is None or unit_amount < 0:
            raise StripeError(400, "Missing required param: unit_amount.", param="unit_amount")
        recurring = p.get("recurring")
        if recurring is not None:
            if not isinstance(recurring, dict) or recurring.get("interval") not in (
                "day",
                "week",
                "month",
                "year",
            ):
                raise StripeError(400, "Invalid recurring[interval].", param="recurring[interval]")
            recurring = {
                "interval": recurring["interval"],
                "interval_count": as_int(recurring, "interval_count", 1),
                "trial_period_days": None,
                "usage_type": "licensed",
                "meter": None,
                "aggregate_usage": None,
            }
        product = p.get("product")
        key = request.api_key or ""
        if product is None:
            data = p.get("product_data")
            if not isinstance(data, dict) or not data.get("name"):
                raise StripeError(
                    400,
                    "You must specify either `product` or `product_data` when creating a price.",
                )
            product = self.localstripe.call("POST", "/v1/products", data, api_key=key)["id"]
        else:
            try:
                self.localstripe.call("GET", f"/v1/products/{quote(product)}", api_key=key)
            except StripeError:
                raise no_such("product", product, "product") from None
        transfer = as_bool(p, "transfer_lookup_key", False)
        lookup_key = p.get("lookup_key") or None
        price = {
            "id": new_id("price_"),
            "object": "price",
            "active": as_bool(p, "active", True),
            "billing_scheme": "per_unit",
            "created": int(time.time()),
            "currency": currency,
            "custom_unit_amount": None,
            "livemode": False,
            "lookup_key": lookup_key,
            "metadata": p.get("metadata") or {},
            "nickname": p.get("nickname"),
            "product": product,
            "recurring": recurring,
            "tax_behavior": p.get("tax_behavior", "unspecified"),
            "tiers_mode": None,
            "transform_quantity": None,
            "type": "recurring" if recurring else "one_time",
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
        }
        with self._lock:
            self._claim_lookup_key(lookup_key, transfer)
            if recurring:  # the mirror plan: same id, so subscriptions in localstripe name it
                plan = {
                    "id": price["id"],
                    "amount": unit_amount,
                    "currency": currency,
                    "interval": recurring["interval"],
                    "interval_count": recurring["interval_count"],
                    "product": product,
                    "nickname": price["nickname"],
                }
                self.localstripe.call("POST", "/v1/plans", plan, api_key=key)
            self.prices[price["id"]] = price
        return Response.json(self._expand(price, p, key))

    def _claim_lookup_key(self, lookup_key: str | None, transfer: bool) -> None:
        if lookup_key is None:
            return
        for other in self.prices.values():
            if other["lookup_key"] == lookup_key:
                if not transfer:
                    raise StripeError(
                        400,
                        f"A price (`{other['id']}`) already uses that lookup key.",
                        param="lookup_key",
                    )
                other["lookup_key"] = None

    def retrieve_price(self, request: Request) -> Response:
        return Response.json(
            self._expand(self._price(request.match["id"]), request.params, request.api_key)
        )

    def update_price(self, request: Request) -> Response:
        p = request.params
        check_params(
            p, {"active", "lookup_key", "transfer_lookup_key", "metadata", "nickname", "expand"}
        )
        with self._lock:
            price = self._price(request.match["id"])
            if "lookup_key" in p:
                new_key = p["lookup_key"] or None
                if new_key != price["lookup_key"]:
                    self._claim_lookup_key(new_key, as_bool(p, "transfer_lookup_key", False))
                    price["lookup_key"] = new_key
            if "active" in p:
                price["active"] = as_bool(p, "active")
            if "nickname" in p:
                price["nickname"] = p["nickname"] or None
            for name, value in (p.get("metadata") or {}).items():
                if value == "":
                    price["metadata"].pop(name, None)
                else:
                    price["metadata"][name] = value
        return Response.json(self._expand(price, p, request.api_key))

    def list_prices(self, request: Request) -> Response:
        p = request.params
        check_params(
            p,
            {
                "active",
                "product",
                "lookup_keys",
                "type",
                "currency",
                "limit",
                "starting_after",
                "expand",
            },
        )
        active = as_bool(p, "active")
        lookup_keys = p.get("lookup_keys")
        if isinstance(lookup_keys, str):
            lookup_keys = [lookup_keys]
        with self._lock:
            found = [
                price
                for price in reversed(self.prices.values())
                if (active is None or price["active"] == active)
                and p.get("product", price["product"]) == price["product"]
                and p.get("type", price["type"]) == price["type"]
                and p.get("currency", price["currency"]) == price["currency"]
                and (lookup_keys is None or price["lookup_key"] in lookup_keys)
            ]
        return Response.json(self._expand(paginate(found, p, "/v1/prices"), p, request.api_key))


def price_from_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """A price made up from a plan the stand-in did not create (e.g. a plan made directly)."""
    return {
        "id": plan["id"],
        "object": "price",
        "active": plan.get("active", True),
        "currency": plan.get("currency"),
        "lookup_key": None,
        "metadata": plan.get("metadata") or {},
        "nickname": plan.get("nickname"),
        "product": plan.get("product"),
        "recurring": {
            "interval": plan.get("interval"),
            "interval_count": plan.get("interval_count", 1),
        },
        "type": "recurring",
        "unit_amount": plan.get("amount"),
    }
