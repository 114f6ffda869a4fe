"""Declarative bases: every table is either tenant-scoped or explicitly global.

A tenant table subclasses :class:`TenantModel` and gets ``tenant_id`` and a
time-ordered ``id`` as its composite primary key. A reference to another
tenant table is written with :func:`tenant_ref` (a column whose foreign key
includes ``tenant_id``) and :func:`tenant_relationship` (a relationship over
that pair), so a reference across tenants cannot be represented. The few
global tables subclass :class:`GlobalModel`, which says so in ``Table.info``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, Index, MetaData, Uuid, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    MappedColumn,
    RelationshipProperty,
    mapped_column,
    relationship,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TENANCY_KEY = "tenancy"  # Table.info key: "tenant" or "global"
MODULE_KEY = "module"  # Table.info key: which module's migration branch owns the table
APPEND_ONLY_KEY = "append_only"  # Table.info key: the app role may insert and read, never change


_uuid7_lock = threading.Lock()
_uuid7_last = [0, 0]  # the last millisecond and the 12-bit counter used in it


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of milliseconds, a counter, randomness.

    Within one millisecond the 12 bits after the version count up (RFC 9562's
    "fixed-length dedicated counter"), so ids made by one process are strictly
    increasing: keyset pages and "newest first" hold even for rows created in
    the same millisecond. Time order keeps new rows at the primary key's right edge.
    """
    with _uuid7_lock:
        millis = time.time_ns() // 1_000_000
        last_millis, counter = _uuid7_last
        if millis <= last_millis:
            millis, counter = last_millis, counter + 1
            if counter > 0xFFF:  # 4,096 ids in one millisecond: borrow the next one
                millis, counter = millis + 1, 0
        else:
            counter = int.from_bytes(os.urandom(2), "big") & 0x7FF  # leave room to count up
        _uuid7_last[:] = [millis, counter]
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64
    value |= 0b10 << 62  # variant
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    return uuid.UUID(int=value)


class Base(AsyncAttrs, DeclarativeBase):
    """The one metadata all of Atrium's tables live in (core and every module)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if not cls.__dict__.get("__abstract__", False) and not issubclass(
            cls, TenantModel | GlobalModel
        ):
            raise TypeError(
                f"{cls.__name__} must subclass TenantModel or GlobalModel: "
                "every table is tenant-scoped or explicitly global"
            )
        super().__init_subclass__(**kwargs)


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), sort_order=900
    )


class GlobalModel(_Timestamps, Base):
    """A table shared by all tenants (users, tenants, plans, operator data). Few and named."""

    __abstract__ = True
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7, sort_order=-10)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _stamp_table_info(cls, "global")
        super().__init_subclass__(**kwargs)


class TenantModel(_Timestamps, Base):
    """A tenant-owned table: ``(tenant_id, id)`` primary key, RLS in its migration."""

    __abstract__ = True
    tenant_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, sort_order=-20)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7, sort_order=-10)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if not cls.__dict__.get("__abstract__", False):
            _stamp_table_info(cls, "tenant")
            _expand_tenant_references(cls)
        super().__init_subclass__(**kwargs)


class Owned:
    """Who a record belongs to, for data scopes: its owner and its department.

    Mix into a :class:`TenantModel` whose rows a role may see as "own records",
    "own department (and below)" or "all" (:func:`core.permissions.visible`).
    """

    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("core_user.id"), index=False, sort_order=800
    )
    department_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, info={"tenant_ref": ("core_department", None, True)}, sort_order=801
    )


def tenant_ref(
    target_table: str,
    *,
    nullable: bool = False,
    ondelete: str | None = None,
    index: bool = True,
) -> MappedColumn[Any]:
    """A column referencing ``target_table.id`` through a foreign key that includes tenant_id.

    ``party_id: Mapped[UUID] = tenant_ref("core_party")`` becomes the column
    plus ``FOREIGN KEY (tenant_id, party_id) REFERENCES core_party (tenant_id, id)``
    and, unless ``index=False``, an index on ``(tenant_id, party_id)``.
    """
    return mapped_column(
        Uuid, nullable=nullable, info={"tenant_ref": (target_table, ondelete, index)}
    )


class _TenantRelationship:
    def __init__(self, target: str, via: str, kwargs: dict[str, Any]) -> None:
        self.target, self.via, self.kwargs = target, via, kwargs


def tenant_relationship(target: str, via: str, **kwargs: Any) -> Any:
    """A relationship over a tenant_ref column, joining on ``(tenant_id, id)``.

    ``via`` names the referencing column: ``"party_id"`` on this class for a
    many-to-one, or ``"Contact.party_id"`` on the target for a one-to-many.
    Only the id column is written by the relationship; tenant_id is shared.
    """
    return _TenantRelationship(target, via, kwargs)


def _stamp_table_info(cls: type, tenancy: str) -> None:
    if cls.__dict__.get("__abstract__", False):
        return
    # Tables are prefixed with their module's key (crm_lead), which names the owner.
    module = cls.__dict__["__tablename__"].split("_", 1)[0]
    info = {TENANCY_KEY: tenancy, MODULE_KEY: module}
    args = cls.__dict__.get("__table_args__", ())
    if isinstance(args, dict):
        args = (args,)
    if args and isinstance(args[-1], dict):
        options = dict(args[-1])
        options["info"] = {**options.get("info", {}), **info}
        cls.__table_args__ = (*args[:-1], options)  # type: ignore[attr-defined]
    else:
        cls.__table_args__ = (*args, {"info": info})  # type: ignore[attr-defined]


def _expand_tenant_references(cls: type) -> None:
    """Turn tenant_ref columns into composite FKs and markers into relationships."""
    constraints: list[Any] = []
    table = cls.__dict__["__tablename__"]
    attributes = {
        name: value
        for klass in reversed(cls.__mro__)
        if klass is cls or not issubclass(klass, Base)  # the class itself and its mixins
        for name, value in vars(klass).items()
    }
    if issubclass(cls, Owned):  # "own records" filters on the owner
        constraints.append(Index(f"ix_{table}_owner_id", "tenant_id", "owner_id"))
    for name, value in attributes.items():
        if isinstance(value, MappedColumn) and "tenant_ref" in value.column.info:
            target, ondelete, index = value.column.info["tenant_ref"]
            column = value.column.name or name
            constraints.append(
                ForeignKeyConstraint(
                    ["tenant_id", column],
                    [f"{target}.tenant_id", f"{target}.id"],
                    ondelete=ondelete,
                )
            )
            if index:
                constraints.append(Index(f"ix_{table}_{column}", "tenant_id", column))
        elif isinstance(value, _TenantRelationship):
            setattr(cls, name, _build_relationship(cls.__name__, value))
    if constraints:
        args = cls.__table_args__  # type: ignore[attr-defined]
        cls.__table_args__ = (*constraints, *args)  # type: ignore[attr-defined]


def _build_relationship(owner: str, spec: _TenantRelationship) -> RelationshipProperty[Any]:
    if "." in spec.via:  # one-to-many: the referencing column is on the target
        holder, column = spec.via.split(".", 1)
        join = (
            f"and_({owner}.id == foreign({holder}.{column}), "
            f"{owner}.tenant_id == {holder}.tenant_id)"
        )
    else:  # many-to-one: the referencing column is here
        join = (
            f"and_({spec.target}.id == foreign({owner}.{spec.via}), "
            f"{spec.target}.tenant_id == {owner}.tenant_id)"
        )
    return relationship(spec.target, primaryjoin=join, **spec.kwargs)
