"""The msgspec shapes of CRM's JSON API (and of what its services return), one file per area."""
