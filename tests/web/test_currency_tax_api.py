"""Managing currencies, exchange rates and tax rates over real HTTP: exact decimals, the
base currency's rules, immutable tax rates, permissions, bad input and two workspaces."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core import roles
from core.context import TenantContext
from core.db import Database
from tests.web.test_organisation_api import API, audited
from tests.web.test_parties_api import Browser, join, the_test_owner, user


@pytest.fixture
async def acme(make_tenant) -> TenantContext:
    """An English workspace with its starting master data: USD as the base, no tax rates."""
    return await make_tenant("acme", seed=True)


@pytest.fixture
async def owner(db: Database, acme: TenantContext, browser: Browser) -> httpx.AsyncClient:
    return await browser(await the_test_owner(db))


async def codes(http: httpx.AsyncClient, slug: str = "acme") -> list[str]:
    listed = await http.get(f"/api/t/{slug}/currencies")
    assert listed.status_code == 200, listed.text
    return [c["code"] for c in listed.json()]


async def test_rates_round_trip_as_exact_decimals(owner: httpx.AsyncClient) -> None:
    enabled = await owner.post(f"{API}/currencies", json={"code": "eur"})
    assert enabled.status_code == 201, enabled.text
    assert enabled.json() == {"code": "EUR", "is_base": False, "decimals": 2}
    assert (await owner.post(f"{API}/currencies", json={"code": "JPY"})).json()["decimals"] == 0
    assert await codes(owner) == ["USD", "EUR", "JPY"]

    entered = await owner.put(f"{API}/currencies/EUR/rates/2026-03-02", json={"rate": "1.08123456"})
    assert entered.status_code == 200, entered.text
    assert entered.json() == {"currency": "EUR", "valid_on": "2026-03-02", "rate": "1.08123456"}
    # A JSON number is read from its text, exactly, and answered as a string.
    as_number = await owner.put(f"{API}/currencies/eur/rates/2026-03-06", json={"rate": 1.1})
    assert as_number.json()["rate"] == "1.10000000"
    tiny = await owner.put(f"{API}/currencies/JPY/rates/2026-03-02", json={"rate": "0.00671234"})
    assert tiny.json()["rate"] == "0.00671234"

    listed = (await owner.get(f"{API}/currencies/EUR/rates")).json()
    assert listed == [
        {"currency": "EUR", "valid_on": "2026-03-06", "rate": "1.10000000"},
        {"currency": "EUR", "valid_on": "2026-03-02", "rate": "1.08123456"},
    ]
    midweek = (await owner.get(f"{API}/currencies/EUR/rates/2026-03-04")).json()
    assert midweek == {
        "currency": "EUR",
        "day": "2026-03-04",
        "rate": "1.08123456",
        "valid_on": "2026-03-02",
    }
    base = (await owner.get(f"{API}/currencies/usd/rates/2026-03-04")).json()
    assert (base["rate"], base["valid_on"]) == ("1", None)

    corrected = await owner.put(
        f"{API}/currencies/EUR/rates/2026-03-02", json={"rate": "1.08000001"}
    )
    assert corrected.json()["rate"] == "1.08000001"
    assert (await owner.delete(f"{API}/currencies/EUR/rates/2026-03-06")).status_code == 204
    later = (await owner.get(f"{API}/currencies/EUR/rates/2026-03-09")).json()
    assert (later["rate"], later["valid_on"]) == ("1.08000001", "2026-03-02")
    again = await owner.delete(f"{API}/currencies/EUR/rates/2026-03-06")
    assert again.status_code == 404
    assert again.json()["error"]["message"] == "There is no EUR rate for 2026-03-06."
    before_any = await owner.get(f"{API}/currencies/EUR/rates/2026-03-01")
    assert before_any.status_code == 422

    log = await audited(owner, "core.exchange_rate.set")
    assert log[0]["detail"] == {
        "currency": "EUR",
        "valid_on": "2026-03-02",
        "rate": "1.08000001",
        "before": "1.08123456",
    }
    assert len(log) == 4
    [deleted] = await audited(owner, "core.exchange_rate.deleted")
    assert deleted["detail"]["rate"] == "1.10000000"


async def test_the_base_currency_is_set_until_it_is_in_use_and_never_disabled(
    owner: httpx.AsyncClient,
) -> None:
    assert (await owner.get(f"{API}/currencies/base")).json() == {
        "code": "USD",
        "decimals": 2,
        "can_change": True,
    }
    changed = await owner.put(f"{API}/currencies/base", json={"code": "cny"})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"code": "CNY", "decimals": 2, "can_change": True}
    assert await codes(owner) == ["CNY", "USD"]  # the old base stays enabled
    [entry] = await audited(owner, "core.currency.base_changed")
    assert entry["detail"] == {"before": "USD", "after": "CNY"}

    refused = await owner.delete(f"{API}/currencies/CNY")
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == "The base currency CNY cannot be disabled."
    assert await codes(owner) == ["CNY", "USD"]

    await owner.put(f"{API}/currencies/USD/rates/2026-03-02", json={"rate": "7.1"})
    assert (await owner.get(f"{API}/currencies/base")).json()["can_change"] is False
    locked = await owner.put(f"{API}/currencies/base", json={"code": "EUR"})
    assert locked.status_code == 409
    assert locked.json()["error"]["message"] == (
        "The base currency cannot change from CNY to EUR: exchange rates or documents "
        "already use it."
    )
    assert await codes(owner) == ["CNY", "USD"]  # EUR was not enabled on the way
    same = await owner.put(f"{API}/currencies/base", json={"code": "CNY"})
    assert same.status_code == 200  # asking for the base it already has changes nothing

    assert (await owner.delete(f"{API}/currencies/usd")).status_code == 204
    assert await codes(owner) == ["CNY"]
    closed = await owner.put(f"{API}/currencies/USD/rates/2026-03-03", json={"rate": "7.2"})
    assert closed.status_code == 422
    assert (await owner.get(f"{API}/currencies/USD/rates")).json()[0]["rate"] == "7.10000000"
    assert (await owner.delete(f"{API}/currencies/USD")).status_code == 404
    await owner.post(f"{API}/currencies", json={"code": "USD"})  # back, with its rates
    assert len((await owner.get(f"{API}/currencies/USD/rates")).json()) == 1
    assert [e["detail"]["code"] for e in await audited(owner, "core.currency.enabled")] == ["USD"]


async def test_tax_rates_are_created_renamed_archived_and_made_default(
    owner: httpx.AsyncClient,
) -> None:
    made = await owner.post(
        f"{API}/tax-rates", json={"name": "VAT 13%", "rate": "0.13", "is_default": True}
    )
    assert made.status_code == 201, made.text
    general = made.json()
    assert (general["rate"], general["kind"], general["is_default"], general["active"]) == (
        "0.1300",
        "both",
        True,
        True,
    )
    reduced = (
        await owner.post(f"{API}/tax-rates", json={"name": "VAT 9%", "rate": 0.09, "kind": "sale"})
    ).json()
    assert reduced["rate"] == "0.0900"
    taken = await owner.post(f"{API}/tax-rates", json={"name": "VAT 13%", "rate": "0.13"})
    assert taken.status_code == 409

    renamed = await owner.patch(f"{API}/tax-rates/{reduced['id']}", json={"name": "Reduced 9%"})
    assert renamed.json()["name"] == "Reduced 9%"
    immutable = await owner.patch(f"{API}/tax-rates/{general['id']}", json={"rate": "0.10"})
    assert immutable.status_code == 422
    assert "never change once created" in immutable.json()["error"]["message"]
    other_kind = await owner.patch(f"{API}/tax-rates/{general['id']}", json={"kind": "sale"})
    assert other_kind.status_code == 422
    echoed = await owner.patch(
        f"{API}/tax-rates/{general['id']}",
        json={**general, "name": "General VAT 13%"},  # the whole rate sent back, one change
    )
    assert echoed.status_code == 200, echoed.text
    assert (echoed.json()["name"], echoed.json()["rate"]) == ("General VAT 13%", "0.1300")

    default = await owner.patch(f"{API}/tax-rates/{reduced['id']}", json={"is_default": True})
    assert default.json()["is_default"] is True  # sale's default beside both's
    archived = await owner.patch(f"{API}/tax-rates/{general['id']}", json={"active": False})
    assert (archived.json()["active"], archived.json()["is_default"]) == (False, False)
    assert [r["name"] for r in (await owner.get(f"{API}/tax-rates")).json()] == ["Reduced 9%"]
    every = (await owner.get(f"{API}/tax-rates", params={"include_inactive": "true"})).json()
    assert [r["name"] for r in every] == ["General VAT 13%", "Reduced 9%"]
    refused = await owner.patch(f"{API}/tax-rates/{general['id']}", json={"is_default": True})
    assert refused.status_code == 422
    assert refused.json()["error"]["message"] == "Only an active tax rate can be the default."

    assert len(await audited(owner, "core.tax_rate.created")) == 2
    changes = await audited(owner, "core.tax_rate.changed")
    assert len(changes) == 4  # rename, rename, default, archive: the refusals left nothing
    assert changes[0]["detail"]["after"] == {
        "name": "General VAT 13%",
        "rate": "0.1300",
        "kind": "both",
        "active": False,
        "is_default": False,
    }


async def test_a_member_reads_currencies_and_tax_rates_but_may_not_manage_them(
    db: Database, acme: TenantContext, owner: httpx.AsyncClient, browser: Browser
) -> None:
    await owner.post(f"{API}/currencies", json={"code": "EUR"})
    await owner.put(f"{API}/currencies/EUR/rates/2026-03-02", json={"rate": "1.08"})
    vat = (await owner.post(f"{API}/tax-rates", json={"name": "VAT", "rate": "0.2"})).json()
    mei = await user(db, "Mei")
    await join(db, acme, mei)
    as_mei = await browser(mei)
    assert await codes(as_mei) == ["USD", "EUR"]
    assert (await as_mei.get(f"{API}/currencies/base")).status_code == 200
    assert (await as_mei.get(f"{API}/currencies/EUR/rates")).status_code == 200
    assert (await as_mei.get(f"{API}/currencies/EUR/rates/2026-03-05")).status_code == 200
    assert (await as_mei.get(f"{API}/tax-rates")).status_code == 200

    for refused in (
        await as_mei.post(f"{API}/currencies", json={"code": "GBP"}),
        await as_mei.delete(f"{API}/currencies/EUR"),
        await as_mei.put(f"{API}/currencies/base", json={"code": "EUR"}),
        await as_mei.put(f"{API}/currencies/EUR/rates/2026-03-03", json={"rate": "9"}),
        await as_mei.delete(f"{API}/currencies/EUR/rates/2026-03-02"),
        await as_mei.post(f"{API}/tax-rates", json={"name": "Mine", "rate": "0.01"}),
        await as_mei.patch(f"{API}/tax-rates/{vat['id']}", json={"name": "Mine"}),
    ):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["permission"] == "core.settings.manage"
    assert await codes(owner) == ["USD", "EUR"]
    assert len((await owner.get(f"{API}/currencies/EUR/rates")).json()) == 1

    ada = await user(db, "Ada")
    await join(db, acme, ada, roles.ADMIN)
    as_ada = await browser(ada)
    assert (await as_ada.post(f"{API}/currencies", json={"code": "GBP"})).status_code == 201
    entry = (await audited(owner, "core.currency.enabled"))[0]  # newest first; EUR before
    assert (entry["actor_id"], entry["detail"]) == (str(ada.id), {"code": "GBP"})


async def test_bad_input_is_a_4xx_json_answer_and_writes_nothing(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post(f"{API}/currencies", json={"code": "EUR"})
    vat = (await owner.post(f"{API}/tax-rates", json={"name": "VAT", "rate": "0.2"})).json()
    log_before = await audited(owner)
    rate = f"{API}/currencies/EUR/rates/2026-03-02"
    refusals = {
        "unknown code": (owner.post, f"{API}/currencies", {"code": "ABC"}, 422),
        "two letters": (owner.post, f"{API}/currencies", {"code": "US"}, 422),
        "not ascii": (owner.post, f"{API}/currencies", {"code": "ＵＳＤ"}, 422),
        "code not text": (owner.post, f"{API}/currencies", {"code": 840}, 400),
        "unknown base": (owner.put, f"{API}/currencies/base", {"code": "XYZ"}, 422),
        "zero rate": (owner.put, rate, {"rate": "0"}, 422),
        "negative rate": (owner.put, rate, {"rate": "-7.1"}, 422),
        "nine decimals": (owner.put, rate, {"rate": "1.123456789"}, 422),
        "nine decimals as a number": (owner.put, rate, {"rate": 1.123456789}, 422),
        "tiny exponent": (owner.put, rate, {"rate": "1E-9"}, 422),
        "huge rate": (owner.put, rate, {"rate": "1e10"}, 422),
        "not finite": (owner.put, rate, {"rate": "NaN"}, 422),
        "infinite": (owner.put, rate, {"rate": "Infinity"}, 422),
        "rate not a number": (owner.put, rate, {"rate": "seven"}, 400),
        "no rate": (owner.put, rate, {}, 400),
        "rate of the base": (
            owner.put,
            f"{API}/currencies/USD/rates/2026-03-02",
            {"rate": "1"},
            422,
        ),
        "rate of a currency not enabled": (
            owner.put,
            f"{API}/currencies/GBP/rates/2026-03-02",
            {"rate": "1.2"},
            422,
        ),
        "rate of a bad code": (
            owner.put,
            f"{API}/currencies/ZZZ/rates/2026-03-02",
            {"rate": "1"},
            422,
        ),
        "tax rate as a percent": (owner.post, f"{API}/tax-rates", {"name": "X", "rate": "13"}, 422),
        "tax rate of one": (owner.post, f"{API}/tax-rates", {"name": "X", "rate": 1}, 422),
        "negative tax rate": (owner.post, f"{API}/tax-rates", {"name": "X", "rate": "-0.1"}, 422),
        "five decimals": (owner.post, f"{API}/tax-rates", {"name": "X", "rate": "0.12345"}, 422),
        "unknown kind": (
            owner.post,
            f"{API}/tax-rates",
            {"name": "X", "rate": "0.1", "kind": "import"},
            422,
        ),
        "blank tax name": (owner.post, f"{API}/tax-rates", {"name": " ", "rate": "0.1"}, 422),
        "unknown tax rate": (owner.patch, f"{API}/tax-rates/{uuid.uuid4()}", {"name": "X"}, 404),
        "changed value": (owner.patch, f"{API}/tax-rates/{vat['id']}", {"rate": "0.1"}, 422),
        "archived default": (
            owner.patch,
            f"{API}/tax-rates/{vat['id']}",
            {"name": "Renamed first", "active": False, "is_default": True},
            422,
        ),
    }
    for what, (send, url, body, status) in refusals.items():
        answer = await send(url, json=body)
        assert answer.status_code == status, (what, answer.text)
        assert set(answer.json()["error"]) >= {"code", "message", "request_id"}, what
    for what, answer in {
        "bad code to disable": await owner.delete(f"{API}/currencies/EURO"),
        "a day that does not exist": await owner.put(
            f"{API}/currencies/EUR/rates/2026-02-30", json={"rate": "1"}
        ),
        "not a day": await owner.get(f"{API}/currencies/EUR/rates/someday"),
        "rate list of a bad code": await owner.get(f"{API}/currencies/EURO/rates"),
        "not json": await owner.put(
            rate, content=b"{", headers={"content-type": "application/json"}
        ),
    }.items():
        assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
    assert await codes(owner) == ["USD", "EUR"]
    assert (await owner.get(f"{API}/currencies/EUR/rates")).json() == []
    assert (await owner.get(f"{API}/tax-rates", params={"include_inactive": "true"})).json() == [
        vat
    ]
    assert await audited(owner) == log_before


async def test_two_workspaces_keep_their_own_currencies_rates_and_tax_rates(
    make_tenant, owner: httpx.AsyncClient
) -> None:
    await make_tenant("zhong", locale="zh-CN", seed=True)
    await owner.post(f"{API}/currencies", json={"code": "EUR"})
    await owner.put(f"{API}/currencies/EUR/rates/2026-03-02", json={"rate": "1.08"})
    ours = (await owner.post(f"{API}/tax-rates", json={"name": "VAT", "rate": "0.2"})).json()
    assert await codes(owner, "zhong") == ["CNY"]
    assert (await owner.get("/api/t/zhong/currencies/EUR/rates")).json() == []
    theirs = await owner.patch(f"/api/t/zhong/tax-rates/{ours['id']}", json={"name": "Taken"})
    assert theirs.status_code == 404
    assert (await owner.get(f"{API}/tax-rates")).json() == [ours]
    # The same code in the other workspace is its own row, with its own base currency.
    await owner.post("/api/t/zhong/currencies", json={"code": "EUR"})
    await owner.put("/api/t/zhong/currencies/EUR/rates/2026-03-02", json={"rate": "7.8"})
    assert (await owner.get(f"{API}/currencies/EUR/rates")).json()[0]["rate"] == "1.08000000"
    assert (await owner.get("/api/t/zhong/currencies/EUR/rates")).json()[0]["rate"] == "7.80000000"
