"""pytest fixtures for the Stripe stand-in (registered in tests/conftest.py).

- ``stripe_standin_server`` (session): starts localstripe and the stand-in once per run.
- ``stripe_standin`` (function): the same, wiped before the test: use this one.
- ``webhook_receiver`` (function): a loopback server that records the webhooks it gets.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
import stripe

from .process import LocalStripeError, LocalStripeProcess
from .server import Standin
from .webhooks import Delivery, WebhookReceiver

TEST_KEY = "sk_test_atrium_standin"


class StripeHarness:
    """localstripe behind the stand-in; the SDK's single API base is ``api_base``."""

    def __init__(self, localstripe: LocalStripeProcess, standin: Standin) -> None:
        self.localstripe = localstripe
        self.standin = standin

    @property
    def api_base(self) -> str:
        return self.standin.url

    @property
    def localstripe_url(self) -> str:
        return self.localstripe.url

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook the stand-in sent since the last reset, with the answer it got."""
        return list(self.standin.deliveries)

    @property
    def idempotency_log(self) -> list[tuple[str, str, bool]]:
        """``(path, Idempotency-Key, replayed)`` of every keyed POST since the last reset."""
        return list(self.standin.idempotency_log)

    def client(self, key: str = TEST_KEY) -> stripe.StripeClient:
        # No retries: a failing call should fail the test at once, not three times.
        return stripe.StripeClient(
            key, base_addresses={"api": self.api_base}, max_network_retries=0
        )

    def register_webhook(self, url: str, secret: str, events: list[str] | None = None) -> None:
        """Send localstripe's events and the stand-in's to ``url``, signed with ``secret``."""
        self.standin.register_webhook(url, secret, events)

    def reset(self) -> None:
        """Wipe localstripe (``DELETE /_config/data``) and the stand-in's own state."""
        self.standin.reset()

    def pay(self, session_id: str, card: str | None = None) -> str:
        """Complete a Checkout Session as the customer would; returns where it redirects
        (its success_url, or "" for a session without one)."""
        status, location, body = self.post_page(f"/checkout/{session_id}/pay", card=card)
        if status not in (200, 303):
            raise AssertionError(f"checkout pay answered {status}: {body[:500]}")
        return location

    def post_page(self, path: str, **form: str | None) -> tuple[int, str, str]:
        """POST a form to a stand-in page without following redirects."""
        body = urlencode({k: v for k, v in form.items() if v is not None})
        conn = http.client.HTTPConnection("127.0.0.1", urlsplit(self.api_base).port, timeout=30)
        try:
            conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
            response = conn.getresponse()
            return response.status, response.getheader("Location", ""), response.read().decode()
        finally:
            conn.close()


@pytest.fixture(scope="session")
def stripe_standin_server() -> Iterator[StripeHarness]:
    """Starts once per run; fails (never skips) if localstripe cannot start."""
    localstripe = LocalStripeProcess()
    failure = None
    try:
        localstripe.start()
    except LocalStripeError as exc:
        failure = f"Stripe stand-in: {exc}"
        localstripe.stop()
    if failure:
        pytest.fail(failure, pytrace=False)
    standin = Standin(localstripe.url)
    try:
        standin.start()
    except Exception as exc:
        localstripe.stop()
        pytest.fail(f"Stripe stand-in could not start in front of localstripe: {exc}")
    yield StripeHarness(localstripe, standin)
    standin.stop()
    localstripe.stop()


@pytest.fixture
def stripe_standin(stripe_standin_server: StripeHarness) -> StripeHarness:
    """The stand-in, wiped before the test (data, sessions, webhook endpoints)."""
    stripe_standin_server.reset()
    return stripe_standin_server


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
