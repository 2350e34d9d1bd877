"""`dcs-mailbox status`: is the service doing its job? Read from the database only, so it
answers even when the daemon is stuck or stopped (the daemon's own view is in
`systemctl status`, sent over NOTIFY_SOCKET)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.config import Settings
from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema
from dcs_mailbox.store.models import (
    WAITING_STATES,
    FolderCheckpoint,
    Message,
    MessageStatus,
    OutboxMessage,
    OutboxState,
    ReportRun,
    Request,
)
from dcs_mailbox.store.record import ACKNOWLEDGEMENT

# Acknowledgements normally leave within a minute; one still waiting after an hour means
# SMTP is refusing or the daemon is not running (protocol art. 3: ack within 24 h).
ACK_LATE_AFTER = timedelta(hours=1)
# Intake checkpoints move at every round that finds mail; a day without any is worth a look
# only as a hint, so it is printed but does not fail the check.
REPORT_RUNS_SHOWN = 5


@dataclass(frozen=True)
class OutboxSizes:
    pending: int = 0
    sending: int = 0
    failed: int = 0


@dataclass(frozen=True)
class FolderFetch:
    folder: str
    last_uid: int
    updated_at: datetime


@dataclass(frozen=True)
class WaitingAck:
    reference: str
    since: datetime


@dataclass(frozen=True)
class RunView:
    kind: str
    period: str
    state: str
    at: datetime


@dataclass(frozen=True)
class HealthReport:
    now: datetime
    folders: list[FolderFetch] = field(default_factory=list)
    outbox: OutboxSizes = OutboxSizes()
    failed_acks: int = 0
    oldest_waiting_ack: WaitingAck | None = None
    quarantined: int = 0
    report_runs: list[RunView] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = []
        if self.oldest_waiting_ack is not None:
            age = self.now - self.oldest_waiting_ack.since
            if age > ACK_LATE_AFTER:
                found.append(
                    f"acknowledgement of {self.oldest_waiting_ack.reference} waiting for "
                    f"{_age(age)}: check SMTP and `journalctl -u dcs-mailbox`"
                )
        if self.failed_acks:
            found.append(
                f"{self.failed_acks} acknowledgement(s) refused for good by the SMTP server: "
                "see `dcs-mailbox requests show REF`"
            )
        if not self.folders:
            found.append("no folder was ever fetched: is the daemon running?")
        return found


def outbox_sizes(session: Session) -> OutboxSizes:
    rows = session.execute(
        select(OutboxMessage.state, func.count(OutboxMessage.id)).group_by(OutboxMessage.state)
    )
    by_state = {str(state): int(count) for state, count in rows}
    return OutboxSizes(
        pending=by_state.get(OutboxState.PENDING, 0),
        sending=by_state.get(OutboxState.SENDING, 0),
        failed=by_state.get(OutboxState.FAILED, 0),
    )


def gather(session: Session, now: datetime) -> HealthReport:
    folders = [
        FolderFetch(c.folder, c.last_uid, c.updated_at)
        for c in session.scalars(select(FolderCheckpoint).order_by(FolderCheckpoint.folder))
    ]
    waiting = session.execute(
        select(Request.reference, OutboxMessage.created_at)
        .join(Request, Request.id == OutboxMessage.request_id)
        .where(OutboxMessage.kind == ACKNOWLEDGEMENT)
        .where(OutboxMessage.state.in_(WAITING_STATES))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(1)
    ).first()
    failed_acks = session.scalar(
        select(func.count(OutboxMessage.id))
        .where(OutboxMessage.kind == ACKNOWLEDGEMENT)
        .where(OutboxMessage.state == OutboxState.FAILED)
    )
    quarantined = session.scalar(
        select(func.count(Message.id)).where(Message.status == MessageStatus.QUARANTINED)
    )
    runs = [
        RunView(r.kind, r.period, r.state, r.sent_at or r.created_at)
        for r in session.scalars(
            select(ReportRun).order_by(ReportRun.created_at.desc()).limit(REPORT_RUNS_SHOWN)
        )
    ]
    return HealthReport(
        now=now,
        folders=folders,
        outbox=outbox_sizes(session),
        failed_acks=int(failed_acks or 0),
        oldest_waiting_ack=WaitingAck(waiting[0], waiting[1]) if waiting else None,
        quarantined=int(quarantined or 0),
        report_runs=runs,
    )


def _age(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _when(at: datetime, now: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({_age(now - at)} ago)"


def render(report: HealthReport) -> str:
    now = report.now
    lines = ["Last fetch:"]
    lines += [
        f"  {f.folder}: UID {f.last_uid}, {_when(f.updated_at, now)}" for f in report.folders
    ] or ["  never"]
    o = report.outbox
    lines.append(f"Outbox: {o.pending} pending, {o.sending} sending, {o.failed} failed")
    ack = report.oldest_waiting_ack
    lines.append(
        "Oldest unacknowledged request: "
        + (f"{ack.reference}, waiting {_age(now - ack.since)}" if ack else "none")
    )
    lines.append(f"Quarantined messages: {report.quarantined}")
    lines.append("Last report runs:")
    lines += [
        f"  {r.kind} {r.period}: {r.state}, {_when(r.at, now)}" for r in report.report_runs
    ] or ["  none"]
    problems = report.problems()
    lines.append("Health: " + ("OK" if not problems else "NEEDS ATTENTION"))
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines) + "\n"


def run_status(settings: Settings, now: datetime | None = None) -> int:
    """Print the health report; 0 when healthy, 1 when something needs a look."""
    engine = make_engine(settings.database_url)
    try:
        require_current_schema(engine)
        with make_session_factory(engine)() as session:
            report = gather(session, now or datetime.now(UTC))
    finally:
        engine.dispose()
    print(render(report), end="")
    return 1 if report.problems() else 0
