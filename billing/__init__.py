"""Billing: plans and prices, the Stripe and manual providers, webhooks, dunning.

Built by the billing issue. Until then module enablement is granted without
payment (``source="development"`` in ``core_tenant_module``) and Stripe
settings are read but unused (``core.settings.StripeSettings``).
"""
