"""Outages, as integration tests with the real servers: the daemon retries, alerts and
refuses where it must, and never processes the same mail twice (issue 6)."""

from __future__ import annotations

import logging
import resource
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import pytest

from dcs_mailbox.cli import main
from dcs_mailbox.errors import AlreadyRunningError
from dcs_mailbox.keywords import ACK_SENT
from dcs_mailbox.store.models import (
    IntakeFailure,
    Message,
    MessageStatus,
    OutboxMessage,
    OutboxState,
    Request,
    RequestEvent,
)
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer, StoredMessage
from tests.servers.proxy import CuttingProxy
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, build_eml
from tests.test_cli import write_config


def test_a_second_daemon_on_the_same_mailbox_from_another_data_dir_refuses_to_start(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    """The measured peer made 943 duplicates out of 1,000 that way."""
    for name in ("service", "manual", "cli"):
        (tmp_path / name).mkdir()
    first = daemon_settings(tmp_path / "service", dovecot, smtp_server)
    second = daemon_settings(tmp_path / "manual", dovecot, smtp_server)
    with RunningDaemon(first) as running:
        running.wait_cycles()
        for i in range(5):
            dovecot.deliver_lmtp(
                MAILBOX, build_eml(message_id=f"twice-{i}@x.example", sender=f"d{i}@x.example")
            )
        # A manual run beside the service, with its own data directory (an empty database
        # that would take every message for new): refused before touching any mail.
        intruder = RunningDaemon(second)
        intruder.thread.start()
        intruder.thread.join(timeout=15)
        assert isinstance(intruder.error, AlreadyRunningError)
        assert "already processing this mailbox" in str(intruder.error)
        assert str(first.service.data_dir.resolve()) in str(intruder.error)
        assert intruder.messages() == 0
        intruder.service.close()

        # The same from the command line: exit status 2 and the message on stderr.
        password = tmp_path / "pw"
        password.write_text(dovecot.password_of("sec-dcs"))
        config = write_config(
            tmp_path / "cli",
            imap={
                "host": dovecot.host,
                "port": dovecot.imap_port,
                "security": "plain",
                "username": "sec-dcs",
                "password_file": str(password),
            },
            smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
        )
        assert main(["db", "upgrade", "--config", str(config)]) == 0
        twin = subprocess.run(
            [sys.executable, "-m", "dcs_mailbox", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert twin.returncode == 2, twin.stderr
        assert "already processing this mailbox" in twin.stderr

        wait_until(lambda: len(smtp_server.messages) == 5, "five acknowledgements")
        running.wait_cycles(2)
    assert len(smtp_server.messages) == 5  # one each, none from the intruders
    # A clean stop gives the mailbox back: no lease is left for the next daemon to wait on.
    assert dovecot.fetch_all("dcs-mailbox-lease") == []


def test_smtp_down_for_a_long_stretch_queues_retries_and_alerts_agents_once(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(
        tmp_path,
        dovecot,
        smtp_server,
        acknowledgement={"retry_initial_seconds": 0.2, "retry_max_seconds": 1.6},
        alerts={"ack_delay_minutes": 0.05},  # 3 s here; 60 min by default
    )
    smtp_server.stop()  # connections refused from now on
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        started = time.monotonic()
        for i in range(3):
            dovecot.deliver_lmtp(
                MAILBOX, build_eml(message_id=f"down-{i}@x.example", sender=f"d{i}@x.example")
            )
        wait_until(lambda: running.messages() == 3, "three requests recorded")

        def notices() -> list[StoredMessage]:
            return [m for m in dovecot.fetch_all("INBOX") if b"action requise" in m.raw]

        [notice] = wait_until(notices, "the delay notice in the INBOX", timeout=20)
        assert "\\Flagged" in notice.flags
        text = notice_text(notice.raw)
        assert "3 accusés de réception n'ont pas pu être envoyés" in text
        assert "CDSE-2026-0001" in text and "il reste 23 h" in text
        assert "Connection refused" in text or "refused" in text.lower()

        # The outage goes on: the acknowledgements wait, retried with backoff, and the
        # agents are not told again.
        time.sleep(4)
        running.wait_cycles(2)
        elapsed = time.monotonic() - started
        rows = running.outbox()
        # (a row is `sending` for the instant of an attempt)
        assert {r.state for r in rows} <= {OutboxState.PENDING, OutboxState.SENDING}
        assert all(r.attempts >= 2 for r in rows)
        # Without backoff a round every 0.5 s would make ~2 attempts a second per request.
        assert max(r.attempts for r in rows) <= 2 + elapsed / 1.6 + 3
        assert len(notices()) == 1
        # The notice itself is our own mail: recorded, never acknowledged.
        assert running.messages() == 4

        smtp_server.start()  # back, same port
        smtp_server.wait_for(3, timeout=20)
        wait_until(lambda: all(r.state == OutboxState.SENT for r in running.outbox()), "all sent")
        running.wait_cycles(2)
    assert sorted(m.rcpt_tos for m in smtp_server.messages) == [
        ("d0@x.example",),
        ("d1@x.example",),
        ("d2@x.example",),
    ]
    assert len(notices()) == 1


def notice_text(raw: bytes) -> str:
    message = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_connection_cut_in_the_middle_of_a_fetch_loses_and_doubles_nothing(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    padding = "Détails de la demande, ligne de contexte sur la vidéoprotection du site.\n" * 250
    dovecot.append_many(
        "INBOX",
        [
            build_eml(message_id=f"cut-{i}@x.example", sender=f"d{i}@x.example", body=padding)
            for i in range(40)
        ],
    )
    with CuttingProxy(dovecot.host, dovecot.imap_port) as proxy:
        settings = daemon_settings(
            tmp_path, dovecot, smtp_server, imap={"port": proxy.port, "fetch_batch_size": 10}
        )
        # Batches of 10 messages of ~18 KB: the reset lands inside the second FETCH reply,
        # after the first batch was recorded and checkpointed.
        proxy.cut_after(300_000)
        with RunningDaemon(settings) as running:
            wait_until(lambda: running.messages() == 40, "40 messages recorded", timeout=60)
            smtp_server.wait_for(40, timeout=60)
            running.wait_cycles(2)
            assert proxy.cuts == 1
            assert proxy.connections >= 3  # the lease, the INBOX, and the INBOX again
            assert running.count(Request) == 40
    recipients = [m.rcpt_tos for m in smtp_server.messages]
    assert len(recipients) == 40 and len(set(recipients)) == 40


def test_a_locked_database_is_a_clear_error_and_a_retry_not_a_crash_loop(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = daemon_settings(
        tmp_path, dovecot, smtp_server, database={"busy_timeout_seconds": 0.3}
    )
    caplog.set_level(logging.INFO, logger="dcs_mailbox")
    with RunningDaemon(settings) as running:
        running.wait_cycles()
        # Another writer (a backup, a long CLI command) holds the write lock.
        path = settings.database_url.removeprefix("sqlite:///")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            dovecot.deliver_lmtp(MAILBOX, build_eml(message_id="locked@x.example"))
            wait_until(
                lambda: sum("database is locked" in r.getMessage() for r in caplog.records) >= 2,
                "two failed passes",
            )
            time.sleep(2)
            assert running.messages() == 0
        finally:
            other.execute("ROLLBACK")
            other.close()
        smtp_server.wait_for(1, timeout=20)
        running.wait_cycles(2)
        assert running.messages() == 1
        assert running.count(IntakeFailure) == 0  # the message was never blamed
        assert running.count(Message, Message.status == MessageStatus.QUARANTINED) == 0
    failures = [r for r in caplog.records if "database is locked" in r.getMessage()]
    assert all("retrying in" in r.getMessage() for r in failures)
    # Backoff (1, 2, 4 s...), not a loop: a handful of attempts over the ~3 s locked.
    assert 2 <= len(failures) <= 5
    assert len(smtp_server.messages) == 1


def test_disk_full_is_a_clear_error_and_a_retry_not_a_crash_loop(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    """The real `run` process, whose file-size limit is lowered while it runs (prlimit):
    every write that grows a file fails as on a full disk (EFBIG for the archive,
    SQLITE_FULL for the database), then the limit is lifted."""
    password = tmp_path / "pw"
    password.write_text(dovecot.password_of("sec-dcs"))
    config = write_config(
        tmp_path,
        imap={
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "security": "plain",
            "username": "sec-dcs",
            "password_file": str(password),
            "reconnect_max_seconds": 2,
        },
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    # The log goes through a pipe: a log *file* would hit the same limit.
    service = subprocess.Popen(
        [sys.executable, "-m", "dcs_mailbox", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[bytes] = []
    assert service.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(service.stdout or ()), daemon=True)
    reader.start()

    def log() -> bytes:
        return b"".join(list(lines))

    try:
        wait_until(lambda: b"connected (IDLE)" in log(), "the daemon to connect")
        resource.prlimit(service.pid, resource.RLIMIT_FSIZE, (1024, resource.RLIM_INFINITY))
        body = "Question sur la vidéoprotection d'un site industriel.\n" * 60  # > 1 KB
        dovecot.deliver_lmtp(MAILBOX, build_eml(message_id="full@x.example", body=body))
        wait_until(
            lambda: log().count(b"(disk full or permissions?)") >= 2,
            "two failed passes",
            timeout=20,
        )
        assert service.poll() is None  # still running
        assert smtp_server.messages == []
        resource.prlimit(
            service.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )
        smtp_server.wait_for(1, timeout=30)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=15) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    reader.join(timeout=5)
    service.stdout.close()
    output = log().decode()
    assert "cannot write the raw archive" in output and "retrying in" in output
    assert "Traceback" not in output  # a clear error, not a crash
    assert len(smtp_server.messages) == 1


def test_a_lost_database_does_not_acknowledge_again_what_the_mailbox_says_was_acknowledged(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    """A database restored from an old backup, or a new one on the same mailbox: the
    keyword set when the acknowledgement left is the mailbox's memory."""
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    with RunningDaemon(daemon_settings(tmp_path / "before", dovecot, smtp_server)) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml(message_id="remembered@x.example"))
        smtp_server.wait_for(1, timeout=10)
        uid = dovecot.fetch_all("INBOX")[0].uid
        wait_until(lambda: ACK_SENT in dovecot.keywords("INBOX", uid), "the keyword")
    with RunningDaemon(daemon_settings(tmp_path / "after", dovecot, smtp_server)) as running:
        wait_until(lambda: running.messages() == 1, "the request recorded again")
        running.wait_cycles(2)
        [request] = running.requests()
        assert request.acknowledged_at is not None
        assert running.count(OutboxMessage) == 0
        assert running.count(RequestEvent, RequestEvent.type == "acknowledgement_found") == 1
    assert len(smtp_server.messages) == 1
