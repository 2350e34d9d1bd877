"""Timed jobs of the daemon: today, the agents' daily digest.

APScheduler 3's BackgroundScheduler only decides *when* a job wakes up. What the job
does depends on the service's Clock (tests freeze it) and on the database, never on
APScheduler's own clock or memory:

- the digest is due once its local time has passed today and today's run is not
  recorded — the same question at the cron time, at start (a daemon that was down at
  08:30 sends the day's digest when it comes back: the in-memory job store remembers
  nothing across restarts) and at every retry;
- the ReportRun table makes asking that question any number of times harmless;
- a job that raises is logged and retried at its next run, never fatal to the daemon.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, time
from email.message import EmailMessage

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from dcs_mailbox.config import Settings
from dcs_mailbox.reports.digest import DIGEST_KIND, build_digest, compose_digest
from dcs_mailbox.reports.mailing import (
    FINAL_STATES,
    Mailing,
    MailingOutcome,
    ReportMailer,
    SentFolderLike,
)
from dcs_mailbox.service import Service

log = logging.getLogger(__name__)

# A cron run delayed by more than this (suspended host, blocked thread) is skipped;
# the retry job below still sends the digest that day.
DIGEST_MISFIRE_GRACE_SECONDS = 3600
# A digest that could not be sent (SMTP down, Sent folder unreadable) is retried this
# often, the same day.
DIGEST_RETRY_MINUTES = 15

DISABLED = "disabled"
# Reports are due on a given day; checking this often is plenty and cheap (no IMAP
# connection unless something is to be sent).
REPORTS_TICK_MINUTES = 15


def digest_period(now: datetime, settings: Settings) -> str:
    """The run's period: the local date, « 2026-11-24 »."""
    return now.astimezone(settings.service.zone).date().isoformat()


def digest_due_at(now: datetime, settings: Settings) -> datetime:
    """Today's (local) digest time, timezone-aware."""
    zone = settings.service.zone
    hour, minute = settings.digest.hour_minute
    return datetime.combine(now.astimezone(zone).date(), time(hour, minute), tzinfo=zone)


def report_mailer(service: Service) -> ReportMailer:
    return ReportMailer(
        sessions=service.sessions,
        archive=service.archive,
        clock=service.clock,
        sender_factory=service.sender_factory,
        mailbox_address=service.settings.mailbox.address,
    )


def send_daily_digest(service: Service, *, sent_folder: SentFolderLike | None = None) -> str:
    """Send today's digest unless already done. Returns "sent", "empty", "already-sent",
    "failed" (left pending, retried at the next call) or "disabled" (no recipients)."""
    return _send_digest(service, service.clock.now(), sent_folder)


def _send_digest(service: Service, now: datetime, sent_folder: SentFolderLike | None) -> str:
    settings = service.settings
    if not settings.digest.recipients:
        return DISABLED
    renderer = service.renderer

    def compose(message_id: str, at: datetime) -> EmailMessage | None:
        # Built at each attempt: a retry reports the state of the moment it is sent.
        with service.sessions() as session:
            digest = build_digest(session, at, settings.digest)
        if digest.is_empty:
            return None
        return compose_digest(renderer, digest, settings=settings, message_id=message_id, now=at)

    mailing = Mailing(
        kind=DIGEST_KIND,
        period=digest_period(now, settings),
        recipients=tuple(settings.digest.recipients),
        compose=compose,
    )
    return report_mailer(service).send(mailing, sent_folder).outcome.value


class Scheduler:
    def __init__(
        self,
        service: Service,
        *,
        sent_folder_factory: Callable[[], SentFolderLike | None] = lambda: None,
    ) -> None:
        self.service = service
        self.settings = service.settings
        # Called in the scheduler's thread, only when a digest is about to be sent: give
        # it its own IMAP connection (imaplib objects are not thread-safe). Closed after
        # use when it has a close() method.
        self._sent_folder_factory = sent_folder_factory
        self._lock = threading.Lock()  # cron, retry and catch-up never overlap
        self._scheduler = BackgroundScheduler(timezone=self.settings.service.zone)
        self.caught_up = threading.Event()  # the start-up catch-up has run, whatever it did
        self.job_errors: list[str] = []  # failures survived, for status and tests

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._add_report_jobs()
        if self.settings.retention.days:
            zone = self.settings.service.zone
            self._scheduler.add_job(
                self.run_retention_now, IntervalTrigger(hours=24, timezone=zone),
                id="retention", name="retention purge", coalesce=True, max_instances=1,
                misfire_grace_time=3600,
            )  # fmt: skip
            self._scheduler.add_job(
                self.run_retention_now, id="retention-at-start", misfire_grace_time=None
            )
        digest = self.settings.digest
        if digest.recipients:
            self._add_digest_jobs()
            log.info(
                "daily digest at %s (%s) to %s",
                digest.time,
                self.settings.service.timezone,
                ", ".join(digest.recipients),
            )
        else:
            log.info("no [digest].recipients: no daily digest")
            self.caught_up.set()
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop the timers and wait for a job in progress (at most one SMTP exchange)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def run_due_now(self) -> None:
        """Send today's digest if its time has passed and it is not recorded yet.

        The body of every digest job; never raises (a failure is logged, and the next
        run — retry job, next day, next start — tries again)."""
        try:
            with self._lock:
                self._run_due()
        except Exception as exc:
            log.exception("daily digest job failed; it runs again at the next retry")
            self.job_errors.append(f"{type(exc).__name__}: {exc}")

    def _add_digest_jobs(self) -> None:
        zone = self.settings.service.zone
        hour, minute = self.settings.digest.hour_minute
        self._scheduler.add_job(
            self.run_due_now,
            CronTrigger(hour=hour, minute=minute, timezone=zone),
            id="daily-digest",
            name="daily digest",
            coalesce=True,  # several missed runs: one digest, not a burst
            misfire_grace_time=DIGEST_MISFIRE_GRACE_SECONDS,
            max_instances=1,
        )
        self._scheduler.add_job(
            self.run_due_now,
            IntervalTrigger(minutes=DIGEST_RETRY_MINUTES, timezone=zone),
            id="daily-digest-retry",
            name="daily digest retry",
            coalesce=True,
            misfire_grace_time=DIGEST_RETRY_MINUTES * 60,
            max_instances=1,
        )
        # No trigger: runs once, as soon as the scheduler starts, however late.
        self._scheduler.add_job(
            self._catch_up,
            id="daily-digest-catch-up",
            name="daily digest catch-up at start",
            misfire_grace_time=None,
        )

    def _add_report_jobs(self) -> None:
        reports = self.settings.reports
        if not reports.recipients and not reports.flood_recipients:
            log.info("no [reports] recipients: reports on demand only, no flood watch")
            return
        zone = self.settings.service.zone
        self._scheduler.add_job(
            self.run_reports_now,
            IntervalTrigger(minutes=REPORTS_TICK_MINUTES, timezone=zone),
            id="reports",
            name="protocol reports and flood watch",
            coalesce=True,
            misfire_grace_time=REPORTS_TICK_MINUTES * 60,
            max_instances=1,
        )
        # Catch-up at start: a daemon that was down on the due day sends it now.
        self._scheduler.add_job(
            self.run_reports_now, id="reports-catch-up", misfire_grace_time=None
        )

    def run_retention_now(self) -> None:
        """Blank personal data past [retention].days. Never raises (retried next day)."""
        from dcs_mailbox.store.retention import purge

        try:
            with self._lock, self.service.sessions.begin() as session:
                report = purge(
                    session,
                    self.service.archive,
                    now=self.service.clock.now(),
                    days=self.settings.retention.days,
                )
            if report.messages or report.requests:
                log.info(
                    "retention: %d messages, %d requests blanked, %d files deleted "
                    "(before %s)", report.messages, report.requests, report.files,
                    report.cutoff.date().isoformat(),
                )  # fmt: skip
        except Exception as exc:
            log.exception("retention purge failed; it runs again tomorrow")
            self.job_errors.append(f"{type(exc).__name__}: {exc}")

    def run_reports_now(self) -> None:
        """Send every report whose time has come (quarterly, members, annual), and watch
        for floods. Never raises: a failure is retried at the next tick."""
        try:
            with self._lock:
                self._run_reports()
        except Exception as exc:
            log.exception("report job failed; it runs again at the next tick")
            self.job_errors.append(f"{type(exc).__name__}: {exc}")

    def _run_reports(self) -> None:
        from dcs_mailbox.reports.statement import due, send_statement

        now = self.service.clock.now()
        reports = self.settings.reports
        mailer = report_mailer(self.service)
        if reports.recipients:
            for kind, period in due(now, self.settings):
                if mailer.state(kind, period.label) in FINAL_STATES:
                    continue
                folder = self._sent_folder_factory()
                try:
                    result = send_statement(self.service, kind, period, folder)
                finally:
                    _close(folder)
                log.info("%s report %s: %s", kind, period.label, result.outcome.value)
        if reports.flood_recipients:
            self._watch_flood(now, mailer)

    def _watch_flood(self, now: datetime, mailer: ReportMailer) -> None:
        from dcs_mailbox.reports.flood import decide
        from dcs_mailbox.reports.flood_alert import flood_mailing

        with self.service.sessions.begin() as session:
            decision = decide(session, now, self.settings.reports)
        if decision.alert_period is None:
            return
        folder = self._sent_folder_factory()
        try:
            result = mailer.send(flood_mailing(self.service, decision), folder)
        finally:
            _close(folder)
        log.warning(
            "flood: %d requests in 7 days; alert %s", decision.check.week_count,
            result.outcome.value,
        )  # fmt: skip

    def _catch_up(self) -> None:
        try:
            self.run_due_now()
        finally:
            self.caught_up.set()

    def _run_due(self) -> None:
        if not self.settings.digest.recipients:
            return
        now = self.service.clock.now()
        if now < digest_due_at(now, self.settings):
            return
        period = digest_period(now, self.settings)
        if report_mailer(self.service).state(DIGEST_KIND, period) in FINAL_STATES:
            return  # the common case at every retry: no IMAP connection opened for it
        folder = self._sent_folder_factory()
        try:
            outcome = _send_digest(self.service, now, folder)
        finally:
            _close(folder)
        if outcome == MailingOutcome.SENT:
            log.info("daily digest of %s sent", period)
        elif outcome == MailingOutcome.FAILED:
            log.warning(
                "daily digest of %s not sent; retried in %d minutes", period, DIGEST_RETRY_MINUTES
            )


def _close(folder: object) -> None:
    close = getattr(folder, "close", None)
    if callable(close):
        close()
