"""Errors as users meet them: a JSON error body on the API, a friendly page in a browser.

Domain errors keep their status (4xx) and stable code; Litestar's own HTTP
errors (bad input, unknown route) are shaped the same way; anything
unexpected is logged with its request id and answered with a 500 that shows
no stack trace.

Litestar's details are either fixed phrases ("Not Found", "CSRF token
verification failed"), which are msgids here, or dynamic text ("Validation
failed for POST /api/..."), which no catalog can hold. A detail the catalog
knows is translated; an unknown one is shown as is in English and replaced
by its status's phrase in other languages (the specifics stay in ``fields``).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_500_INTERNAL_SERVER_ERROR
from markupsafe import Markup
from sqlalchemy.exc import DBAPIError

from core import logging as log_context
from core.errors import (
    DomainError,
    ModuleDisabled,
    ModuleReadOnly,
    TenantDeleted,
    TenantSuspended,
    Unauthenticated,
)
from core.i18n import DEFAULT, N_, current_locale, gettext

logger = logging.getLogger("atrium.web")


def wants_json(request: Request[Any, Any, Any]) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    return "text/html" not in request.headers.get("accept", "")


#: The message for an HTTP error by status: Litestar's default details (the HTTP phrases).
HTTP_MESSAGES: dict[int, str] = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    406: N_("Not Acceptable"),
    409: N_("Conflict"),
    413: N_("Request Entity Too Large"),
    415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Entity"),
    429: N_("Too Many Requests"),
    500: N_("Internal Server Error"),
    503: N_("Service Unavailable"),
}
#: Other fixed details Litestar raises that a user can meet (marked here for extraction).
HTTP_DETAILS = (
    N_("CSRF token verification failed"),
    N_("Invalid multipart/form-data"),
    N_("Unexpected eof in multipart/form-data"),
)


def _http_message(status: int, detail: str) -> str:
    translated = gettext(detail) if detail else ""
    if translated and (translated != detail or current_locale.get() == DEFAULT):
        return translated
    return gettext(HTTP_MESSAGES.get(status, N_("The request could not be completed.")))


def error_text(error: DomainError) -> Markup:
    """A domain error's message in the reader's language with its ``{params}`` filled in:
    the ``error_text`` template filter. Like Jinja's own ``_``, the message (ours) is kept
    as it is and the params (often what the user typed) are escaped; unlike it, no ``%``
    formatting is applied, which broke on a message such as "13 % is 0.13"."""
    text = Markup(gettext(error.message))  # noqa: S704 - msgids and catalogs are ours
    try:
        return text.format(**error.params) if error.params else text
    except (KeyError, IndexError):  # a translation that dropped a placeholder
        return Markup(error.message).format(**error.params)  # noqa: S704 - a msgid


def _translated(message: str, params: dict[str, Any]) -> str:
    text = gettext(message)
    try:
        return text.format(**params) if params else text
    except (KeyError, IndexError):  # a translation that dropped a placeholder
        return message.format(**params)


def _respond(
    request: Request[Any, Any, Any],
    status: int,
    body: dict[str, Any],
    template: str = "error.html",
    context: dict[str, Any] | None = None,
) -> Response[Any]:
    body = {**body, "request_id": log_context.request_id.get()}
    if wants_json(request):
        return Response({"error": body}, status_code=status, media_type=MediaType.JSON)
    return Template(template, context={"error": body, **(context or {})}, status_code=status)


def domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    if isinstance(exc, Unauthenticated) and not wants_json(request):
        # A browser that is not signed in goes to the sign-in page and comes back after.
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        area = "/operator" if request.url.path.startswith("/operator") else ""
        return Redirect(f"{area}/sign-in?next={quote(here)}", status_code=HTTP_303_SEE_OTHER)
    params = exc.params
    if isinstance(exc, ModuleDisabled | ModuleReadOnly) and params.get("name"):  # a msgid
        params = {**params, "name": gettext(params["name"])}
    body = {"code": exc.code, "message": _translated(exc.message, params), **exc.params}
    if isinstance(exc, ModuleDisabled):
        return _respond(
            request,
            exc.status_code,
            body,
            "module_disabled.html",
            {"module": exc.params["module"], "module_name": exc.params.get("name")},
        )
    if isinstance(exc, TenantSuspended):
        return _respond(request, exc.status_code, body, "workspace_suspended.html")
    if isinstance(exc, TenantDeleted):
        return _respond(request, exc.status_code, body, "workspace_deleted.html")
    return _respond(request, exc.status_code, body)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {
        "code": _code_for(exc.status_code),
        "message": _http_message(exc.status_code, exc.detail),
    }
    if isinstance(exc, ValidationException) and exc.extra:
        body["fields"] = exc.extra
    return _respond(request, exc.status_code, body)


def database_refused(request: Request[Any, Any, Any], exc: DBAPIError) -> Response[Any]:
    """A value the database cannot store (a NUL character, a number out of range: SQLSTATE
    class 22) is the caller's input, not our fault: 422, and the request rolls back."""
    if not str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
        return unexpected_error(request, exc)
    body = {
        "code": "validation_failed",
        "message": gettext("The input holds a value that cannot be stored."),
    }
    return _respond(request, 422, body)


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    body = {
        "code": "internal_error",
        "message": gettext("Something went wrong on our side. Nothing was saved."),
    }
    return _respond(request, HTTP_500_INTERNAL_SERVER_ERROR, body)


def _code_for(status: int) -> str:
    return {
        400: "bad_request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        415: "unsupported_media_type",
        422: "validation_failed",
        429: "too_many_requests",
    }.get(status, "http_error")


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    DomainError: domain_error,
    HTTPException: http_error,
    DBAPIError: database_refused,
    Exception: unexpected_error,
}
