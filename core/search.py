"""Core's part of the global search: the shared parties and products, and how hits are
grouped for the search page.

Core is not a module (it cannot be disabled), so it answers beside the hook
rather than through it (:func:`core.contributions.search` asks both). Parties
are found through the scoped party list (:func:`core.parties.services.list_parties`),
so a party outside the member's data scope never appears, and a member without
``core.party.read`` gets none; products need ``core.product.read``.

Each source is read once with its own indexed search, a few more rows than are
shown, and its best :data:`PER_SOURCE` are kept. Ranking: a whole match (the
name, SKU, barcode or e-mail address typed in full) before one that starts
with what was typed, before one that only contains it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.i18n import N_
from core.parties import services as parties
from core.parties.normalise import normalise_name
from core.parties.schemas import PartySummary
from core.permissions import Actor
from core.plugins.results import SearchResult
from core.products import services as products
from core.products.models import Product

#: At most this many hits from one source (core's parties, core's products, each module).
PER_SOURCE = 10
#: Rows read from a source to rank before cutting to PER_SOURCE (one ordinary list page).
CANDIDATES = 50
WHOLE, PREFIX, CONTAINS = 3.0, 2.0, 1.0

PARTY, PRODUCT = "party", "product"
#: Headings of core's kinds on the search page (msgids); a module's kind is shown as it
#: is, through gettext, so a module may translate it in its own catalog.
KIND_LABELS = {PARTY: N_("Customers and suppliers"), PRODUCT: N_("Products"), "": N_("Other")}


@dataclass(frozen=True, slots=True)
class SearchGroup:
    """The hits of one kind, for one heading on the search page (a msgid)."""

    kind: str
    label: str
    results: list[SearchResult]


def best(results: Iterable[SearchResult], limit: int = PER_SOURCE) -> list[SearchResult]:
    """The ``limit`` highest-scoring results, in their given order among equal scores."""
    return sorted(results, key=lambda r: -r.score)[:limit]


def _score(query: str, *whole: str | None, prefix: Iterable[str | None] = ()) -> float:
    """WHOLE if ``query`` equals one of ``whole`` (ignoring case), PREFIX if one of
    ``prefix`` starts with it, else CONTAINS (the search matched it some other way)."""
    wanted = query.casefold()
    if any(value and value.casefold() == wanted for value in whole):
        return WHOLE
    if any(value and value.casefold().startswith(wanted) for value in prefix):
        return PREFIX
    return CONTAINS


def _party_hit(ctx: TenantContext, query: str, party: PartySummary) -> SearchResult:
    typed, name = normalise_name(query), normalise_name(party.name)
    score = _score(query, party.name, party.email, party.phone, prefix=[party.name])
    if score == CONTAINS and typed and name == typed:
        score = WHOLE  # "ACME Trading Co., Ltd." typed for "Acme Trading"
    return SearchResult(party.name, f"/t/{ctx.slug}/parties/{party.id}", "core", PARTY, score)


def _product_hit(ctx: TenantContext, query: str, product: Product) -> SearchResult:
    url = f"/t/{ctx.slug}/products/{product.id}"
    score = _score(
        query, product.sku, product.barcode, product.name, prefix=[product.sku, product.name]
    )
    return SearchResult(f"{product.name} ({product.sku})", url, "core", PRODUCT, score)


async def search_parties(
    ctx: TenantContext, session: AsyncSession, actor: Actor, query: str
) -> list[SearchResult]:
    """Parties the member may see whose name, tax number, e-mail address or phone matches."""
    if not actor.can(parties.READ):
        return []
    page = await parties.list_parties(session, actor, search=query, limit=CANDIDATES)
    return best(_party_hit(ctx, query, party) for party in page.items)


async def search_products(
    ctx: TenantContext, session: AsyncSession, actor: Actor, query: str
) -> list[SearchResult]:
    """Active products whose SKU or name contains ``query``, or whose barcode is it."""
    if not actor.can(products.READ):
        return []
    found = await products.list_products(session, search=query, limit=CANDIDATES)
    return best(_product_hit(ctx, query, product) for product in found)


async def search_core(
    ctx: TenantContext, session: AsyncSession, actor: Actor, query: str
) -> list[SearchResult]:
    """Core's hits for ``query``: parties first, then products, each source ranked."""
    return [
        *await search_parties(ctx, session, actor, query),
        *await search_products(ctx, session, actor, query),
    ]


def by_kind(results: Iterable[SearchResult]) -> list[SearchGroup]:
    """Ranked results in one group per kind; groups in the order of their best hit."""
    groups: dict[str, SearchGroup] = {}
    for result in results:
        if result.kind not in groups:
            label = KIND_LABELS.get(result.kind, result.kind)
            groups[result.kind] = SearchGroup(result.kind, label, [])
        groups[result.kind].results.append(result)
    return list(groups.values())
