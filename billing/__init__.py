"""Billing: plans and prices, the Stripe and manual providers, webhooks, dunning.

Built by the billing issue. So far: the price catalogue (:mod:`billing.catalogue`) and
the provider settings choose (:mod:`billing.provider`: Stripe or manual). Module
enablement is still granted without payment (``source="development"`` in
``core_tenant_module``).
"""
