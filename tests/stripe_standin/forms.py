"""Stripe's form encoding, both ways.

The SDK sends parameters as ``application/x-www-form-urlencoded`` (POST) or as a
query string (GET) with brackets for nesting: ``line_items[0][price]=price_1``,
``metadata[plan]=pro``, ``lookup_keys[0]=a`` (``lookup_keys[]=a`` is accepted too).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

_SEGMENT = re.compile(r"([^\[\]]*)\]")
_KEEP_AS_DICT = {"metadata"}  # user keys that happen to be digits stay keys


def decode(text: str) -> dict[str, Any]:
    """``a[b][0]=x&c[]=y`` → ``{"a": {"b": ["x"]}, "c": ["y"]}``."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        head, _, rest = key.partition("[")
        parts = [head, *_SEGMENT.findall(rest)]
        node = root
        for i, part in enumerate(parts):
            if part == "":  # `x[]` appends
                part = str(len(node))
            if i == len(parts) - 1:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any, key: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    node = {k: _listify(v, k) for k, v in node.items()}
    if node and key not in _KEEP_AS_DICT and all(k.isdigit() for k in node):
        return [node[k] for k in sorted(node, key=int)]
    return node


def encode(params: dict[str, Any]) -> str:
    """The inverse of :func:`decode`, the way the SDK writes it (``None`` is left out)."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else str(k), v)
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        elif isinstance(value, bool):
            pairs.append((prefix, "true" if value else "false"))
        else:
            pairs.append((prefix, str(value)))

    walk("", params)
    return urlencode(pairs)


def as_bool(value: Any, default: bool | None = None) -> bool | None:
    """Stripe's booleans arrive as the strings "true"/"false"."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(value)


def as_int(value: Any, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    return int(value)
