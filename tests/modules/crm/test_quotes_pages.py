"""Quotes over real HTTP and real mail: the pages and their forms, the PDF (Chinese text in
the built-in CID font, read back with pypdf), sending it by SMTP as an attachment (the
development mailbox lists the attachment's name), the stock column that appears only when
an enabled module keeps stock, "Make a contract" once accepted, and the JSON API."""

from __future__ import annotations

import io
from decimal import Decimal

import httpx
import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from core import mail, roles
from core.db import Database
from core.models import Tenant
from core.parties import services as parties
from core.parties.schemas import ContactPointIn, PartyIn
from core.plugins.registry import ModuleRegistry
from core.products import tax
from core.records.storage import file_store
from core.settings import Settings
from modules.crm.models import Quote
from modules.crm.schemas.sales import QuoteLineIn
from modules.crm.services import quotes
from tenants import settings as workspace_settings
from tests.conftest import Browser
from tests.core.test_mail_tokens import Inbox, smtp_server  # noqa: F401  (the SMTP fixture)
from tests.modules.crm.conftest import SalesFloor
from tests.modules.crm.test_opportunities import customer, product
from tests.modules.crm.test_quotes import quote
from tests.web.test_parties_api import HTML, the_test_owner
from tests.web.test_recovery_pages import csrf


def png_logo() -> bytes:
    """A real PNG (Pillow comes with reportlab): 40 × 20 pixels of navy."""
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "navy").save(out, "PNG")
    return out.getvalue()


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
async def zhong(db: Database, make_tenant, registry: ModuleRegistry) -> SalesFloor:
    """A Chinese workspace with CRM: CNY, the PRC's VAT rates, a company profile."""
    floor = SalesFloor(db, registry, await make_tenant("zhong", "crm", locale="zh-CN", seed=True))
    async with db.global_transaction() as session:
        tenant = await session.get(Tenant, floor.tenant_id)
        tenant.legal_name = "杭州中茶贸易有限公司"
        tenant.address_line1 = "西湖区龙井路 1 号"
        tenant.tax_number = "91330100MA2GXXXX0X"
    return floor


async def chinese_quote(floor: SalesFloor, actor) -> Quote:
    async with floor.session() as session:
        party = await parties.create_party(
            session,
            actor,
            PartyIn(
                kind="company",
                name="上海茶叶公司",
                is_customer=True,
                contact_points=(ContactPointIn(kind="email", value="buyer@tea.example"),),
            ),
            allow_duplicates=True,
        )
        vat = await tax.default_tax_rate(session, "sale")
    tea = await product(floor, "LJ-01", "明前龙井茶", "1280.00", tax_rate_id=vat.id)
    return await quote(floor, actor, party.id, QuoteLineIn(product_id=tea, quantity=Decimal(2)))


async def test_the_pdf_shows_the_company_the_lines_and_chinese_text(zhong: SalesFloor) -> None:
    owner = await zhong.member("Owner", role=roles.OWNER)
    made = await chinese_quote(zhong, owner)
    async with zhong.session() as session:
        pdf = await quotes.quote_pdf_bytes(session, zhong.ctx, None, made)
    text = pdf_text(pdf)
    assert made.number in text
    assert "明前龙井茶" in text
    assert "上海茶叶公司" in text
    assert "杭州中茶贸易有限公司" in text
    assert "91330100MA2GXXXX0X" in text
    assert "¥2,892.80" in text  # 2 × 1,280.00 + 13 % VAT, in the workspace's number format


async def test_sending_mails_the_pdf_as_an_attachment_and_marks_it_sent(
    zhong: SalesFloor,
    db: Database,
    settings: Settings,
    smtp_server: tuple[Inbox, int],  # noqa: F811
) -> None:
    inbox, port = smtp_server
    mailer = mail.SmtpMailer(mail.SmtpSettings(host="127.0.0.1", port=port, use_tls=False), db)
    owner = await zhong.member("Owner", role=roles.OWNER)
    made = await chinese_quote(zhong, owner)
    async with zhong.session() as session:
        with pytest.raises(quotes.ValidationFailed):
            await quotes.send_quote(session, owner, zhong.ctx, mailer, None, made.id, "nobody")
    async with zhong.session() as session:
        done = await quotes.send_quote(session, owner, zhong.ctx, mailer, None, made.id)
        assert (done.status, done.sent_at is not None) == ("sent", True)
    await mail.drain()
    [message] = inbox.to("buyer@tea.example")
    assert made.number in message["Subject"]
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == f"{made.number}.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert "明前龙井茶" in pdf_text(attached.get_content())
    async with db.global_transaction() as session:
        [record] = await mail.recent(session, limit=1)
        assert record.attachment_names == [f"{made.number}.pdf"]


@pytest.fixture
async def owner(db: Database, floor: SalesFloor, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def test_the_quote_page_builds_sends_and_accepts_a_quote(
    owner: httpx.AsyncClient, floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    page = await owner.get("/t/acme/crm/quotes/new", headers=HTML)
    token = csrf(page)
    made = await owner.post(
        "/t/acme/crm/quotes/new",
        data={
            "_csrf_token": token,
            "party_id": str(party),
            "valid_until": "2099-01-31",
            "notes": "",
        },
        headers=HTML,
    )
    assert made.status_code == 303, made.text
    here = made.headers["location"]
    page = await owner.get(here, headers=HTML)
    assert page.status_code == 200
    assert 'id="stock-column"' not in page.text  # no enabled module keeps stock
    assert 'id="record-timeline"' in page.text
    line = {
        "_csrf_token": token,
        "product_id": str(tea),
        "description": "",
        "quantity": "2",
        "unit_price": "",
        "discount_percent": "10",
        "tax_rate_id": "",
    }
    assert (await owner.post(f"{here}/lines", data=line, headers=HTML)).status_code == 303
    refused = await owner.post(
        f"{here}/lines", data={**line, "discount_percent": "120"}, headers=HTML
    )
    assert refused.status_code == 422
    assert 'aria-describedby="line-discount_percent-error"' in refused.text
    page = await owner.get(here, headers=HTML)
    assert "$158.40" in page.text.split('id="quote-total"')[1][:80]  # 176 less 10 %

    no_address = await owner.post(
        f"{here}/send", data={"_csrf_token": token, "to": ""}, headers=HTML
    )
    assert no_address.status_code == 422
    assert "Enter an e-mail address" in no_address.text
    sent_page = await owner.post(
        f"{here}/send", data={"_csrf_token": token, "to": "buyer@tea.example"}, headers=HTML
    )
    assert sent_page.status_code == 303
    await mail.drain()
    mailbox = await owner.get("/dev/mailbox", headers=HTML)
    number = (await owner.get(f"/api/t/acme{here.removeprefix('/t/acme')}")).json()["number"]
    assert f"{number}.pdf" in mailbox.text.split("buyer@tea.example")[1]

    pdf = await owner.get(f"{here}/pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert number in pdf_text(pdf.content)
    accepted = await owner.post(f"{here}/accept", data={"_csrf_token": token}, headers=HTML)
    assert accepted.status_code == 303
    page = await owner.get(here, headers=HTML)
    assert f"/t/acme/crm/contracts/new?quote_id={here.rsplit('/', 1)[1]}" in page.text
    again = await owner.post(f"{here}/accept", data={"_csrf_token": token}, headers=HTML)
    assert again.status_code == 409
    assert "Only a sent quote can be accepted or rejected." in again.text


async def test_the_stock_column_appears_when_an_enabled_module_keeps_stock(
    db: Database, make_tenant, registry: ModuleRegistry, browser: Browser
) -> None:
    floor = SalesFloor(db, registry, await make_tenant("stocked", "crm", "sample", seed=True))
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    made = await quote(floor, admin, party, QuoteLineIn(product_id=tea, quantity=Decimal(20)))
    http = await browser(await the_test_owner(db))
    page = await http.get(f"/t/stocked/crm/quotes/{made.id}", headers=HTML)
    assert 'id="stock-column"' in page.text
    stock_cell = page.text.split('class="stock">')[1].split("</td>")[0]
    assert stock_cell.startswith("12")
    assert "short" in stock_cell
    api = (await http.get(f"/api/t/stocked/crm/quotes/{made.id}")).json()
    assert api["stock"] == {str(tea): "12"}


async def test_the_api_writes_sends_and_revises_quotes(
    owner: httpx.AsyncClient, floor: SalesFloor, other_floor: SalesFloor
) -> None:
    admin = await floor.member("Admin", role=roles.ADMIN)
    party = await customer(floor, admin)
    tea = await product(floor, "TEA", "Longjing tea", "88.00")
    made = await owner.post(
        "/api/t/acme/crm/quotes",
        json={"party_id": str(party), "lines": [{"product_id": str(tea), "quantity": "1"}]},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["status"], body["total"], body["stock"]) == ("draft", "88.00", None)
    qid = body["id"]
    changed = await owner.put(
        f"/api/t/acme/crm/quotes/{qid}/lines",
        json={"lines": [{"product_id": str(tea), "quantity": "3", "unit_price": "80.5"}]},
    )
    assert changed.json()["subtotal"] == "241.50"
    no_mail = await owner.post(f"/api/t/acme/crm/quotes/{qid}/send", json={})
    assert no_mail.status_code == 422  # the customer has no e-mail address
    assert no_mail.json()["error"]["field"] == "to"
    sent_quote = await owner.post(
        f"/api/t/acme/crm/quotes/{qid}/send", json={"to": "buyer@tea.example"}
    )
    assert sent_quote.json()["status"] == "sent"
    rejected = await owner.post(f"/api/t/acme/crm/quotes/{qid}/reject")
    assert rejected.json()["status"] == "rejected"
    revised = await owner.post(f"/api/t/acme/crm/quotes/{qid}/revise")
    assert (revised.json()["revision"], revised.json()["status"]) == (2, "draft")
    assert revised.json()["number"] == body["number"]
    listed = await owner.get("/api/t/acme/crm/quotes", params={"status": "superseded"})
    assert [q["id"] for q in listed.json()["items"]] == [qid]
    pdf = await owner.get(f"/api/t/acme/crm/quotes/{revised.json()['id']}/pdf")
    assert pdf.headers["content-disposition"] == f'attachment; filename="{body["number"]}-R2.pdf"'
    stranger = await owner.get(f"/api/t/bolt/crm/quotes/{qid}")  # another workspace's URL
    assert stranger.status_code == 404
    async with other_floor.session() as session:
        assert (await session.scalars(select(Quote))).all() == []


async def test_the_pdf_carries_the_workspace_logo(zhong: SalesFloor, settings: Settings) -> None:
    owner = await zhong.member("Owner", role=roles.OWNER)
    made = await chinese_quote(zhong, owner)
    store = file_store(settings)
    async with zhong.session() as session:
        without = await quotes.quote_pdf_bytes(session, zhong.ctx, store, made)
        await workspace_settings.set_logo(session, store, zhong.ctx, "logo.png", png_logo())
    async with zhong.session() as session:
        with_logo = await quotes.quote_pdf_bytes(session, zhong.ctx, store, made)
    assert b"/Subtype /Image" not in without
    assert b"/Subtype /Image" in with_logo
    assert made.number in pdf_text(with_logo)
