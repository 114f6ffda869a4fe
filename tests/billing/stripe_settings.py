"""Settings that point the product's Stripe provider at the stand-in, or at nothing."""

from __future__ import annotations

import dataclasses
import socket

from core.settings import Settings, StripeSettings

KEY = "sk_test_atrium_catalogue"


def with_stripe(settings: Settings, api_base: str) -> Settings:
    return dataclasses.replace(settings, stripe=StripeSettings(secret_key=KEY, api_base=api_base))


def dead_address() -> str:
    """A loopback address nothing listens on: Stripe "unreachable"."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
