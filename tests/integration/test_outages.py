"""Outages, as integration tests with the real servers: the daemon retries, alerts and
refuses where it must, and never processes the same mail twice (issue 6)."""

from __future__ import annotations

import subprocess
import sys
import time
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

from dcs_mailbox.cli import main
from dcs_mailbox.errors import AlreadyRunningError
from dcs_mailbox.store.models import OutboxState
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer, StoredMessage
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
        assert [r.state for r in rows] == [OutboxState.PENDING] * 3
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
