"""Translations: every product string has a zh-CN translation, locale negotiation,
gettext, locale-aware formatting, and the real app answering in Chinese over HTTP."""

from __future__ import annotations

import io
import re
import string
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from core import i18n
from core.i18n import gettext, money, negotiate, ngettext, number, use_locale, when

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "web" / "translations"
ZH_PO = TRANSLATIONS / "zh_CN" / "LC_MESSAGES" / "messages.po"
POT = TRANSLATIONS / "messages.pot"
HTML = {"accept": "text/html"}
EXTRACT_HINT = (
    "extract and translate as docs/i18n.md says: pybabel extract -F babel.cfg ... ; "
    "pybabel update ... ; then fill web/translations/zh_CN/LC_MESSAGES/messages.po"
)


# -- (a) every extracted message is translated ----------------------------------------------


def extract_product_messages() -> dict[str | tuple[str, ...], list[str]]:
    """What ``pybabel extract -F babel.cfg`` finds in the product sources: msgid -> locations."""
    with (ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    found: dict[str | tuple[str, ...], list[str]] = defaultdict(list)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        found[message].append(f"{filename}:{lineno}")
    return dict(found)


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def zh_catalogs() -> list[Catalog]:
    """The product catalog and any built-in module's own (``modules/<key>/translations``)."""
    paths = [ZH_PO, *sorted(ROOT.glob("modules/*/translations/zh_CN/LC_MESSAGES/messages.po"))]
    return [read_catalog(path, "zh_CN") for path in paths if path.is_file()]


def brace_fields(text: str) -> set[str]:
    """``{name}`` placeholders; raises ValueError for unbalanced braces."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


PERCENT_FIELD = re.compile(r"%\((\w+)\)[sdif]")


def percent_fields(text: str) -> set[str]:
    """``%(name)s`` placeholders (Jinja's newstyle gettext formats with ``%``)."""
    return set(PERCENT_FIELD.findall(text))


def placeholder_problem(msgid: str | tuple[str, ...], translations: list[str]) -> str | None:
    ids = [msgid] if isinstance(msgid, str) else list(msgid)
    try:
        expected = set().union(*(brace_fields(i) for i in ids))
    except ValueError:
        expected = set()  # not a str.format message: compare %-fields only
        braces = False
    else:
        braces = True
    expected_pct = set().union(*(percent_fields(i) for i in ids))
    for text in translations:
        try:
            got = brace_fields(text) if braces else set()
        except ValueError:
            return f"unbalanced braces in {text!r}"
        if got != expected or percent_fields(text) != expected_pct:
            return f"placeholders differ: {text!r}"
        if "%" in text.replace("%%", "").replace("%(", "") and not expected_pct:
            return f"a bare % breaks Jinja's newstyle gettext: {text!r}"
    return None


def test_every_product_message_has_a_chinese_translation() -> None:
    extracted = extract_product_messages()
    assert len(extracted) > 20, "extraction found almost nothing: is babel.cfg right?"
    catalogs = zh_catalogs()
    missing: list[str] = []
    fuzzy: list[str] = []
    broken: list[str] = []
    for msgid, locations in sorted(extracted.items(), key=lambda item: str(item[0])):
        entry: Message | None = next(
            (m for c in catalogs if (m := c.get(msgid)) is not None and m.string), None
        )
        where = ", ".join(locations[:3])
        if entry is None:
            missing.append(f"{msgid!r}  ({where})")
            continue
        texts = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        if entry.fuzzy:
            fuzzy.append(f"{msgid!r}  ({where})")
        elif not all(t.strip() for t in texts):
            missing.append(f"{msgid!r}  ({where})")
        elif problem := placeholder_problem(msgid, texts):
            broken.append(f"{msgid!r}: {problem}")
    report = []
    if missing:
        report.append("no zh-CN translation for:\n  " + "\n  ".join(missing))
    if fuzzy:
        report.append("fuzzy (not used) zh-CN translations for:\n  " + "\n  ".join(fuzzy))
    if broken:
        report.append("placeholders not kept:\n  " + "\n  ".join(broken))
    assert not report, "\n".join(report) + "\n" + EXTRACT_HINT


def test_the_template_and_catalog_are_in_step_with_the_sources() -> None:
    extracted = {m if isinstance(m, str) else m[0] for m in extract_product_messages()}
    in_pot = {m.id if isinstance(m.id, str) else m.id[0] for m in read_catalog(POT) if m.id}
    in_po = {m.id if isinstance(m.id, str) else m.id[0] for m in read_catalog(ZH_PO) if m.id}
    assert sorted(extracted - in_pot) == [], "messages.pot lacks these; " + EXTRACT_HINT
    assert sorted(in_pot - extracted) == [], "messages.pot has stale msgids; " + EXTRACT_HINT
    assert sorted(in_pot - in_po) == [], "zh_CN messages.po lacks these; " + EXTRACT_HINT


def test_the_extractor_finds_errors_and_manifest_labels_by_position_or_keyword() -> None:
    source = b"""
from core import errors
# Translators: shown when a record was deleted meanwhile
raise errors.NotFound("No lead {id}.", id=lead_id)
raise Conflict(message="Already {state}.", state=state)
ModuleManifest(
    key="crm", version="1.0", summary="Leads and deals", name="CRM",
    permissions=(Permission("crm.lead.read", "Read leads"), Permission(code="w", label="Write")),
    menu=(MenuEntry("Leads", "/crm/"),),
    approval_kinds=(ApprovalKind("crm.discount", label="Discount"),),
    dashboard_widgets=(DashboardWidget("crm.pipeline", "Pipeline", "crm/pipeline.html"),),
)
ngettext("{n} lead", "{n} leads", n)
raise ValidationFailed(f"{model} written with no tenant set")
gettext(variable)
StockShortage("Only {left} left.", left=1)
"""
    keywords = {**DEFAULT_KEYWORDS, "StockShortage": None}
    found = list(extract(i18n.extract_python, io.BytesIO(source), keywords, ["Translators:"]))
    assert [message for _, message, _, _ in found] == [
        "No lead {id}.",
        "Already {state}.",
        "CRM",
        "Leads and deals",
        "Read leads",
        "Write",
        "Leads",
        "Discount",
        "Pipeline",
        ("{n} lead", "{n} leads"),
        "Only {left} left.",
    ]
    assert found[0][2] == ["Translators: shown when a record was deleted meanwhile"]


def test_the_sample_modules_manifest_labels_are_extracted() -> None:
    with (ROOT / "tests" / "sample_module" / "plugin.py").open("rb") as handle:
        found = {m for _, m, _, _ in extract(i18n.extract_python, handle, DEFAULT_KEYWORDS)}
    assert {"Sample", "Read notes", "Write notes", "Notes", "Note approval"} <= found


# -- (b) negotiation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag", ["zh", "zh-CN", "zh_CN", "zh-cn", "ZH-CN", "zh-Hans", "zh-Hans-CN", "zh_Hans_CN"]
)
def test_chinese_variants_negotiate_to_zh_cn(tag: str) -> None:
    assert negotiate(tag) == "zh-CN"
    assert negotiate(accept_language=tag) == "zh-CN"


@pytest.mark.parametrize("tag", ["fr", "de-DE", "", "*", "xx-YY", None])
def test_unknown_locales_fall_back_to_english(tag: str | None) -> None:
    assert negotiate(tag) == "en"
    assert negotiate(tag, tag, accept_language=tag) == "en"


def test_query_beats_cookie_beats_accept_language() -> None:
    assert negotiate("en", "zh-CN", accept_language="zh-CN") == "en"
    assert negotiate(None, "zh-CN", accept_language="en-US,en;q=0.9") == "zh-CN"
    assert negotiate("fr", "en", accept_language="zh-CN") == "en"  # an unsupported query is skipped
    assert negotiate(None, None, accept_language="fr-FR,zh-CN;q=0.8,en;q=0.5") == "zh-CN"
    assert negotiate("en-GB") == "en"


def test_accept_language_is_read_by_quality() -> None:
    assert negotiate(accept_language="en;q=0.1, zh-CN;q=0.9") == "zh-CN"
    assert negotiate(accept_language="zh-CN;q=0, en") == "en"
    assert negotiate(accept_language="zh;q=bogus, en;q=0.5") == "en"


# -- (c) gettext -----------------------------------------------------------------------------


def test_gettext_translates_under_zh_cn_and_returns_the_msgid_in_english() -> None:
    msgid = "No workspace at this address."
    with use_locale("zh-CN"):
        assert gettext(msgid) == "该地址没有对应的工作区。"
        assert gettext("The {name} module is not enabled for this workspace.").format(
            name="CRM"
        ) == ("本工作区尚未启用CRM模块。")
        assert gettext("A message nobody translated") == "A message nobody translated"
        assert ngettext("{n} note", "{n} notes", 2) == "{n} notes"
    with use_locale("en"):
        assert gettext(msgid) == msgid
        assert ngettext("{n} note", "{n} notes", 1) == "{n} note"
    with use_locale("fr"):  # unsupported: English
        assert i18n.current_locale.get() == "en"
        assert gettext(msgid) == msgid
    assert i18n.current_locale.get() == "en"


def test_catalog_files_are_po_only() -> None:
    """core.i18n reads the .po files directly: no compiled .mo is needed or shipped."""
    assert ZH_PO.is_file()
    assert list(TRANSLATIONS.rglob("*.mo")) == []


# -- (d) formatting --------------------------------------------------------------------------


def test_money_number_and_dates_follow_the_locale() -> None:
    amount = Decimal("1234.5")
    moment = datetime(2026, 3, 5, 14, 30)
    with use_locale("zh-CN"):
        assert money(amount, "CNY") == "¥1,234.50"
        assert money(amount, "USD") == "US$1,234.50"
        assert number(Decimal("1234567.891")) == "1,234,567.891"
        assert when(date(2026, 3, 5)) == "2026年3月5日"
        assert when(moment) == "2026年3月5日 14:30:00"
    with use_locale("en"):
        assert money(amount, "CNY") == "CN¥1,234.50"
        assert money(amount, "USD") == "$1,234.50"
        assert number(Decimal("1234567.891")) == "1,234,567.891"
        assert when(date(2026, 3, 5)) == "Mar 5, 2026"
        assert when(moment).replace("\u202f", " ") == "Mar 5, 2026, 2:30:00 PM"


# -- (e) the real app over HTTP ----------------------------------------------------------------


async def test_api_errors_answer_in_the_negotiated_language(client, make_tenant) -> None:
    await make_tenant("acme", "sample")
    await make_tenant("bare")
    zh = {"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"}

    unknown = await client.get("/api/t/unknown-workspace/sample/notes/", headers=zh)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert unknown.json()["error"]["message"] == "该地址没有对应的工作区。"
    english = await client.get("/api/t/unknown-workspace/sample/notes/")
    assert english.json()["error"]["message"] == "No workspace at this address."
    by_cookie = await client.get(
        "/api/t/unknown-workspace/sample/notes/",
        headers={"accept-language": "en", "cookie": "atrium_lang=zh-CN"},
    )
    assert by_cookie.json()["error"]["message"] == "该地址没有对应的工作区。"
    by_query = await client.get("/api/t/unknown-workspace/sample/notes/?lang=en", headers=zh)
    assert by_query.json()["error"]["message"] == "No workspace at this address."

    disabled = await client.get("/api/t/bare/sample/notes/", headers=zh)
    assert disabled.status_code == 403
    assert disabled.json()["error"]["message"] == "本工作区尚未启用Sample模块。"

    no_route = await client.get("/api/no-such-thing", headers=zh)
    assert no_route.status_code == 404
    assert no_route.json()["error"]["message"] == "请求的内容不存在"

    # A dynamic Litestar detail stays as is in English and becomes its status's phrase in zh-CN.
    bad = await client.post("/api/t/acme/sample/notes/", json={"titl": "x"}, headers=zh)
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "请求无效"
    assert bad.json()["error"]["fields"]
    bad_en = await client.post("/api/t/acme/sample/notes/", json={"titl": "x"})
    assert bad_en.json()["error"]["message"].startswith("Validation failed")


async def test_pages_render_the_layout_in_chinese(client, make_tenant) -> None:
    await make_tenant("acme", "sample")
    home = await client.get("/?lang=zh-CN", headers=HTML)
    assert home.status_code == 200
    assert '<html lang="zh-CN">' in home.text
    assert "<title>欢迎 · Atrium</title>" in home.text
    assert "<h2>模块</h2>" in home.text
    assert "Welcome" not in home.text

    dashboard = await client.get("/t/acme/?lang=zh-CN", headers=HTML)
    assert dashboard.status_code == 200
    assert "<h1>仪表盘</h1>" in dashboard.text
    assert 'placeholder="搜索"' in dashboard.text

    # Signed in, the member's own language (en) comes before the browser's.
    english = await client.get("/t/acme/", headers={**HTML, "accept-language": "zh-CN"})
    assert "<h1>Dashboard</h1>" in english.text

    missing = await client.get("/t/nowhere/", headers={**HTML, "accept-language": "zh-CN"})
    assert missing.status_code == 404
    assert "出了点问题" in missing.text
    assert "该地址没有对应的工作区。" in missing.text

    no_route = await client.get("/no-such-page?lang=zh-CN", headers=HTML)
    assert no_route.status_code == 404
    assert '<html lang="zh-CN">' in no_route.text
    assert "请求的内容不存在" in no_route.text
