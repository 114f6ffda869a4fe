"""CRM's tables, one file per area (the same areas as ``services/``, ``api/``, ``views/``).

Customers are core parties (``core_party``): CRM adds a profile (``crm_customer``) and
owns nothing else about them, so ERP and Finance point at the same row. A customer's
owner is the party's owner: one salesperson per customer across the product.
"""

from modules.crm.models.contracts import Contract, Installment, Payment
from modules.crm.models.customers import Customer, FollowUp, PoolSettings
from modules.crm.models.leads import AssignmentRule, Lead, SalesTeam, SalesTeamMember, WebForm
from modules.crm.models.sales import (
    Opportunity,
    OpportunityLine,
    Pipeline,
    Quote,
    QuoteLine,
    Stage,
)
from modules.crm.models.service import Ticket
from modules.crm.models.targets import Target

__all__ = [
    "AssignmentRule",
    "Contract",
    "Customer",
    "FollowUp",
    "Installment",
    "Lead",
    "Opportunity",
    "OpportunityLine",
    "Payment",
    "Pipeline",
    "PoolSettings",
    "Quote",
    "QuoteLine",
    "SalesTeam",
    "SalesTeamMember",
    "Stage",
    "Target",
    "Ticket",
    "WebForm",
]
