"""Command line: a thin shell that wires stages from the configuration."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from dcs_mailbox import __version__
from dcs_mailbox.calls_cli import add_calls_parser
from dcs_mailbox.config import Settings, load_settings
from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.reports.report_cli import add_report_parser

log = logging.getLogger("dcs_mailbox")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", "-c", type=Path, required=True, help="path to the TOML configuration file"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcs-mailbox",
        description="Mail-triage daemon for the DCS single contact point (« Saisine CDSE »).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="create or migrate the database to the newest schema")
    _config_arg(upgrade)

    run = sub.add_parser("run", help="run the daemon (watch the mailbox, acknowledge requests)")
    _config_arg(run)

    ingest = sub.add_parser("ingest", help="feed .eml files through the pipeline (no IMAP)")
    _config_arg(ingest)
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE.eml")
    ingest.add_argument(
        "--no-send", action="store_true", help="record and queue acknowledgements, do not send"
    )

    requests = sub.add_parser("requests", help="recorded requests").add_subparsers(
        dest="requests_command", required=True
    )
    listing = requests.add_parser("list", help="list requests, newest first")
    _config_arg(listing)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, default=100)
    show = requests.add_parser("show", help="one request with its timeline")
    show.add_argument("reference")
    _config_arg(show)
    show.add_argument("--json", action="store_true")

    correct = requests.add_parser(
        "set", help="correct the machine's verdict (recorded with the first verdict)"
    )
    correct.add_argument("reference")
    _config_arg(correct)
    correct.add_argument("--scope", choices=("in", "out", "uncertain"))
    correct.add_argument("--personal-data", choices=("yes", "no"))
    correct.add_argument("--member", choices=("yes", "no"))
    correct.add_argument("--urgent", choices=("yes", "no"))
    correct.add_argument("--reason", required=True, help="why (kept with the correction)")
    correct.add_argument("--agent", default="", help="who corrects (default: the login name)")

    triage = sub.add_parser(
        "triage",
        help="triage .eml files (no database, no configuration); `triage train` fits the model",
        description="dcs-mailbox triage [--members F.csv] [--json] FILE.eml…  |  "
        "dcs-mailbox triage train --config F [--labels labels.jsonl]",
    )
    triage.add_argument("files", nargs="+", type=Path, metavar="FILE.eml")
    triage.add_argument("--members", type=Path, help="member registry CSV")
    triage.add_argument("--model", type=Path, help="scope model artefact (JSON)")
    triage.add_argument("--json", action="store_true", help="one JSON object per file")

    members = sub.add_parser("members", help="the CDSE member registry").add_subparsers(
        dest="members_command", required=True
    )
    members_import = members.add_parser("import", help="replace the registry with a CSV file")
    members_import.add_argument("file", type=Path, metavar="FILE.csv")
    _config_arg(members_import)
    members_list = members.add_parser("list", help="list the registry")
    _config_arg(members_list)

    add_calls_parser(sub)
    add_report_parser(sub)

    digest = sub.add_parser("digest", help="send today's digest of requests awaiting an answer")
    _config_arg(digest)
    digest.add_argument(
        "--dry-run", action="store_true", help="print the digest; send and record nothing"
    )

    purge = sub.add_parser(
        "purge", help="blank personal data older than [retention].days now (daily in the daemon)"
    )
    _config_arg(purge)

    tags = sub.add_parser(
        "thunderbird-tags", help="print Thunderbird preferences defining every tag (user.js)"
    )
    tags.add_argument("--config", "-c", type=Path, help="to include every configured channel")

    check = sub.add_parser("check", help="validate the configuration and try IMAP and SMTP")
    _config_arg(check)

    status = sub.add_parser("status", help="print the service's health (exit 1: needs a look)")
    _config_arg(status)

    demo = sub.add_parser("demo", help="run the whole pipeline on sample mail, no server needed")
    demo.add_argument("--keep", type=Path, help="keep the demo's data in this directory")
    return parser


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcs-mailbox triage train",
        description="Fit the scope classifier on agents' corrections (and a labelled file).",
    )
    _config_arg(parser)
    parser.add_argument("--labels", type=Path, help="labels.jsonl (file, in_scope) to add")
    parser.add_argument("--eml-dir", type=Path, help="where the labelled .eml files are")
    parser.add_argument("--output", type=Path, help="artefact path (default: [triage].scope_model)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["triage", "train"]:
        args = train_parser().parse_args(argv[2:])
        args.command, args.verbose = "triage-train", False
    else:
        args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library chatter (every SMTP session of aiosmtpd, every Alembic plugin) is not news.
    for noisy in ("alembic", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except DcsMailboxError as exc:
        print(f"dcs-mailbox: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        from dcs_mailbox.demo import run_demo

        return run_demo(keep=args.keep)
    if args.command == "thunderbird-tags":
        from dcs_mailbox.agent_tags import thunderbird_prefs

        channels = (
            {c.name: c.keyword for c in load_settings(args.config).channels}
            if args.config
            else {"CDSE": "$saisine_cdse"}
        )
        print(thunderbird_prefs(channels), end="")
        return 0
    if args.command == "triage":
        from dcs_mailbox.triage_cli import run_triage

        return run_triage(args)
    if args.command == "triage-train":
        from dcs_mailbox.triage_cli import run_train

        return run_train(args)
    settings = load_settings(args.config)
    logging.getLogger().setLevel(logging.DEBUG if args.verbose else settings.service.log_level)
    match args.command:
        case "db":
            return _db_upgrade(settings)
        case "run":
            return _run(settings)
        case "ingest":
            return _ingest(settings, args.files, send=not args.no_send)
        case "requests":
            return _requests(settings, args)
        case "check":
            from dcs_mailbox.check import run_checks

            return run_checks(settings)
        case "members":
            return _members(settings, args)
        case "status":
            from dcs_mailbox.status import run_status

            return run_status(settings)
        case "purge":
            return _purge(settings)
        case "digest":
            from dcs_mailbox.reports.digest_cli import run_digest_command

            return run_digest_command(settings, args)
        case "report":
            from dcs_mailbox.reports.report_cli import run_report

            return run_report(settings, args)
        case "calls":
            from dcs_mailbox.calls_cli import run_calls

            return run_calls(settings, args)
    raise AssertionError(args.command)


def _db_upgrade(settings: Settings) -> int:
    from dcs_mailbox.service import prepare_data_dir
    from dcs_mailbox.store.db import upgrade

    prepare_data_dir(settings)
    revision = upgrade(settings.database_url)
    print(f"database is at revision {revision}")
    return 0


def _run(settings: Settings) -> int:
    from dcs_mailbox.daemon import Daemon
    from dcs_mailbox.service import build_service

    # Everything the daemon creates holds people's mail: owner-only, whatever the
    # caller's umask (the systemd unit sets UMask=0077 as well).
    os.umask(0o077)
    service = build_service(settings)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s received: finishing the current message, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        Daemon(service, stop=stop).run()
    finally:
        service.close()
    return 0


def _ingest(settings: Settings, files: list[Path], *, send: bool) -> int:
    from dcs_mailbox.keywords import keywords_for
    from dcs_mailbox.service import DataDirLock, build_service

    service = build_service(settings)
    channel_keywords = {c.name: c.keyword for c in settings.channels}
    status = 0
    try:
        with DataDirLock(settings.service.data_dir):
            for path in files:
                try:
                    raw = path.read_bytes()
                except OSError as exc:
                    print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
                    status = 1
                    continue
                outcome = service.pipeline.process(
                    raw, arrived_at=service.clock.now(), location=None
                )
                keywords = " ".join(keywords_for(outcome, channel_keywords))
                print(
                    f"{path}: {outcome.disposition.value}"
                    f"{' ' + outcome.request_reference if outcome.request_reference else ''}"
                    f"{' (déjà enregistré)' if outcome.already_recorded else ''}"
                    f"{' [' + keywords + ']' if keywords else ''}"
                )
            if send:
                report = service.dispatcher.flush(None)
                print(
                    f"acknowledgements: {len(report.sent)} sent, {len(report.delayed)} delayed, "
                    f"{len(report.failed)} refused"
                )
                if report.delayed or report.failed:
                    status = 1
    finally:
        service.close()
    return status


def _purge(settings: Settings) -> int:
    from dcs_mailbox.service import build_service
    from dcs_mailbox.store.retention import purge

    if not settings.retention.days:
        print("[retention].days = 0: everything is kept, nothing to purge")
        return 0
    service = build_service(settings)
    try:
        with service.sessions.begin() as session:
            report = purge(
                session, service.archive, now=service.clock.now(), days=settings.retention.days
            )
    finally:
        service.close()
    print(
        f"before {report.cutoff.date().isoformat()}: {report.messages} messages and "
        f"{report.requests} requests blanked, {report.files} archived files deleted"
    )
    return 0


def _members(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema
    from dcs_mailbox.store.members import load_registry, read_members_csv, replace_members

    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        sessions = make_session_factory(engine)
        if args.members_command == "import":
            members = read_members_csv(args.file)
            with sessions.begin() as session:
                report = replace_members(session, members, datetime.now(UTC))
            print(
                f"{report.total} member companies: {report.added} added, {report.updated} "
                f"updated, {report.removed} removed"
            )
            return 0
        with sessions() as session:
            registry = load_registry(session)
        for member in sorted(registry, key=lambda m: m.company.lower()):
            print(f"{member.domain:<40} {member.company}  {member.director_email}")
        print(f"{len(registry)} member companies")
        return 0
    finally:
        engine.dispose()


def _correct(settings: Settings, args: argparse.Namespace) -> int:
    import getpass
    from datetime import UTC, datetime

    from dcs_mailbox.store.corrections import apply_correction
    from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema

    values: dict[str, object] = {}
    if args.scope:
        values["scope"] = args.scope
    for name in ("personal_data", "member", "urgent"):
        value = getattr(args, name)
        if value is not None:
            values[name] = value == "yes"
    if not values:
        print("nothing to change: give --scope, --personal-data, --member or --urgent",
              file=sys.stderr)  # fmt: skip
        return 2
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        with make_session_factory(engine).begin() as session:
            changes = apply_correction(
                session,
                args.reference,
                values,
                reason=args.reason,
                agent=args.agent or getpass.getuser(),
                source="cli",
                now=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    if not changes:
        print(f"{args.reference}: déjà à jour, rien n'a changé.")
    for change in changes:
        print(f"{args.reference}: {change.field} {change.before} → {change.after}")
    return 0


def _requests(settings: Settings, args: argparse.Namespace) -> int:
    from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema
    from dcs_mailbox.store.queries import list_requests, request_detail
    from dcs_mailbox.views import request_text, requests_table, to_json

    if args.requests_command == "set":
        return _correct(settings, args)
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        zone = settings.service.zone
        with make_session_factory(engine)() as session:
            if args.requests_command == "list":
                rows = list_requests(session, args.limit)
                print(
                    to_json([asdict(r) for r in rows]) if args.json else requests_table(rows, zone)
                )
                return 0
            detail = request_detail(session, args.reference)
            if detail is None:
                print(f"Aucune saisine de référence {args.reference}.", file=sys.stderr)
                return 1
            print(to_json(asdict(detail)) if args.json else request_text(detail, zone))
            return 0
    finally:
        engine.dispose()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
