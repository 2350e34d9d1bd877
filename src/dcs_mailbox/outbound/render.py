"""Jinja2 templates (templates/) → a complete RFC 5322 message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from dcs_mailbox.errors import ConfigError
from dcs_mailbox.outbound.french import date_fr, day_fr


@dataclass(frozen=True)
class Envelope:
    """Headers of one outgoing message; the body comes from a template directory."""

    to: str  # one address, or several separated by commas
    message_id: str  # without brackets
    in_reply_to: str | None = None  # the request's Message-ID
    # RFC 3834 §5: answers to a person are "auto-replied"; our own notices to agents
    # are "auto-generated".
    auto_submitted: str = "auto-replied"


class TemplateRenderer:
    def __init__(self, templates_dir: Path, zone: ZoneInfo) -> None:
        if not templates_dir.is_dir():
            raise ConfigError(f"[service].templates_dir {templates_dir} is not a directory")
        self.zone = zone
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            keep_trailing_newline=False,
        )
        self.env.filters["date_fr"] = lambda d: date_fr(d.astimezone(zone))
        self.env.filters["day_fr"] = lambda d: day_fr(d.astimezone(zone))

    def render(self, name: str, context: dict[str, object]) -> str:
        try:
            return self.env.get_template(name).render(**context)
        except TemplateError as exc:
            raise ConfigError(f"template {name} cannot be rendered: {exc}") from exc

    def compose(
        self,
        template: str,
        context: dict[str, object],
        envelope: Envelope,
        *,
        sender_address: str,
        sender_name: str,
        now: datetime,
    ) -> EmailMessage:
        """Render `template`/{subject.txt,body.txt,body.html}.j2 into a complete message."""
        context = {"signature": sender_name, "mailbox": sender_address, **context}
        subject = " ".join(self.render(f"{template}/subject.txt.j2", context).split())
        msg = EmailMessage(policy=SMTP)
        msg["From"] = HeaderAddress(display_name=sender_name, addr_spec=sender_address)
        msg["To"] = envelope.to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now.astimezone(self.zone))
        msg["Message-ID"] = f"<{envelope.message_id}>"
        if envelope.in_reply_to:
            msg["In-Reply-To"] = f"<{envelope.in_reply_to}>"
            msg["References"] = f"<{envelope.in_reply_to}>"
        # RFC 3834 §5: mark it automatic so well-behaved responders stay quiet; the
        # Microsoft header keeps Exchange out-of-office replies from answering it.
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        if "reference" in context:
            msg["X-DCS-Reference"] = str(context["reference"])
        msg.set_content(self.render(f"{template}/body.txt.j2", context) + "\n")
        msg.add_alternative(self.render(f"{template}/body.html.j2", context), subtype="html")
        # After the body: set_content() drops every Content-* header set before it.
        msg["Content-Language"] = "fr"
        return msg
