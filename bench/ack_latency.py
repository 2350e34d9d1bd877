"""Arrival-to-acknowledgement latency with IMAP IDLE on loopback.

Starts a private Dovecot and an in-process SMTP server (the test suite's own), runs the
real daemon, then APPENDs tagged requests one at a time and measures, for each, the
time from the APPEND command's completion to the acknowledgement's arrival at the SMTP
server.

    .venv/bin/python -m bench.ack_latency --count 20
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

from tests.integration.harness import RunningDaemon, daemon_settings
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import build_eml


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def measure(count: int, base: Path) -> list[float]:
    latencies: list[float] = []
    with DovecotServer(base / "dovecot") as dovecot, SmtpCapture() as smtp:
        settings = daemon_settings(base, dovecot, smtp)
        with RunningDaemon(settings) as running, dovecot.imap() as client:
            running.wait_cycles()
            for i in range(count):
                raw = build_eml(
                    message_id=f"bench-{i}@acme-industrie.example",
                    sender=f"directeur{i}@acme-industrie.example",
                    subject=f"Saisine CDSE - question n° {i}",
                )
                client.append("INBOX", raw)
                appended = time.monotonic()
                [*_, ack] = smtp.wait_for(i + 1, timeout=30)
                latencies.append(ack.received_monotonic - appended)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcs-bench-") as tmp:
        latencies = measure(args.count, Path(tmp))
    ms = [x * 1000 for x in latencies]
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(f"arrival-to-acknowledgement over {len(ms)} messages (IDLE, loopback):")
    print(
        f"  median {statistics.median(ms):.0f} ms   p90 {percentile(ms, 0.9):.0f} ms   "
        f"p99 {percentile(ms, 0.99):.0f} ms   min {min(ms):.0f} ms   max {max(ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
