"""Outages, as integration tests with the real servers: the daemon retries, alerts and
refuses where it must, and never processes the same mail twice (issue 6)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dcs_mailbox.cli import main
from dcs_mailbox.errors import AlreadyRunningError
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
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
