"""Import and export: CSV and Excel files read and written, headers mapped in Chinese and
English, dry runs that report every bad row, imports that are all or nothing, exports that
keep to the member's data scope, and workspaces that never see each other's rows."""

from __future__ import annotations

import io
import uuid
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from core import audit
from core.db import Database
from core.errors import PermissionDenied, ValidationFailed
from core.exchange import spreadsheets
from core.exchange.imports import ImportRejected, run_import, suggest_mapping
from core.exchange.parties import PARTY_IMPORT, export_party_list
from core.exchange.products import PRODUCT_IMPORT, export_product_list
from core.exchange.spreadsheets import read_table
from core.models import Membership, User
from core.parties import services as parties
from core.parties.models import Party
from core.parties.schemas import ContactPointIn, PartyIn
from core.permissions import Actor, Scope
from core.products import services as catalogue
from core.products import tax
from core.products.models import Product, ProductCategory

EVERYTHING = frozenset(
    {
        "core.party.read",
        "core.party.write",
        "core.product.read",
        "core.product.write",
        "core.data.import",
    }
)


class Workspace:
    """A tenant with members to act as, and the zh-CN catalogue defaults (units, VAT)."""

    def __init__(self, db: Database, tenant_id: uuid.UUID) -> None:
        self.db, self.tenant_id = db, tenant_id

    async def member(
        self,
        name: str,
        party_scope: Scope = Scope.ALL,
        permissions: frozenset[str] = EVERYTHING,
    ) -> Actor:
        async with self.db.global_transaction() as session:
            user = User(email=f"{name}.{uuid.uuid4().hex[:6]}@exchange.test", display_name=name)
            session.add(user)
        async with self.session() as session:
            membership = Membership(user_id=user.id)
            session.add(membership)
        return Actor(
            tenant_id=self.tenant_id,
            user_id=user.id,
            membership_id=membership.id,
            permissions=permissions,
            scopes={"core.party": party_scope, "core.product": Scope.ALL},
        )

    def session(self):
        return self.db.tenant_transaction(self.tenant_id)

    async def count(self, model) -> int:
        async with self.session() as session:
            return await session.scalar(select(func.count()).select_from(model))


async def _workspace(db: Database, make_tenant, slug: str) -> Workspace:
    ctx = await make_tenant(slug)
    workspace = Workspace(db, ctx.tenant_id)
    async with workspace.session() as session:
        await catalogue.seed_defaults(session, "zh-CN")
    return workspace


@pytest.fixture
async def acme(db: Database, make_tenant) -> Workspace:
    return await _workspace(db, make_tenant, "acme-exchange")


@pytest.fixture
async def globex(db: Database, make_tenant) -> Workspace:
    return await _workspace(db, make_tenant, "globex-exchange")


def csv_file(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def errors_of(report) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.column, e.text()) for e in report.errors]


async def party_rows(workspace: Workspace, actor: Actor) -> list[tuple]:
    """What the member sees of each party, sorted by name the same way in every database."""
    async with workspace.session() as session:
        return sorted(
            [
                (p.name, p.kind, p.is_customer, p.is_supplier, p.email, p.phone)
                async for p in parties.export_parties(session, actor)
            ]
        )


# --- reading and writing files ---------------------------------------------------------------

CHINESE_LIST = (
    "名称;电话;角色",
    "华为技术有限公司;0755-28780808;客户",
    "联想集团;010-58868888;供应商",
)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(csv_file(*CHINESE_LIST, encoding="gb18030"), id="gb18030"),
        pytest.param(csv_file(*CHINESE_LIST, encoding="utf-8-sig"), id="utf-8 with bom"),
        pytest.param(csv_file(*CHINESE_LIST), id="utf-8"),
        pytest.param(csv_file(*CHINESE_LIST, encoding="utf-16"), id="utf-16 with bom"),
        pytest.param(
            csv_file(*(line.replace(";", "\t") for line in CHINESE_LIST), encoding="gb18030"),
            id="gb18030 tab-separated",
        ),
    ],
)
def test_csv_is_read_in_the_encodings_and_delimiters_excel_writes(data: bytes) -> None:
    table = read_table(data)
    assert table.headers == ("名称", "电话", "角色")
    assert [(r.number, r.cells) for r in table.rows] == [
        (2, ("华为技术有限公司", "0755-28780808", "客户")),
        (3, ("联想集团", "010-58868888", "供应商")),
    ]


def test_rows_keep_their_spreadsheet_numbers_and_blank_rows_are_skipped() -> None:
    table = read_table(csv_file("", "Name,Phone", "Acme,", ",", '"Multi', 'line",123', "Beta,9"))
    assert table.headers == ("Name", "Phone")
    assert [(r.number, r.cells) for r in table.rows] == [
        (3, ("Acme",)),
        (5, ("Multi\nline", "123")),
        (6, ("Beta", "9")),
    ]
    one_column = read_table(csv_file("Name", "Acme, Inc.", "Beta"))  # no delimiter in the header
    assert [r.cells for r in one_column.rows] == [("Acme, Inc.",), ("Beta",)]
    semicolons = read_table(csv_file("Name;Price", "Acme, Inc.;1,234.50"))
    assert semicolons.rows[0].cells == ("Acme, Inc.", "1,234.50")


def test_excel_cells_read_as_the_text_the_user_sees() -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["SKU", "Phone", "Price", "Tax", "Since"])
    sheet.append(["A-1", 13812345678.0, 12.5, 0.13, None, None])
    sheet["D2"].number_format = "0%"
    sheet.append([])
    sheet.append(["A-2", None, 3, 0.09])
    sheet["D4"].number_format = "0.00%"
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue())
    assert table.headers == ("SKU", "Phone", "Price", "Tax", "Since")
    assert [(r.number, r.cells) for r in table.rows] == [
        (2, ("A-1", "13812345678", "12.5", "13%")),
        (4, ("A-2", "", "3", "9%")),
    ]


def test_written_files_open_right_in_excel_and_text_is_never_a_formula() -> None:
    rows = [['=HYPERLINK("http://evil")', "+86 138 1234 5678", Decimal("12.50"), None]]
    data = spreadsheets.write_csv(["Name", "Phone", "Price", "Notes"], rows)
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert b"'=HYPERLINK" in data
    assert b"'+86 138" in data
    assert read_table(data).rows[0].cells == (rows[0][0], rows[0][1], "12.50")

    book = load_workbook(
        io.BytesIO(spreadsheets.write_xlsx(["Name", "Phone", "Price", "Notes"], rows, "名单"))
    )
    sheet = book.active
    assert sheet.title == "名单"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet["A2"].data_type == "s"
    assert sheet["A2"].value == rows[0][0]
    assert sheet["C2"].value == 12.5  # a number stays a number: the sheet can sum it


def test_files_past_the_limits_or_of_unknown_kinds_are_refused_clearly() -> None:
    too_many = csv_file("Name", *(f"P{n}" for n in range(spreadsheets.MAX_ROWS + 1)))
    with pytest.raises(ValidationFailed, match="at most 10000 rows"):
        read_table(too_many)
    read_table(csv_file("Name", *(f"P{n}" for n in range(spreadsheets.MAX_ROWS))))
    with pytest.raises(ValidationFailed, match="at most 10 MB"):
        read_table(b"a" * (spreadsheets.MAX_BYTES + 1))
    with pytest.raises(ValidationFailed, match=r"at most 200 columns"):
        read_table(csv_file(",".join(f"c{n}" for n in range(201))))
    with pytest.raises(ValidationFailed, match=r"Old Excel files \(.xls\)"):
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(ValidationFailed, match="not a readable Excel"):
        read_table(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValidationFailed, match="The file is empty"):
        read_table(b"\r\n\r\n")
    with pytest.raises(ValidationFailed, match="neither UTF-8 nor GB18030"):
        read_table(b"Name\n\x81\x20\xff\n")


# --- mapping ---------------------------------------------------------------------------------


def test_headers_are_mapped_in_chinese_and_english() -> None:
    chinese = ["名称*", "电话", "邮箱", "角色", "地址", "省份", "备注", "负责人"]
    assert suggest_mapping(chinese, PARTY_IMPORT) == {
        0: "name",
        1: "phone",
        2: "email",
        3: "role",
        4: "address",
        5: "region",
        6: "notes",
    }
    english = ["Company", "Telephone", "E-Mail", "Customer or supplier", "Zip", "Phone"]
    assert suggest_mapping(english, PARTY_IMPORT) == {
        0: "name",
        1: "phone",
        2: "email",
        3: "role",
        4: "postcode",
    }  # the second phone column is left for the user to choose
    assert suggest_mapping(["编码", "品名", "单位", "售价", "税率", "条形码"], PRODUCT_IMPORT) == {
        0: "sku",
        1: "name",
        2: "unit",
        3: "sale_price",
        4: "tax_rate",
        5: "barcode",
    }
    assert suggest_mapping(
        ["ＳＫＵ", "Product name", "UoM", "Cost", "Category"], PRODUCT_IMPORT
    ) == {
        0: "sku",
        1: "name",
        2: "unit",
        3: "standard_cost",
        4: "category",
    }


async def test_a_mapping_must_cover_the_required_fields_once(acme: Workspace) -> None:
    admin = await acme.member("admin")
    table = read_table(csv_file("SKU,Name,Unit,Other", "A-1,Bolt,pcs,x"))
    async with acme.session() as session:
        with pytest.raises(ValidationFailed, match="Choose the column for Unit: it is required"):
            await run_import(
                session, admin, PRODUCT_IMPORT, table, {0: "sku", 1: "name"}, dry_run=True
            )
        with pytest.raises(ValidationFailed, match="Name is mapped to two columns"):
            await run_import(
                session,
                admin,
                PRODUCT_IMPORT,
                table,
                {0: "sku", 1: "name", 2: "unit", 3: "name"},
                dry_run=True,
            )
        with pytest.raises(ValidationFailed, match="Unknown field colour"):
            await run_import(
                session, admin, PRODUCT_IMPORT, table, {0: "sku", 3: "colour"}, dry_run=True
            )
        with pytest.raises(ValidationFailed, match="no column 9"):
            await run_import(
                session,
                admin,
                PRODUCT_IMPORT,
                table,
                {0: "sku", 1: "name", 8: "unit"},
                dry_run=True,
            )


# --- imports ---------------------------------------------------------------------------------


async def test_a_dry_run_reports_every_bad_row_and_writes_nothing(acme: Workspace) -> None:
    admin = await acme.member("admin")
    async with acme.session() as session:
        hardware = await catalogue.create_category(session, "Hardware")
        await catalogue.create_category(session, "Screws", hardware.id)
        tools = await catalogue.create_category(session, "Tools")
        await catalogue.create_category(session, "Screws", tools.id)
        pcs = await catalogue.unit_by_code(session, "pcs")
        await catalogue.create_product(session, sku="EXIST-1", name="Old", uom_id=pcs.id)
        kilogram = (await catalogue.unit_by_code(session, "kg")).name  # a unit by its name
    data = csv_file(
        "SKU,名称,单位,售价,分类,税率,条码",
        "",
        'A-1,Good bolt,pcs,"1,234.50",Hardware / Screws,13%,',
        "A-2,,pcs,10,,,",
        "A-3,Bad price,PCS,12.345,,,",
        "A-4,Bad unit,crate,1,,,",
        "A-5,Unknown category,kg,1,Garden,,",
        "a-1,Repeated SKU,pcs,1,,,",
        "exist-1,Taken SKU,pcs,1,,,",
        "A-8,Ambiguous category,pcs,1,Screws,,",
        "A-9,Fraction tax,pcs,1,,0.13,",
        "A-10,Bad barcode,pcs,1,,,4006381333932",
        "A-11,Two errors,crate,-1,,,",
        f"A-12,Good nut,{kilogram},0.5,Tools / Screws,9,4006381333931",
        "A-13,Missing rate,pcs,1,,7%,",
        "A-14,Same barcode,pcs,1,,,4006381333931",
    )
    table = read_table(data)
    mapping = suggest_mapping(table.headers, PRODUCT_IMPORT)
    assert len(mapping) == 7
    before = await acme.count(Product)
    async with acme.session() as session:
        report = await run_import(session, admin, PRODUCT_IMPORT, table, mapping, dry_run=True)
    assert report.dry_run
    assert not report.ok
    assert (report.rows, report.imported) == (14, 2)
    assert errors_of(report) == [
        (4, "名称", "名称 is required."),
        (5, "售价", "12.345 has more than 2 decimal places."),
        (6, "单位", "There is no unit crate."),
        (
            7,
            "分类",
            "There is no product category Garden; create it first or correct the name.",
        ),
        (8, "SKU", "The same SKU is already on row 3."),
        (9, None, "There is already a product with the SKU exist-1."),
        (
            10,
            "分类",
            "Several product categories are called Screws; write the whole path, such as "
            "Hardware / Screws.",
        ),
        (11, "税率", "Is 0.13 a percentage? Write a tax rate such as 13%."),
        (
            12,
            None,
            "The barcode 4006381333932 has a wrong check digit for an EAN-13 or UPC-A.",
        ),
        (13, "单位", "There is no unit crate."),
        (13, "售价", "-1 is below 0."),
        (15, "税率", "There is no active tax rate of 7%."),
        (16, "条码", "The same 条码 is already on row 14."),
    ]
    assert await acme.count(Product) == before  # nothing written, not even the good rows


async def test_a_real_import_with_one_bad_row_writes_nothing(acme: Workspace) -> None:
    admin = await acme.member("admin")
    table = read_table(
        csv_file(
            "Name,E-mail,Phone,Role",
            "Acme Trading,sales@acme.test,021-6123 4567,Customer",
            "Beta Logistics,bob@beta,,Supplier",  # no address: the one bad row
            "Gamma Foods,info@gamma.test,,Both",
        )
    )
    mapping = suggest_mapping(table.headers, PARTY_IMPORT)
    before = await acme.count(Party)
    async with acme.session() as session:
        with pytest.raises(ImportRejected) as rejected:
            await run_import(session, admin, PARTY_IMPORT, table, mapping, dry_run=False)
        # The caller's transaction goes on and may even commit: the import left nothing in it.
        assert await session.scalar(select(func.count()).select_from(Party)) == before
    assert await acme.count(Party) == before
    error = rejected.value
    assert (error.status_code, error.code) == (422, "import_rejected")
    assert str(error) == "Rows with errors: 1. Nothing was imported."
    assert errors_of(error.report) == [(3, "E-mail", "bob@beta is not an e-mail address.")]
    assert error.to_dict()["errors"] == [
        {
            "row": 3,
            "column": "E-mail",
            "field": "email",
            "code": "validation_failed",
            "message": "{email} is not an e-mail address.",
            "params": {"email": "bob@beta"},
            "text": "bob@beta is not an e-mail address.",
        }
    ]
    async with acme.session() as session:
        assert not await audit.entries(session, action="core.data.imported")


async def test_a_clean_import_writes_every_row(acme: Workspace) -> None:
    importer = await acme.member("importer", Scope.OWN)
    table = read_table(
        csv_file(
            "类型,名称,角色,电话,邮箱,地址,城市,国家,标签,税号,备注",
            "公司,上海贝尔有限公司,客户,021-6123 4567,info@bell.test,宁桥路388号,上海,中国,"
            "VIP、华东,91310000607200000x,老客户",
            "公司,深圳华强,供应商,,,,,,,,",
            "个人,王小明,两者,13812345678,,,,,,,",
            "Person,Li Lei,customer,,li@lei.test,1 Main St,London,GB,,,",
        ),
    )
    mapping = suggest_mapping(table.headers, PARTY_IMPORT)
    assert len(mapping) == len(table.headers)
    async with acme.session() as session:
        report = await run_import(session, importer, PARTY_IMPORT, table, mapping, dry_run=False)
    assert report.ok
    assert (report.rows, report.imported) == (4, 4)
    assert await party_rows(acme, importer) == [
        ("Li Lei", "person", True, False, "li@lei.test", None),
        ("上海贝尔有限公司", "company", True, False, "info@bell.test", "021-6123 4567"),
        ("深圳华强", "company", False, True, None, None),
        ("王小明", "person", True, True, None, "13812345678"),
    ]
    async with acme.session() as session:
        bell_id = (await parties.list_parties(session, importer, search="上海贝尔")).items[0].id
        bell = await parties.get_party(session, importer, bell_id)
        assert bell.owner_id == importer.user_id  # an import creates what the member owns
        assert bell.tag_names == ["VIP", "华东"]
        assert bell.tax_id == "91310000607200000X"
        assert bell.notes == "老客户"
        [address] = bell.addresses
        assert (address.line1, address.city, address.country) == ("宁桥路388号", "上海", "CN")
        [entry] = await audit.entries(session, action="core.data.imported")
        assert (entry.actor_id, entry.subject_type, entry.detail) == (
            importer.user_id,
            "core.party",
            {"rows": 4},
        )


async def test_duplicates_in_the_file_and_in_the_workspace_are_bad_rows(acme: Workspace) -> None:
    admin = await acme.member("admin")
    async with acme.session() as session:
        await parties.create_party(session, admin, PartyIn(kind="company", name="Hooli Ltd"))
    table = read_table(
        csv_file(
            "名称,电话,角色",
            "Initech,138 1234 5678,客户",
            "INITECH,13812345678,客户",  # the same name and phone as row 2
            "Initech,139 0000 0000,客户",  # the same name, another phone: the workspace objects
            "HOOLI,,供应商",
            "Vandelay,,进口商",
        )
    )
    async with acme.session() as session:
        report = await run_import(
            session,
            admin,
            PARTY_IMPORT,
            table,
            suggest_mapping(table.headers, PARTY_IMPORT),
            dry_run=True,
        )
    assert errors_of(report) == [
        (3, "名称", "The same 名称 + 电话 is already on row 2."),
        (4, None, "This looks like Initech, which already exists."),
        (5, None, "This looks like Hooli Ltd, which already exists."),
        (6, "角色", "进口商 is not customer, supplier or both."),
    ]


async def test_importing_needs_the_import_and_the_write_permission(acme: Workspace) -> None:
    reader = await acme.member("reader", permissions=frozenset({"core.party.write"}))
    writer_only = await acme.member(
        "clerk", permissions=frozenset({"core.data.import", "core.party.write"})
    )
    table = read_table(csv_file("SKU,Name,Unit", "A-1,Bolt,pcs"))
    mapping = suggest_mapping(table.headers, PRODUCT_IMPORT)
    async with acme.session() as session:
        with pytest.raises(PermissionDenied, match=r"core\.data\.import"):
            await run_import(session, reader, PRODUCT_IMPORT, table, mapping, dry_run=True)
        with pytest.raises(PermissionDenied, match=r"core\.product\.write"):
            await run_import(session, writer_only, PRODUCT_IMPORT, table, mapping, dry_run=True)
        with pytest.raises(PermissionDenied, match=r"core\.product\.read"):
            await export_product_list(session, writer_only, "csv")


# --- round trips, scopes and workspaces ------------------------------------------------------


async def test_parties_go_from_one_workspace_to_another_by_csv(
    acme: Workspace, globex: Workspace
) -> None:
    admin, other = await acme.member("admin"), await globex.member("admin")
    email = ContactPointIn(kind="email", value="sales@acme.test")
    phone = ContactPointIn(kind="phone", value="+86 21 6123 4567")
    async with acme.session() as session:
        for data in (
            PartyIn(kind="company", name="Acme Trading", is_customer=True, contact_points=(email,)),
            PartyIn(
                kind="company", name="华为技术有限公司", is_supplier=True, contact_points=(phone,)
            ),
            PartyIn(kind="person", name="王小明", is_customer=True, is_supplier=True),
            PartyIn(kind="company", name="=SUM(A1:A9) Ltd"),  # text Excel must not run
        ):
            await parties.create_party(session, admin, data)
        exported = await export_party_list(session, admin, "csv")
    assert b"'=SUM(A1:A9) Ltd" in exported
    table = read_table(exported)
    mapping = suggest_mapping(table.headers, PARTY_IMPORT)
    assert sorted(mapping.values()) == ["email", "kind", "name", "phone", "role"]
    async with globex.session() as session:
        report = await run_import(session, other, PARTY_IMPORT, table, mapping, dry_run=False)
    assert (report.rows, report.imported) == (4, 4)
    acme_rows = await party_rows(acme, admin)
    assert await party_rows(globex, other) == acme_rows
    assert len(acme_rows) == 4  # the import touched Globex only
    async with acme.session() as session:
        acme_ids = {p.id async for p in parties.export_parties(session, admin)}
    async with globex.session() as session:
        globex_ids = {p.id async for p in parties.export_parties(session, other)}
    assert not acme_ids & globex_ids


async def test_products_go_from_one_workspace_to_another_by_excel(
    acme: Workspace, globex: Workspace
) -> None:
    admin, other = await acme.member("admin"), await globex.member("admin")
    screws = {}
    for workspace in (acme, globex):
        async with workspace.session() as session:
            hardware = await catalogue.create_category(session, "Hardware")
            screws[workspace] = await catalogue.create_category(session, "Screws", hardware.id)
            tools = await catalogue.create_category(session, "Tools")
            await catalogue.create_category(session, "Screws", tools.id)
    async with acme.session() as session:
        six = next(r for r in await tax.tax_rates(session) if r.rate == Decimal("0.06"))
        kg, hour = (
            await catalogue.unit_by_code(session, "kg"),
            await catalogue.unit_by_code(session, "h"),
        )
        await catalogue.create_product(
            session,
            sku="SCR-001",
            name="Wood screw 4x40",
            uom_id=kg.id,
            category_id=screws[acme].id,
            sale_price=Decimal("12.50"),
            standard_cost=Decimal("8"),
            tax_rate_id=(await tax.default_tax_rate(session, "sale")).id,
            barcode="4006381333931",
        )
        await catalogue.create_product(
            session,
            sku="svc-1",
            name="安装服务",
            uom_id=hour.id,
            kind="service",
            tax_rate_id=six.id,
        )
        await catalogue.create_product(
            session, sku="TOOL-9", name="Hammer", uom_id=kg.id, kind="consumable"
        )
        exported = await export_product_list(session, admin, "xlsx")
    sheet = load_workbook(io.BytesIO(exported)).active
    assert [c.value for c in sheet[1]] == [
        "SKU",
        "Name",
        "Product type",
        "Category",
        "Unit",
        "Sale price",
        "Cost",
        "Tax rate",
        "Barcode",
    ]
    assert all(c.font.bold for c in sheet[1])
    assert [c.value for c in sheet[2]][:5] == [
        "SCR-001",
        "Wood screw 4x40",
        "Stockable",
        "Hardware / Screws",
        "kg",
    ]
    table = read_table(exported)
    mapping = suggest_mapping(table.headers, PRODUCT_IMPORT)
    assert len(mapping) == 9
    async with globex.session() as session:
        report = await run_import(session, other, PRODUCT_IMPORT, table, mapping, dry_run=False)
    assert (report.rows, report.imported) == (3, 3)

    async def catalogue_of(workspace: Workspace) -> list[tuple]:
        async with workspace.session() as session:
            rates = {r.id: r.rate for r in await tax.tax_rates(session, include_inactive=True)}
            units = {u.id: u.code for u in await catalogue.units(session)}
            categories = {c.id: c for c in await session.scalars(select(ProductCategory))}

            def path(category_id):
                if category_id is None:
                    return None
                category = categories[category_id]
                return (path(category.parent_id), category.name)

            return [
                (
                    p.sku,
                    p.name,
                    p.kind,
                    path(p.category_id),
                    units[p.uom_id],
                    p.sale_price,
                    p.standard_cost,
                    rates.get(p.tax_rate_id),
                    p.barcode,
                )
                for p in await catalogue.list_products(session)
            ]

    acme_catalogue = await catalogue_of(acme)
    assert len(acme_catalogue) == 3
    assert await catalogue_of(globex) == acme_catalogue
    async with acme.session() as session:
        acme_ids = {p.id for p in await catalogue.list_products(session)}
    async with globex.session() as session:
        assert not acme_ids & {p.id for p in await catalogue.list_products(session)}


async def test_a_member_who_sees_their_own_parties_exports_only_those(acme: Workspace) -> None:
    boss = await acme.member("boss")
    anna = await acme.member("anna", Scope.OWN, frozenset({"core.party.read", "core.party.write"}))
    ben = await acme.member("ben", Scope.OWN, frozenset({"core.party.read", "core.party.write"}))
    async with acme.session() as session:
        await parties.create_party(session, boss, PartyIn(kind="company", name="Boss Co"))
        await parties.create_party(session, anna, PartyIn(kind="company", name="Anna Co"))
        await parties.create_party(session, anna, PartyIn(kind="person", name="Anna's friend"))
        await parties.create_party(session, ben, PartyIn(kind="company", name="Ben Co"))
        names = {}
        for who, actor in (("anna", anna), ("ben", ben), ("boss", boss)):
            for file_format in ("csv", "xlsx"):
                table = read_table(await export_party_list(session, actor, file_format))
                names[who, file_format] = [row.cells[1] for row in table.rows]
    assert names["anna", "csv"] == names["anna", "xlsx"] == ["Anna Co", "Anna's friend"]
    assert names["ben", "csv"] == names["ben", "xlsx"] == ["Ben Co"]
    assert names["boss", "csv"] == ["Anna Co", "Anna's friend", "Ben Co", "Boss Co"]


async def test_an_export_asks_for_csv_or_xlsx(acme: Workspace) -> None:
    admin = await acme.member("admin")
    async with acme.session() as session:
        with pytest.raises(ValidationFailed, match="Export as csv or xlsx"):
            await export_party_list(session, admin, "pdf")


async def test_a_long_catalogue_is_imported_and_exported_whole(acme: Workspace) -> None:
    admin = await acme.member("admin")
    count = 1001  # two full export pages and one more row; SKUs in mixed case, as people type them
    skus = [f"{'p' if n % 2 else 'P'}-{n:05d}" for n in range(count)]
    table = read_table(csv_file("SKU,Name,Unit,Price", *(f"{s},Item {s},pcs,1.5" for s in skus)))
    async with acme.session() as session:
        report = await run_import(
            session,
            admin,
            PRODUCT_IMPORT,
            table,
            {0: "sku", 1: "name", 2: "unit", 3: "sale_price"},
            dry_run=False,
        )
        assert report.imported == count
        exported = read_table(await export_product_list(session, admin, "csv"))
    assert [row.cells[0] for row in exported.rows] == skus
    assert {row.cells[5] for row in exported.rows} == {"1.50"}
