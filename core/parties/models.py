"""Party tables (filled in by the parties work)."""
