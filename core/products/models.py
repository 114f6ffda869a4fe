"""Product tables (filled in by the products work)."""
