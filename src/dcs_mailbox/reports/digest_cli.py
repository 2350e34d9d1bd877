"""`dcs-mailbox digest --config F [--dry-run]`: today's digest, by hand.

The daemon sends the digest by itself (scheduler.py); this command is for a host that
runs without the daemon, and for looking at the digest before the agents do (--dry-run
prints it and neither sends nor records anything).
"""

from __future__ import annotations

import argparse
import sys
from email.message import EmailMessage

from dcs_mailbox.config import Settings
from dcs_mailbox.reports.digest import build_digest, compose_digest
from dcs_mailbox.reports.mailing import report_message_id
from dcs_mailbox.scheduler import DISABLED, send_daily_digest
from dcs_mailbox.service import DataDirLock, Service, build_service

_MEANINGS = {
    "sent": "today's digest sent to {to}",
    "already-sent": "today's digest had already been sent: nothing sent",
    "empty": "nothing waits for an answer: no digest today (recorded)",
    "failed": "today's digest could not be sent: see the log; the next run retries",
}


def run_digest_command(settings: Settings, args: argparse.Namespace) -> int:
    service = build_service(settings)
    try:
        if args.dry_run:
            return _print_digest(service)
        return _send(service)
    finally:
        service.close()


def _send(service: Service) -> int:
    settings = service.settings
    if not settings.digest.recipients:
        print("dcs-mailbox: [digest].recipients is empty: no digest to send", file=sys.stderr)
        return 2
    # One process per data directory: the daemon sends the digest itself when it runs.
    with DataDirLock(settings.service.data_dir):
        state = send_daily_digest(service)
    assert state != DISABLED
    print(_MEANINGS[state].format(to=", ".join(settings.digest.recipients)))
    return 1 if state == "failed" else 0


def _print_digest(service: Service) -> int:
    settings = service.settings
    now = service.clock.now()
    with service.sessions() as session:
        digest = build_digest(session, now, settings.digest)
    if digest.is_empty:
        print("Aucune saisine en attente de réponse, aucun accusé de réception en retard.")
        return 0
    message = compose_digest(
        service.renderer,
        digest,
        settings=settings,
        message_id=report_message_id("dry-run", "0", settings.mailbox.address),
        now=now,
    )
    to = ", ".join(settings.digest.recipients) or "(aucun destinataire : [digest].recipients)"
    print(f"À : {to}")
    print(f"Objet : {message['Subject']}")
    print()
    print(_plain_text(message), end="")
    return 0


def _plain_text(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())
