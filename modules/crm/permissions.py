"""CRM's permission codes, with what the built-in Member role gets.

Salespeople see their own records (``own``); a custom "Sales manager" role with the
department scope sees their department's; owners and admins see all. The public pool is
open to every member who may claim (``crm.pool``). Codes are ``crm.<resource>.<action>``;
the resource names the data scope (``core.roles``).
"""

from __future__ import annotations

from core.plugins.manifest import Permission

LEAD_READ, LEAD_WRITE = "crm.lead.read", "crm.lead.write"
CUSTOMER_READ, CUSTOMER_WRITE = "crm.customer.read", "crm.customer.write"
POOL_READ, POOL_CLAIM = "crm.pool.read", "crm.pool.claim"
OPPORTUNITY_READ, OPPORTUNITY_WRITE = "crm.opportunity.read", "crm.opportunity.write"
QUOTE_READ, QUOTE_WRITE = "crm.quote.read", "crm.quote.write"
CONTRACT_READ, CONTRACT_WRITE = "crm.contract.read", "crm.contract.write"
PAYMENT_READ, PAYMENT_WRITE = "crm.payment.read", "crm.payment.write"
TICKET_READ, TICKET_WRITE = "crm.ticket.read", "crm.ticket.write"
TARGET_READ, TARGET_MANAGE = "crm.target.read", "crm.target.manage"
REPORT_READ = "crm.report.read"
SETTINGS_MANAGE = "crm.settings.manage"

PERMISSIONS: tuple[Permission, ...] = (
    Permission(LEAD_READ, "See leads", member="own"),
    Permission(LEAD_WRITE, "Create, assign and convert leads", member="own"),
    Permission(CUSTOMER_READ, "See customers and their follow-ups", member="own"),
    Permission(CUSTOMER_WRITE, "Change customers and record follow-ups", member="own"),
    Permission(POOL_READ, "See the public pool of customers", member="all"),
    Permission(POOL_CLAIM, "Claim customers from the public pool", member="all"),
    Permission(OPPORTUNITY_READ, "See opportunities", member="own"),
    Permission(OPPORTUNITY_WRITE, "Create and move opportunities", member="own"),
    Permission(QUOTE_READ, "See quotes", member="own"),
    Permission(QUOTE_WRITE, "Write and send quotes", member="own"),
    Permission(CONTRACT_READ, "See contracts and payment plans", member="own"),
    Permission(CONTRACT_WRITE, "Write contracts and submit them for approval", member="own"),
    Permission(PAYMENT_READ, "See payments received", member="own"),
    Permission(PAYMENT_WRITE, "Record payments received"),
    Permission(TICKET_READ, "See service tickets", member="own"),
    Permission(TICKET_WRITE, "Open and work service tickets", member="own"),
    Permission(TARGET_READ, "See sales targets and attainment", member="own"),
    Permission(TARGET_MANAGE, "Set sales targets"),
    Permission(REPORT_READ, "See CRM reports", member="own"),
    Permission(SETTINGS_MANAGE, "Set up pipelines, sales teams, assignment and pool rules"),
)
