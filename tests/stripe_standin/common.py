"""What every part of the stand-in shares: requests, responses, Stripe's errors and
lists, and raw HTTP to localstripe."""

from __future__ import annotations

import base64
import html
import http.client
import json
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import forms

_ALNUM = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


class StripeError(Exception):
    """An error answered the way Stripe answers it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error: dict[str, Any] = {"type": type, "message": message}
        if param:
            self.error["param"] = param
        if code:
            self.error["code"] = code


def no_such(kind: str, id: str, param: str | None = None) -> StripeError:
    status = 400 if param else 404
    return StripeError(status, f"No such {kind}: '{id}'", param=param, code="resource_missing")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        body = (json.dumps(obj, indent=2) + "\n").encode()
        return cls(status, body, {"Content-Type": "application/json"})

    @classmethod
    def page(cls, title: str, body_html: str, status: int = 200) -> Response:
        doc = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title></head>"
            f'<body style="font-family:sans-serif;max-width:40em;margin:2em auto">'
            f"<h1>{html.escape(title)}</h1>{body_html}</body></html>"
        )
        return cls(status, doc.encode(), {"Content-Type": "text/html; charset=utf-8"})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(303, b"", {"Location": location})


@dataclass
class Request:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]  # lower-case names
    match: dict[str, str] = field(default_factory=dict)

    @property
    def api_key(self) -> str | None:
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        if scheme == "Basic":
            value = base64.b64decode(value).decode().split(":")[0]
        elif scheme != "Bearer":
            return None
        return value if value.startswith("sk_") and len(value) > 5 else None

    @property
    def params(self) -> dict[str, Any]:
        return forms.decode(self.body.decode() if self.method == "POST" else self.query)


def check_params(params: dict[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)


def as_bool(params: dict[str, Any], name: str, default: bool | None = None) -> bool | None:
    try:
        return forms.as_bool(params.get(name), default)
    except ValueError:
        raise StripeError(400, f"Invalid boolean: {params[name]}", param=name) from None


def as_int(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    try:
        return forms.as_int(params.get(name), default)
    except (TypeError, ValueError):
        raise StripeError(400, f"Invalid integer: {params[name]}", param=name) from None


def paginate(items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """Stripe's list object; ``items`` newest first."""
    limit = as_int(params, "limit", 10)
    if not 1 <= limit <= 100:
        raise StripeError(400, "Invalid limit: must be between 1 and 100", param="limit")
    after = params.get("starting_after")
    if after:
        ids = [i["id"] for i in items]
        if after not in ids:
            raise no_such("object", after, "starting_after")
        items = items[ids.index(after) + 1 :]
    return {"object": "list", "url": url, "has_more": len(items) > limit, "data": items[:limit]}


class LocalStripe:
    """Raw HTTP to the localstripe process."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url, self.host, self.port = url, parts.hostname, parts.port

    def send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        api_key: str,
        as_json: bool = False,
    ) -> dict[str, Any]:
        """One API call; a localstripe error is raised as the same StripeError.

        ``as_json`` sends the parameters as a JSON body, which localstripe also reads: its
        values keep their types (a form's are all strings, which localstripe's generic
        update stores as they come)."""
        encoded = forms.encode(params or {})
        headers = {"Authorization": f"Bearer {api_key}"}
        body = None
        if method == "GET":
            path = f"{path}?{encoded}" if encoded else path
        elif as_json:
            body = json.dumps(params or {}).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = encoded.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, _, raw = self.send(method, path, body, headers)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {"error": {"message": raw.decode(errors="replace")}}
        if status >= 400:
            error = data.get("error", {})
            raise StripeError(
                status,
                error.get("message") or f"localstripe answered {status}",
                type=error.get("type", "invalid_request_error"),
                code=error.get("code"),
            )
        return data


Handler = Callable[[Request], Response]
