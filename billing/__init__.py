"""Billing: each workspace pays for its modules through Stripe (or the manual provider).

The catalogue, the providers, subscriptions and their items, trials, webhooks, dunning,
reconciliation and the operator console's billing pages; module access is derived from
subscription state in one place, :mod:`billing.entitlements`. The map is
``docs/billing.md``.
"""
