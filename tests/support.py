"""Builders shared by the tests: settings, a migrated database, messages."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.config import Settings, settings_from_dict
from dcs_mailbox.service import Service, build_service
from dcs_mailbox.store.db import upgrade

MAILBOX = "sec-dcs@interieur.gouv.fr"
CHANNEL: dict[str, Any] = {
    "name": "CDSE",
    "tag": "Saisine CDSE",
    "partner_name": "Club des directeurs de sécurité et de sûreté des entreprises",
    "reference_prefix": "CDSE",
    "keyword": "$saisine_cdse",
    "emergency_phone": "01 99 00 12 34",
}


def settings_dict(data_dir: Path, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "service": {"data_dir": str(data_dir)},
        "mailbox": {"address": MAILBOX},
        "channels": [CHANNEL],
    }
    for name, value in sections.items():
        data[name] = value
    return data


def make_settings(data_dir: Path, **sections: Any) -> Settings:
    return settings_from_dict(settings_dict(data_dir, **sections))


def make_service(settings: Settings, clock: FixedClock | None = None) -> Service:
    upgrade(settings.database_url)
    return build_service(settings, clock=clock)


def at(text: str) -> datetime:
    """'2026-11-24 10:00' in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_eml(
    *,
    subject: str = "Saisine CDSE - palpations sur un site industriel",
    sender: str = "Jeanne Martin <j.martin@acme-industrie.example>",
    to: str = MAILBOX,
    body: str = "Bonjour,\n\nQuelles règles s'appliquent aux palpations ?\n\nJeanne Martin\n",
    message_id: str | None = "req-1@acme-industrie.example",
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or at("2026-11-24 09:00"))
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()
