"""Per-request context: a request id (echoed as X-Request-ID) and the locale.

The locale is settled in two steps (docs/i18n.md). Here, before anyone is
known: ``?lang``, then the ``atrium_lang`` cookie, then Accept-Language.
Once the page knows its signed-in user and workspace (:mod:`web.shell`),
:func:`settle_locale` puts their languages between the explicit choices and
the browser's.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from core import i18n
from core import logging as log_context

LOCALE_COOKIE = "atrium_lang"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class LocaleRequest:
    """What the request itself says about its language."""

    chosen: str | None  # ?lang, else the cookie: an explicit choice, it beats everything
    browser: str | None  # Accept-Language: the last resort before the default


_asked: ContextVar[LocaleRequest] = ContextVar("atrium_locale_request")


def settle_locale(*, user: str | None = None, workspace: str | None = None) -> None:
    """The request's locale once its user and workspace are known:
    ?lang > cookie > the user's language > the workspace's > Accept-Language > en."""
    asked = _asked.get(LocaleRequest(None, None))
    found = i18n.first_supported(asked.chosen, user, workspace) or asked.browser
    i18n.current_locale.set(found or i18n.DEFAULT)


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _query_param(scope: Scope, name: str) -> str | None:
    for pair in scope.get("query_string", b"").decode("latin-1").split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            return value
    return None


def request_context(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: set request id, tenant placeholder and locale for the request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        headers = Headers.from_scope(scope)
        incoming = headers.get("x-request-id", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
        asked = LocaleRequest(
            chosen=i18n.first_supported(
                _query_param(scope, "lang"), _cookie(headers, LOCALE_COOKIE)
            ),
            browser=i18n.first_supported(accept_language=headers.get("accept-language")),
        )
        rid_token = log_context.request_id.set(rid)
        tenant_token = log_context.tenant.set("-")
        asked_token = _asked.set(asked)
        locale_token = i18n.current_locale.set(asked.chosen or asked.browser or i18n.DEFAULT)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = rid
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            i18n.current_locale.reset(locale_token)
            _asked.reset(asked_token)
            log_context.tenant.reset(tenant_token)
            log_context.request_id.reset(rid_token)

    return middleware
