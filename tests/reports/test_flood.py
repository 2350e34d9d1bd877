from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.config import ReportSettings
from dcs_mailbox.reports.flood import decide
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import Request
from tests.support import at, make_service, make_settings

NOW = at("2026-11-24 12:00")
SETTINGS = ReportSettings(flood_weekly_threshold=10, flood_multiple=3.0)


def seed(service: Service, count: int, start_days_ago: float, span_days: float) -> None:
    with service.sessions.begin() as session:
        first = session.query(Request).count()
        for i in range(count):
            received = NOW - timedelta(days=start_days_ago) + timedelta(days=span_days * i / count)
            number = first + i + 1
            session.add(
                Request(
                    reference=f"CDSE-2026-{number:04d}", channel="CDSE", year=2026,
                    number=number, subject="x", received_at=received, status="acknowledged",
                    created_at=received, updated_at=received,
                )
            )  # fmt: skip


def test_a_week_over_the_threshold_alerts_once_per_episode(tmp_path: Path) -> None:
    service = make_service(make_settings(tmp_path), FixedClock(NOW))
    seed(service, 11, start_days_ago=6, span_days=5)
    with service.sessions.begin() as session:
        first = decide(session, NOW, SETTINGS)
    assert first.check.over_threshold and first.alert_period == "2026-11-24-1200"
    with service.sessions.begin() as session:
        again = decide(session, NOW + timedelta(hours=1), SETTINGS)
    assert again.check.flooding and again.alert_period is None  # same episode
    service.close()


def test_an_episode_ends_when_the_volume_falls_back_then_a_new_one_alerts(tmp_path: Path) -> None:
    service = make_service(make_settings(tmp_path), FixedClock(NOW))
    seed(service, 11, start_days_ago=6, span_days=1)
    with service.sessions.begin() as session:
        assert decide(session, NOW, SETTINGS).alert_period is not None
    later = NOW + timedelta(days=8)  # the burst has left the rolling week
    with service.sessions.begin() as session:
        calm = decide(session, later, SETTINGS)
    assert not calm.check.flooding and calm.episode_started_at is None
    seed(service, 12, start_days_ago=-7.5, span_days=0.4)  # a new burst, after `later`
    with service.sessions.begin() as session:
        second = decide(session, later + timedelta(days=1), SETTINGS)
    assert second.alert_period is not None
    service.close()


def test_a_multiple_of_the_trailing_average_alerts_under_the_threshold(tmp_path: Path) -> None:
    service = make_service(make_settings(tmp_path), FixedClock(NOW))
    seed(service, 8, start_days_ago=7 + 56, span_days=55)  # 1 a week for 8 weeks
    seed(service, 4, start_days_ago=5, span_days=4)  # 4 this week: > 3 × 1
    with service.sessions.begin() as session:
        decision = decide(session, NOW, SETTINGS)
    assert decision.check.trailing_average == 1.0
    assert decision.check.over_multiple and not decision.check.over_threshold
    assert decision.alert_period is not None
    service.close()


def test_no_history_and_a_quiet_week_is_no_flood(tmp_path: Path) -> None:
    service = make_service(make_settings(tmp_path), FixedClock(NOW))
    seed(service, 3, start_days_ago=3, span_days=2)
    with service.sessions.begin() as session:
        assert not decide(session, NOW, SETTINGS).check.flooding
    service.close()
