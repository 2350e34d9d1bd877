"""`dcs-mailbox run` as the service manager starts it: a real process, real signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from dcs_mailbox.cli import main
from tests.integration.harness import wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, build_eml
from tests.test_cli import write_config


def test_run_acknowledges_refuses_a_twin_and_stops_cleanly_on_sigterm(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    password = tmp_path / "pw"
    password.write_text("secret")
    config = write_config(
        tmp_path,
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
    command = [sys.executable, "-m", "dcs_mailbox", "run", "--config", str(config)]
    log = tmp_path / "run.log"
    with log.open("wb") as log_file:
        service = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: b"connected (IDLE)" in log.read_bytes(), "the daemon to connect")
            dovecot.deliver_lmtp(MAILBOX, build_eml())
            smtp_server.wait_for(1, timeout=10)

            twin = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
            assert twin.returncode == 2
            assert "another dcs-mailbox process" in twin.stderr

            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=15) == 0
        finally:
            if service.poll() is None:
                service.kill()
                service.wait()
    output = log.read_text()
    assert "signal 15 received" in output and "stopped" in output
    assert "secret" not in output  # the password never reaches the logs
    assert len(smtp_server.messages) == 1
