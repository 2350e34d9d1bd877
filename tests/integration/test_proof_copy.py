"""Proof copies ([acknowledgement].proof_copy): the copy the mail server delivers back to
the mailbox settles the one crash SMTP leaves ambiguous, so nothing is sent twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from dcs_mailbox.config import Settings
from dcs_mailbox.service import build_service
from dcs_mailbox.store.models import OutboxMessage, OutboxState, RequestEvent
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, build_eml

REQUESTER = "j.martin@acme-industrie.example"


def proof_settings(
    tmp_path: Path, dovecot: DovecotServer, smtp: SmtpCapture, **ack: Any
) -> Settings:
    return daemon_settings(
        tmp_path,
        dovecot,
        smtp,
        acknowledgement={
            "retry_initial_seconds": 0.5,
            "retry_max_seconds": 1,
            "proof_copy": True,
            **ack,
        },
    )


def deliver_locally(smtp: SmtpCapture, dovecot: DovecotServer) -> None:
    """The SMTP server delivers its own domain's mail (the mailbox) to Dovecot."""
    smtp.local_delivery = (frozenset({MAILBOX}), lambda rcpt, raw: dovecot.deliver_lmtp(rcpt, raw))


def subjects(dovecot: DovecotServer, folder: str) -> list[str]:
    found = []
    for stored in dovecot.fetch_all(folder):
        for line in stored.raw.split(b"\r\n"):
            if line.lower().startswith(b"subject:"):
                found.append(line.decode("ascii", "replace"))
    return found


def force_row(settings: Settings, **values: Any) -> None:
    """Put the outbox row as a kill would have left it (no daemon running)."""
    service = build_service(settings)
    try:
        with service.sessions.begin() as session:
            row = session.scalars(select(OutboxMessage)).one()
            for name, value in values.items():
                setattr(row, name, value)
    finally:
        service.close()


def test_the_proof_copy_comes_back_and_is_removed_from_the_inbox(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    deliver_locally(smtp_server, dovecot)
    settings = proof_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.deliver_lmtp(MAILBOX, build_eml())
        [ack] = smtp_server.wait_for(1, timeout=10)
        # The requester in the headers; the mailbox only in the envelope.
        assert ack.rcpt_tos == (REQUESTER, MAILBOX)
        assert MAILBOX not in str(ack.parse()["To"])
        wait_until(lambda: len(dovecot.fetch_all("INBOX")) == 1, "the copy removed")
        running.wait_cycles()
        [row] = running.outbox()
        assert row.state == OutboxState.SENT and row.copied_to_sent_at is not None
        with running.service.sessions() as session:
            types = [e.type for e in session.scalars(select(RequestEvent))]
    assert "auto_reply_received" not in types  # not part of the requester's thread
    assert len(subjects(dovecot, "Sent")) == 1  # one Sent copy, not two
    assert len(smtp_server.messages) == 1


def test_crash_after_the_server_accepted_is_settled_by_the_copy_not_resent(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = proof_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml())
        [ack] = smtp_server.wait_for(1, timeout=10)
        wait_until(lambda: running.outbox()[0].copied_to_sent_at is not None, "the Sent copy")
    # As a kill right after the server's 250 leaves things: the row still `sending`, no
    # Sent copy yet, and the server's copy for the mailbox on its way (arriving late).
    with dovecot.imap(folder="Sent") as client:
        client.delete_messages(client.search(["ALL"]))
        client.expunge()
    force_row(settings, state=OutboxState.SENDING, sent_at=None, copied_to_sent_at=None)
    dovecot.deliver_lmtp(MAILBOX, ack.raw)
    with RunningDaemon(settings) as running:
        wait_until(lambda: running.outbox()[0].state == OutboxState.SENT, "settled by the copy")
        running.wait_cycles(2)
        with running.service.sessions() as session:
            details = [
                e.detail
                for e in session.scalars(
                    select(RequestEvent).where(RequestEvent.type == "acknowledgement_sent")
                )
            ]
    assert any("copie de contrôle" in d for d in details)
    assert len(smtp_server.messages) == 1  # never sent again
    assert len(subjects(dovecot, "Sent")) == 1  # a Sent copy, filed once
    assert len(dovecot.fetch_all("INBOX")) == 1  # and left the INBOX


def test_crash_before_the_server_accepted_sends_once_after_the_grace_period(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    deliver_locally(smtp_server, dovecot)
    settings = proof_settings(tmp_path, dovecot, smtp_server, proof_grace_seconds=2)
    smtp_server.fail_with = (451, "4.3.0 not now")
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml())
        wait_until(lambda: running.outbox() and running.outbox()[0].attempts >= 1, "an attempt")
    smtp_server.fail_with = None
    # As a kill after begin_attempt and before the server accepted anything.
    force_row(
        settings,
        state=OutboxState.SENDING,
        next_attempt_at=datetime.now(UTC),
        attempt_started_at=datetime.now(UTC),
    )
    started = time.monotonic()
    with RunningDaemon(settings) as running:
        [ack] = smtp_server.wait_for(1, timeout=15)
        waited = time.monotonic() - started
        running.wait_cycles(2)
    assert waited >= 1.5  # it waited for a copy that could not come
    assert ack.rcpt_tos == (REQUESTER, MAILBOX)
    assert len(smtp_server.messages) == 1


def test_no_reply_to_the_final_dot_is_settled_by_the_copy_not_resent(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    """RFC 1047's case without any crash: the server took the message but its reply
    never came (timeout). The row stays `sending`; the copy settles it."""
    deliver_locally(smtp_server, dovecot)
    smtp_server.reply_delay = 2.0
    settings = daemon_settings(
        tmp_path,
        dovecot,
        smtp_server,
        smtp={
            "host": smtp_server.host,
            "port": smtp_server.port,
            "security": "plain",
            "timeout_seconds": 0.5,
        },
        acknowledgement={"retry_initial_seconds": 0.5, "proof_copy": True},
    )
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml())

        def unanswered() -> bool:
            rows = running.outbox()
            return bool(rows) and "after the final dot" in (rows[0].last_error or "")

        wait_until(unanswered, "an attempt without a reply")
        smtp_server.reply_delay = 0.0
        wait_until(lambda: running.outbox()[0].state == OutboxState.SENT, "settled", timeout=20)
        running.wait_cycles(2)
        with running.service.sessions() as session:
            details = [
                e.detail
                for e in session.scalars(
                    select(RequestEvent).where(RequestEvent.type == "acknowledgement_sent")
                )
            ]
    assert len(smtp_server.messages) == 1
    assert any("copie de contrôle" in d for d in details)
