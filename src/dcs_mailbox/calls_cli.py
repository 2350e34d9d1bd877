"""`dcs-mailbox calls log` and `calls list`: the telephone side of the contact point.

An agent who takes a call logs it here; it gets a reference of its channel and counts
in the statistics like a mail (protocol art. 1: telephone and email contact point).
"""

from __future__ import annotations

import argparse
import getpass
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dcs_mailbox.clock import Clock, SystemClock
from dcs_mailbox.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from dcs_mailbox.store.calls import PhoneCall

# What agents type: ISO as the examples show it, or the French way.
LOCAL_TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def add_calls_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calls = sub.add_parser(
        "calls", help="telephone calls taken by agents (requests by phone)"
    ).add_subparsers(dest="calls_command", required=True)

    log = calls.add_parser("log", help="log a call you took: it becomes a numbered request")
    _config_arg(log)
    log.add_argument("--from", dest="caller", required=True, help="the caller's name")
    log.add_argument("--company", required=True, help="the caller's company, as they stated it")
    log.add_argument("--subject", required=True, help="what the caller asked, in a few words")
    log.add_argument("--urgent", action="store_true", help="an imminent threat")
    log.add_argument("--scope", choices=("in", "out", "uncertain"), default="uncertain")
    log.add_argument(
        "--at",
        metavar="'YYYY-MM-DD HH:MM'",
        help="when the call was taken, local time of [service].timezone (default: now)",
    )
    log.add_argument("--channel", help="channel name (default: the first of [[channels]])")
    log.add_argument("--agent", default="", help="who took the call (default: the login name)")

    listing = calls.add_parser("list", help="list logged calls, most recent first")
    _config_arg(listing)
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=_positive, default=100)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    # Same as cli.py's; not imported from there, which imports this module.
    parser.add_argument(
        "--config", "-c", type=Path, required=True, help="path to the TOML configuration file"
    )


def run_calls(settings: Settings, args: argparse.Namespace, *, clock: Clock | None = None) -> int:
    from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema

    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        sessions = make_session_factory(engine)
        if args.calls_command == "log":
            return _log(settings, sessions, args, (clock or SystemClock()).now())
        return _list(settings, sessions, args)
    finally:
        engine.dispose()


def parse_local_time(text: str, zone: ZoneInfo) -> datetime:
    """`--at` in the agents' time zone, as timezone-aware UTC."""
    from dcs_mailbox.store.calls import CallError

    for pattern in LOCAL_TIME_FORMATS:
        try:
            naive = datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
        moment = naive.replace(tzinfo=zone).astimezone(UTC)
        if moment.astimezone(zone).replace(tzinfo=None) != naive:
            raise CallError(
                f"--at {text!r} does not exist in {zone.key}: the clocks went forward at "
                "that hour; check the time"
            )
        return moment
    raise CallError(
        f"--at {text!r} is not a date and time: write it like 2026-11-24 14:05 "
        f"(local time, {zone.key})"
    )


def _log(
    settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace, now: datetime
) -> int:
    from dcs_mailbox.store.calls import log_call
    from dcs_mailbox.store.members import load_registry

    channel = settings.channel(args.channel) if args.channel else settings.channels[0]
    zone = settings.service.zone
    at = parse_local_time(args.at, zone) if args.at else now
    with sessions.begin() as session:
        request = log_call(
            session,
            channel=channel,
            at=at,
            caller=args.caller,
            company=args.company,
            subject=args.subject,
            urgent=args.urgent,
            scope=args.scope,
            registry=load_registry(session),
            now=now,
            agent=args.agent or getpass.getuser(),
            zone=zone,
        )
        reference, member_company = request.reference, request.member_company
    print(f"Appel enregistré sous la référence {reference} ({_local(at, zone)}).")
    if member_company is not None:
        print(f"Entreprise membre : {member_company}.")
    else:
        print(
            f"« {args.company.strip()} » n'est pas dans l'annuaire des membres : si c'est une "
            f"erreur, corrigez avec `dcs-mailbox requests set {reference} --member yes "
            "--reason …`."
        )
    if args.urgent:
        print("Marqué urgent.")
    return 0


def _list(settings: Settings, sessions: sessionmaker[Session], args: argparse.Namespace) -> int:
    from dcs_mailbox.store.calls import list_calls
    from dcs_mailbox.views import to_json

    with sessions() as session:
        calls = list_calls(session, args.limit)
    if args.json:
        print(to_json([asdict(c) for c in calls]))
    else:
        print(calls_table(calls, settings.service.zone))
    return 0


def calls_table(calls: list[PhoneCall], zone: ZoneInfo) -> str:
    if not calls:
        return "Aucun appel enregistré."
    lines = [
        f"{'Référence':<16} {'Appel du':<16} {'Appelant':<24} {'Entreprise':<28} "
        f"{'Membre':<6} {'Urgent':<6} Objet"
    ]
    for c in calls:
        lines.append(
            f"{c.reference:<16} {_local(c.at, zone):<16} {c.caller[:24]:<24} "
            f"{(c.member_company or c.company)[:28]:<28} {_yes_no(c.member):<6} "
            f"{_yes_no(c.urgent):<6} {c.subject[:60]}"
        )
    return "\n".join(lines)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def _yes_no(value: bool) -> str:
    return "oui" if value else "non"
