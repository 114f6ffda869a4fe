"""CRM: from lead to cash, the way a sales team works (docs/modules/crm.md).

Leads are captured and assigned, converted into a customer (a core party with a CRM
profile), a contact and an opportunity; opportunities move through the tenant's
pipeline, get quotes, and a won quote becomes a contract that is approved through the
core approval port, signed, and paid in installments. Service tickets and monthly
targets sit beside them; reports read it all through the members' data scopes.
"""
