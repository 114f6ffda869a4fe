"""What page tests share: the values a rendered form carries in its hidden inputs."""

from __future__ import annotations

import httpx


def hidden(page: httpx.Response | str, name: str) -> str:
    """The value of the page's first hidden input called ``name``."""
    text = page if isinstance(page, str) else page.text
    return text.split(f'name="{name}" value="')[1].split('"')[0]


def csrf(page: httpx.Response | str) -> str:
    """The form's CSRF token, for posting it as a browser would."""
    return hidden(page, "_csrf_token")
