"""A Stripe stand-in for tests: localstripe behind a small server that adds what it lacks.

See README.md beside this file. Use it through the pytest fixtures in
``tests.stripe_standin.fixtures`` (``stripe_standin``, ``webhook_receiver``).
"""

from .process import LocalStripeError, LocalStripeProcess
from .server import Standin, StripeError
from .webhooks import Received, WebhookReceiver, sign, verify

__all__ = [
    "LocalStripeError",
    "LocalStripeProcess",
    "Received",
    "Standin",
    "StripeError",
    "WebhookReceiver",
    "sign",
    "verify",
]
