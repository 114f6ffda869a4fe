"""Attachment and timeline tables (filled in by the records work)."""
