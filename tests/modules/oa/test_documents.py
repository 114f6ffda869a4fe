"""Documents through the services on a real database: the folder tree's rules, each kind of
grant (a department with and without the ones below it, a built-in and a custom role, a
member), inheritance and a folder's own grants overriding it, view against edit, hidden
folders as 404, versions (v1 still downloadable after v2), search by name and tag honouring
the grants, a renamed .exe refused with nothing written, core's orphan sweep keeping
document files (and taking them once the document is deleted), grants audited, and two
workspaces kept apart by RLS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import roles
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEntry, MemberRole
from core.permissions import Actor
from core.records.attachments import sweep_orphan_files
from core.records.models import Attachment
from core.records.storage import LocalFileStore
from modules.oa.models import Document, DocumentFolder, DocumentVersion
from modules.oa.services import documents
from modules.oa.services.documents import GrantIn
from tests.modules.oa.conftest import Office

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" * 4


@pytest.fixture
def store(tmp_path: Path) -> LocalFileStore:
    return LocalFileStore(tmp_path)


async def folder(office: Office, who: Actor, name: str, parent: uuid.UUID | None = None):
    async with office.session() as session:
        return await documents.create_folder(session, who, name, parent)


async def grant(office: Office, boss: Actor, folder_id: uuid.UUID, *wanted: GrantIn) -> None:
    async with office.session() as session:
        await documents.set_grants(session, boss, folder_id, list(wanted))


async def sees(office: Office, who: Actor, folder_id: uuid.UUID) -> bool:
    async with office.session() as session:
        try:
            await documents.open_folder(session, who, folder_id)
        except NotFound:
            return False
        return True


async def upload(office: Office, store, who: Actor, folder_id, name: str, data: bytes, **kw):
    async with office.session() as session:
        return await documents.upload(session, store, who, folder_id, name, data, None, **kw)


async def test_the_tree_keeps_names_unique_moves_whole_branches_and_deletes_only_empty(
    office: Office, store: LocalFileStore
) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    sales = await folder(office, boss, "Sales")
    with pytest.raises(Conflict):
        await folder(office, boss, "sales")  # siblings' names ignore case
    contracts = await folder(office, boss, "Contracts", sales.id)
    archive = await folder(office, boss, "Contracts")  # same name elsewhere is fine
    old = await folder(office, boss, "2025", contracts.id)
    with pytest.raises(ValidationFailed) as into_itself:
        async with office.session() as session:
            await documents.move_folder(session, boss, sales.id, old.id)
    assert into_itself.value.params["field"] == "parent_id"
    with pytest.raises(Conflict):  # a folder "Contracts" is already at the top
        async with office.session() as session:
            await documents.move_folder(session, boss, contracts.id, None)
    async with office.session() as session:
        await documents.move_folder(session, boss, contracts.id, archive.id)
        moved = await documents.open_folder(session, boss, old.id)
    assert moved.path == f"/{archive.id}/{contracts.id}/{old.id}/"
    with pytest.raises(Conflict):
        async with office.session() as session:
            await documents.rename_folder(session, boss, archive.id, "SALES")
    await upload(office, store, boss, old.id, "a.pdf", PDF)
    with pytest.raises(Conflict) as not_empty:
        async with office.session() as session:
            await documents.delete_folder(session, boss, contracts.id)
    assert "not empty" in not_empty.value.message
    async with office.session() as session:
        await documents.delete_folder(session, boss, sales.id)  # empty since the move
        assert await session.get(DocumentFolder, (office.tenant_id, sales.id)) is None
        audited = await session.scalar(
            select(AuditEntry.action).where(AuditEntry.subject_id == sales.id)
        )
    assert audited == "oa.document_folder.deleted"


async def test_department_grants_with_and_without_the_departments_below(office: Office) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    sales = await office.department("Sales")
    east = await office.department("Sales East", sales)
    lin = await office.person("Lin", department=sales)
    mei = await office.person("Mei", department=east)
    zhao = await office.person("Zhao")
    only = await folder(office, boss, "Sales only")
    tree = await folder(office, boss, "All of sales")
    await grant(office, boss, only.id, GrantIn("department", department_id=sales))
    await grant(
        office,
        boss,
        tree.id,
        GrantIn("department", department_id=sales, include_subdepartments=True),
    )
    assert [await sees(office, who, only.id) for who in (lin, mei, zhao)] == [True, False, False]
    assert [await sees(office, who, tree.id) for who in (lin, mei, zhao)] == [True, True, False]
    assert await sees(office, boss, only.id)  # managers see everything


async def test_role_and_member_grants(office: Office) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    hr = await office.member("Hana", custom=["oa.document.read"])
    plain = await office.person("Plain")
    async with office.session() as session:
        hr_role = await session.scalar(
            select(MemberRole.role_id).where(MemberRole.membership_id == hr.membership_id)
        )
    people = await folder(office, boss, "People files")
    everyone = await folder(office, boss, "Handbook")
    mine = await folder(office, boss, "For Plain")
    await grant(office, boss, people.id, GrantIn("role", role=str(hr_role)))
    await grant(office, boss, everyone.id, GrantIn("role", role=roles.MEMBER))
    await grant(office, boss, mine.id, GrantIn("member", user_id=plain.user_id))
    assert [await sees(office, who, people.id) for who in (hr, plain)] == [True, False]
    assert [await sees(office, who, everyone.id) for who in (hr, plain)] == [True, True]
    assert [await sees(office, who, mine.id) for who in (hr, plain)] == [False, True]
    with pytest.raises(ValidationFailed):
        await grant(office, boss, mine.id, GrantIn("role", role="no such role"))
    with pytest.raises(ValidationFailed):  # one grant per member
        await grant(
            office,
            boss,
            mine.id,
            GrantIn("member", user_id=plain.user_id),
            GrantIn("member", user_id=plain.user_id, level="edit"),
        )
    with pytest.raises(PermissionDenied):  # only managers set grants
        await grant(office, plain, mine.id, GrantIn("member", user_id=hr.user_id))


async def test_a_folder_follows_the_one_above_until_it_has_grants_of_its_own(
    office: Office,
) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    lin = await office.person("Lin")
    mei = await office.person("Mei")
    shared = await folder(office, boss, "Shared space")
    assert await sees(office, lin, shared.id)  # no grants anywhere: everyone's
    finance = await folder(office, boss, "Finance")
    reports = await folder(office, boss, "Reports", finance.id)
    secret = await folder(office, boss, "Payroll", finance.id)
    await grant(office, boss, finance.id, GrantIn("member", user_id=lin.user_id))
    await grant(office, boss, secret.id, GrantIn("member", user_id=mei.user_id))
    assert [await sees(office, who, reports.id) for who in (lin, mei)] == [True, False]
    assert [await sees(office, who, secret.id) for who in (lin, mei)] == [False, True]
    async with office.session() as session:
        top = await documents.folder_view(session, mei)
    assert [f.name for f in top.shared] == ["Payroll"]  # reachable from the top level
    assert "Finance" not in [f.name for f in top.folders]
    await grant(office, boss, secret.id)  # no grants of its own: follows Finance again
    assert [await sees(office, who, secret.id) for who in (lin, mei)] == [True, False]


async def test_view_lets_one_read_and_edit_lets_one_change(
    office: Office, store: LocalFileStore
) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    reader = await office.person("Reader")
    writer = await office.person("Writer")
    stranger = await office.person("Stranger")
    specs = await folder(office, boss, "Specs")
    await grant(
        office,
        boss,
        specs.id,
        GrantIn("member", user_id=reader.user_id, level="view"),
        GrantIn("member", user_id=writer.user_id, level="edit"),
    )
    made = await upload(office, store, writer, specs.id, "spec.pdf", PDF, tags="design, Q3")
    assert (made.name, made.tags) == ("spec.pdf", ["design", "q3"])
    await folder(office, writer, "Drafts", specs.id)
    with pytest.raises(PermissionDenied):
        await upload(office, store, reader, specs.id, "mine.pdf", PDF)
    with pytest.raises(PermissionDenied):
        await folder(office, reader, "Mine", specs.id)
    async with office.session() as session:
        _found, chunks = await documents.open_version(session, store, reader, made.id, 1)
        assert b"".join([c async for c in chunks]) == PDF
        with pytest.raises(PermissionDenied):
            await documents.upload_version(session, store, reader, made.id, "v2.pdf", PDF, None)
        with pytest.raises(NotFound):  # hidden is not there, not "forbidden"
            await documents.open_document(session, stranger, made.id)
        with pytest.raises(NotFound):
            await documents.open_folder(session, stranger, specs.id)
        with pytest.raises(NotFound):
            await documents.versions(session, stranger, made.id)


async def test_a_new_version_keeps_the_old_ones(office: Office, store: LocalFileStore) -> None:
    lin = await office.person("Lin")
    mei = await office.person("Mei")
    space = await folder(office, lin, "Team")
    made = await upload(office, store, lin, space.id, "plan.txt", b"first plan\n")
    async with office.session() as session:
        second = await documents.upload_version(
            session, store, mei, made.id, "plan.txt", b"second plan, longer\n", None
        )
    assert second.number == 2
    async with office.session() as session:
        shown = await documents.versions(session, lin, made.id)
        assert [(v.version.number, v.uploaded_by) for v in shown] == [(2, "Mei"), (1, "Lin")]
        assert [v.attachment.size for v in shown] == [20, 11]
        _, old = await documents.open_version(session, store, lin, made.id, 1)
        assert b"".join([c async for c in old]) == b"first plan\n"
        _, current = await documents.open_version(session, store, lin, made.id)
        assert b"".join([c async for c in current]) == b"second plan, longer\n"
        with pytest.raises(NotFound):  # text is downloaded, not shown in the page
            await documents.open_version(session, store, lin, made.id, preview=True)
        with pytest.raises(NotFound):
            await documents.open_version(session, store, lin, made.id, 3)
        listed = (await documents.folder_view(session, lin, space.id)).documents
    assert [(d.document.name, d.version, d.size) for d in listed] == [("plan.txt", 2, 20)]


async def test_search_by_name_and_tag_honours_the_grants(
    office: Office, store: LocalFileStore
) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    lin = await office.person("Lin")
    open_space = await folder(office, boss, "Open")
    closed = await folder(office, boss, "Closed")
    await grant(office, boss, closed.id, GrantIn("member", user_id=boss.user_id))
    await upload(office, store, boss, open_space.id, "Budget 2026.pdf", PDF, tags="finance")
    await upload(office, store, boss, closed.id, "budget secret.pdf", PDF, tags="finance")
    await upload(office, store, boss, open_space.id, "Team photo.png", PNG, tags="fun")
    async with office.session() as session:
        by_name = await documents.search(session, lin, name="BUDGET")
        by_tag = await documents.search(session, lin, tag="Finance")
        both = await documents.search(session, lin, name="photo", tag="finance")
        everything = await documents.search(session, boss, name="budget")
        wildcard = await documents.search(session, lin, name="%")
    assert [d.document.name for d in by_name] == ["Budget 2026.pdf"]
    assert [d.document.name for d in by_tag] == ["Budget 2026.pdf"]
    assert both == []
    assert wildcard == []
    assert sorted(d.document.name for d in everything) == ["Budget 2026.pdf", "budget secret.pdf"]


async def test_a_renamed_exe_is_refused_and_nothing_is_written(
    office: Office, store: LocalFileStore
) -> None:
    lin = await office.person("Lin")
    space = await folder(office, lin, "Team")
    with pytest.raises(ValidationFailed) as refused:
        await upload(office, store, lin, space.id, "invoice.pdf", EXE)
    assert refused.value.params["field"] == "file"
    with pytest.raises(ValidationFailed):  # a PNG called .pdf says otherwise
        await upload(office, store, lin, space.id, "photo.pdf", PNG)
    async with office.session() as session:
        for model in (Document, DocumentVersion, Attachment):
            assert await session.scalar(select(func.count()).select_from(model)) == 0
    assert not any(path.is_file() for path in store.root.rglob("*"))  # nothing stored


async def test_the_orphan_sweep_keeps_document_files_until_the_document_goes(
    office: Office, store: LocalFileStore
) -> None:
    lin = await office.person("Lin")
    space = await folder(office, lin, "Team")
    made = await upload(office, store, lin, space.id, "a.png", PNG)
    async with office.session() as session:
        await documents.upload_version(session, store, lin, made.id, "b.png", PNG, None)
        keys = list(
            await session.scalars(
                select(Attachment.storage_key).where(Attachment.record_id == made.id)
            )
        )
    later = datetime.now(UTC) + timedelta(hours=2)
    async with office.session() as session:
        assert await sweep_orphan_files(session, store, later) == 0
    assert len(keys) == 2
    assert all([await store.exists(k) for k in keys])
    async with office.session() as session:
        await documents.delete_document(session, lin, made.id)
    async with office.session() as session:
        assert await sweep_orphan_files(session, store, later) == 2
    assert not any([await store.exists(k) for k in keys])


async def test_grant_changes_are_audited(office: Office) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    lin = await office.person("Lin")
    space = await folder(office, boss, "Team")
    await grant(office, boss, space.id, GrantIn("member", user_id=lin.user_id, level="edit"))
    await grant(office, boss, space.id)
    async with office.session() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "oa.document_folder.grants_changed")
                .order_by(AuditEntry.id)
            )
        )
    assert [e.actor_id for e in entries] == [boss.user_id, boss.user_id]
    assert entries[0].detail["after"][0]["subject"] == str(lin.user_id)
    assert entries[0].detail["after"][0]["level"] == "edit"
    assert entries[1].detail["before"] == entries[0].detail["after"]
    assert entries[1].detail["after"] == []


async def test_two_workspaces_never_see_each_others_documents(
    office: Office, other_office: Office, store: LocalFileStore
) -> None:
    lin = await office.person("Lin")
    bolt = await other_office.person("Bo", role=roles.ADMIN)
    space = await folder(office, lin, "Team")
    made = await upload(office, store, lin, space.id, "a.pdf", PDF)
    async with other_office.session() as session:
        with pytest.raises(NotFound):
            await documents.open_folder(session, bolt, space.id)
        with pytest.raises(NotFound):
            await documents.open_document(session, bolt, made.id)
        assert (await documents.folder_view(session, bolt)).folders == []
        assert await documents.search(session, bolt, name="a") == []
        for model in (DocumentFolder, Document, DocumentVersion):  # RLS: none of acme's rows
            assert await session.scalar(select(func.count()).select_from(model)) == 0
    await folder(other_office, bolt, "Team")  # the same name in another workspace


async def test_a_document_moves_to_a_folder_one_may_change_and_follows_its_grants(
    office: Office, store: LocalFileStore
) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    writer = await office.person("Writer")
    reader = await office.person("Reader")
    drafts = await folder(office, boss, "Drafts")  # the company space: anyone edits
    board = await folder(office, boss, "Board")
    await grant(
        office,
        boss,
        board.id,
        GrantIn("member", user_id=reader.user_id, level="view"),
        GrantIn("member", user_id=writer.user_id, level="view"),
    )
    secret = await folder(office, boss, "Secret")
    await grant(office, boss, secret.id, GrantIn("member", user_id=boss.user_id, level="edit"))
    archive = await folder(office, boss, "Archive")
    await grant(office, boss, archive.id, GrantIn("member", user_id=writer.user_id, level="edit"))
    made = await upload(office, store, writer, drafts.id, "minutes.pdf", PDF)
    async with office.session() as session:
        with pytest.raises(NotFound):  # a folder the writer cannot see is not there
            await documents.move_document(session, writer, made.id, secret.id)
        with pytest.raises(PermissionDenied):  # one they only read takes nothing in
            await documents.move_document(session, writer, made.id, board.id)
        with pytest.raises(ValidationFailed) as nowhere:
            await documents.move_document(session, writer, made.id, None)
        assert nowhere.value.params["field"] == "folder_id"
    async with office.session() as session:
        moved = await documents.move_document(session, writer, made.id, archive.id)
        assert moved.folder_id == archive.id
    async with office.session() as session:
        with pytest.raises(NotFound):  # the archive's grants now hide it from the reader
            await documents.open_document(session, reader, made.id)
        _, chunks = await documents.open_version(session, store, writer, made.id)
        assert b"".join([c async for c in chunks]) == PDF  # its versions went with it
        logged = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "oa.document.moved")
        )
    assert logged is not None
    assert logged.detail == {"name": "minutes.pdf", "from": str(drafts.id), "to": str(archive.id)}


async def test_an_earlier_version_is_made_current_again_as_a_new_version(
    office: Office, store: LocalFileStore
) -> None:
    boss = await office.person("Boss", role=roles.ADMIN)
    lin = await office.person("Lin")
    mei = await office.person("Mei")
    reader = await office.person("Reader")
    space = await folder(office, lin, "Team")
    await grant(
        office,
        boss,
        space.id,
        GrantIn("member", user_id=lin.user_id, level="edit"),
        GrantIn("member", user_id=mei.user_id, level="edit"),
        GrantIn("member", user_id=reader.user_id, level="view"),
    )
    made = await upload(office, store, lin, space.id, "plan.txt", b"first plan\n")
    async with office.session() as session:
        await documents.upload_version(session, store, lin, made.id, "plan.txt", b"wrong\n", None)
    async with office.session() as session:
        with pytest.raises(PermissionDenied):
            await documents.restore_version(session, store, reader, made.id, 1)
        with pytest.raises(Conflict):  # the current one is current already
            await documents.restore_version(session, store, mei, made.id, 2)
        with pytest.raises(NotFound):
            await documents.restore_version(session, store, mei, made.id, 7)
    async with office.session() as session:
        restored = await documents.restore_version(session, store, mei, made.id, 1)
    assert restored.number == 3
    async with office.session() as session:
        shown = await documents.versions(session, lin, made.id)
        assert [(v.version.number, v.uploaded_by) for v in shown] == [
            (3, "Mei"),
            (2, "Lin"),
            (1, "Lin"),
        ]
        _, current = await documents.open_version(session, store, lin, made.id)
        assert b"".join([c async for c in current]) == b"first plan\n"
        _, wrong = await documents.open_version(session, store, lin, made.id, 2)
        assert b"".join([c async for c in wrong]) == b"wrong\n"  # nothing is lost
    async with office.session() as session:  # each version has a file of its own
        await documents.delete_document(session, lin, made.id)
