"""The protocol's reports, built and sent: quarterly statistics (art. 6), members' use
(art. 7) and the annual review of the experiment (art. 8).

Figures come from SQL (stats.py, members_report.py) into typed models; rendering is
separate (email.py, chart.py, tables.py). Sending goes through the exactly-once mailer
(mailing.py): one run per (kind, period), caught up after downtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.config import Settings
from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.reports.chart import render_chart
from dcs_mailbox.reports.email import (
    compose_report_email,
    report_base_name,
    statement_context,
)
from dcs_mailbox.reports.mailing import Mailing, MailingResult, SentFolderLike
from dcs_mailbox.reports.members_report import (
    compute_member_usage,
    member_usage_context,
    member_usage_csv,
)
from dcs_mailbox.reports.model import Count, Period
from dcs_mailbox.reports.periods import (
    QUARTER,
    first_working_day_after,
    last_completed,
    period_from_label,
    previous,
)
from dcs_mailbox.reports.stats import compute_stats
from dcs_mailbox.reports.tables import stats_csv, stats_xlsx
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import Request, RequestStatus

KINDS = ("quarterly", "members", "annual")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PREFIXES = {
    "quarterly": "statistiques-dcs",
    "members": "usage-membres-dcs",
    "annual": "bilan-annuel-dcs",
}


class ReportError(DcsMailboxError):
    """A report cannot be built as asked (unknown kind, period not over yet...)."""


@dataclass(frozen=True)
class Statement:
    kind: str
    period: Period
    base_name: str
    message: EmailMessage
    html: str
    csv: bytes
    xlsx: bytes | None
    png: bytes | None
    figures: dict[str, object]  # the typed model as JSON, for `report … --json`


def period_kind(kind: str) -> str:
    return "year" if kind == "annual" else QUARTER


def resolve_period(kind: str, label: str | None, settings: Settings, now: datetime) -> Period:
    """`label` (« 2026-Q3 », « A1-T2 », « 2026 », « A1 »), or the last completed period."""
    if kind not in KINDS:
        raise ReportError(f"unknown report {kind!r}: one of {', '.join(KINDS)}")
    zone = settings.service.zone
    if label is None:
        return last_completed(now, settings, period_kind(kind))  # type: ignore[arg-type]
    period = period_from_label(label, zone, protocol_start=settings.reports.protocol_start)
    if period.kind != period_kind(kind):
        raise ReportError(f"the {kind} report covers a {period_kind(kind)}, not {label!r}")
    return period


def build_statement(
    service: Service,
    kind: str,
    period: Period,
    *,
    message_id: str,
    now: datetime,
    to: tuple[str, ...],
) -> Statement:
    settings = service.settings
    zone = settings.service.zone
    channel = settings.channels[0]
    renderer = service.renderer
    base = report_base_name(PREFIXES[kind], period.label)
    protocol_start = settings.reports.protocol_start
    common = {"partner_name": channel.partner_name, "channel_name": channel.name}
    with service.sessions() as session:
        if kind == "members":
            usage = compute_member_usage(session, period)
            context = member_usage_context(
                usage, **common, generated_at=now
            )  # fmt: skip
            csv = member_usage_csv(usage)
            attachments = [(f"{base}.csv", "text/csv", csv)]
            message = compose_report_email(
                renderer, "members_report", context, chart_png=None, attachments=attachments,
                to=to, message_id=message_id, sender_address=settings.mailbox.address,
                sender_name=settings.mailbox.display_name, now=now, zone=zone,
            )  # fmt: skip
            html = _html_of(message)
            return Statement(
                kind, period, base, message, html, csv, None, None, usage.model_dump(mode="json")
            )
        stats = compute_stats(
            session, period, now=now, zone=zone, protocol_start=protocol_start,
            previous_period=previous(period, protocol_start=protocol_start),
        )  # fmt: skip
        quarters: list[Count] = []
        if kind == "annual":
            quarters = _quarter_totals(session, period, now, settings)
    png = render_chart(stats)
    csv, xlsx = stats_csv(stats), stats_xlsx(stats)
    context = statement_context(stats, **common, quarters=quarters)
    attachments = [(f"{base}.csv", "text/csv", csv), (f"{base}.xlsx", XLSX, xlsx)]
    template = "annual" if kind == "annual" else "quarterly"
    message = compose_report_email(
        renderer, template, context, chart_png=png, attachments=attachments, to=to,
        message_id=message_id, sender_address=settings.mailbox.address,
        sender_name=settings.mailbox.display_name, now=now, zone=zone,
    )  # fmt: skip
    html = _html_of(message)
    return Statement(
        kind, period, base, message, html, csv, xlsx, png, stats.model_dump(mode="json")
    )


def _html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None  # compose_report_email always adds one
    return str(part.get_content())


def _quarter_totals(
    session: Session, year: Period, now: datetime, settings: Settings
) -> list[Count]:
    """The year's totals quarter by quarter (one COUNT each), for the annual review's trend."""
    zone = settings.service.zone
    protocol_start = settings.reports.protocol_start
    # « 2026 » → 2026-Q1…Q4; protocol year « A1 » → A1-T1…T4.
    suffix = "-Q" if year.label.isdigit() else "-T"
    totals = []
    for index in range(1, 5):
        quarter = period_from_label(
            f"{year.label}{suffix}{index}", zone, protocol_start=protocol_start
        )
        count = session.scalar(
            select(func.count(Request.id)).where(
                Request.received_at >= quarter.start,
                Request.received_at < quarter.end,
                Request.status != RequestStatus.NOT_A_REQUEST,
            )
        )
        totals.append(Count(key=quarter.label, label=quarter.title, count=int(count or 0)))
    return totals


def due(now: datetime, settings: Settings) -> list[tuple[str, Period]]:
    """Reports whose sending time has come: the first working day after the period's end,
    at `[reports].time` (local). Asking again after it was sent is harmless (mailing.py)."""
    zone = settings.service.zone
    hour, minute = settings.reports.hour_minute
    found = []
    for kind in KINDS:
        period = last_completed(now, settings, period_kind(kind))  # type: ignore[arg-type]
        day = first_working_day_after(period, zone)
        if now >= datetime.combine(day, time(hour, minute), tzinfo=zone):
            found.append((kind, period))
    return found


def mailing_for(service: Service, kind: str, period: Period) -> Mailing:
    recipients = tuple(service.settings.reports.recipients)

    def compose(message_id: str, at: datetime) -> EmailMessage | None:
        return build_statement(
            service, kind, period, message_id=message_id, now=at, to=recipients
        ).message

    return Mailing(kind=kind, period=period.label, recipients=recipients, compose=compose)


def send_statement(
    service: Service, kind: str, period: Period, sent_folder: SentFolderLike | None = None
) -> MailingResult:
    from dcs_mailbox.scheduler import report_mailer

    if not service.settings.reports.recipients:
        raise ReportError("no [reports].recipients: nobody to send the report to")
    return report_mailer(service).send(mailing_for(service, kind, period), sent_folder)
