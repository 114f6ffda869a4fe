"""Parties: create with duplicate detection, change, read within data scope, merge.

Every function that reads or writes parties takes the acting member
(:class:`core.permissions.Actor`) and limits itself to what their data scope
on ``core.party`` shows (:func:`core.permissions.visible`): a party outside
it is not found. Duplicate detection looks at the whole workspace (a
duplicate the member cannot see is still a duplicate) but names only the
candidates the member may see.

Merging repoints every reference to the merged party, wherever it is: the
foreign keys to ``core_party`` are read from PostgreSQL's catalog at run
time, so a module's tables are covered without registering them.

This is a package, and this file is its map: callers import from
``core.parties.services`` alone, and the rooms below are where to read.

- :mod:`.checks` — the permission codes, the tenant check, and the checks
  that turn typed values (names, contact points, addresses, tags) into stored ones;
- :mod:`.duplicates` — :func:`find_duplicates` and :class:`DuplicateSuspected`;
- :mod:`.records` — one party: :func:`create_party`, :func:`update_party`, :func:`get_party`;
- :mod:`.lists` — the scoped list (:func:`list_parties`) and :func:`export_parties`;
- :mod:`.merge` — :func:`merge_parties` and the catalog-driven repointing.

A package rather than sibling modules of ``services.py``: the rooms stay
together under one name, and a caller's ``from core.parties import services``
keeps working without a second module that only forwards names.
"""

from __future__ import annotations

from core.parties.services.checks import MERGE, NAME_MAX, NOTES_MAX, READ, RESOURCE, WRITE
from core.parties.services.duplicates import DuplicateSuspected, find_duplicates
from core.parties.services.lists import MAX_PAGE, PRIMARY_POINTS, export_parties, list_parties
from core.parties.services.merge import merge_parties
from core.parties.services.records import create_party, get_party, update_party

__all__ = [
    "MAX_PAGE",
    "MERGE",
    "NAME_MAX",
    "NOTES_MAX",
    "PRIMARY_POINTS",
    "READ",
    "RESOURCE",
    "WRITE",
    "DuplicateSuspected",
    "create_party",
    "export_parties",
    "find_duplicates",
    "get_party",
    "list_parties",
    "merge_parties",
    "update_party",
]
