"""Outgoing mail: SMTP when ``SMTP_HOST`` is set, otherwise a development mailbox.

Services do not talk to a mail server while a request waits. They hand a
message to :func:`send_after_commit`, which sends it once the transaction
that caused it commits and off the request's path:

- a rolled-back invitation or reset mails no link that leads nowhere;
- a password reset for a known address answers as fast as one for an
  unknown address (the SMTP round trip would otherwise tell them apart).

Every message leaves a row in ``core_mail_outbox`` (global: password mail
is sent before any workspace is chosen) with its recipient, subject and
outcome (``sent_at`` or ``error``), so an operator can see whether a mail
went out. Only the development mailbox keeps the body there: bodies carry
live one-time links, which must not sit in a production database. In
development the body is also written to the log, so the embedded default
needs no mail server: the mailbox page (:func:`recent`) or the console has
the link.

A message may carry files (:class:`Attachment`: a quote's PDF). They go out with
the message and are never stored; the outbox row keeps only their names, so the
operator and the development mailbox can see what was attached.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any, Protocol

from sqlalchemy import DateTime, String, Text, event, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, SessionTransaction, mapped_column

from core.db import Database
from core.i18n import gettext, use_locale
from core.orm import GlobalModel
from core.settings import Settings, SettingsError, SmtpSettings

logger = logging.getLogger(__name__)

SMTPS_PORT = 465  # implicit TLS; any other port upgrades with STARTTLS when SMTP_TLS is on
_PENDING = "atrium.mail_pending"  # Session.info key: messages waiting for the commit


class MailRecord(GlobalModel):
    """One message handed to a mailer and its outcome; the body only in development."""

    __tablename__ = "core_mail_outbox"

    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str | None] = mapped_column(Text)
    attachment_names: Mapped[list[str]] = mapped_column(
        ARRAY(String(255)), default=list, server_default=text("'{}'")
    )
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with a message: its name as the recipient sees it, its type, its bytes."""

    filename: str
    content_type: str  # "application/pdf"
    data: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """A plain-text e-mail to one recipient, with any files attached."""

    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()


def compose(
    to: str,
    locale: str,
    subject: str,
    body: str,
    *,
    attachments: tuple[Attachment, ...] = (),
    **params: Any,
) -> Message:
    """A message whose subject and body are msgids translated into ``locale``."""
    with use_locale(locale):
        return Message(
            to=to,
            subject=gettext(subject).format(**params),
            body=gettext(body).format(**params),
            attachments=attachments,
        )


class MailNotSent(RuntimeError):
    """The mail server refused the message or could not be reached."""


class Mailer(Protocol):
    async def send(self, message: Message) -> None:
        """Deliver ``message`` now; raise :class:`MailNotSent` if it cannot be."""


class SmtpMailer:
    """Sends through the SMTP server of the settings (stdlib smtplib, in a thread)."""

    def __init__(self, smtp: SmtpSettings, db: Database, *, timeout: float = 30.0) -> None:
        if not smtp.host:
            raise SettingsError("SmtpMailer needs SMTP_HOST.")
        self.smtp, self.db, self.timeout = smtp, db, timeout

    async def send(self, message: Message) -> None:
        try:
            await asyncio.to_thread(self._deliver, self._mime(message))
        except (smtplib.SMTPException, OSError) as exc:
            await _record(self.db, message, body=None, error=f"{type(exc).__name__}: {exc}")
            raise MailNotSent(f"Mail to {message.to} was not sent: {exc}") from exc
        await _record(self.db, message, body=None, error=None)

    def _mime(self, message: Message) -> EmailMessage:
        mime = EmailMessage()
        mime["From"] = self.smtp.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = formatdate(localtime=False)
        mime["Message-ID"] = make_msgid(
            domain=parseaddr(self.smtp.sender)[1].rpartition("@")[2] or None
        )
        mime.set_content(message.body)
        for attachment in message.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            mime.add_attachment(
                attachment.data,
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        return mime

    def _deliver(self, mime: EmailMessage) -> None:
        host, port, tls = self.smtp.host, self.smtp.port, self.smtp.use_tls
        context = ssl.create_default_context()
        if port == SMTPS_PORT and tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=self.timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=self.timeout)
        with client:
            if tls and port != SMTPS_PORT:
                client.starttls(context=context)
            if self.smtp.username:
                client.login(self.smtp.username, self.smtp.password or "")
            client.send_message(mime)


class DevMailbox:
    """Development and tests: no mail server; the message goes to the log and the mailbox."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def send(self, message: Message) -> None:
        logger.info(
            "Development mail to %s: %s%s\n\n%s",
            message.to,
            message.subject,
            "".join(f"\n  attached: {a.filename}" for a in message.attachments),
            message.body,
        )
        await _record(self.db, message, body=message.body, error=None)


def mailer_for(settings: Settings, db: Database) -> Mailer:
    """SMTP when configured; the development mailbox otherwise, except in production."""
    if settings.smtp.host:
        return SmtpMailer(settings.smtp, db)
    if settings.env == "production":
        raise SettingsError(
            "SMTP_HOST is not set: production cannot send password resets or invitations. "
            "Set SMTP_HOST (and SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_FROM)."
        )
    return DevMailbox(db)


async def _record(db: Database, message: Message, *, body: str | None, error: str | None) -> None:
    async with db.side_transaction() as connection:
        await connection.execute(
            insert(MailRecord).values(
                recipient=message.to[:320],
                subject=message.subject[:300],
                body_text=body,
                attachment_names=[a.filename[:255] for a in message.attachments],
                sent_at=None if error else datetime.now(UTC),
                error=error,
            )
        )


async def recent(session: AsyncSession, *, limit: int = 50) -> list[MailRecord]:
    """The latest messages, newest first: the development mailbox page's list."""
    query = select(MailRecord).order_by(MailRecord.id.desc()).limit(min(max(limit, 1), 500))
    return list(await session.scalars(query))


# --- sending once the transaction commits -------------------------------------------------

_in_flight: set[asyncio.Task[None]] = set()


def send_after_commit(session: AsyncSession, mailer: Mailer, message: Message) -> None:
    """Send ``message`` in the background once ``session``'s transaction commits.

    Nothing is sent if it rolls back. A failure is logged (and recorded by
    the mailer), never raised into the request that caused the mail.
    """
    if not session.in_transaction():
        raise RuntimeError("send_after_commit needs a transaction to wait for")
    sync = session.sync_session
    if _PENDING not in sync.info:
        event.listen(sync, "after_commit", _send_pending)
        event.listen(sync, "after_transaction_end", _forget_pending)
        sync.info[_PENDING] = []
    sync.info[_PENDING].append((asyncio.get_running_loop(), mailer, message))


def _send_pending(sync: Session) -> None:
    pending, sync.info[_PENDING] = sync.info[_PENDING], []
    for loop, mailer, message in pending:
        task = loop.create_task(_send_logged(mailer, message))
        _in_flight.add(task)
        task.add_done_callback(_in_flight.discard)


def _forget_pending(sync: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outer transaction ended without a commit
        sync.info[_PENDING] = []


async def _send_logged(mailer: Mailer, message: Message) -> None:
    try:
        await mailer.send(message)
    except Exception:
        logger.exception("Mail to %s (%s) was not sent", message.to, message.subject)


async def drain() -> None:
    """Wait until every mail handed over so far is sent or has failed (shutdown, tests)."""
    while _in_flight:
        await asyncio.gather(*_in_flight, return_exceptions=True)
