"""Party tables: companies and people, how to reach them, where they are, how they are tagged.

One party may be a customer, a supplier or both (``is_customer``,
``is_supplier``), as in Odoo and ERPNext: CRM, ERP and Finance point at the
same row. A person may work at a company (``company_id``). A party merged
into another is kept, inactive, with ``merged_into_id`` set: history that
names it stays readable and leads to the party that lives on.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.orm import Owned, TenantModel, tenant_ref, tenant_relationship

COMPANY, PERSON = "company", "person"
EMAIL, PHONE = "email", "phone"


class Party(Owned, TenantModel):
    """A company or a person the tenant deals with."""

    __tablename__ = "core_party"
    __table_args__ = (
        CheckConstraint(f"kind IN ('{COMPANY}', '{PERSON}')", name="kind"),
        # Keyset pages in name order: the whole list, one department's, one owner's.
        Index("ix_core_party_tenant_id_name_id", "tenant_id", "name", "id"),
        Index(
            "ix_core_party_tenant_id_department_id_name_id",
            "tenant_id",
            "department_id",
            "name",
            "id",
        ),
        Index("ix_core_party_tenant_id_owner_id_name_id", "tenant_id", "owner_id", "name", "id"),
        Index("ix_core_party_tenant_id_name_normalised", "tenant_id", "name_normalised"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    name_normalised: Mapped[str] = mapped_column(String(200))
    is_customer: Mapped[bool] = mapped_column(Boolean, default=False)
    is_supplier: Mapped[bool] = mapped_column(Boolean, default=False)
    company_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)
    tax_id: Mapped[str | None] = mapped_column(String(50))  # 统一社会信用代码, VAT number
    website: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    merged_into_id: Mapped[uuid.UUID | None] = tenant_ref("core_party", nullable=True)

    contact_points: Mapped[list[PartyContactPoint]] = tenant_relationship(
        "PartyContactPoint",
        "PartyContactPoint.party_id",
        cascade="all, delete-orphan",
        order_by="PartyContactPoint.id",
    )
    addresses: Mapped[list[PartyAddress]] = tenant_relationship(
        "PartyAddress",
        "PartyAddress.party_id",
        cascade="all, delete-orphan",
        order_by="PartyAddress.id",
    )
    taggings: Mapped[list[PartyTagging]] = tenant_relationship(
        "PartyTagging", "PartyTagging.party_id", cascade="all, delete-orphan"
    )

    @property
    def tag_names(self) -> list[str]:
        return sorted(tagging.tag.name for tagging in self.taggings)


class PartyContactPoint(TenantModel):
    """An e-mail address or phone number of a party; ``value_normalised`` finds duplicates."""

    __tablename__ = "core_party_contact_point"
    __table_args__ = (
        CheckConstraint(f"kind IN ('{EMAIL}', '{PHONE}')", name="kind"),
        UniqueConstraint("tenant_id", "party_id", "kind", "value_normalised"),
        Index(
            "ix_core_party_contact_point_tenant_id_kind_value_normalised",
            "tenant_id",
            "kind",
            "value_normalised",
        ),
        Index("ix_core_party_contact_point_tenant_id_domain", "tenant_id", "domain"),
    )

    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", ondelete="CASCADE", index=False)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(320))  # as typed
    value_normalised: Mapped[str] = mapped_column(String(320))
    domain: Mapped[str | None] = mapped_column(String(255))  # an e-mail's, for company duplicates
    label: Mapped[str] = mapped_column(String(50), default="")  # work, mobile, 财务, ...
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class PartyAddress(TenantModel):
    """A postal address of a party (billing, shipping, registered office...)."""

    __tablename__ = "core_party_address"

    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", ondelete="CASCADE")
    label: Mapped[str] = mapped_column(String(50), default="")
    line1: Mapped[str] = mapped_column(String(200))
    line2: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    region: Mapped[str] = mapped_column(String(100), default="")  # province, state
    postcode: Mapped[str] = mapped_column(String(20), default="")
    country: Mapped[str] = mapped_column(String(2), default="")  # ISO 3166-1 alpha-2


class PartyTag(TenantModel):
    """A label parties are grouped by (VIP, 华东, Distributor); names are unique per tenant."""

    __tablename__ = "core_party_tag"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(50))


class PartyTagging(TenantModel):
    """A tag on a party."""

    __tablename__ = "core_party_tagging"
    __table_args__ = (UniqueConstraint("tenant_id", "party_id", "tag_id"),)

    party_id: Mapped[uuid.UUID] = tenant_ref("core_party", ondelete="CASCADE", index=False)
    tag_id: Mapped[uuid.UUID] = tenant_ref("core_party_tag", ondelete="CASCADE")
    tag: Mapped[PartyTag] = tenant_relationship("PartyTag", "tag_id", lazy="joined")
