"""Where a backlog's time goes: the cost of each pipeline stage per message, in-process.

The same N small tagged requests as bench/backlog.py, through each stage separately on a
fresh database: content hash, raw archive (write + fsync), MIME parse, triage (full,
then history's lighter kind-and-tag pass), and recording with the ack queued (one
transaction per fetch batch of 200, as the daemon does). No IMAP: the daemon's rate in
bench/backlog.py is bounded by the sum of these.

    .venv/bin/python -m bench.pipeline_stages --messages 2000
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.support import build_eml, make_service, make_settings

from dcs_mailbox.parse import parse_message
from dcs_mailbox.pipeline import Incoming
from dcs_mailbox.store.db import upgrade
from dcs_mailbox.store.record import Location
from dcs_mailbox.triage.classify import triage


def timed(label: str, count: int, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    per_message = (time.perf_counter() - start) / count * 1000
    print(f"{label:<44} {per_message:7.3f} ms/message")
    return per_message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="dcs-stages-") as tmp:
        settings = make_settings(Path(tmp) / "data")
        upgrade(settings.database_url)
        service = make_service(settings)
        pipeline = service.pipeline
        raws = [
            build_eml(
                subject=f"Saisine CDSE - question n° {i}",
                sender=f"Directeur {i} <directeur{i}@membre{i % 50}.example>",
                message_id=f"stage-{i}@membre.example",
                body=f"Bonjour,\n\nQuestion {i} sur la vidéoprotection de notre site.\n" * 20,
            )
            for i in range(n)
        ]
        print(
            f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}"
        )
        print(f"{n} tagged requests of ~{sum(map(len, raws)) / n / 1024:.1f} KB")
        hashes: list[str] = []
        parsed = []
        verdicts = []
        total = timed(
            "sha256", n, lambda: hashes.extend(hashlib.sha256(r).hexdigest() for r in raws)
        )
        total += timed(
            "archive (write, fsync, rename)",
            n,
            lambda: [pipeline.archive.store(r, h) for r, h in zip(raws, hashes, strict=True)],
        )
        total += timed("parse", n, lambda: parsed.extend(parse_message(r) for r in raws))
        total += timed(
            "triage (full)", n, lambda: verdicts.extend(triage(m, pipeline.context) for m in parsed)
        )
        timed(
            "  triage (history: kind and tag only)",
            n,
            lambda: [triage(m, pipeline.context, deep=False) for m in parsed],
        )
        now = datetime.now(UTC)

        def record() -> None:
            for start in range(0, n, 200):
                with pipeline.sessions.begin() as session:
                    for i in range(start, min(n, start + 200)):
                        item = Incoming(raws[i], now, Location("INBOX", 1, i + 1))
                        pipeline._record_in(session, parsed[i], verdicts[i], item, now)

        total += timed("record + queue the ack (200 per transaction)", n, record)
        print(f"{'sum':<44} {total:7.3f} ms/message  (≈ {1000 / total:,.0f} messages/s)")
        service.close()


if __name__ == "__main__":
    main()
