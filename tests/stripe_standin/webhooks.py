"""Webhooks signed the way Stripe signs them, and a tiny receiver for tests.

Stripe sends ``Stripe-Signature: t=<unix time>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 of ``"<t>.<raw body>"`` keyed with the endpoint's secret;
``stripe.Webhook.construct_event(body, header, secret)`` checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), b"%d.%s" % (t, payload), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(payload: bytes, header: str, secret: str) -> bool:
    """True if ``header`` carries a v1 signature of ``payload`` with ``secret``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts:
        return False
    expected = sign(payload, secret, int(parts["t"])).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts["v1"])


@dataclass
class Endpoint:
    url: str
    secret: str
    events: list[str] | None = None  # None: every event type

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events


@dataclass
class Delivery:
    url: str
    event_id: str
    event_type: str
    status: int | None  # None: the endpoint could not be reached
    error: str | None = None


def deliver(endpoint: Endpoint, event: dict[str, Any], timeout: float = 10.0) -> Delivery:
    """POST one signed event to one endpoint, once (Stripe would retry; this does not)."""
    payload = json.dumps(event, indent=2).encode()
    request = urllib.request.Request(
        endpoint.url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, endpoint.secret),
        },
    )
    result = Delivery(endpoint.url, event["id"], event["type"], None)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            result.status = response.status
    except urllib.error.HTTPError as exc:
        result.status, result.error = exc.code, exc.reason
    except OSError as exc:
        result.error = str(exc)
    return result


@dataclass
class Received:
    """One request the receiver got, exactly as sent (verify it yourself)."""

    payload: bytes
    headers: dict[str, str]

    @property
    def signature(self) -> str:
        return self.headers.get("Stripe-Signature", "")

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.payload)


@dataclass
class WebhookReceiver:
    """A loopback HTTP server that records every POST, for a test to wait on.

    ``status`` is what it answers (set it to 500 to play a failing endpoint).
    """

    status: int = 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(self.rfile.read(length), dict(self.headers.items()))
                with receiver._cond:
                    receiver.received.append(item)
                    receiver._cond.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/webhooks/stripe"

    def events_of(self, event_type: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.event.get("type") == event_type]

    def wait_for(self, event_type: str, timeout: float = 10.0) -> Received:
        """The first received event of that type; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [r for r in self.received if r.event.get("type") == event_type]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [r.event.get("type") for r in self.received]
                    raise AssertionError(f"no {event_type!r} webhook within {timeout}s; got {seen}")
                self._cond.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
