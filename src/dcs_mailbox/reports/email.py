"""The statement as an email (text, HTML with its inline chart, CSV and XLSX attached),
the preview files a person opens, and the French wording of the figures the templates
read.

MIME structure (RFC 2046 §5.1, RFC 2387 for multipart/related):

    multipart/mixed
    ├── multipart/alternative
    │   ├── text/plain
    │   └── multipart/related
    │       ├── text/html            <img src="cid:graphique.…">
    │       └── image/png            Content-ID: <graphique.…>
    ├── text/csv                     statistiques-dcs-2026-T3.csv
    └── application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from dcs_mailbox.outbound.render import TemplateRenderer
from dcs_mailbox.reports.model import Count, DelayStats, PeriodStats

# (file name, media type, bytes)
Attachment = tuple[str, str, bytes]

CHART_FILENAME = "graphique.png"

NBSP = "\u00a0"  # French typography: no break inside « 1 234 », « 12 % », « 3,5 h »
_PREVIOUS_NAMES = {"quarter": "trimestre précédent", "year": "année précédente"}


def compose_report_email(
    renderer: TemplateRenderer,
    template: str,
    context: dict[str, object],
    *,
    chart_png: bytes | None,
    attachments: list[Attachment],
    to: Sequence[str],
    message_id: str,
    sender_address: str,
    sender_name: str,
    now: datetime,
    zone: tzinfo,
) -> EmailMessage:
    """Render `template`/{subject.txt,body.txt,body.html}.j2 into the complete message.

    Adds to the context: `signature` and `mailbox` (unless given), `chart_src`
    (« cid:… », or None without a chart) and `attachment_names`.
    """
    chart_cid = chart_content_id(message_id)
    context = {
        "signature": sender_name,
        "mailbox": sender_address,
        **context,
        "chart_src": f"cid:{chart_cid}" if chart_png is not None else None,
        "attachment_names": [name for name, _, _ in attachments],
    }
    message = EmailMessage(policy=SMTP)
    message["From"] = Address(display_name=sender_name, addr_spec=sender_address)
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(renderer.render(f"{template}/subject.txt.j2", context).split())
    message["Date"] = format_datetime(now.astimezone(zone))
    message["Message-ID"] = f"<{message_id}>"
    # RFC 3834 §5: a notice of our own, not an answer; the Microsoft header keeps
    # Exchange out-of-office replies from answering it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(renderer.render(f"{template}/body.txt.j2", context) + "\n")
    message.add_alternative(renderer.render(f"{template}/body.html.j2", context), subtype="html")
    if chart_png is not None:
        html_part = message.get_body(preferencelist=("html",))
        assert html_part is not None  # added just above
        # add_related turns the HTML part into multipart/related [html, png].
        html_part.add_related(
            chart_png,
            maintype="image",
            subtype="png",
            cid=f"<{chart_cid}>",
            filename=CHART_FILENAME,
            disposition="inline",
        )
    for filename, media_type, data in attachments:
        maintype, _, subtype = media_type.partition("/")
        params = {"charset": "utf-8"} if maintype == "text" else None
        message.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=filename, params=params
        )
    # Last: set_content() and the make_* conversions drop or move every Content-*
    # header already there (Content-Language: RFC 3282).
    message["Content-Language"] = "fr"
    return message


def chart_content_id(message_id: str) -> str:
    """Deterministic and unique like the Message-ID it derives from (RFC 2392)."""
    return f"graphique.{message_id}"


def report_base_name(prefix: str, period_label: str) -> str:
    """« statistiques-dcs-2026-T3 »: quarters are « trimestres » in French file names."""
    return f"{prefix}-{period_label.replace('-Q', '-T')}"


def write_report_files(
    directory: Path,
    base_name: str,
    message: EmailMessage,
    *,
    html: str,
    csv: bytes,
    xlsx: bytes | None,
    png: bytes | None,
) -> list[Path]:
    """The preview a person opens: the message as .eml, and its parts side by side — the
    HTML pointing at the PNG next to it instead of the message's cid: part. A report
    without spreadsheet or chart (members' use) gets no empty .xlsx or .png."""
    directory.mkdir(parents=True, exist_ok=True)
    png_path = directory / f"{base_name}.png"
    for part in message.walk():
        content_id = part["Content-ID"]
        if content_id is not None and part.get_content_type() == "image/png":
            html = html.replace(f"cid:{str(content_id).strip().strip('<>')}", png_path.name)
    files: list[tuple[Path, bytes | None]] = [
        (directory / f"{base_name}.eml", message.as_bytes()),
        (directory / f"{base_name}.html", html.encode("utf-8")),
        (directory / f"{base_name}.csv", csv),
        (directory / f"{base_name}.xlsx", xlsx),
        (png_path, png),
    ]
    written = []
    for path, data in files:
        if data:
            path.write_bytes(data)
            written.append(path)
    return written


# --- the figures in French, for the templates ------------------------------------------


def statement_context(
    stats: PeriodStats,
    *,
    partner_name: str,
    channel_name: str,
    quarters: Sequence[Count] = (),
) -> dict[str, object]:
    """What templates/quarterly and templates/annual read: every figure of `stats`,
    formatted in French, each with its comparison to the previous period.

    `quarters`: the year's totals quarter by quarter (annual review), when known.
    """
    previous_name = _PREVIOUS_NAMES.get(stats.period.kind, "période précédente")
    total = stats.total

    def rows(counts: Sequence[Count]) -> list[dict[str, object]]:
        return [figure_row(c, total=total, previous_name=previous_name) for c in counts]

    return {
        "partner_name": partner_name,
        "channel_name": channel_name,
        "period_label": stats.period.label,
        "period_title": stats.period.title,
        "period_start": stats.period.start,
        "period_end": stats.period.end,
        "previous_period_title": stats.previous_period.title,
        "previous_name": previous_name,
        "generated_at": stats.generated_at,
        "has_previous": stats.previous_total > 0,
        "total": figure_row(
            Count(key="total", label="Saisines", count=total, previous=stats.previous_total),
            total=total,
            previous_name=previous_name,
        ),
        "by_medium": rows(stats.by_medium),
        "by_outcome": rows(stats.by_outcome),
        "flags": rows(stats.flags),
        "referred_by_service": rows(stats.referred_by_service),
        "by_category": rows(stats.by_category),
        "by_company": rows(stats.by_company),
        "months": [
            {
                "label": m.label,
                "email": number_fr(m.email),
                "phone": number_fr(m.phone),
                "total": number_fr(m.email + m.phone),
            }
            for m in stats.by_month
        ],
        "quarters": rows(quarters),
        "acknowledgement": delay_context(stats.acknowledgement),
        "answer": delay_context(stats.answer),
    }


def figure_row(count: Count, *, total: int, previous_name: str) -> dict[str, object]:
    """One figure: « 84 », « 66 % » of the total, « 70 », « ↑ +20 % », and the whole
    comparison « trimestre précédent : 70, ↑ +20 % » ('' when there is none)."""
    change = change_fr(count.count, count.previous)
    comparison = ""
    if count.previous is not None:
        comparison = f"{previous_name}{NBSP}: {number_fr(count.previous)}"
        if change:
            comparison += f", {change}"
    return {
        "key": count.key,
        "label": count.label,
        "count": count.count,
        "value": number_fr(count.count),
        "share": percent_fr(count.count / total) if total else None,
        "previous": None if count.previous is None else number_fr(count.previous),
        "change": change,
        "comparison": comparison,
    }


def delay_context(delays: DelayStats) -> dict[str, object]:
    """Delays in hours and in working days: « 5,3 h (0,7 jour ouvré) »."""
    return {
        "count": delays.count,
        "count_text": number_fr(delays.count),
        "pending": number_fr(delays.pending),
        "within_24h": None if delays.within_24h is None else number_fr(delays.within_24h),
        "within_24h_share": (
            None if delays.within_24h_share is None else percent_fr(delays.within_24h_share)
        ),
        "within_24h_text": _with_share(delays.within_24h, delays.within_24h_share),
        "median_hours": hours_fr(delays.median_hours),
        "median_working_days": working_days_fr(delays.median_working_days),
        "p90_hours": hours_fr(delays.p90_hours),
        "p90_working_days": working_days_fr(delays.p90_working_days),
        "max_hours": hours_fr(delays.max_hours),
        "median": _both(delays.median_hours, delays.median_working_days),
        "p90": _both(delays.p90_hours, delays.p90_working_days),
    }


def _with_share(count: int | None, share: float | None) -> str | None:
    """« 97 (97 %) »."""
    if count is None:
        return None
    return f"{number_fr(count)} ({percent_fr(share)})" if share is not None else number_fr(count)


def _both(hours: float | None, working_days: float | None) -> str | None:
    if hours is None:
        return None
    days = working_days_fr(working_days)
    return f"{hours_fr(hours)} ({days})" if days else hours_fr(hours)


def number_fr(value: int) -> str:
    """« 1 234 »."""
    return f"{value:,}".replace(",", NBSP)


def decimal_fr(value: float) -> str:
    """« 3,5 », « 12 » (one decimal, none when it is zero)."""
    text = f"{value:,.1f}".replace(",", NBSP).replace(".", ",")
    return text.removesuffix(",0")


def percent_fr(fraction: float) -> str:
    """« 66 % »; one decimal under 1 % (« 0,4 % »), so that a few cases never read 0 %."""
    percent = fraction * 100
    if 0 < percent < 1:
        return f"{decimal_fr(percent)}{NBSP}%"
    return f"{round(percent)}{NBSP}%"


def change_fr(value: int, previous: int | None) -> str | None:
    """« ↑ +12 % », « ↓ −5 % », « stable »; None without a previous figure to compare
    with (none, or zero: a rise from nothing has no percentage)."""
    if previous is None or (previous == 0 and value != 0):
        return None
    if value == previous:
        return "stable"
    percent = (value - previous) * 100 / previous
    magnitude = decimal_fr(abs(percent)) if abs(percent) < 1 else str(round(abs(percent)))
    return f"↑ +{magnitude}{NBSP}%" if percent > 0 else f"↓ −{magnitude}{NBSP}%"


def hours_fr(hours: float | None) -> str | None:
    """« 0,4 h », « 52,5 h », « 410 h » (whole hours past 100: tenths are noise there)."""
    if hours is None:
        return None
    text = decimal_fr(hours) if hours < 100 else number_fr(round(hours))
    return f"{text}{NBSP}h"


def working_days_fr(days: float | None) -> str | None:
    """« 0,7 jour ouvré », « 2 jours ouvrés » (French: singular below two)."""
    if days is None:
        return None
    if 0 < days < 0.05:
        return f"moins de 0,1{NBSP}jour ouvré"
    text = decimal_fr(days)
    return f"{text}{NBSP}jour ouvré" if round(days, 1) < 2 else f"{text}{NBSP}jours ouvrés"
