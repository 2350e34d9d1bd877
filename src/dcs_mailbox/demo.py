"""`dcs-mailbox demo`: the whole pipeline on bundled sample mail, with no external server.

A temporary SQLite database, the real pipeline (archive → parse → triage → record →
outbox), and a real SMTP exchange with an in-process aiosmtpd server on loopback that
captures the acknowledgements instead of delivering them.
"""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from importlib import resources
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from dcs_mailbox.config import Settings, settings_from_dict
from dcs_mailbox.keywords import keywords_for
from dcs_mailbox.service import Service, build_service
from dcs_mailbox.store.db import upgrade
from dcs_mailbox.store.members import read_members_csv, replace_members
from dcs_mailbox.store.queries import request_detail
from dcs_mailbox.views import request_text

DEMO_MAILBOX = "sec-dcs@interieur.gouv.fr"


class CapturingHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK: captured by the demo"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_settings(data_dir: Path, smtp_port: int) -> Settings:
    return settings_from_dict(
        {
            "service": {"data_dir": str(data_dir)},
            "mailbox": {"address": DEMO_MAILBOX},
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "plain"},
            "alerts": {"duty_addresses": ["permanence-dcs@interieur.gouv.fr"]},
            "channels": [
                {
                    "name": "CDSE",
                    "tag": "Saisine CDSE",
                    "partner_name": "Club des directeurs de sécurité et de sûreté des entreprises",
                    "reference_prefix": "CDSE",
                    "keyword": "$saisine_cdse",
                    "emergency_phone": "01 99 00 00 00 (numéro fictif de démonstration)",
                }
            ],
        },
        source="demo settings",
    )


def _resource(name: str) -> Path:
    return Path(str(resources.files("dcs_mailbox") / "resources" / "demo" / name))


def _write_quarterly_preview(service: Service, keep: Path | None) -> Path:
    """The report the CDSE would get, for the quarter in progress (the demo's mail is
    from this week). Kept after the demo: under --keep, or in a new temporary folder."""
    from dcs_mailbox.reports.email import write_report_files
    from dcs_mailbox.reports.periods import period_containing
    from dcs_mailbox.reports.statement import build_statement

    now = service.clock.now()
    period = period_containing(now, service.settings)
    statement = build_statement(
        service, "quarterly", period, message_id=f"demo.{period.label}@interieur.gouv.fr",
        now=now, to=("contact@cdse.example",),
    )  # fmt: skip
    target = (keep / "rapport") if keep else Path(tempfile.mkdtemp(prefix="dcs-mailbox-rapport-"))
    write_report_files(
        target, statement.base_name, statement.message, html=statement.html,
        csv=statement.csv, xlsx=statement.xlsx, png=statement.png,
    )  # fmt: skip
    return target


def sample_messages() -> list[tuple[str, bytes]]:
    folder = resources.files("dcs_mailbox") / "resources" / "demo"
    return sorted(
        (entry.name, entry.read_bytes())
        for entry in folder.iterdir()
        if entry.name.endswith(".eml")
    )


def run_demo(keep: Path | None = None) -> int:
    # The report below says what happened; per-message log lines would only interleave.
    logging.getLogger("dcs_mailbox").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="dcs-mailbox-demo-") as tmp:
        data_dir = keep or Path(tmp)
        handler = CapturingHandler()
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            return _run(data_dir, port, handler, keep)
        finally:
            controller.stop()


def _run(data_dir: Path, port: int, handler: CapturingHandler, keep: Path | None) -> int:
    settings = demo_settings(data_dir, port)
    upgrade(settings.database_url)
    service = build_service(settings)
    members = read_members_csv(_resource("members.csv"))
    with service.sessions.begin() as session:
        replace_members(session, members, service.clock.now())
    service.pipeline.refresh()
    channel_keywords = {c.name: c.keyword for c in settings.channels}
    print(f"dcs-mailbox demo — data in {data_dir}, SMTP capture on 127.0.0.1:{port}\n")
    print("1. Incoming mail (the last file is delivered twice, as after a crash):")
    samples = sample_messages()
    references: list[str] = []
    alerts = 0
    for name, raw in [*samples, samples[0]]:
        outcome = service.pipeline.process(raw, arrived_at=service.clock.now(), location=None)
        keywords = ", ".join(keywords_for(outcome, channel_keywords)) or "—"
        ref = outcome.request_reference or ""
        again = " (already recorded: nothing new)" if outcome.already_recorded else ""
        print(
            f"   {name:<28} → {outcome.disposition.value:<14} {ref:<15} keywords: {keywords}{again}"
        )
        if outcome.acknowledgement_queued:
            references.append(ref)
        alerts += outcome.alert_queued

    print("\n2. Outbox flush over SMTP:")
    report = service.dispatcher.flush(None)
    print(f"   {len(report.sent)} message(s) sent, {len(report.delayed)} delayed")
    report = service.dispatcher.flush(None)
    print(f"   second flush: {len(report.sent)} sent (nothing is ever sent twice)")

    print(f"\n3. What the SMTP server received ({len(handler.messages)} message(s)):")
    for mail_from, rcpts, content in handler.messages:
        parsed = message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        print(f"   MAIL FROM:<{mail_from}> RCPT TO:{rcpts}")
        print(f"   Subject: {parsed['Subject']}")
        print(f"   Message-ID: {parsed['Message-ID']}  In-Reply-To: {parsed['In-Reply-To']}")
        print(f"   Auto-Submitted: {parsed['Auto-Submitted']}")
    parsed_all = [
        message_from_bytes(raw, policy=default_policy) for _f, _t, raw in handler.messages
    ]
    shown = [(t, m) for t, m in zip(("First acknowledgement",), parsed_all, strict=False)]
    shown += [("Out-of-scope acknowledgement", m) for m in parsed_all if "TVA" in str(m["Subject"])]
    for title, message in shown:
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        print(f"\n   {title}, text part:\n")
        print("\n".join(f"   | {line}" for line in text.rstrip().splitlines()))

    for reference in references[:1] + references[3:5]:
        print(f"\n4. `dcs-mailbox requests show {reference}`:\n")
        with service.sessions() as session:
            detail = request_detail(session, reference)
        if detail is not None:
            print(
                "\n".join(
                    f"   {line}"
                    for line in request_text(detail, settings.service.zone).splitlines()
                )
            )
    report_dir = _write_quarterly_preview(service, keep)
    print("\n5. Quarterly statistics for the CDSE (quarter in progress), ready to open:\n")
    for path in sorted(report_dir.iterdir()):
        print(f"   {path}")
    service.close()
    expected = len(references) + alerts
    ok = len(handler.messages) == expected
    print(
        f"\nDemo {'finished' if ok else 'FAILED'}: {len(references)} request(s) acknowledged "
        f"once each, {alerts} urgent alert(s) sent to the duty address."
    )
    return 0 if ok else 1
