"""Parties: the companies and people every module deals with (customers, suppliers, contacts)."""
