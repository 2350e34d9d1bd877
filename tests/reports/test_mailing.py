"""Scheduled mailings sent exactly once per (kind, period), through a real SMTP server
(reports/mailing.py, driven by the daily digest)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.config import SmtpSettings
from dcs_mailbox.outbound.smtp import SmtpSender
from dcs_mailbox.reports.mailing import (
    Mailing,
    MailingOutcome,
    ReportMailer,
    report_message_id,
)
from dcs_mailbox.scheduler import report_mailer, send_daily_digest
from dcs_mailbox.service import Service, build_service
from dcs_mailbox.store.db import upgrade
from dcs_mailbox.store.models import ReportRun
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, at, build_eml, make_settings

NOW = at("2026-11-24 09:00")  # 10 h 00 à Paris, after the 08:30 digest
AGENTS = ("agents-dcs@interieur.gouv.fr", "chef-dcs@interieur.gouv.fr")
DIGEST_ID = "digest.2026-11-24.sec-dcs@interieur.gouv.fr"


class FakeSentFolder:
    """What ImapSentFolder offers the mailer: a search by Message-ID, and append."""

    def __init__(self, *message_ids: str) -> None:
        self.message_ids = set(message_ids)
        self.appended: list[bytes] = []

    def contains(self, message_id: str) -> bool:
        return message_id in self.message_ids

    def append(self, raw: bytes, when: datetime) -> None:
        self.appended.append(raw)
        parsed = message_from_bytes(raw, policy=default)
        self.message_ids.add(str(parsed["Message-ID"]).strip("<>"))


class Crash(BaseException):
    """The process dies (power cut, kill -9) right after the server's 250."""


def smtp_section(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "security": "plain"}


def new_service(tmp_path: Path, port: int, sender_factory: Any = None, **digest: Any) -> Service:
    settings = make_settings(
        tmp_path / "data",
        smtp=smtp_section(port),
        digest={"recipients": list(AGENTS), "time": "08:30", **digest},
    )
    upgrade(settings.database_url)
    return build_service(settings, clock=FixedClock(NOW), sender_factory=sender_factory)


@pytest.fixture
def service(tmp_path: Path, smtp_server: SmtpCapture) -> Iterator[Service]:
    svc = new_service(tmp_path, smtp_server.port)
    # One open request, so that the digest has something to say.
    svc.pipeline.process(build_eml(), arrived_at=at("2026-11-23 16:00"), location=None)
    yield svc
    svc.close()


def run_row(service: Service, kind: str = "digest") -> ReportRun:
    with service.sessions() as session:
        return session.scalars(select(ReportRun).where(ReportRun.kind == kind)).one()


def test_digest_is_sent_once_archived_and_filed_in_sent(
    service: Service, smtp_server: SmtpCapture
) -> None:
    sent = FakeSentFolder()

    assert send_daily_digest(service, sent_folder=sent) == "sent"

    [captured] = smtp_server.wait_for(1)
    assert captured.mail_from == MAILBOX
    assert captured.rcpt_tos == AGENTS
    message = captured.parse()
    assert message["Message-ID"] == f"<{DIGEST_ID}>"
    assert message["Subject"] == (
        "[sec-dcs] 1 saisine en attente de réponse, 1 accusé de réception en retard"
        " – mardi 24 novembre 2026"
    )
    run = run_row(service)
    assert (run.period, run.state, run.attempts) == ("2026-11-24", "sent", 1)
    assert run.message_id_header == DIGEST_ID
    assert run.recipients == ", ".join(AGENTS)
    assert run.sent_at == NOW
    assert run.last_error is None
    assert run.raw_sha256 is not None
    # The Sent copy holds the archived bytes, which are the ones that went out.
    assert sent.appended == [service.archive.load(run.raw_sha256)]
    assert message_from_bytes(sent.appended[0], policy=default)["Message-ID"] == f"<{DIGEST_ID}>"


def test_a_second_call_the_same_day_sends_nothing(
    service: Service, smtp_server: SmtpCapture
) -> None:
    assert send_daily_digest(service) == "sent"
    smtp_server.wait_for(1)

    assert send_daily_digest(service) == "already-sent"
    assert send_daily_digest(service, sent_folder=FakeSentFolder()) == "already-sent"

    assert len(smtp_server.messages) == 1
    assert run_row(service).attempts == 1


def test_smtp_failure_leaves_the_run_pending_and_a_later_call_sends_it(
    service: Service, smtp_server: SmtpCapture
) -> None:
    smtp_server.fail_with = (451, "4.3.0 later")

    assert send_daily_digest(service) == "failed"

    run = run_row(service)
    assert (run.state, run.attempts, run.sent_at) == ("pending", 1, None)
    assert run.last_error is not None and "451 4.3.0 later" in run.last_error
    assert smtp_server.messages == []

    smtp_server.fail_with = None
    sent = FakeSentFolder()  # the failed attempt left nothing there: send
    assert send_daily_digest(service, sent_folder=sent) == "sent"

    assert len(smtp_server.wait_for(1)) == 1
    run = run_row(service)
    assert (run.state, run.attempts, run.last_error) == ("sent", 2, None)
    assert len(sent.appended) == 1


def test_unreachable_server_leaves_the_run_pending(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = new_service(tmp_path, port)
    try:
        service.pipeline.process(build_eml(), arrived_at=at("2026-11-23 16:00"), location=None)
        assert send_daily_digest(service) == "failed"
        run = run_row(service)
        assert run.state == "pending"
        assert run.last_error is not None and "cannot reach SMTP server" in run.last_error
    finally:
        service.close()


def test_pending_run_found_in_sent_after_a_crash_is_marked_sent_not_resent(
    tmp_path: Path, smtp_server: SmtpCapture
) -> None:
    def real_sender() -> SmtpSender:
        return SmtpSender(SmtpSettings(**smtp_section(smtp_server.port)), None)

    def crashing_sender() -> SmtpSender:
        sender = real_sender()

        def send_then_die(message: EmailMessage, **kwargs: Any) -> None:
            SmtpSender.send(sender, message, **kwargs)
            raise Crash

        sender.send = send_then_die  # type: ignore[method-assign]
        return sender

    service = new_service(tmp_path, smtp_server.port, sender_factory=crashing_sender)
    try:
        service.pipeline.process(build_eml(), arrived_at=at("2026-11-23 16:00"), location=None)
        with pytest.raises(Crash):
            send_daily_digest(service)
        [delivered] = smtp_server.wait_for(1)
        run = run_row(service)
        assert (run.state, run.attempts) == ("pending", 1)

        # After the restart: the submission server filed the message in Sent.
        service.dispatcher.sender_factory = real_sender
        in_sent = FakeSentFolder(DIGEST_ID)
        assert send_daily_digest(service, sent_folder=in_sent) == "already-sent"

        assert smtp_server.messages == [delivered]
        assert in_sent.appended == []
        run = run_row(service)
        assert (run.state, run.attempts, run.sent_at) == ("sent", 1, NOW)
    finally:
        service.close()


def test_pending_run_is_not_sent_blind_when_sent_cannot_be_searched(
    service: Service, smtp_server: SmtpCapture
) -> None:
    from dcs_mailbox.errors import ImapError

    smtp_server.fail_with = (451, "4.3.0 later")
    assert send_daily_digest(service) == "failed"
    smtp_server.fail_with = None

    class BrokenSentFolder(FakeSentFolder):
        def contains(self, message_id: str) -> bool:
            raise ImapError("IMAP connection to imap.test:993 dropped")

    assert send_daily_digest(service, sent_folder=BrokenSentFolder()) == "failed"

    assert smtp_server.messages == []
    run = run_row(service)
    assert run.state == "pending"
    assert run.last_error is not None and "dropped" in run.last_error
    assert send_daily_digest(service, sent_folder=FakeSentFolder()) == "sent"


def test_generic_mailing_takes_a_built_message_with_attachments(
    service: Service, smtp_server: SmtpCapture
) -> None:
    """What issue 5's quarterly statistics will do."""
    mailer = report_mailer(service)
    given: list[str] = []

    def compose(message_id: str, now: datetime) -> EmailMessage:
        given.append(message_id)
        message = EmailMessage(policy=SMTP)
        message["From"] = MAILBOX
        message["To"] = ", ".join(AGENTS)
        message["Subject"] = "[sec-dcs] Statistiques du 3e trimestre 2026"
        message["Message-ID"] = f"<{message_id}>"
        message.set_content("Bonjour,\n\nVeuillez trouver les statistiques ci-jointes.\n")
        message.add_attachment(
            b"trimestre;saisines\n2026-Q3;42\n",
            maintype="text",
            subtype="csv",
            filename="statistiques-2026-T3.csv",
        )
        return message

    mailing = Mailing("quarterly", "2026-Q3", AGENTS, compose)

    assert mailer.send(mailing).outcome is MailingOutcome.SENT
    assert mailer.send(mailing).outcome is MailingOutcome.ALREADY_SENT

    assert given == ["quarterly.2026-q3.sec-dcs@interieur.gouv.fr"]
    [captured] = smtp_server.wait_for(1)
    attachments = list(captured.parse().iter_attachments())
    assert [a.get_filename() for a in attachments] == ["statistiques-2026-T3.csv"]
    assert mailer.state("quarterly", "2026-Q3") == "sent"
    assert mailer.state("digest", "2026-11-24") is None  # each (kind, period) is its own run


def test_composed_message_must_carry_the_given_message_id(service: Service) -> None:
    def compose(message_id: str, now: datetime) -> EmailMessage:
        message = EmailMessage()
        message["Message-ID"] = "<random-123@example.org>"
        return message

    with pytest.raises(ValueError, match="exactly-once"):
        report_mailer(service).send(Mailing("quarterly", "2026-Q3", AGENTS, compose))
    assert run_row(service, "quarterly").state == "pending"


def test_message_id_is_derived_from_kind_period_and_mailbox() -> None:
    assert report_message_id("quarterly", "2026-Q3", "sec-dcs@interieur.gouv.fr") == (
        "quarterly.2026-q3.sec-dcs@interieur.gouv.fr"
    )
    with pytest.raises(ValueError):
        report_message_id("digest", "2026/11/24", "sec-dcs@interieur.gouv.fr")


def test_our_digest_read_back_from_sent_is_not_taken_for_an_answer(
    service: Service, smtp_server: SmtpCapture
) -> None:
    sent = FakeSentFolder()
    assert send_daily_digest(service, sent_folder=sent) == "sent"

    kind = service.pipeline.process_sent(sent.appended[0], sent_at=NOW, location=None)

    assert kind == "own"


# --- a server that refuses one recipient of several -------------------------------------


class _RefusesOneRecipient:
    def __init__(self) -> None:
        self.deliveries: list[tuple[str, ...]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("chef-dcs@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.deliveries.append(tuple(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def partial_server() -> Iterator[tuple[int, _RefusesOneRecipient]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    handler = _RefusesOneRecipient()
    controller = Controller(handler, hostname="127.0.0.1", port=port, server_hostname="smtp.test")
    controller.start()
    yield port, handler
    controller.stop()


def test_recipient_refused_among_several_counts_as_sent_never_twice(
    tmp_path: Path, partial_server: tuple[int, _RefusesOneRecipient]
) -> None:
    port, handler = partial_server
    service = new_service(tmp_path, port)
    try:
        service.pipeline.process(build_eml(), arrived_at=at("2026-11-23 16:00"), location=None)

        assert send_daily_digest(service) == "sent"
        assert send_daily_digest(service) == "already-sent"

        assert handler.deliveries == [("agents-dcs@interieur.gouv.fr",)]
        run = run_row(service)
        assert run.state == "sent"
        assert run.last_error is not None and "chef-dcs@interieur.gouv.fr: 550" in run.last_error
    finally:
        service.close()


def test_report_mailer_refuses_a_mailing_without_recipients(service: Service) -> None:
    mailer: ReportMailer = report_mailer(service)
    with pytest.raises(ValueError, match="no recipients"):
        mailer.send(Mailing("digest", "2026-11-24", (), lambda mid, now: None))
