"""Mail and one-time tokens: password reset and e-mail verification by mailed link.

Mail goes to a real SMTP server (aiosmtpd) on a loopback port the OS picks,
or to the development mailbox; links are taken from the delivered message.
"""

from __future__ import annotations

import asyncio
import email
import logging
import re
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.smtp import SMTP, Envelope
from sqlalchemy import select, update

from core import mail
from core.db import Database
from core.errors import Conflict, TooManyAttempts, Unauthenticated, ValidationFailed
from core.identity import accounts, recovery, sessions, throttle, tokens
from core.identity.tokens import OneTimeToken
from core.models import SecurityEvent, User
from core.settings import Settings, SettingsError, SmtpSettings

GOOD = "correct horse battery staple"
NEW = "a brand new long passphrase"
LINK = re.compile(r"(https?://\S+/(?:reset-password|verify-email|invitations)/(\S+))")


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server: SMTP, _session: object, envelope: Envelope) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=default_policy)  # type: ignore[arg-type]
        )
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
async def smtp_server() -> AsyncIterator[tuple[Inbox, int]]:
    """A real SMTP server on 127.0.0.1, on a port chosen by the OS, in the test's loop."""
    inbox = Inbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(inbox, hostname="atrium.test"), "127.0.0.1", 0
    )
    yield inbox, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
def mailer(db: Database, smtp_server: tuple[Inbox, int]) -> mail.SmtpMailer:
    _inbox, port = smtp_server
    return mail.SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, use_tls=False), db)


@pytest.fixture
def inbox(smtp_server: tuple[Inbox, int]) -> Inbox:
    return smtp_server[0]


@pytest.fixture
async def ada(db: Database) -> User:
    async with db.global_transaction() as session:
        return await accounts.register(
            session, email="Ada@Example.test", password=GOOD, display_name="Ada"
        )


def link_in(message: EmailMessage) -> tuple[str, str]:
    """The link in a delivered message and the token at its end."""
    found = LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1), found.group(2)


async def _request_reset(
    db: Database, settings: Settings, mailer: mail.Mailer, address: str, ip: str = "10.0.0.9"
):
    async with db.global_transaction() as session:
        result = await recovery.request_password_reset(session, settings, mailer, address, ip=ip)
    await mail.drain()
    return result


async def _reset(db: Database, token: str, password: str = NEW) -> User:
    async with db.global_transaction() as session:
        return await recovery.reset_password(session, token, password, ip="10.0.0.9")


async def _security_log(db: Database, action: str) -> list[SecurityEvent]:
    async with db.global_transaction() as session:
        rows = await session.scalars(
            select(SecurityEvent).where(SecurityEvent.action == action).order_by(SecurityEvent.id)
        )
        return list(rows)


async def test_a_reset_link_arrives_by_smtp_and_sets_the_password(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ADA@example.test")

    [message] = inbox.to("Ada@Example.test")
    assert message["Subject"] == "Reset your Atrium password"
    assert message["From"] == settings.smtp.sender
    link, token = link_in(message)
    assert link == f"{settings.base_url}/reset-password/{token}"
    async with db.global_transaction() as session:  # only the token's hash is stored
        stored = await session.scalar(select(OneTimeToken.token_hash))
        assert stored == sessions.digest(token) != token

    user = await _reset(db, token)
    assert user.id == ada.id
    async with db.global_transaction() as session:
        await accounts.sign_in(session, settings, email="ada@example.test", password=NEW)
    async with db.global_transaction() as session:
        with pytest.raises(Unauthenticated):
            await accounts.sign_in(session, settings, email="ada@example.test", password=GOOD)
    [done] = await _security_log(db, "auth.password_reset")
    assert (done.user_id, done.ip) == (ada.id, "10.0.0.9")
    async with db.global_transaction() as session:  # the SMTP mailer logs the outcome, no body
        [sent] = await mail.recent(session)
        assert (sent.recipient, sent.body_text, sent.error) == ("Ada@Example.test", None, None)
        assert sent.sent_at is not None


async def test_a_reset_does_not_reveal_whether_the_address_exists(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    known = await _request_reset(db, settings, mailer, "ada@example.test")
    unknown = await _request_reset(db, settings, mailer, "nobody@example.test")

    assert known == unknown  # the same outcome, nothing to tell them apart
    assert [m["To"] for m in inbox.messages] == ["Ada@Example.test"]  # mail only for the account
    requests = await _security_log(db, "auth.password_reset_requested")
    assert [(r.user_id, r.email) for r in requests] == [
        (ada.id, "ada@example.test"),
        (None, "nobody@example.test"),
    ]
    async with db.global_transaction() as session:
        assert len(list(await session.scalars(select(OneTimeToken)))) == 1


async def test_reset_requests_are_limited_per_address_alike_for_unknown_ones(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    allowed = throttle.RESET_REQUESTS.account.failures
    refusals = []
    for address in ("ada@example.test", "nobody@example.test"):
        for _ in range(allowed):
            await _request_reset(db, settings, mailer, address)
        with pytest.raises(TooManyAttempts) as refused:
            await _request_reset(db, settings, mailer, address.upper())  # any case: one address
        refusals.append(refused.value)

    known, unknown = refusals
    assert (known.message, known.params) == (unknown.message, unknown.params)
    assert str(known) == "Too many requests for a password reset. Try again in 15 minutes."
    assert len(inbox.to("Ada@Example.test")) == allowed  # nothing mailed past the limit
    throttled = await _security_log(db, "auth.password_reset_throttled")
    assert [(t.user_id, t.email, t.ip) for t in throttled] == [
        (ada.id, "ADA@EXAMPLE.TEST", "10.0.0.9"),
        (None, "NOBODY@EXAMPLE.TEST", "10.0.0.9"),
    ]
    # Sign-in is counted apart: asking for links locks no one out of signing in.
    async with db.global_transaction() as session:
        await accounts.sign_in(session, settings, email="ada@example.test", password=GOOD)


async def test_reset_requests_are_limited_per_client_address(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    for i in range(throttle.RESET_REQUESTS.address.failures):
        await _request_reset(db, settings, mailer, f"someone{i}@example.test", ip="10.0.0.66")

    with pytest.raises(TooManyAttempts, match="Try again in 15 minutes"):
        await _request_reset(db, settings, mailer, "ada@example.test", ip="10.0.0.66")
    assert inbox.messages == []
    await _request_reset(db, settings, mailer, "ada@example.test", ip="10.0.0.67")  # elsewhere
    assert [m["To"] for m in inbox.messages] == ["Ada@Example.test"]


async def test_a_reset_ends_every_session(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    signed_in = []
    for _ in range(2):
        async with db.global_transaction() as session:
            token, _user = await accounts.sign_in(
                session, settings, email="ada@example.test", password=GOOD
            )
            signed_in.append(token)
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])

    await _reset(db, token)

    async with db.global_transaction() as session:
        for cookie in signed_in:
            assert await sessions.resolve(session, settings, cookie) is None
    [done] = await _security_log(db, "auth.password_reset")
    assert done.detail == {"sessions_ended": 2}


async def test_a_reset_link_works_once(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])
    await _reset(db, token)

    with pytest.raises(ValidationFailed, match="already been used") as refused:
        await _reset(db, token, "yet another long passphrase")
    assert refused.value.params == {"reason": "used"}
    # The failure is logged though its transaction rolled back.
    [failure] = await _security_log(db, "auth.password_reset_failed")
    assert (failure.user_id, failure.detail) == (ada.id, {"reason": "used"})
    async with db.global_transaction() as session:
        await accounts.sign_in(session, settings, email="ada@example.test", password=NEW)


async def test_an_expired_reset_link_is_refused(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])
    async with db.global_transaction() as session:
        await session.execute(
            update(OneTimeToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )

    with pytest.raises(ValidationFailed, match="expired"):
        await _reset(db, token)
    [failure] = await _security_log(db, "auth.password_reset_failed")
    assert failure.detail == {"reason": "expired"}


async def test_an_unknown_token_is_refused_and_logged(db: Database) -> None:
    with pytest.raises(ValidationFailed, match="not valid"):
        await _reset(db, "made-up-token")
    [failure] = await _security_log(db, "auth.password_reset_failed")
    assert (failure.user_id, failure.detail) == (None, {"reason": "invalid"})


async def test_a_new_reset_link_replaces_the_old_one(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    await _request_reset(db, settings, mailer, "ada@example.test")
    (_first_link, first), (_second_link, second) = map(link_in, inbox.messages)

    with pytest.raises(ValidationFailed, match="not valid"):
        await _reset(db, first)
    await _reset(db, second)


async def test_a_refused_password_leaves_the_link_usable(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])

    with pytest.raises(ValidationFailed, match="at least 10"):
        await _reset(db, token, "short")
    [failure] = await _security_log(db, "auth.password_reset_failed")
    assert failure.detail == {"reason": "password_policy"}
    await _reset(db, token)


async def test_a_link_for_an_old_address_stops_working(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])
    async with db.global_transaction() as session:
        await session.execute(update(User).values(email="ada@elsewhere.test"))

    with pytest.raises(ValidationFailed, match="not valid"):
        await _reset(db, token)


async def test_of_two_concurrent_uses_exactly_one_wins(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])
    both_inside = asyncio.Barrier(2)

    async def use() -> User:
        async with db.global_transaction() as session:
            await session.execute(select(1))  # the transaction has begun
            await both_inside.wait()
            return await tokens.consume(session, tokens.RESET_PASSWORD, token)

    results = await asyncio.gather(use(), use(), return_exceptions=True)

    winners = [r for r in results if isinstance(r, User)]
    losers = [r for r in results if isinstance(r, ValidationFailed)]
    assert [w.id for w in winners] == [ada.id]
    assert [loser.params for loser in losers] == [{"reason": "used"}]


async def test_nothing_is_mailed_when_the_transaction_rolls_back(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    async def request_then_fail() -> None:
        async with session.begin():
            await recovery.request_password_reset(session, settings, mailer, "ada@example.test")
            raise RuntimeError("a later step failed")

    session = db.session()
    try:
        with pytest.raises(RuntimeError, match="later step failed"):
            await request_then_fail()
        async with session.begin():  # the same session commits other work afterwards
            await session.execute(select(1))
    finally:
        await session.close()
    await mail.drain()

    assert inbox.messages == []


async def test_verification_goes_to_the_development_mailbox_and_the_log(
    db: Database, settings: Settings, ada: User, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = mail.mailer_for(settings, db)
    assert isinstance(mailbox, mail.DevMailbox)
    with caplog.at_level(logging.INFO, logger="core.mail"):
        async with db.global_transaction() as session:
            user = await session.get(User, ada.id)
            assert user is not None
            await recovery.send_verification(session, settings, mailbox, user)
        await mail.drain()

    async with db.global_transaction() as session:
        [kept] = await mail.recent(session)
    assert kept.recipient == "Ada@Example.test"
    assert kept.subject == "Confirm your e-mail address for Atrium"
    assert "Ada@Example.test" in (kept.body_text or "")
    link = LINK.search(kept.body_text or "")
    assert link is not None
    assert link.group(1).startswith(f"{settings.base_url}/verify-email/")
    assert link.group(1) in caplog.text  # a developer finds the link in the console too

    async with db.global_transaction() as session:  # the link's page: the token stays unused
        shown = await tokens.check(session, tokens.VERIFY_EMAIL, link.group(2))
        assert (shown.id, shown.email_verified_at) == (ada.id, None)
    async with db.global_transaction() as session:  # its form's POST uses it
        verified = await recovery.verify_email(session, link.group(2))
    assert verified.email_verified_at is not None
    async with db.global_transaction() as session:
        with pytest.raises(ValidationFailed, match="already been used"):
            await recovery.verify_email(session, link.group(2))
    assert len(await _security_log(db, "auth.email_verified")) == 1
    [failure] = await _security_log(db, "auth.email_verification_failed")
    assert failure.detail == {"reason": "used"}
    async with db.global_transaction() as session:
        user = await session.get(User, ada.id)
        assert user is not None
        with pytest.raises(Conflict, match="already verified"):
            await recovery.send_verification(session, settings, mailbox, user)


async def test_a_reset_token_does_not_verify_an_address(
    db: Database, settings: Settings, mailer: mail.SmtpMailer, inbox: Inbox, ada: User
) -> None:
    await _request_reset(db, settings, mailer, "ada@example.test")
    _link, token = link_in(inbox.messages[0])

    async with db.global_transaction() as session:
        with pytest.raises(ValidationFailed, match="not valid"):
            await recovery.verify_email(session, token)


async def test_a_mail_server_that_cannot_be_reached_is_recorded(
    db: Database, settings: Settings
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailer = mail.SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, use_tls=False), db)
    message = mail.Message(to="ada@example.test", subject="Hello", body="Hi")

    with pytest.raises(mail.MailNotSent):
        await mailer.send(message)
    async with db.global_transaction() as session:
        [failed] = await mail.recent(session)
    assert failed.sent_at is None
    assert "Connection" in (failed.error or "")

    # Sent after a commit, the failure is logged, never raised into the request.
    async with db.global_transaction() as session:
        mail.send_after_commit(session, mailer, message)
    await mail.drain()
    async with db.global_transaction() as session:
        assert len(await mail.recent(session)) == 2


def test_production_needs_a_mail_server(db: Database) -> None:
    production = Settings(env="production", secret_key="x" * 40)
    with pytest.raises(SettingsError, match="SMTP_HOST"):
        mail.mailer_for(production, db)
    with_smtp = Settings(env="production", secret_key="x" * 40, smtp=SmtpSettings(host="mx"))
    assert isinstance(mail.mailer_for(with_smtp, db), mail.SmtpMailer)
