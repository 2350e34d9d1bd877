"""Acknowledgements that cannot leave: the notice that tells the agents, long before the
24 h promise (protocol art. 3) is at risk.

When the oldest acknowledgement still waiting, refused at least once, is older than
`[alerts].ack_delay_minutes`, the daemon puts this flagged French notice in the
mailbox's own INBOX: through IMAP, not SMTP, because the SMTP server being down is the
usual reason acknowledgements wait. When to raise it, once per incident, is decided in
store/ack_delay.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage

from dcs_mailbox.outbound.french import duration_fr
from dcs_mailbox.outbound.render import Envelope, TemplateRenderer
from dcs_mailbox.store.ack_delay import DelayAlarm

PROMISE = timedelta(hours=24)


def compose_alarm(
    renderer: TemplateRenderer,
    alarm: DelayAlarm,
    *,
    mailbox: str,
    display_name: str,
    now: datetime,
) -> EmailMessage:
    domain = mailbox.rpartition("@")[2]
    left = alarm.received_at + PROMISE - now
    context: dict[str, object] = {
        "reference": alarm.reference,
        "received_at": alarm.received_at,
        "waiting": alarm.waiting,
        "attempts": alarm.attempts,
        "last_error": alarm.last_error or "aucune erreur enregistrée",
        "age": duration_fr(now - alarm.received_at),
        "left": duration_fr(left) if left > timedelta(0) else None,
        "now": now,
    }
    return renderer.compose(
        "ack_delay_alert",
        context,
        Envelope(
            mailbox,
            f"{alarm.reference.lower()}.alerte-delai.{alarm.request_id}@{domain}",
            auto_submitted="auto-generated",
        ),
        sender_address=mailbox,
        sender_name=display_name,
        now=now,
    )
