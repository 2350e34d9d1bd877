"""The daemon's timed jobs (scheduler.py): the daily digest at its time, caught up at
start, retried after a failure, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from dcs_mailbox import scheduler as scheduler_module
from dcs_mailbox.clock import FixedClock
from dcs_mailbox.scheduler import Scheduler, send_daily_digest
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import ReportRun
from tests.servers.smtp import SmtpCapture
from tests.support import at, build_eml, make_service, make_settings

AGENTS = "agents-dcs@interieur.gouv.fr"
AFTER = at("2026-11-24 09:00")  # 10 h 00 à Paris: the 08:30 digest is due
BEFORE = at("2026-11-24 07:00")  # 8 h 00 à Paris: not yet


class ClosableSentFolder:
    def __init__(self) -> None:
        self.appended: list[bytes] = []
        self.closed = False

    def contains(self, message_id: str) -> bool:
        return False

    def append(self, raw: bytes, when: datetime) -> None:
        self.appended.append(raw)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(AFTER)


def build(tmp_path: Path, smtp_server: SmtpCapture, clock: FixedClock, **digest: Any) -> Service:
    settings = make_settings(
        tmp_path / "data",
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
        digest={"recipients": [AGENTS], "time": "08:30", **digest},
    )
    service = make_service(settings, clock)
    service.pipeline.process(build_eml(), arrived_at=at("2026-11-23 16:00"), location=None)
    return service


@pytest.fixture
def service(tmp_path: Path, smtp_server: SmtpCapture, clock: FixedClock) -> Iterator[Service]:
    svc = build(tmp_path, smtp_server, clock)
    yield svc
    svc.close()


@pytest.fixture
def folders() -> list[ClosableSentFolder]:
    return []


@pytest.fixture
def scheduler(service: Service, folders: list[ClosableSentFolder]) -> Iterator[Scheduler]:
    def new_folder() -> ClosableSentFolder:
        folders.append(ClosableSentFolder())
        return folders[-1]

    sched = Scheduler(service, sent_folder_factory=new_folder)
    try:
        yield sched
    finally:
        sched.shutdown()  # no APScheduler thread outlives its test
    assert not sched.running


def runs(service: Service) -> list[tuple[str, str]]:
    with service.sessions() as session:
        return [(r.period, r.state) for r in session.scalars(select(ReportRun))]


def test_catch_up_at_start_sends_todays_missed_digest(
    scheduler: Scheduler,
    service: Service,
    smtp_server: SmtpCapture,
    folders: list[ClosableSentFolder],
) -> None:
    scheduler.start()

    assert scheduler.caught_up.wait(10)
    [captured] = smtp_server.wait_for(1)
    assert captured.parse()["Message-ID"] == "<digest.2026-11-24.sec-dcs@interieur.gouv.fr>"
    assert runs(service) == [("2026-11-24", "sent")]
    # The Sent folder was opened for that send only, given the copy, and closed.
    assert len(folders) == 1
    assert len(folders[0].appended) == 1 and folders[0].closed
    assert scheduler.job_errors == []


def test_no_catch_up_before_the_digest_time_then_sent_once_when_due(
    scheduler: Scheduler,
    service: Service,
    smtp_server: SmtpCapture,
    clock: FixedClock,
    folders: list[ClosableSentFolder],
) -> None:
    clock.at = BEFORE
    scheduler.start()

    assert scheduler.caught_up.wait(10)
    assert smtp_server.messages == []
    assert runs(service) == []
    assert folders == []  # nothing due: no IMAP connection opened

    clock.at = at("2026-11-24 07:31")  # 8 h 31 à Paris: what the 08:30 cron job runs
    scheduler.run_due_now()
    scheduler.run_due_now()  # the retry job, later: nothing more

    assert len(smtp_server.wait_for(1)) == 1
    assert len(smtp_server.messages) == 1
    assert runs(service) == [("2026-11-24", "sent")]
    assert len(folders) == 1  # the second run found the day done in the database


def test_failed_send_is_retried_by_the_next_run(
    scheduler: Scheduler, service: Service, smtp_server: SmtpCapture
) -> None:
    smtp_server.fail_with = (451, "4.3.0 later")
    scheduler.run_due_now()
    assert runs(service) == [("2026-11-24", "pending")]

    smtp_server.fail_with = None
    scheduler.run_due_now()

    assert len(smtp_server.wait_for(1)) == 1
    assert runs(service) == [("2026-11-24", "sent")]


def test_a_job_that_raises_is_logged_and_not_fatal(
    scheduler: Scheduler,
    service: Service,
    smtp_server: SmtpCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(scheduler_module, "_send_digest", broken)
    with caplog.at_level(logging.ERROR, logger="dcs_mailbox.scheduler"):
        scheduler.start()
        assert scheduler.caught_up.wait(10)

    assert scheduler.running
    assert scheduler.job_errors == ["RuntimeError: database is locked"]
    assert "daily digest job failed" in caplog.text
    assert "database is locked" in caplog.text  # with its traceback
    assert smtp_server.messages == []

    monkeypatch.undo()
    scheduler.run_due_now()  # the next run (retry job, cron, restart) works

    assert len(smtp_server.wait_for(1)) == 1
    assert scheduler.running


def test_digest_jobs_coalesce_and_tolerate_a_late_start(scheduler: Scheduler) -> None:
    scheduler.start()
    scheduler.caught_up.wait(10)
    jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}

    cron = jobs["daily-digest"]
    assert cron.coalesce is True
    assert cron.misfire_grace_time == scheduler_module.DIGEST_MISFIRE_GRACE_SECONDS
    assert str(cron.trigger.timezone) == "Europe/Paris"
    fields = {f.name: str(f) for f in cron.trigger.fields}
    assert (fields["hour"], fields["minute"]) == ("8", "30")
    assert jobs["daily-digest-retry"].coalesce is True


def test_no_recipients_means_no_digest_and_no_job(
    tmp_path: Path, smtp_server: SmtpCapture, clock: FixedClock
) -> None:
    service = build(tmp_path, smtp_server, clock, recipients=[])
    sched = Scheduler(service)
    try:
        assert send_daily_digest(service) == "disabled"
        sched.start()
        assert sched.caught_up.is_set()
        jobs = {job.id for job in sched._scheduler.get_jobs()}
        assert not any(name.startswith("daily-digest") for name in jobs)
        sched.run_due_now()
    finally:
        sched.shutdown()
        service.close()
    assert smtp_server.messages == []
    assert runs(service) == []


def test_shutdown_before_start_is_harmless(service: Service) -> None:
    Scheduler(service).shutdown()
