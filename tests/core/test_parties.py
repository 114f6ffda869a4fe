"""Parties: normal forms, duplicates suspected on entry, merges that repoint every
reference (even from tables core does not know), and data scopes on every read."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import URL

from core import audit
from core.db import Database, owner_engine
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.migrate import rls_statements
from core.models import Membership, Tenant, User
from core.organisation import create_department
from core.parties import services
from core.parties.models import Party, PartyContactPoint
from core.parties.normalise import normalise_email, normalise_name, normalise_phone
from core.parties.schemas import AddressIn, ContactPointIn, PartyChanges, PartyIn
from core.parties.services import DuplicateSuspected
from core.permissions import Actor, Scope, visible
from core.records import timeline
from core.settings import Settings

EVERYTHING = frozenset({services.READ, services.WRITE, services.MERGE})


def email(value: str, **kw) -> ContactPointIn:
    return ContactPointIn(kind="email", value=value, **kw)


def phone(value: str, **kw) -> ContactPointIn:
    return ContactPointIn(kind="phone", value=value, **kw)


def company(name: str, *points: ContactPointIn, **kw) -> PartyIn:
    return PartyIn(kind="company", name=name, contact_points=points, **kw)


def person(name: str, *points: ContactPointIn, **kw) -> PartyIn:
    return PartyIn(kind="person", name=name, contact_points=points, **kw)


class Workspace:
    """A tenant with members to act as, each an owner of what they create."""

    def __init__(self, db: Database, tenant_id: uuid.UUID) -> None:
        self.db, self.tenant_id = db, tenant_id

    async def member(
        self,
        name: str,
        scope: Scope = Scope.ALL,
        *,
        department_id: uuid.UUID | None = None,
        department_tree: tuple[uuid.UUID, ...] = (),
        permissions: frozenset[str] = EVERYTHING,
    ) -> Actor:
        async with self.db.global_transaction() as session:
            user = User(email=f"{name}.{uuid.uuid4().hex[:6]}@parties.test", display_name=name)
            session.add(user)
        async with self.db.tenant_transaction(self.tenant_id) as session:
            membership = Membership(user_id=user.id, department_id=department_id)
            session.add(membership)
        return Actor(
            tenant_id=self.tenant_id,
            user_id=user.id,
            membership_id=membership.id,
            permissions=permissions,
            scopes={"core.party": scope},
            department_id=department_id,
            department_tree=department_tree or ((department_id,) if department_id else ()),
        )

    def session(self):
        return self.db.tenant_transaction(self.tenant_id)


@pytest.fixture
async def acme(db: Database, make_tenant) -> Workspace:
    ctx = await make_tenant("acme-parties")
    return Workspace(db, ctx.tenant_id)


@pytest.fixture
async def zh(db: Database, make_tenant) -> Workspace:
    """A zh-CN workspace: phone numbers typed without a country are Chinese."""
    ctx = await make_tenant("zh-parties")
    async with db.global_transaction() as session:
        await session.execute(
            update(Tenant).where(Tenant.id == ctx.tenant_id).values(locale="zh-CN")
        )
    return Workspace(db, ctx.tenant_id)


# --- normal forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("Acme Trading", "acme trading"),
        ("ＡＣＭＥ　Ｔｒａｄｉｎｇ　Ｃｏ．，Ｌｔｄ．", "acme trading"),  # full width
        ("The Acme Company", "acme"),
        ("Acme, L.L.C.", "acme"),
        ("Smith & Co.", "smith"),
        ("McDonald's Corp", "mcdonalds"),
        ("华为技术有限公司", "华为技术"),
        ("中国石油天然气股份有限公司", "中国石油天然气"),
        ("上海贝尔有限责任公司", "上海贝尔"),
        ("阿里巴巴（中国）有限公司", "阿里巴巴 中国"),  # full-width brackets
        ("阿里巴巴 公司", "阿里巴巴"),
        ("有限公司", "有限公司"),  # nothing but a legal form: kept
        ("Ltd", "ltd"),
    ],
)
def test_names_fold_width_and_case_and_drop_legal_forms(typed: str, normal: str) -> None:
    assert normalise_name(typed) == normal


def test_emails_fold_and_bad_ones_are_refused() -> None:
    assert normalise_email(" Ｂｏｂ＠Ａｃｍｅ．ｃｏｍ ") == "bob@acme.com"
    assert normalise_email("Li.Wei@Example.CN") == "li.wei@example.cn"
    for bad in ("bob", "bob@", "bob@acme", "a b@acme.com x"):
        with pytest.raises(ValidationFailed, match="is not an e-mail address"):
            normalise_email(bad)


@pytest.mark.parametrize(
    ("typed", "zh_cn", "elsewhere"),
    [
        ("138 1234 5678", "+8613812345678", "13812345678"),
        ("+86-138-1234-5678", "+8613812345678", "+8613812345678"),
        ("１３８－１２３４－５６７８", "+8613812345678", "13812345678"),  # full width
        ("0086 138 1234 5678", "+8613812345678", "+8613812345678"),
        ("86 138 1234 5678", "+8613812345678", "8613812345678"),  # too long to be national
        ("021-6123 4567", "+862161234567", "02161234567"),  # trunk 0 dropped
        ("010-12345678转123", "+861012345678", "01012345678"),  # extension left out
        ("+44 20 7946 0000 ext. 12", "+442079460000", "+442079460000"),
    ],
)
def test_phones_become_digits_with_the_country_where_it_is_known(
    typed: str, zh_cn: str, elsewhere: str
) -> None:
    assert normalise_phone(typed, "zh-CN") == zh_cn
    assert normalise_phone(typed, "en") == elsewhere


def test_a_phone_needs_five_to_fifteen_digits() -> None:
    for bad in ("1234", "call me", "+1 234 567 890 123 456 7"):
        with pytest.raises(ValidationFailed, match="is not a phone number"):
            normalise_phone(bad)


# --- duplicates on entry ---------------------------------------------------------------------


async def test_a_party_with_the_same_normalised_name_is_suspected(acme: Workspace) -> None:
    me = await acme.member("me")
    async with acme.session() as session:
        huawei = await services.create_party(session, me, company("华为技术有限公司"))
        acme_co = await services.create_party(session, me, company("ACME Trading Co., Ltd."))
        with pytest.raises(DuplicateSuspected) as suspected:
            await services.create_party(session, me, company("华为技术"))
        assert [(c.party_id, c.name, c.reasons) for c in suspected.value.candidates] == [
            (huawei.id, "华为技术有限公司", ("name",))
        ]
        assert suspected.value.to_dict()["candidates"] == [str(huawei.id)]
        assert isinstance(suspected.value, Conflict)
        with pytest.raises(DuplicateSuspected):
            await services.create_party(session, me, company("ＡＣＭＥ　Ｔｒａｄｉｎｇ"))
        # Confirmed by the user: created anyway.
        again = await services.create_party(
            session, me, company("ＡＣＭＥ　Ｔｒａｄｉｎｇ"), allow_duplicates=True
        )
        assert again.id != acme_co.id
        assert again.name_normalised == acme_co.name_normalised
        # A person of the same name elsewhere is a namesake, not a duplicate.
        await services.create_party(session, me, person("张伟", company_id=huawei.id))
        await services.create_party(session, me, person("张伟", company_id=acme_co.id))
        with pytest.raises(DuplicateSuspected):
            await services.create_party(session, me, person("张伟", company_id=huawei.id))


async def test_a_company_sharing_an_email_domain_is_suspected_but_not_on_free_mail(
    acme: Workspace,
) -> None:
    me = await acme.member("me")
    async with acme.session() as session:
        globex = await services.create_party(
            session, me, company("Globex", email("info@globex.com"), email("boss@qq.com"))
        )
        initech = await services.create_party(session, me, company("Initech"))
        await services.create_party(
            session, me, person("Peter", email("peter@initech.io"), company_id=initech.id)
        )

        with pytest.raises(DuplicateSuspected) as suspected:
            await services.create_party(
                session, me, company("Globex Shanghai", email("Sales@GLOBEX.com"))
            )
        assert [(c.party_id, c.reasons) for c in suspected.value.candidates] == [
            (globex.id, ("email_domain",))
        ]
        # A domain met only on a person's address leads to the person's company.
        found = await services.find_duplicates(
            session, me, kind="company", name="IT Solutions", emails=["hello@initech.io"]
        )
        assert [(c.party_id, c.reasons) for c in found] == [(initech.id, ("email_domain",))]
        # Free-mail domains say nothing: gmail, qq, 163 ...
        for n, domain in enumerate(("qq.com", "gmail.com", "163.com", "foxmail.com")):
            await services.create_party(session, me, company(f"Firm {n}", email(f"a@{domain}")))
            assert not await services.find_duplicates(
                session, me, kind="company", name="Another", emails=[f"b@{domain}"]
            )
        # The same address, though, is the same party, free mail or not.
        found = await services.find_duplicates(
            session, me, kind="person", name="B. Oss", emails=["BOSS@qq.com"]
        )
        assert [(c.party_id, c.reasons) for c in found] == [(globex.id, ("email",))]
        # People at one company share a domain and are not duplicates of each other.
        assert not await services.find_duplicates(
            session, me, kind="person", name="Samir", emails=["samir@initech.io"]
        )


async def test_a_party_with_the_same_phone_number_is_suspected(zh: Workspace) -> None:
    me = await zh.member("me")
    async with zh.session() as session:
        li = await services.create_party(session, me, person("李雷", phone("+86 138-1234-5678")))
        assert li.contact_points[0].value_normalised == "+8613812345678"
        for typed in ("13812345678", "１３８ １２３４ ５６７８", "0086 13812345678"):
            with pytest.raises(DuplicateSuspected) as suspected:
                await services.create_party(session, me, person("Lei Li", phone(typed)))
            assert [(c.party_id, c.reasons) for c in suspected.value.candidates] == [
                (li.id, ("phone",))
            ]
        both = await services.find_duplicates(
            session, me, kind="person", name="李雷", phones=["138 1234 5678"]
        )
        assert [(c.party_id, c.reasons) for c in both] == [(li.id, ("name", "phone"))]


async def test_duplicates_outside_the_scope_are_reported_without_their_name(
    acme: Workspace,
) -> None:
    boss, clerk = await acme.member("boss"), await acme.member("clerk", Scope.OWN)
    async with acme.session() as session:
        theirs = await services.create_party(session, boss, company("Hooli Ltd"))
        with pytest.raises(DuplicateSuspected) as suspected:
            await services.create_party(session, clerk, company("HOOLI"))
        assert [(c.party_id, c.name) for c in suspected.value.candidates] == [(theirs.id, None)]


# --- create, change, read --------------------------------------------------------------------


async def test_a_party_is_created_with_contacts_addresses_and_tags(acme: Workspace) -> None:
    me = await acme.member("me")
    async with acme.session() as session:
        created = await services.create_party(
            session,
            me,
            company(
                " Umbrella Corp ",
                email("info@umbrella.com"),
                email("INFO@umbrella.com"),  # the same address twice is kept once
                email("sales@umbrella.com", is_primary=True),
                phone("+1 555 0100 123"),
                is_customer=True,
                tax_id=" 91310000ma1fl0xx7x ",
                website="umbrella.com",
                addresses=(AddressIn(label="billing", line1="1 Raccoon St", country="us"),),
                tags=("VIP", "Pharma", "VIP"),
            ),
        )
    async with acme.session() as session:
        party = await services.get_party(session, me, created.id)
        assert (party.name, party.kind, party.is_customer, party.is_supplier) == (
            "Umbrella Corp",
            "company",
            True,
            False,
        )
        assert party.owner_id == me.user_id
        assert party.tax_id == "91310000MA1FL0XX7X"
        assert [(p.value_normalised, p.is_primary) for p in party.contact_points] == [
            ("info@umbrella.com", False),
            ("sales@umbrella.com", True),
            ("+15550100123", True),
        ]
        assert party.contact_points[1].domain == "umbrella.com"
        assert [(a.label, a.line1, a.country) for a in party.addresses] == [
            ("billing", "1 Raccoon St", "US")
        ]
        assert party.tag_names == ["Pharma", "VIP"]
        assert party.created_at is not None


async def test_bad_input_is_refused_whole(acme: Workspace) -> None:
    me = await acme.member("me")
    async with acme.session() as session:
        someone = await services.create_party(session, me, person("Someone"))
        cases = [
            (PartyIn(kind="robot", name="R2"), "company or a person"),  # type: ignore[arg-type]
            (company("Fax", ContactPointIn(kind="fax", value="1")), "e-mail address or a phone"),  # type: ignore[arg-type]
            (company(" "), "name has 1 to 200"),
            (company("x" * 201), "name has 1 to 200"),
            (company("Bad mail", email("not-an-address")), "not an e-mail address"),
            (company("Bad phone", phone("12")), "not a phone number"),
            (
                company("Bad country", addresses=(AddressIn(line1="x", country="CHN"),)),
                "two-letter",
            ),
            (company("Bad tag", tags=("x" * 51,)), "A tag has 1 to 50"),
            (company("Works somewhere", company_id=someone.id), "Only a person works"),
            (person("At a person", company_id=someone.id), "is not a company"),
        ]
        for data, message in cases:
            with pytest.raises(ValidationFailed, match=message):
                await services.create_party(session, me, data)
        with pytest.raises(NotFound, match="No party"):
            await services.create_party(session, me, person("Nowhere", company_id=uuid.uuid4()))
        with pytest.raises(NotFound, match="No department"):
            await services.create_party(session, me, person("Lost", department_id=uuid.uuid4()))
        with pytest.raises(ValidationFailed, match="owner must be a member"):
            await services.create_party(session, me, person("Orphan", owner_id=uuid.uuid4()))
        assert [p.name for p in (await services.list_parties(session, me)).items] == ["Someone"]


async def test_an_update_keeps_what_it_can_and_checks_for_duplicates(acme: Workspace) -> None:
    me = await acme.member("me")
    async with acme.session() as session:
        await services.create_party(session, me, company("Stark Industries", email("a@stark.com")))
        wayne = await services.create_party(
            session,
            me,
            company(
                "Wayne Enterprises",
                email("bruce@wayne.com"),
                phone("+1 555 0199 000"),
                addresses=(AddressIn(line1="1007 Mountain Drive"),),
                tags=("Gotham",),
            ),
        )
        wayne_id, bruce_id = wayne.id, wayne.contact_points[0].id
        address_id = wayne.addresses[0].id

        with pytest.raises(DuplicateSuspected):
            await services.update_party(
                session, me, wayne_id, PartyChanges(name="Stark Industries Inc.")
            )
        with pytest.raises(DuplicateSuspected):
            await services.update_party(
                session,
                me,
                wayne_id,
                PartyChanges(contact_points=(email("bruce@wayne.com"), email("x@stark.com"))),
            )
        # Unchanged values are not checked again; rows survive an edit by value or by id.
        changed = await services.update_party(
            session,
            me,
            wayne_id,
            PartyChanges(
                is_supplier=True,
                notes="Pays late",
                contact_points=(email("Bruce@Wayne.com", label="CEO"), phone("+1 555 0100 777")),
                addresses=(
                    AddressIn(id=address_id, line1="1007 Mountain Drive", city="Gotham"),
                    AddressIn(line1="Wayne Tower"),
                ),
                tags=("Gotham", "Defence"),
            ),
        )
        assert changed.is_supplier
        assert changed.notes == "Pays late"
        assert [(p.id == bruce_id, p.value, p.label) for p in changed.contact_points] == [
            (True, "Bruce@Wayne.com", "CEO"),
            (False, "+1 555 0100 777", ""),
        ]
        assert [(a.id == address_id, a.city) for a in changed.addresses] == [
            (True, "Gotham"),
            (False, ""),
        ]
        assert changed.tag_names == ["Defence", "Gotham"]
        with pytest.raises(NotFound, match="No address"):
            await services.update_party(
                session,
                me,
                wayne_id,
                PartyChanges(addresses=(AddressIn(id=uuid.uuid4(), line1="x"),)),
            )
        renamed = await services.update_party(
            session, me, wayne_id, PartyChanges(name="Stark Industries Inc."), allow_duplicates=True
        )
        assert renamed.name_normalised == "stark industries"


async def test_a_change_is_tracked_on_the_timeline_and_a_refused_one_is_not(
    acme: Workspace,
) -> None:
    me = await acme.member("Mia")
    async with acme.session() as session:
        await services.create_party(session, me, company("Stark Industries"))
        wayne = await services.create_party(
            session, me, company("Wayne Enterprises", email("bruce@wayne.com"), tags=("Gotham",))
        )
        wayne_id = wayne.id  # a refused change expires the object
        with pytest.raises(DuplicateSuspected):
            await services.update_party(
                session, me, wayne_id, PartyChanges(name="Stark Industries")
            )
        await services.update_party(session, me, wayne_id, PartyChanges(notes=""))  # no change
        await services.update_party(
            session,
            me,
            wayne_id,
            PartyChanges(
                is_supplier=True,
                contact_points=(email("bruce@wayne.com"), phone("+1 555 0100 777")),
                tags=("Gotham", "Defence"),
            ),
        )
        entries = await timeline.timeline(session, "core.party", wayne_id)
    assert [(entry.kind, entry.author_id) for entry in entries] == [("change", me.user_id)]
    assert entries[0].changes == [
        {
            "field": "is_supplier",
            "label": "Supplier",
            "from": "false",
            "to": "true",
            "boolean": True,
        },
        {
            "field": "contact_points",
            "label": "E-mails and phones",
            "from": "bruce@wayne.com",
            "to": "bruce@wayne.com, +1 555 0100 777",
        },
        {"field": "tags", "label": "Tags", "from": "Gotham", "to": "Defence, Gotham"},
    ]


# --- merge -----------------------------------------------------------------------------------


async def _tables_core_does_not_know(db_url: URL, settings: Settings) -> None:
    """What a module installed later might add: tables referencing core_party."""
    engine = owner_engine(db_url)
    role = settings.app_db_role
    try:
        async with engine.begin() as conn:
            for statement in (
                # a module's record pointing at a party
                "CREATE TABLE ext_deal (tenant_id uuid NOT NULL, id uuid NOT NULL, "
                "party_id uuid NOT NULL, title text NOT NULL, PRIMARY KEY (tenant_id, id), "
                "FOREIGN KEY (tenant_id, party_id) REFERENCES core_party (tenant_id, id))",
                # one row per party and flag: merging must not repeat a flag
                "CREATE TABLE ext_flag (tenant_id uuid NOT NULL, id uuid NOT NULL, "
                "party_id uuid NOT NULL, flag text NOT NULL, PRIMARY KEY (tenant_id, id), "
                "UNIQUE (tenant_id, party_id, flag), "
                "FOREIGN KEY (tenant_id, party_id) REFERENCES core_party (tenant_id, id))",
                # an append-only history the app may not rewrite
                "CREATE TABLE ext_history (tenant_id uuid NOT NULL, id uuid NOT NULL, "
                "party_id uuid NOT NULL, PRIMARY KEY (tenant_id, id), "
                "FOREIGN KEY (tenant_id, party_id) REFERENCES core_party (tenant_id, id))",
                *rls_statements("ext_deal"),
                *rls_statements("ext_flag"),
                *rls_statements("ext_history"),
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ext_deal, ext_flag TO {role}",
                f"GRANT SELECT, INSERT ON ext_history TO {role}",
            ):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def test_a_merge_repoints_every_reference_even_from_unknown_tables(
    acme: Workspace, db_url: URL, settings: Settings
) -> None:
    await _tables_core_does_not_know(db_url, settings)
    me = await acme.member("me")
    async with acme.session() as session:
        keep = await services.create_party(
            session,
            me,
            company(
                "Acme Corporation",
                email("info@acme.com"),
                phone("+86 21 6123 4567"),
                tags=("VIP",),
                is_customer=True,
                addresses=(AddressIn(label="billing", line1="1 Road Runner Way"),),
            ),
        )
        merged = await services.create_party(
            session,
            me,
            company(
                "ACME Corp (old)",
                email("sales@acme.com", is_primary=True),
                email("INFO@acme.com"),
                tags=("VIP", "Distributor"),
                is_supplier=True,
                tax_id="91310000MA1FL0XX7X",
                addresses=(AddressIn(label="shipping", line1="2 Canyon Road"),),
            ),
            allow_duplicates=True,
        )
        older = await services.create_party(session, me, company("Acme old old"))
        await services.merge_parties(session, me, merged.id, older.id)
        wile = await services.create_party(session, me, person("Wile E.", company_id=merged.id))
        for statement, values in (
            ("INSERT INTO ext_deal VALUES (:t, :id, :p, 'Anvils')", {"p": merged.id}),
            ("INSERT INTO ext_flag VALUES (:t, :id, :p, 'credit-hold')", {"p": merged.id}),
            ("INSERT INTO ext_flag VALUES (:t, :id, :p, 'credit-hold')", {"p": keep.id}),
            ("INSERT INTO ext_flag VALUES (:t, :id, :p, 'export')", {"p": merged.id}),
            ("INSERT INTO ext_history VALUES (:t, :id, :p)", {"p": merged.id}),
        ):
            await session.execute(
                text(statement), {"t": acme.tenant_id, "id": uuid.uuid4(), **values}
            )

        kept = await services.merge_parties(session, me, keep.id, merged.id)

        assert (kept.is_customer, kept.is_supplier, kept.tax_id) == (
            True,
            True,
            "91310000MA1FL0XX7X",
        )
        assert sorted((p.value_normalised, p.is_primary) for p in kept.contact_points) == [
            ("+862161234567", True),
            ("info@acme.com", True),  # the kept party's primary stays primary
            ("sales@acme.com", False),
        ]
        assert sorted(a.line1 for a in kept.addresses) == ["1 Road Runner Way", "2 Canyon Road"]
        assert kept.tag_names == ["Distributor", "VIP"]
        deals = (await session.execute(text("SELECT party_id, title FROM ext_deal"))).all()
        assert deals == [(keep.id, "Anvils")]
        flags = await session.execute(text("SELECT party_id, flag FROM ext_flag ORDER BY flag"))
        assert flags.all() == [(keep.id, "credit-hold"), (keep.id, "export")]
        history = await session.scalar(text("SELECT party_id FROM ext_history"))
        assert history == merged.id  # history the app may not rewrite keeps its word
        people = await session.scalars(select(Party.company_id).where(Party.id == wile.id))
        assert people.all() == [keep.id]
        gone = await session.execute(
            select(Party.id, Party.merged_into_id, Party.active).where(
                Party.id.in_([merged.id, older.id])
            )
        )
        assert sorted(gone.all()) == sorted(
            [(merged.id, keep.id, False), (older.id, keep.id, False)]
        )
        assert not (
            await session.scalars(
                select(PartyContactPoint.id).where(PartyContactPoint.party_id == merged.id)
            )
        ).all()

        entry = (await audit.entries(session, action="core.party.merged"))[0]
        assert entry.subject_id == keep.id
        assert entry.actor_id == me.user_id
        assert entry.detail["merged_id"] == str(merged.id)
        assert entry.detail["repointed"] == {
            "core_party.company_id": 1,
            "core_party.merged_into_id": 1,
            "core_party_address.party_id": 1,
            "core_party_contact_point.party_id": 1,
            "core_party_tagging.party_id": 1,
            "ext_deal.party_id": 1,
            "ext_flag.party_id": 1,
        }
        assert entry.detail["dropped"] == {
            "core_party_contact_point.party_id": 1,
            "core_party_tagging.party_id": 1,
            "ext_flag.party_id": 1,
        }
        # Merged parties leave the lists and the duplicate checks; their page still answers.
        listed = await services.list_parties(session, me, active=None)
        assert {p.name for p in listed.items} == {"Acme Corporation", "Wile E."}
        assert (await services.get_party(session, me, merged.id)).merged_into_id == keep.id
        assert [
            c.party_id
            for c in await services.find_duplicates(
                session, me, kind="company", name="ACME Corp (old)", emails=["sales@acme.com"]
            )
        ] == [keep.id]


async def test_a_merge_is_refused_when_it_makes_no_sense(acme: Workspace) -> None:
    me = await acme.member("me")
    clerk = await acme.member("clerk", Scope.OWN)
    no_merge = await acme.member("writer", permissions=frozenset({services.READ}))
    async with acme.session() as session:
        a = await services.create_party(session, me, company("Alpha"))
        b = await services.create_party(session, me, company("Beta"))
        c = await services.create_party(session, me, company("Gamma"))
        lone = await services.create_party(session, me, person("Lone"))
        mine = await services.create_party(session, clerk, company("Clerk's"))
        with pytest.raises(ValidationFailed, match="into itself"):
            await services.merge_parties(session, me, a.id, a.id)
        with pytest.raises(ValidationFailed, match="same kind"):
            await services.merge_parties(session, me, a.id, lone.id)
        with pytest.raises(PermissionDenied, match=r"core\.party\.merge"):
            await services.merge_parties(session, no_merge, a.id, b.id)
        with pytest.raises(NotFound, match=str(a.id)):
            await services.merge_parties(session, clerk, mine.id, a.id)
        with pytest.raises(NotFound):
            await services.merge_parties(session, me, a.id, uuid.uuid4())
        await services.merge_parties(session, me, a.id, b.id)
        with pytest.raises(Conflict, match="Beta was already merged"):
            await services.merge_parties(session, me, c.id, b.id)
        with pytest.raises(Conflict, match="Beta was already merged"):
            await services.merge_parties(session, me, b.id, c.id)
        with pytest.raises(Conflict, match="merged into another party"):
            await services.update_party(session, me, b.id, PartyChanges(name="Beta again"))


# --- data scopes -----------------------------------------------------------------------------


async def _names(session, actor: Actor, **filters) -> list[str]:
    return [p.name for p in (await services.list_parties(session, actor, **filters)).items]


async def test_each_scope_sees_its_own_rows_in_lists_details_and_search(acme: Workspace) -> None:
    async with acme.session() as session:
        sales = await create_department(session, "Sales")
        east = await create_department(session, "East", sales.id)
        ops = await create_department(session, "Operations")
    admin = await acme.member("admin")
    owner_only = await acme.member("own", Scope.OWN, department_id=sales.id)
    department = await acme.member("dept", Scope.DEPARTMENT, department_id=sales.id)
    tree = await acme.member(
        "tree", Scope.DEPARTMENT_TREE, department_id=sales.id, department_tree=(sales.id, east.id)
    )
    eastern = await acme.member("east", Scope.OWN, department_id=east.id)
    operator = await acme.member("ops", Scope.OWN, department_id=ops.id)
    nobody = Actor(
        tenant_id=acme.tenant_id,
        user_id=admin.user_id,
        membership_id=admin.membership_id,
        permissions=EVERYTHING,
    )
    async with acme.session() as session:
        created = {}
        for actor, name in (
            (owner_only, "Own Co"),
            (department, "Sales Co"),
            (eastern, "East Co"),
            (operator, "Ops Co"),
            (admin, "Unfiled Co"),
        ):
            party = await services.create_party(
                session, actor, company(name, email(f"x@{name[:3].lower()}.example"))
            )
            created[name] = party.id
        # The department member's own row outside the department is still theirs to see.
        await services.create_party(
            session, department, company("Dept member's Ops Co", department_id=ops.id)
        )

        assert await _names(session, owner_only) == ["Own Co"]
        assert await _names(session, department) == ["Dept member's Ops Co", "Own Co", "Sales Co"]
        assert await _names(session, tree) == ["East Co", "Own Co", "Sales Co"]
        assert await _names(session, admin) == [
            "Dept member's Ops Co",
            "East Co",
            "Ops Co",
            "Own Co",
            "Sales Co",
            "Unfiled Co",
        ]
        assert await _names(session, nobody) == []
        # The list's plan-friendly branches select exactly what visible() allows.
        for actor in (owner_only, department, tree, eastern, operator, admin, nobody):
            allowed = await session.scalars(
                select(Party.name)
                .where(visible(actor, "core.party", Party))
                .order_by(Party.name, Party.id)
            )
            assert await _names(session, actor) == allowed.all()

        for actor, hidden in (
            (owner_only, "Sales Co"),
            (department, "East Co"),
            (tree, "Ops Co"),
            (operator, "Unfiled Co"),
        ):
            with pytest.raises(NotFound):
                await services.get_party(session, actor, created[hidden])
            assert await _names(session, actor, search=hidden) == []
            assert (await services.get_party(session, admin, created[hidden])).name == hidden
        assert await _names(session, tree, search="east") == ["East Co"]
        assert await _names(session, tree, search="x@eas") == ["East Co"]
        assert [p.name async for p in services.export_parties(session, department)] == [
            "Dept member's Ops Co",
            "Own Co",
            "Sales Co",
        ]
        with pytest.raises(PermissionDenied, match=r"core\.party\.read"):
            await services.list_parties(session, await acme.member("none", permissions=frozenset()))


async def test_keyset_pages_and_filters(acme: Workspace) -> None:
    async with acme.session() as session:
        sales = await create_department(session, "Sales")
    admin = await acme.member("admin")
    seller = await acme.member("seller", Scope.DEPARTMENT, department_id=sales.id)
    async with acme.session() as session:
        for n in range(7):
            await services.create_party(
                session,
                seller if n % 2 else admin,
                company(
                    f"Party {n}",
                    phone(f"+86 138 0000 000{n}"),
                    is_customer=n < 4,
                    is_supplier=n >= 2,
                    tags=("even",) if n % 2 == 0 else (),
                ),
            )
        archived = await services.create_party(session, admin, company("Party 9 archived"))
        await services.update_party(session, admin, archived.id, PartyChanges(active=False))

        async def walk(actor: Actor, limit: int, **filters) -> list[list[str]]:
            pages, cursor = [], None
            while True:
                page = await services.list_parties(
                    session, actor, limit=limit, cursor=cursor, **filters
                )
                pages.append([p.name for p in page.items])
                if page.next_cursor is None:
                    return pages
                cursor = page.next_cursor

        assert await walk(admin, 3) == [
            ["Party 0", "Party 1", "Party 2"],
            ["Party 3", "Party 4", "Party 5"],
            ["Party 6"],
        ]
        assert await walk(seller, 2) == [["Party 1", "Party 3"], ["Party 5"]]
        assert await _names(session, admin, role="customer") == [f"Party {n}" for n in range(4)]
        assert await _names(session, admin, role="supplier") == [f"Party {n}" for n in range(2, 7)]
        assert await _names(session, admin, role="both") == ["Party 2", "Party 3"]
        assert await _names(session, admin, tag="even") == [
            "Party 0",
            "Party 2",
            "Party 4",
            "Party 6",
        ]
        assert await _names(session, admin, search="0000 0005") == ["Party 5"]
        assert await _names(session, admin, search="archived") == []
        assert await _names(session, admin, search="archived", active=None) == ["Party 9 archived"]
        assert await _names(session, admin, search="archived", active=False) == ["Party 9 archived"]
        page = await services.list_parties(session, admin, limit=1)
        assert (page.items[0].phone, page.items[0].email) == ("+86 138 0000 0000", None)
        with pytest.raises(ValidationFailed, match="no longer valid"):
            await services.list_parties(session, admin, cursor="not a cursor")
        with pytest.raises(ValidationFailed, match="Unknown role"):
            await services.list_parties(session, admin, role="partner")


async def test_another_tenants_parties_are_out_of_reach(db: Database, acme, make_tenant) -> None:
    other = Workspace(db, (await make_tenant("other-parties")).tenant_id)
    ours, theirs = await acme.member("ours"), await other.member("theirs")
    async with other.session() as session:
        hidden = await services.create_party(
            session, theirs, company("Soylent", email("info@soylent.com"), tags=("VIP",))
        )
    async with acme.session() as session:
        with pytest.raises(NotFound):
            await services.get_party(session, ours, hidden.id)
        assert await _names(session, ours, search="Soylent") == []
        assert not await services.find_duplicates(
            session, ours, kind="company", name="Soylent", emails=["sales@soylent.com"]
        )
        mine = await services.create_party(session, ours, company("Soylent"))
        with pytest.raises(NotFound):
            await services.merge_parties(session, ours, mine.id, hidden.id)
        with pytest.raises(NotFound):
            await services.create_party(session, ours, person("Sol", company_id=hidden.id))
        # RLS is behind the ORM: even a raw read sees only this tenant's rows.
        assert (await session.scalars(text("SELECT name FROM core_party"))).all() == ["Soylent"]
        assert (await session.scalars(text("SELECT name FROM core_party_tag"))).all() == []
        # An actor of the other tenant is refused in this tenant's session.
        with pytest.raises(PermissionDenied):
            await services.list_parties(session, theirs)
