"""`dcs-mailbox report quarterly|members|annual …` and `report list`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sqlalchemy import select

from dcs_mailbox.config import Settings

# Rendering imports matplotlib: only the `report` command pays for it (see run_report).


def add_report_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser("report", help="the protocol's reports: preview, send, list")
    kinds = report.add_subparsers(dest="report_command", required=True)
    for kind, what in (
        ("quarterly", "quarterly statistics for the CDSE (art. 6)"),
        ("members", "per-member use: out-of-scope and personal-data requests (art. 7)"),
        ("annual", "one-year review of the experiment (art. 8)"),
    ):
        parser = kinds.add_parser(kind, help=what)
        parser.add_argument("--config", "-c", type=Path, required=True)
        parser.add_argument(
            "--period", help="« 2026-Q3 », « A1-T2 », « 2026 », « A1 » (default: the last one over)"
        )
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--output", type=Path, help="write .eml, .html, .csv, .xlsx, .png here")
        target.add_argument("--send", action="store_true", help="email it (once per period)")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    listing = kinds.add_parser("list", help="what was sent when")
    listing.add_argument("--config", "-c", type=Path, required=True)


def run_report(settings: Settings, args: argparse.Namespace) -> int:
    from dcs_mailbox.reports.email import write_report_files
    from dcs_mailbox.reports.mailing import report_message_id
    from dcs_mailbox.reports.statement import build_statement, resolve_period, send_statement
    from dcs_mailbox.service import DataDirLock, build_service

    service = build_service(settings)
    try:
        if args.report_command == "list":
            return _list(service)
        now = service.clock.now()
        period = resolve_period(args.report_command, args.period, settings, now)
        if args.send:
            # The daemon may be sending the same report: the lock keeps one sender.
            with DataDirLock(settings.service.data_dir):
                result = send_statement(service, args.report_command, period)
            print(f"{args.report_command} {period.label}: {result.outcome.value}")
            if result.error:
                print(f"  {result.error}", file=sys.stderr)
            return 0 if result.outcome.value in ("sent", "already-sent") else 1
        message_id = report_message_id(args.report_command, period.label, settings.mailbox.address)
        statement = build_statement(
            service,
            args.report_command,
            period,
            message_id=message_id,
            now=now,
            to=tuple(settings.reports.recipients) or (settings.mailbox.address,),
        )
        if args.json:
            print(json.dumps(statement.figures, ensure_ascii=False, indent=2))
        if args.output:
            files = write_report_files(
                args.output,
                statement.base_name,
                statement.message,
                html=statement.html,
                csv=statement.csv,
                xlsx=statement.xlsx or b"",
                png=statement.png or b"",
            )
            for path in files:
                if path.stat().st_size:
                    print(path)
                else:
                    path.unlink()
        elif not args.json:
            print(statement.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
        return 0
    finally:
        service.close()


def _list(service: object) -> int:
    from dcs_mailbox.service import Service
    from dcs_mailbox.store.models import ReportRun

    assert isinstance(service, Service)
    zone = service.settings.service.zone
    with service.sessions() as session:
        runs = list(session.scalars(select(ReportRun).order_by(ReportRun.created_at)))
    if not runs:
        print("Aucun rapport envoyé.")
    for run in runs:
        sent = run.sent_at.astimezone(zone).strftime("%d/%m/%Y %H:%M") if run.sent_at else "—"
        print(f"{run.kind:<10} {run.period:<18} {run.state:<8} {sent:<16} {run.recipients}")
    return 0
