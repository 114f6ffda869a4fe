"""CRM's JSON API, mounted at ``/api/t/{tenant_slug}``, one file per area."""
