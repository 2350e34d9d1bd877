"""Time of `compute_stats` for one quarter over a large SQLite database.

Seeds a fresh database (the real schema, through the migrations) with N requests spread
over three years (2024–2026) — e-mail and phone, every outcome, acknowledgement and
answer delays, 120 member companies, categories, referrals — in one
`INSERT … SELECT` over a recursive CTE, then times `compute_stats` for one quarter
(median of --runs runs, after one warm-up run).

    .venv/bin/python -m bench.report_stats                      # 1,000,000 requests
    .venv/bin/python -m bench.report_stats --requests 100000 --quarter 2025-Q3
    .venv/bin/python -m bench.report_stats --index "CREATE INDEX …"   # try an index

The database lives in a temporary directory, removed at the end (--keep DIR to keep it
and --reuse DIR to time it again without seeding).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy

from dcs_mailbox.reports.periods import quarter
from dcs_mailbox.reports.stats import compute_stats
from dcs_mailbox.store.db import make_engine, make_session_factory, upgrade

ZONE = ZoneInfo("Europe/Paris")
DB_NAME = "bench-report.sqlite3"
FIRST_DAY = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
DAYS = 1096  # 2024-01-01 … 2026-12-31

# r(a, p): a pseudo-random fraction in [0, 1) from the row number, deterministic (SQLite
# has no seeded random()); different (multiplier, prime) pairs give unrelated streams.
_R = "((n * {a}) % {p}) * 1.0 / {p}"


def _r(a: int, p: int) -> str:
    return _R.format(a=a, p=p)


def _stamp(seconds: str) -> str:
    # SQLAlchemy's SQLite DATETIME text, which the column comparisons rely on.
    return f"strftime('%Y-%m-%d %H:%M:%S', {seconds}, 'unixepoch') || '.000000'"


CATEGORIES = (
    "securite-privee", "videoprotection", "palpations", "vigipirate", "evenements",
    "drones", "cyber", "surete-site", "malveillance", "enquetes-administratives",
    "fiscal", "travail",
)  # fmt: skip
SERVICES = ("cnil", "dgfip", "urssaf", "travail", "ants", "cnaps", "anssi", "prefecture")

SEED = f"""
INSERT INTO requests (
    reference, channel, year, number, requester_address, requester_name, subject,
    received_at, status, acknowledged_at, created_at, updated_at, member, member_company,
    scope, personal_data, urgent, category, service, medium, answered_at, referred_at,
    referred_service, closed_at)
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count),
draw AS (
    SELECT n,
        -- office hours mostly (07:00–19:00 UTC), some at night; days in row order
        {FIRST_DAY} + ((n - 1) * {DAYS} / :count) * 86400
            + CAST(25200 + {_r(7919, 43201)} * 43200 AS INTEGER)
            - CASE WHEN n % 10 = 0 THEN 28800 ELSE 0 END AS t,
        {_r(40503, 65537)} AS medium_r, {_r(2654435, 1000003)} AS outcome_r,
        {_r(69069, 99991)} AS ack_r, {_r(48271, 100003)} AS answer_r,
        {_r(16807, 10007)} AS flag_r, {_r(1103515, 999983)} AS member_r,
        (n * 31) % 12 AS category_i, (n * 17) % 8 AS service_i
    FROM seq
),
request AS (
    SELECT *,
        CASE WHEN medium_r < 0.85 THEN 'email' ELSE 'phone' END AS medium,
        CASE WHEN outcome_r < 0.02 THEN 'not_a_request' WHEN outcome_r < 0.60 THEN 'answered'
             WHEN outcome_r < 0.75 THEN 'referred' WHEN outcome_r < 0.85 THEN 'closed'
             WHEN outcome_r < 0.93 THEN 'acknowledged' ELSE 'received' END AS status,
        -- answers: a few hours to a few weeks, skewed towards short
        t + 1800 + CAST(answer_r * answer_r * 1728000 AS INTEGER) AS answer_t
    FROM draw
)
SELECT
    'CDSE-' || n, 'CDSE', 2024 + (t - {FIRST_DAY}) / 31622400, n,
    'demandeur' || (n % 40000) || '@entreprise' || (n % 300) || '.example',
    'Prénom Nom ' || (n % 5000),
    'Saisine CDSE - question sur la sécurité du site n° ' || (n % 977) || ' et ses abords',
    {_stamp("t")}, status,
    CASE WHEN status = 'received' THEN NULL
         WHEN medium = 'phone' THEN {_stamp("t")}
         WHEN ack_r < 0.95 THEN {_stamp("t + 30 + CAST(ack_r * 600 AS INTEGER)")}
         ELSE {_stamp("t + CAST(ack_r * 259200 AS INTEGER)")} END,
    {_stamp("t")}, {_stamp("answer_t")},
    member_r < 0.8,
    CASE WHEN member_r < 0.8
         THEN 'Entreprise ' || printf('%03d', CAST(member_r * member_r * 187.5 AS INTEGER))
    END,
    CASE WHEN flag_r < 0.1 THEN 'out' WHEN flag_r < 0.3 THEN 'uncertain' ELSE 'in' END,
    (n * 13) % 10 = 0, (n * 7) % 100 = 0,
    CASE WHEN category_i < 10 OR flag_r > 0.5
         THEN json_extract(:categories, '$[' || category_i || ']') END,
    NULL, medium,
    CASE WHEN status = 'answered' OR (status = 'referred' AND answer_r < 0.5)
              OR (status = 'closed' AND answer_r < 0.3)
         THEN {_stamp("answer_t")} END,
    CASE WHEN status = 'referred' THEN {_stamp("answer_t + 600")} END,
    CASE WHEN status = 'referred' AND service_i < 7
         THEN json_extract(:services, '$[' || service_i || ']') END,
    CASE WHEN status = 'closed' THEN {_stamp("answer_t + 3600")} END
FROM request
"""


def seed(path: Path, count: int) -> float:
    upgrade(f"sqlite:///{path}")
    started = time.perf_counter()
    with sqlite3.connect(path) as connection:
        connection.execute(
            SEED,
            {
                "count": count,
                "categories": "[" + ",".join(f'"{c}"' for c in CATEGORIES) + "]",
                "services": "[" + ",".join(f'"{s}"' for s in SERVICES) + "]",
            },
        )
        connection.execute("ANALYZE")
    with sqlite3.connect(path) as connection:
        # A daemon's database is checkpointed as it goes; a 500 MB WAL would slow reads.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


def add_indexes(path: Path, statements: list[str]) -> None:
    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)
        connection.execute("ANALYZE")


def time_stats(path: Path, label: str, runs: int) -> tuple[list[float], int]:
    engine = make_engine(f"sqlite:///{path}")
    sessions = make_session_factory(engine)
    period = quarter(label, ZONE)
    now = datetime.now(UTC)
    timings: list[float] = []
    total = 0
    try:
        for _ in range(runs + 1):  # the first run warms the page cache: not counted
            with sessions() as session:
                started = time.perf_counter()
                stats = compute_stats(session, period, now=now, zone=ZONE)
                timings.append(time.perf_counter() - started)
                total = stats.total
    finally:
        engine.dispose()
    return timings, total


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPU, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, numpy {numpy.__version__}"
    )


def run(directory: Path, args: argparse.Namespace) -> None:
    path = directory / DB_NAME
    if not args.reuse:
        seconds = seed(path, args.requests)
        print(f"seeded {args.requests:,} requests in {seconds:.1f} s ({path})")
    if args.index:
        add_indexes(path, args.index)
        print(f"indexes added: {'; '.join(args.index)}")
    size = sum(p.stat().st_size for p in directory.glob(DB_NAME + "*")) / 1e6
    timings, total = time_stats(path, args.quarter, args.runs)
    warm = timings[1:]
    print(f"machine: {machine()}")
    print(f"database: {size:,.0f} MB; quarter {args.quarter}: {total:,} requests")
    print(
        f"compute_stats: median {statistics.median(warm) * 1000:.0f} ms over {len(warm)} "
        f"runs (min {min(warm) * 1000:.0f}, max {max(warm) * 1000:.0f}; "
        f"first, cold: {timings[0] * 1000:.0f} ms)"
    )
    command = time_command(directory, path, args.quarter, args.runs)
    print(
        f"`dcs-mailbox report quarterly --period {args.quarter} --output DIR` (a new process "
        f"each time, imports included): median {statistics.median(command):.2f} s over "
        f"{len(command)} runs (min {min(command):.2f}, max {max(command):.2f})"
    )


def time_command(directory: Path, database: Path, label: str, runs: int) -> list[float]:
    """The whole command as an operator runs it: start-up, SQL, chart, CSV, XLSX, files."""
    config = directory / "bench-config.toml"
    config.write_text(
        f'[service]\ndata_dir = "{directory / "data"}"\n'
        f'[database]\nurl = "sqlite:///{database}"\n'
        '[mailbox]\naddress = "sec-dcs@interieur.gouv.fr"\n'
        '[[channels]]\nname = "CDSE"\ntag = "Saisine CDSE"\npartner_name = "CDSE"\n'
        'reference_prefix = "CDSE"\nkeyword = "$saisine_cdse"\n'
        'emergency_phone = "01 99 00 00 00"\n',
        encoding="utf-8",
    )
    command = [
        sys.executable, "-m", "dcs_mailbox", "report", "quarterly", "--period", label,
        "--config", str(config), "--output", str(directory / "report"),
    ]  # fmt: skip
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--quarter", default="2025-Q2")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--index", action="append", default=[], help="SQL run after seeding")
    parser.add_argument("--keep", type=Path, help="seed into this directory and keep it")
    parser.add_argument("--reuse", type=Path, help="time a database seeded with --keep")
    args = parser.parse_args()
    if args.reuse or args.keep:
        directory = args.reuse or args.keep
        directory.mkdir(parents=True, exist_ok=True)
        run(directory, args)
        return
    with tempfile.TemporaryDirectory(prefix="dcs-bench-") as tmp:
        run(Path(tmp), args)


if __name__ == "__main__":
    main()
