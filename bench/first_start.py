"""First start on a mailbox that already holds N old messages (default 10,000).

Seeds a private Dovecot with N tagged requests whose INTERNALDATE spreads over the past
three years (MULTIAPPEND), then starts the real daemon on an empty database and times it
until every message is recorded. All of them must be history: recorded, keyworded, and
none acknowledged (replying to years-old mail is the flood every ticket system's users
complain about). Prints the time, the rate and the counts; exits 1 if any message was
acknowledged or made a request.

    .venv/bin/python -m bench.first_start --messages 10000
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import build_eml

from dcs_mailbox.store.models import Message, OutboxMessage, Request


def seed(dovecot: DovecotServer, count: int) -> None:
    now = datetime.now(UTC)
    with dovecot.imap() as client:
        batch: list[dict[str, object]] = []
        for i in range(count):
            raw = build_eml(
                subject=f"Saisine CDSE - question n° {i}",
                sender=f"Directeur {i} <directeur{i}@membre{i % 50}.example>",
                message_id=f"old-{i}@membre.example",
                body=f"Bonjour,\n\nQuestion {i} sur la vidéoprotection de notre site.\n" * 20,
            )
            # From three years ago up to two days ago (the history horizon is 24 h).
            when = now - timedelta(days=2) - timedelta(minutes=(i * 157) % (3 * 365 * 1440))
            batch.append({"msg": raw, "date": when})
            if len(batch) == 500:
                client.multiappend("INBOX", batch)
                batch = []
        if batch:
            client.multiappend("INBOX", batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcs-first-start-") as tmp:
        base = Path(tmp)
        with DovecotServer(base / "dovecot") as dovecot, SmtpCapture() as smtp:
            seed(dovecot, args.messages)
            settings = daemon_settings(base, dovecot, smtp)
            start = time.perf_counter()
            with RunningDaemon(settings) as running:

                def recorded() -> int:
                    with running.service.sessions() as session:
                        return int(
                            session.scalar(
                                select(func.count(Message.id)).where(Message.direction == "inbound")
                            )
                            or 0
                        )

                wait_until(lambda: recorded() == args.messages, "all recorded", timeout=3600)
                elapsed = time.perf_counter() - start
                running.wait_cycles(1, timeout=600)  # keywords set, outbox flushed
                with running.service.sessions() as session:
                    history = session.scalar(
                        select(func.count(Message.id)).where(Message.history.is_(True))
                    )
                    requests = session.scalar(select(func.count(Request.id)))
                    queued = session.scalar(select(func.count(OutboxMessage.id)))
            keyworded = sum("$historique" in m.flags for m in dovecot.fetch_all("INBOX"))
            acks = len(smtp.messages)
    print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    print(f"{args.messages} old messages (INTERNALDATE 2 days to 3 years ago) in the INBOX")
    print(f"first start to all recorded: {elapsed:.2f} s ({args.messages / elapsed:,.0f} msg/s)")
    print(f"recorded as history: {history}; keyworded $historique: {keyworded}")
    print(f"requests created: {requests}; acknowledgements queued: {queued}; sent: {acks}")
    if requests or queued or acks or history != args.messages:
        print("FAILED: old mail must be history, never a request, never acknowledged")
        sys.exit(1)


if __name__ == "__main__":
    main()
