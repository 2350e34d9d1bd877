"""Peak memory of the daemon while it works through a backlog holding a 30 MB attachment.

Seeds a private Dovecot with N small tagged requests plus, in the middle, ONE request
carrying a 30 MB binary attachment (random bytes, base64 on the wire: ~41 MB), then runs
the real daemon as the service manager does (`python -m dcs_mailbox run --config FILE`,
a separate process) until every message is recorded, and reads that process's peak
resident set size (VmHWM in /proc/<pid>/status) before stopping it with SIGTERM. The
same run without the big message gives the baseline: the difference is what the
attachment costs. The big message's archived file is checked against what was seeded.
--big-messages N puts N such messages one after the other in the backlog.

    .venv/bin/python -m bench.memory
    .venv/bin/python -m bench.memory --messages 500 --attachment-mb 30
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from base64 import encodebytes
from pathlib import Path

from tests.integration.harness import wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, build_eml
from tests.test_cli import write_config


def small_requests(count: int) -> list[bytes]:
    return [
        build_eml(
            subject=f"Saisine CDSE - question n° {i}",
            sender=f"Directeur {i} <directeur{i}@membre{i % 50}.example>",
            message_id=f"memory-{i}@membre.example",
            body=f"Bonjour,\n\nQuestion {i} sur la vidéoprotection de notre site.\n" * 20,
        )
        for i in range(count)
    ]


def big_request(megabytes: int, number: int = 0) -> bytes:
    """A tagged request with a PDF-like binary attachment (incompressible random bytes)."""
    data = b"%PDF-1.7\n" + random.Random(number).randbytes(megabytes * 1024 * 1024)
    encoded = encodebytes(data).replace(b"\n", b"\r\n")  # 76-character lines (RFC 2045 §6.8)
    return (
        b"From: Directrice <directrice@membre7.example>\r\n"
        b"To: " + MAILBOX.encode() + b"\r\n"
        b"Subject: Saisine CDSE - plans du site en pi=?utf-8?q?=C3=A8?=ce jointe\r\n"
        b"Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n"
        b"Message-ID: <plans-" + str(number).encode() + b"@membre7.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="=_plans"\r\n\r\n'
        b"--=_plans\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + "Bonjour,\r\n\r\nVous trouverez les plans du site en pièce jointe.\r\n".encode()
        + b"\r\n--=_plans\r\n"
        b"Content-Type: application/pdf; name=plans.pdf\r\n"
        b'Content-Disposition: attachment; filename="plans.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n--=_plans--\r\n"
    )


def seed(dovecot: DovecotServer, count: int, big: list[bytes]) -> None:
    messages = small_requests(count)
    messages[count // 2 : count // 2] = big  # one after the other, mid-backlog
    for start in range(0, len(messages), 100):
        dovecot.append_many("INBOX", messages[start : start + 100])


def recorded(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        try:
            row = db.execute("SELECT count(*) FROM messages WHERE direction = 'inbound'")
        except sqlite3.OperationalError:  # the schema is being created or the db is locked
            return 0
        return int(row.fetchone()[0])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc: Linux only")


def daemon_run(base: Path, count: int, big: list[bytes]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of the daemon from a cold start to all recorded."""
    with DovecotServer(base / "dovecot") as dovecot, SmtpCapture() as smtp:
        seed(dovecot, count, big)
        password = base / "imap-password"
        password.write_text(dovecot.password_of("sec-dcs"))
        config = write_config(
            base,
            imap={
                "host": dovecot.host,
                "port": dovecot.imap_port,
                "security": "plain",
                "username": "sec-dcs",
                "password_file": str(password),
            },
            smtp={"host": smtp.host, "port": smtp.port, "security": "plain"},
        )
        python = sys.executable
        subprocess.run(
            [python, "-m", "dcs_mailbox", "db", "upgrade", "--config", str(config)], check=True
        )
        expected = count + len(big)
        database = base / "data" / "dcs-mailbox.sqlite3"
        start = time.perf_counter()
        with (base / "run.log").open("wb") as log:
            daemon = subprocess.Popen(
                [python, "-m", "dcs_mailbox", "run", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_until(lambda: recorded(database) == expected, f"{expected} recorded", 1800)
                elapsed = time.perf_counter() - start
                peak = peak_rss_mib(daemon.pid)
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
            finally:
                if daemon.poll() is None:
                    daemon.kill()
                    daemon.wait()
        for message in big:
            check_archive(base / "data", message)
    return peak, elapsed


def check_archive(data_dir: Path, big: bytes) -> None:
    digest = hashlib.sha256(big).hexdigest()
    archived = next(data_dir.rglob(f"{digest}.eml"), None)
    if archived is None or hashlib.sha256(archived.read_bytes()).hexdigest() != digest:
        raise SystemExit(f"the big message's raw bytes were not archived intact ({digest[:12]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--attachment-mb", type=int, default=30)
    parser.add_argument("--big-messages", type=int, default=1)
    args = parser.parse_args()
    big = [big_request(args.attachment_mb, n) for n in range(args.big_messages)]
    with tempfile.TemporaryDirectory(prefix="dcs-memory-") as tmp:
        base_peak, base_time = daemon_run(Path(tmp) / "baseline", args.messages, [])
    with tempfile.TemporaryDirectory(prefix="dcs-memory-") as tmp:
        peak, elapsed = daemon_run(Path(tmp) / "big", args.messages, big)
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(
        f"{args.messages} small tagged requests, plus {args.big_messages} of "
        f"{len(big[0]) / 2**20:.1f} MB on the wire ({args.attachment_mb} MB attachment each)"
    )
    print(f"baseline (small requests only): peak RSS {base_peak:.1f} MiB ({base_time:.1f} s)")
    print(f"with the big message(s):        peak RSS {peak:.1f} MiB ({elapsed:.1f} s)")
    print(f"cost of the big message(s): {peak - base_peak:+.1f} MiB; target: peak ≤ 200 MB")


if __name__ == "__main__":
    main()
