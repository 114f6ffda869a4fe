"""CRM's pages (HTML + htmx), mounted at ``/t/{tenant_slug}``, one file per area."""
