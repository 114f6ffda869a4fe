"""Bad input over every form the workspace shows, found by walking its pages.

An owner's browser follows every link inside a workspace filled with the demo company
(and the account pages), collects each ``<form method="post">`` that has inputs a person
types into, and posts each with:

- a value of 100,000 characters in every typed input: refused, a message on the page,
  and everything typed shown again (a secret never is: a password, a one-time code);
- every typed input empty: refused with a message (every form here needs some typing, but
  the few of ``OPTIONAL_TYPING``, which do what their button says without it);
- malformed values (an e-mail address without ``@``, letters for a number, the 45th of
  the 13th month): refused with a message, what was typed kept.

No answer is ever a 5xx. Duplicates are form-specific (the taken slug, a second party
with the same name, an existing role name…) and are tested beside each page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from core.db import Database
from core.identity import accounts, passwords
from tenants import demo
from tests.conftest import Browser

HTML = {"accept": "text/html"}
TYPED = {"text", "email", "password", "search", "url", "tel", "number", "date", "textarea"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Links the walk does not follow: files, not pages, and the way out.
NOT_PAGES = re.compile(
    r"/(download|export|content|avatar|logo|pdf)\b|\.(csv|xlsx|zip)(\?|$)|sign-out"
)
LONG = 100_000
MALFORMED = {"email": "not-an-address", "number": "abc", "date": "2026-13-45"}
REFUSED = re.compile(r'role="alert"|aria-invalid="true"')
#: Forms (by ``Form.pattern``) whose typing is optional: an activity is marked done without
#: feedback.
OPTIONAL_TYPING = re.compile(r"/activities/\{id\}/done ")


@dataclass
class Form:
    page: str
    action: str
    inputs: dict[str, str] = field(default_factory=dict)  # name -> its type
    values: dict[str, str] = field(default_factory=dict)  # what the page filled in
    secrets: set[str] = field(default_factory=set)  # never shown again

    @property
    def pattern(self) -> str:
        return f"{UUID.sub('{id}', urlsplit(self.action).path)} {sorted(self.typed)}"

    @property
    def typed(self) -> dict[str, str]:
        return {name: kind for name, kind in self.inputs.items() if kind in TYPED}


class PageReader(HTMLParser):
    """The links and the POST forms of one page."""

    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.links: set[str] = set()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "option" and self._form is not None and self._select is not None:
            # What a person submits without choosing: the selected option, else the first.
            if not self._form.values.get(self._select) or "selected" in a:
                self._form.values[self._select] = a.get("value", "")
        elif tag == "a" and a.get("href", "").startswith("/"):
            self.links.add(urljoin(self.url, a["href"]).split("#")[0])
        elif tag == "form" and a.get("method", "get").lower() == "post":
            action = a.get("action") or a.get("hx-post") or self.url
            self._form = Form(self.url, urljoin(self.url, action))
        elif self._form is None or not a.get("name"):
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self._form.inputs[a["name"]] = kind
            self._form.values[a["name"]] = a.get("value", "on" if kind == "checkbox" else "")
            if kind == "password" or a.get("autocomplete") == "one-time-code":
                self._form.secrets.add(a["name"])
        elif tag == "textarea":
            self._form.inputs[a["name"]] = "textarea"
            self._form.values[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
            self._form.inputs[a["name"]] = "select"
            self._form.values[a["name"]] = ""

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "select":
            self._select = None


async def walk(
    http: httpx.AsyncClient, starts: list[str], limit: int = 250, pages: int = 30
) -> list[Form]:
    """The POST forms with typed inputs on the pages reachable from ``starts`` (at least
    ``pages`` of them), one per action and set of inputs."""
    seen, queue, forms = set(), list(starts), {}
    while queue and len(seen) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = await http.get(url, headers=HTML)
        assert page.status_code < 500, (url, page.status_code)
        if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
            continue
        reader = PageReader(url)
        reader.feed(page.text)
        inside = (u for u in reader.links if u.startswith((starts[0], "/account")))
        queue.extend(u for u in sorted(inside) if u not in seen and not NOT_PAGES.search(u))
        for form in reader.forms:
            if form.typed and not form.action.endswith(("/language", "/sign-out")):
                forms.setdefault(form.pattern, form)
    assert len(seen) >= pages, sorted(seen)  # the walk reached the pages
    return list(forms.values())


async def post(http: httpx.AsyncClient, form: Form, typed: dict[str, str]) -> httpx.Response:
    data = {**form.values, **typed}
    return await http.post(form.action, data=data, headers=HTML)


def kept(answer: httpx.Response, form: Form, typed: dict[str, str]) -> list[str]:
    """The typed inputs whose value the answer does not show again (secrets excepted)."""
    shown = answer.text
    return [
        name
        for name, value in typed.items()
        if name not in form.secrets and value and value not in shown
    ]


@pytest.fixture
async def owner_browser(db: Database, make_tenant, registry, browser: Browser) -> httpx.AsyncClient:
    await make_tenant("ant", "sample", "crm", owner_email="ann@ant.test", seed=True)
    await demo.load_by_slug(db, registry, "ant")
    async with db.global_transaction() as session:
        user = await accounts.by_email(session, "ann@ant.test")
        assert user is not None
        user.password_hash = passwords.hash_password("a long and private phrase")  # its page
    return await browser(user)


def bad_inputs(form: Form) -> dict[str, dict[str, str]]:
    """Each kind of bad input for the form's typed inputs, by what it is called."""
    kinds = {f"{LONG:,} characters": {name: f"{name}:" + "x" * LONG for name in form.typed}}
    if not OPTIONAL_TYPING.search(form.pattern):
        kinds["every input empty"] = dict.fromkeys(form.typed, "")
    odd = {name: MALFORMED[kind] for name, kind in form.typed.items() if kind in MALFORMED}
    if odd:
        kinds[f"malformed {odd}"] = odd
    return kinds


async def refusals(http: httpx.AsyncClient, forms: list[Form]) -> list[str]:
    """What each form did wrong with each kind of bad input (empty: nothing)."""
    problems: list[str] = []
    for form in forms:
        for bad, typed in bad_inputs(form).items():
            where = f"{form.pattern} (on {form.page}), {bad}"
            answer = await post(http, form, typed)
            if answer.status_code >= 500 or answer.status_code in (301, 302, 303):
                problems.append(f"{where}: answered {answer.status_code}")
            elif not REFUSED.search(answer.text):
                problems.append(f"{where}: refused with no message")
            elif missing := kept(answer, form, typed):
                problems.append(f"{where}: did not show again {missing}")
    return problems


async def test_every_workspace_form_refuses_bad_input_with_a_message_and_keeps_the_typing(
    owner_browser: httpx.AsyncClient,
) -> None:
    forms = await walk(owner_browser, ["/t/ant/", "/account"])
    assert len(forms) > 20, [f.pattern for f in forms]
    assert not (problems := await refusals(owner_browser, forms)), "\n".join(problems)


async def test_every_public_form_refuses_bad_input_with_a_message_and_keeps_the_typing(
    live: str,
) -> None:
    """Sign up, sign in, forgot password: the forms of a visitor nobody knows yet."""
    async with httpx.AsyncClient(base_url=live) as visitor:
        forms = await walk(visitor, ["/", "/sign-in", "/sign-up", "/forgot-password"], pages=4)
        assert len(forms) >= 3, [f.pattern for f in forms]
        assert not (problems := await refusals(visitor, forms)), "\n".join(problems)
