"""End to end: real Dovecot (IMAP, IDLE, keywords, Sent) and a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from dcs_mailbox.keywords import ACK_SENT, AUTOMATED, FOLLOWUP, HISTORY, NOT_A_REQUEST
from dcs_mailbox.store.models import Message, OutboxState, RequestEvent
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, build_eml

REQUEST = build_eml(message_id="req-e2e-1@acme-industrie.example")


def sent_message_ids(dovecot: DovecotServer) -> list[str]:
    ids = []
    for stored in dovecot.fetch_all("Sent"):
        for line in stored.raw.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                ids.append(line.split(b":", 1)[1].strip().decode())
    return ids


def test_tagged_request_is_recorded_acknowledged_once_filed_in_sent_and_keyworded(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        [ack] = smtp_server.wait_for(1, timeout=10)
        parsed = ack.parse()
        assert ack.rcpt_tos == ("j.martin@acme-industrie.example",)
        assert ack.mail_from == MAILBOX
        assert str(parsed["Subject"]).startswith("[CDSE-2026-0001] Accusé de réception")
        assert parsed["In-Reply-To"] == "<req-e2e-1@acme-industrie.example>"
        assert parsed["Auto-Submitted"] == "auto-replied"
        wait_until(lambda: parsed["Message-ID"] in sent_message_ids(dovecot), "the Sent copy")
        uid = dovecot.fetch_all("INBOX")[0].uid
        wait_until(
            lambda: {"$saisine_cdse", ACK_SENT} <= dovecot.keywords("INBOX", uid),
            "keywords on the request",
        )
        [request] = running.requests()
        assert request.reference == "CDSE-2026-0001" and request.acknowledged_at is not None
        running.wait_cycles()
    assert len(smtp_server.messages) == 1
    assert "\\Seen" not in dovecot.flags("INBOX", uid)  # agents' unread state untouched


def test_restarted_daemon_sends_no_second_acknowledgement(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        smtp_server.wait_for(1, timeout=10)
    for _ in range(2):
        with RunningDaemon(settings) as running:
            running.wait_cycles(2)
            assert running.messages() == 1
    dovecot.deliver_lmtp(MAILBOX, build_eml(message_id="req-e2e-2@x.example", sender="b@x.example"))
    with RunningDaemon(settings) as running:
        wait_until(lambda: running.messages() == 2, "the second request")
        smtp_server.wait_for(2, timeout=10)
        running.wait_cycles()
    assert [m.rcpt_tos for m in smtp_server.messages] == [
        ("j.martin@acme-industrie.example",),
        ("b@x.example",),
    ]


def test_machine_mail_untagged_mail_and_followups_get_no_acknowledgement(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    auto_reply = build_eml(
        subject="Réponse automatique : Saisine CDSE - question",
        message_id="ooo@x.example",
        headers={"Auto-Submitted": "auto-replied"},
    )
    bounce = build_eml(
        subject="Undelivered Mail Returned to Sender (Saisine CDSE)",
        sender="Mail Delivery System <MAILER-DAEMON@mx.example>",
        message_id="dsn@mx.example",
        headers={"Return-Path": "<>"},
    )
    untagged = build_eml(subject="Question sur Vigipirate", message_id="q@x.example")
    followup = build_eml(
        subject="RE: Saisine CDSE - palpations sur un site industriel",
        message_id="fu@acme-industrie.example",
        headers={"In-Reply-To": "<req-e2e-1@acme-industrie.example>"},
    )
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        smtp_server.wait_for(1, timeout=10)
        for raw in (auto_reply, bounce, untagged, followup):
            dovecot.deliver_lmtp(MAILBOX, raw)
        wait_until(lambda: running.messages() == 5, "five recorded messages")
        running.wait_cycles()
        # Maildir assigns UIDs when Dovecot syncs its index, not in delivery order: find
        # each message by its Message-ID.
        uid_of = {
            stored.raw.split(b"Message-ID: <")[1].split(b">")[0].decode(): stored.uid
            for stored in dovecot.fetch_all("INBOX")
        }
        expected = {
            "req-e2e-1@acme-industrie.example": {"$saisine_cdse", ACK_SENT},
            "ooo@x.example": {AUTOMATED},
            "dsn@mx.example": {AUTOMATED},
            "q@x.example": {NOT_A_REQUEST},
            "fu@acme-industrie.example": {"$saisine_cdse", FOLLOWUP},
        }
        for message_id, keywords in expected.items():
            uid = uid_of[message_id]
            wait_until(
                lambda u=uid, k=keywords: k <= dovecot.keywords("INBOX", u),  # type: ignore[misc]
                f"keywords {keywords} on {message_id}",
            )
        with running.service.sessions() as session:
            events = [
                e.type for e in session.scalars(select(RequestEvent).order_by(RequestEvent.id))
            ]
        assert "followup_received" in events
    assert len(smtp_server.messages) == 1


def test_first_start_records_old_mail_as_history_without_acknowledging_it(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    old = datetime.now(UTC) - timedelta(days=700)
    for i in range(3):
        raw = build_eml(message_id=f"old-{i}@x.example", sender=f"old{i}@x.example")
        dovecot.append("INBOX", raw, msg_time=old)
    recent = build_eml(message_id="recent@x.example", sender="recent@x.example")
    dovecot.append("INBOX", recent, msg_time=datetime.now(UTC) - timedelta(hours=2))
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        wait_until(lambda: running.messages() == 4, "four recorded messages")
        [ack] = smtp_server.wait_for(1, timeout=10)
        running.wait_cycles()
        assert ack.rcpt_tos == ("recent@x.example",)
        assert running.count(Message, Message.history.is_(True)) == 3
        uids = [m.uid for m in dovecot.fetch_all("INBOX")]
        wait_until(lambda: HISTORY in dovecot.keywords("INBOX", uids[0]), "$historique")
    assert len(smtp_server.messages) == 1


def test_encoded_and_windows_1252_subjects_are_recognised_through_imap(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    encoded = (
        b"From: a@acme.example\r\nTo: sec-dcs@interieur.gouv.fr\r\n"
        b"Message-ID: <enc@acme.example>\r\n"
        b"Subject: =?UTF-8?B?W1NBSVNJTkUgQ0RTRV0gdmlkw6lvcHJvdGVjdGlvbg==?=\r\n\r\nBonjour\r\n"
    )
    cp1252 = (
        "From: b@acme.example\r\nTo: sec-dcs@interieur.gouv.fr\r\nMessage-ID: <w@acme.example>\r\n"
        "Subject: TR\u00a0: saisine cdse – sûreté d'un dépôt\r\n\r\nBonjour\r\n"
    ).encode("cp1252")
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.deliver_lmtp(MAILBOX, encoded)
        dovecot.deliver_lmtp(MAILBOX, cp1252)
        acks = smtp_server.wait_for(2, timeout=10)
        subjects = sorted(r.subject for r in running.requests())
    assert subjects == ["TR : saisine cdse – sûreté d'un dépôt", "[SAISINE CDSE] vidéoprotection"]
    assert sorted(a.rcpt_tos[0] for a in acks) == ["a@acme.example", "b@acme.example"]


def test_uidvalidity_change_rescans_without_acknowledging_again(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    with dovecot.imap() as client:
        client.create_folder("Saisines")
    dovecot.append("Saisines", REQUEST)
    settings = daemon_settings(tmp_path, dovecot, smtp_server, imap={"inbox": "Saisines"})
    with RunningDaemon(settings) as running:
        smtp_server.wait_for(1, timeout=10)
        running.wait_cycles()
    # Recreating the folder gives it a new UIDVALIDITY (RFC 3501 §2.3.1.1).
    with dovecot.imap() as client:
        client.delete_folder("Saisines")
        client.create_folder("Saisines")
    dovecot.append("Saisines", REQUEST)
    with RunningDaemon(settings) as running:
        running.wait_cycles(2)
        with running.service.sessions() as session:
            [message] = session.scalars(select(Message).where(Message.direction == "inbound")).all()
            assert len({loc.uidvalidity for loc in message.locations}) == 2
    assert len(smtp_server.messages) == 1


def test_crash_between_send_and_mark_is_closed_by_the_sent_folder(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        smtp_server.wait_for(1, timeout=10)
        wait_until(lambda: running.outbox()[0].copied_to_sent_at is not None, "the Sent copy")
        # Put the row back as a crash right after the SMTP exchange would leave it.
        with running.service.sessions.begin() as session:
            row = session.get_one(type(running.outbox()[0]), running.outbox()[0].id)
            row.state = OutboxState.SENDING
            row.sent_at = None
    with RunningDaemon(settings) as running:
        wait_until(lambda: running.outbox()[0].state == OutboxState.SENT, "recovery")
        running.wait_cycles()
    assert len(smtp_server.messages) == 1


def test_crash_before_the_smtp_exchange_sends_exactly_once(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    smtp_server.fail_with = (451, "4.3.0 not now")
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        wait_until(lambda: running.outbox() and running.outbox()[0].attempts >= 1, "an attempt")
    with running.service.sessions.begin() as session:
        row = session.get_one(type(running.outbox()[0]), running.outbox()[0].id)
        row.state = OutboxState.SENDING  # as if killed after begin_attempt
    smtp_server.fail_with = None
    with RunningDaemon(settings) as running:
        smtp_server.wait_for(1, timeout=10)
        running.wait_cycles(2)
    assert len(smtp_server.messages) == 1


def test_smtp_refusing_for_a_while_delays_then_delivers_the_acknowledgement(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    smtp_server.fail_with = (451, "4.3.0 try later")
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        row = wait_until(
            lambda: next(
                (r for r in running.outbox() if r.attempts >= 2 and r.state == OutboxState.PENDING),
                None,
            ),
            "two failed attempts",
        )
        assert "451" in (row.last_error or "")
        smtp_server.fail_with = None
        smtp_server.wait_for(1, timeout=10)
        wait_until(lambda: running.outbox()[0].state == OutboxState.SENT, "sent state")
        with running.service.sessions() as session:
            types = [e.type for e in session.scalars(select(RequestEvent))]
        assert "acknowledgement_delayed" in types and "acknowledgement_sent" in types
    assert len(smtp_server.messages) == 1


def test_daemon_reconnects_after_the_imap_server_restarts(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.restart()
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        smtp_server.wait_for(1, timeout=20)
    assert len(smtp_server.messages) == 1


def test_polling_works_when_idle_is_turned_off(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(
        tmp_path, dovecot, smtp_server, imap={"idle": False, "poll_interval_seconds": 0.5}
    )
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        dovecot.deliver_lmtp(MAILBOX, REQUEST)
        smtp_server.wait_for(1, timeout=10)
