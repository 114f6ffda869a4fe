"""The development mailbox: the mails Atrium would have sent, with their links.

With no SMTP server configured, development and tests hand mail to
:class:`core.mail.DevMailbox`, which keeps the body; this page lists the
latest messages so a developer can open a reset or invitation link. Outside
development and tests it does not exist (404): bodies carry live one-time
links, and production keeps no bodies anyway.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from core import mail
from core.db import Database
from core.settings import Settings

LINK = re.compile(r"https?://\S+")


@get("/dev/mailbox", include_in_schema=False)
async def mailbox_page(request: Request[Any, Any, Any]) -> Template:
    settings: Settings = request.app.state.settings
    if not (settings.is_development or settings.env == "test"):
        raise NotFoundException()  # the same answer as for any address with no page
    db: Database = request.app.state.db
    async with db.global_transaction() as session:
        records = await mail.recent(session)
    messages = [
        {"record": record, "links": LINK.findall(record.body_text or "")} for record in records
    ]
    return Template("mailbox.html", context={"messages": messages})


PAGES = [mailbox_page]
