"""Merging two parties: every reference to the merged one, in any table, moves to the kept one.

The foreign keys to ``core_party`` are read from PostgreSQL's catalog at run
time, so a module's tables are covered without registering them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.errors import Conflict, NotFound, ValidationFailed
from core.parties.models import Party, PartyContactPoint
from core.parties.services.checks import MERGE, RESOURCE, _same_tenant
from core.parties.services.records import _load
from core.permissions import Actor, visible

# Every foreign key to core_party, as (referencing table, referencing column), with whether
# the app role may change that table (an append-only history keeps naming the merged party).
_REFERENCES = text("""
    SELECT con.conrelid::regclass::text AS table_name,
           ARRAY(SELECT quote_ident(a.attname)
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                 ORDER BY k.n) AS columns,
           ARRAY(SELECT a.attname::text
                 FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
                 ORDER BY k.n) AS targets,
           has_table_privilege(con.conrelid, 'UPDATE')
           AND has_table_privilege(con.conrelid, 'DELETE') AS writable,
           con.conrelid AS table_oid
    FROM pg_constraint con
    WHERE con.contype = 'f' AND con.confrelid = 'core_party'::regclass
    ORDER BY 1, 2
""")
# Plain unique keys of a table (no expressions, no WHERE), for the rows a repoint would collide.
_UNIQUE_KEYS = text("""
    SELECT ARRAY(SELECT quote_ident(a.attname)
                 FROM unnest(i.indkey::int2[]) AS k(attnum)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
               AS columns,
           i.indnullsnotdistinct AS nulls_equal
    FROM pg_index i
    WHERE i.indrelid = :table_oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
""")


async def merge_parties(
    session: AsyncSession, actor: Actor, keep_id: uuid.UUID, merge_id: uuid.UUID
) -> Party:
    """Merge ``merge_id`` into ``keep_id``: every reference to it, in any table, now names
    the kept party; the merged party stays, inactive, with ``merged_into_id`` set.

    The kept party keeps its own values and takes the merged one's where it
    has none; it is a customer or supplier if either was. A row that would
    then repeat one of the kept party's under a unique key (the same tag, the
    same e-mail address) is dropped. Both parties must be visible to the member.
    Objects read before the merge that referred to the merged party are stale
    afterwards: read them again.
    """
    actor.require(MERGE)
    _same_tenant(session, actor)
    if keep_id == merge_id:
        raise ValidationFailed("A party cannot be merged into itself.")
    locked = await session.scalars(
        select(Party)
        .where(Party.id.in_([keep_id, merge_id]), visible(actor, RESOURCE, Party))
        .order_by(Party.id)  # both lockers lock in one order: no deadlock
        .with_for_update()
    )
    parties = {party.id: party for party in locked}
    for party_id in (keep_id, merge_id):
        if party_id not in parties:
            raise NotFound("No party {id}.", id=str(party_id))
    keep, merged = parties[keep_id], parties[merge_id]
    for party in (keep, merged):
        if party.merged_into_id is not None:
            raise Conflict("{name} was already merged into another party.", name=party.name)
    if keep.kind != merged.kind:
        raise ValidationFailed("Only parties of the same kind can be merged.")

    keep.is_customer = keep.is_customer or merged.is_customer
    keep.is_supplier = keep.is_supplier or merged.is_supplier
    keep.active = keep.active or merged.active
    for field in ("company_id", "tax_id", "website", "notes"):
        if not getattr(keep, field):
            setattr(keep, field, getattr(merged, field))
    # The kept party's primary e-mail address and phone number stay primary.
    kept_primaries = select(PartyContactPoint.kind).where(
        PartyContactPoint.party_id == keep_id, PartyContactPoint.is_primary
    )
    await session.execute(
        update(PartyContactPoint)
        .where(
            PartyContactPoint.party_id == merge_id,
            PartyContactPoint.kind.in_(kept_primaries.scalar_subquery()),
        )
        .values(is_primary=False)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    repointed, dropped = await _repoint_references(session, keep.tenant_id, keep_id, merge_id)
    merged.merged_into_id = keep_id
    merged.active = False
    await session.flush()
    await audit.record(
        session,
        "core.party.merged",
        actor_id=actor.user_id,
        subject_type=RESOURCE,
        subject_id=keep_id,
        detail={
            "merged_id": str(merge_id),
            "merged_name": merged.name,
            "repointed": repointed,
            "dropped": dropped,
        },
    )
    return await _load(session, actor, keep_id)


async def _repoint_references(
    session: AsyncSession, tenant_id: uuid.UUID, keep_id: uuid.UUID, merge_id: uuid.UUID
) -> tuple[dict[str, int], dict[str, int]]:
    """Point every foreign key to ``merge_id`` at ``keep_id``; count rows moved and dropped."""
    repointed: dict[str, int] = {}
    dropped: dict[str, int] = {}
    params = {"tenant_id": tenant_id, "keep": keep_id, "merge": merge_id}
    for ref in await session.execute(_REFERENCES):
        pairs = dict(zip(ref.targets, ref.columns, strict=True))
        if set(pairs) != {"tenant_id", "id"} or not ref.writable:
            continue  # not a tenant reference, or history the app may not rewrite
        table, column, tenant = ref.table_name, pairs["id"], pairs["tenant_id"]
        where = f"{tenant} = :tenant_id AND {column} = :merge"
        for key in await session.execute(_UNIQUE_KEYS, {"table_oid": ref.table_oid}):
            if column not in key.columns:
                continue
            same = "IS NOT DISTINCT FROM" if key.nulls_equal else "="
            others = [c for c in key.columns if c not in (column, tenant)]
            collides = " AND ".join(
                [f"k.{tenant} = m.{tenant}", f"k.{column} = :keep"]
                + [f"k.{c} {same} m.{c}" for c in others]
            )
            result = await session.execute(
                text(
                    f"DELETE FROM {table} AS m WHERE m.{tenant} = :tenant_id "
                    f"AND m.{column} = :merge AND EXISTS (SELECT 1 FROM {table} AS k "
                    f"WHERE {collides})"
                ),
                params,
            )
            if result.rowcount:
                dropped[f"{table}.{column}"] = dropped.get(f"{table}.{column}", 0) + result.rowcount
        result = await session.execute(
            text(f"UPDATE {table} SET {column} = :keep WHERE {where}"), params
        )
        if result.rowcount:
            repointed[f"{table}.{column}"] = result.rowcount
    return repointed, dropped
