"""Backlog throughput: N messages waiting in Dovecot, the daemon vs a bare fetch loop.

Seeds N small tagged requests (unique senders) with MULTIAPPEND, then in the same run:
1. a bare imapclient loop that only fetches them (BODY.PEEK[] + FLAGS, batches of 200):
   the ceiling for intake with imapclient here;
2. the real daemon from a cold start until every message is recorded, triaged and its
   acknowledgement queued (the SMTP sending that follows is not counted).
Prints both rates and their ratio.

    .venv/bin/python -m bench.backlog --messages 10000
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import build_eml

from dcs_mailbox.store.models import Message, OutboxMessage


def seed(dovecot: DovecotServer, count: int) -> None:
    batch: list[bytes] = []
    for i in range(count):
        batch.append(
            build_eml(
                subject=f"Saisine CDSE - question n° {i}",
                sender=f"Directeur {i} <directeur{i}@membre{i % 50}.example>",
                message_id=f"backlog-{i}@membre.example",
                body=f"Bonjour,\n\nQuestion {i} sur la vidéoprotection de notre site.\n" * 20,
            )
        )
        if len(batch) == 500:
            dovecot.append_many("INBOX", batch)
            batch = []
    if batch:
        dovecot.append_many("INBOX", batch)


def bare_fetch(dovecot: DovecotServer) -> tuple[int, float]:
    start = time.perf_counter()
    fetched = 0
    with dovecot.imap(folder="INBOX", readonly=True) as client:
        uids = client.search(["ALL"])
        for i in range(0, len(uids), 200):
            fetched += len(client.fetch(uids[i : i + 200], ["BODY.PEEK[]", "FLAGS"]))
    return fetched, time.perf_counter() - start


def daemon_run(base: Path, dovecot: DovecotServer, smtp: SmtpCapture, count: int) -> float:
    settings = daemon_settings(base, dovecot, smtp)
    start = time.perf_counter()
    with RunningDaemon(settings) as running:

        def done() -> bool:
            with running.service.sessions() as session:
                recorded = session.scalar(
                    select(func.count(Message.id)).where(Message.direction == "inbound")
                )
                queued = session.scalar(select(func.count(OutboxMessage.id)))
            return recorded == count and queued == count

        wait_until(done, f"{count} recorded and queued", timeout=3600)
        elapsed = time.perf_counter() - start
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcs-backlog-") as tmp:
        base = Path(tmp)
        with DovecotServer(base / "dovecot") as dovecot, SmtpCapture() as smtp:
            seed(dovecot, args.messages)
            size = sum(len(m.raw) for m in dovecot.fetch_all()[:100]) / 100
            fetched, bare = bare_fetch(dovecot)
            elapsed = daemon_run(base, dovecot, smtp, args.messages)
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(f"{args.messages} messages of ~{size / 1024:.1f} KB waiting in Dovecot")
    print(f"bare imapclient fetch loop: {fetched / bare:,.0f} messages/s ({bare:.2f} s)")
    print(
        f"daemon, cold start to all recorded, triaged and acknowledgement queued: "
        f"{args.messages / elapsed:,.0f} messages/s ({elapsed:.2f} s)"
    )
    print(f"ratio daemon / bare fetch: {bare / elapsed:.3f}")


if __name__ == "__main__":
    main()
