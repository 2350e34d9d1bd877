"""The flood alert's mailing (the decision is in flood.py)."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage

from dcs_mailbox.outbound.render import Envelope
from dcs_mailbox.reports.flood import FloodDecision
from dcs_mailbox.reports.mailing import Mailing
from dcs_mailbox.service import Service

FLOOD_KIND = "flood"


def flood_mailing(service: Service, decision: FloodDecision) -> Mailing:
    settings = service.settings
    recipients = tuple(settings.reports.flood_recipients)
    assert decision.alert_period is not None

    def compose(message_id: str, now: datetime) -> EmailMessage | None:
        check = decision.check
        context: dict[str, object] = {
            "week_count": check.week_count,
            "trailing_average": check.trailing_average,
            "over_threshold": check.over_threshold,
            "over_multiple": check.over_multiple,
            "threshold": settings.reports.flood_weekly_threshold,
            "multiple": settings.reports.flood_multiple,
            "now": now,
        }
        return service.renderer.compose(
            "flood_alert",
            context,
            Envelope(", ".join(recipients), message_id, auto_submitted="auto-generated"),
            sender_address=settings.mailbox.address,
            sender_name=settings.mailbox.display_name,
            now=now,
        )

    return Mailing(
        kind=FLOOD_KIND, period=decision.alert_period, recipients=recipients, compose=compose
    )
