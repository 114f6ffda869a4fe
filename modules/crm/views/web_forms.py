"""The public web-to-lead form, ``/public/crm/forms/{form_key}``: no sign-in, no workspace
shell, mounted through the manifest's ``public_routers``. Embeddable on the workspace's
own site (an iframe), in the workspace's language unless the visitor asks otherwise,
throttled, with a honeypot instead of the CSRF token a cross-site post cannot carry
(:mod:`modules.crm.services.web_forms`). A good post answers 303 to the thank-you note; a
refused one the form again with the reason and the typing (422, 429 while throttled); a
key nobody has, or a form that takes no entries now, a plain page (404, 403).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from core.db import Database
from core.errors import DomainError, NotFound, PermissionDenied
from core.plugins.manifest import CSRF_EXEMPT
from modules.crm.schemas.leads import WebLeadIn
from modules.crm.services import web_forms
from web.auth import FormData, client_ip
from web.forms import Refusal
from web.middleware import settle_locale

PUBLIC_FIELDS = ("name", "company_name", "email", "phone", "notes")


def _public_page(template: str, *, status_code: int = 200, **context: Any) -> Template:
    return Template(f"crm/leads/{template}", context=context, status_code=status_code)


def _closed(error: DomainError) -> Template:
    """A key nobody has (404), or a form that takes no entries now (403), said plainly."""
    return _public_page("public_closed.html", status_code=error.status_code, error=error)


@get("/forms/{form_key:str}")
async def web_form_page(
    request: Request[Any, Any, Any], form_key: FromPath[str], sent: FromQuery[bool] = False
) -> Template:
    try:
        async with web_forms.open_form(request.app.state.db, form_key) as opened:
            settle_locale(workspace=opened.locale)
            return _public_page(
                "public_form.html",
                title=opened.form.name,
                form_key=form_key,
                form={},
                refusal=None,
                sent=sent,
                honeypot=web_forms.HONEYPOT,
            )
    except (NotFound, PermissionDenied) as error:
        return _closed(error)


@post("/forms/{form_key:str}", opt={CSRF_EXEMPT: True})
async def send_web_form(
    request: Request[Any, Any, Any], form_key: FromPath[str], data: FormData
) -> Response[Any]:
    """A visitor's post: no CSRF token (it comes from the workspace's own site); the
    throttle and the honeypot stand in for it."""
    db: Database = request.app.state.db
    typed = {name: data.get(name, "") for name in PUBLIC_FIELDS}
    title = ""
    try:
        async with web_forms.open_form(db, form_key) as opened:
            settle_locale(workspace=opened.locale)
            title = opened.form.name
            await web_forms.submit(
                db,
                opened,
                WebLeadIn(**typed),
                ip=client_ip(request),
                honeypot=data.get(web_forms.HONEYPOT, ""),
            )
    except (NotFound, PermissionDenied) as error:
        return _closed(error)
    except DomainError as error:  # bad input, or too many posts (429)
        return _public_page(
            "public_form.html",
            status_code=error.status_code,
            title=title,
            form_key=form_key,
            form=typed,
            refusal=Refusal.of("web-lead", typed, error),
            sent=False,
            honeypot=web_forms.HONEYPOT,
        )
    return Redirect(f"/public/crm/forms/{form_key}?sent=true", status_code=HTTP_303_SEE_OTHER)


PAGES = [web_form_page, send_web_form]
