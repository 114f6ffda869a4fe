"""CRM's business rules, one file per area; controllers, handlers and jobs call these."""
