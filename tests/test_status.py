"""`dcs-mailbox status` on a seeded database: what operators read, and the exit code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.config import Settings
from dcs_mailbox.status import outbox_sizes, run_status
from dcs_mailbox.store.intake import Checkpoint
from dcs_mailbox.store.models import OutboxMessage, OutboxState, ReportRun
from tests.support import at, build_eml, make_service, make_settings

NOW = at("2026-11-24 10:00")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


def seed(settings: Settings, *, received_at: timedelta) -> None:
    """One request whose acknowledgement waits since `received_at` ago, one quarantined
    message, an INBOX checkpoint and a digest run."""
    service = make_service(settings, FixedClock(NOW - received_at))
    try:
        service.pipeline.process(build_eml(), arrived_at=NOW - received_at, location=None)
        service.pipeline.process(b"\r\n", arrived_at=NOW, location=None)
        service.intake.save_checkpoint("INBOX", Checkpoint(7, 42), NOW - timedelta(minutes=3))
        with service.sessions.begin() as session:
            session.add(
                ReportRun(
                    kind="digest",
                    period="2026-11-23",
                    state="sent",
                    recipients="",
                    created_at=NOW - timedelta(days=1),
                    sent_at=NOW - timedelta(days=1),
                )
            )
    finally:
        service.close()


def test_status_is_healthy_when_the_acknowledgement_is_recent(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, received_at=timedelta(minutes=5))

    assert run_status(settings, now=NOW) == 0

    out = capsys.readouterr().out
    assert "INBOX: UID 42, 2026-11-24 09:57:00 UTC (3 min ago)" in out
    assert "Outbox: 1 pending, 0 sending, 0 failed" in out
    assert "Oldest unacknowledged request: CDSE-2026-" in out and "waiting 5 min" in out
    assert "Quarantined messages: 1" in out
    assert "digest 2026-11-23: sent" in out
    assert "Health: OK" in out


def test_an_acknowledgement_waiting_over_an_hour_needs_attention(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, received_at=timedelta(hours=3))

    assert run_status(settings, now=NOW) == 1

    out = capsys.readouterr().out
    assert "Health: NEEDS ATTENTION" in out
    assert "waiting for 3 h: check SMTP" in out


def test_a_refused_acknowledgement_needs_attention(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(settings, received_at=timedelta(minutes=5))
    service = make_service(settings)
    try:
        with service.sessions.begin() as session:
            session.execute(update(OutboxMessage).values(state=OutboxState.FAILED))
        with service.sessions() as session:
            assert outbox_sizes(session).failed == 1
    finally:
        service.close()

    assert run_status(settings, now=NOW) == 1

    out = capsys.readouterr().out
    assert "Oldest unacknowledged request: none" in out
    assert "1 acknowledgement(s) refused for good" in out


def test_a_database_never_fetched_into_needs_attention(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    make_service(settings).close()

    assert run_status(settings, now=NOW) == 1

    out = capsys.readouterr().out
    assert "Last fetch:\n  never" in out
    assert "Last report runs:\n  none" in out
    assert "no folder was ever fetched" in out
