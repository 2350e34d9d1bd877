"""The quarterly statement's figures from a seeded database (reports/stats.py).

Every expected value below is worked out by hand from the rows of `QUARTER_ROWS` and
`PREVIOUS_ROWS` (times are Paris wall-clock times: summer time, UTC+2).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dcs_mailbox.reports.model import Count, DelayStats, MonthVolume, PeriodStats
from dcs_mailbox.reports.periods import PeriodLabelError, protocol_quarter, quarter
from dcs_mailbox.reports.stats import compute_stats
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import Request
from dcs_mailbox.triage.scope import DEFAULT_SERVICES
from tests.support import at, make_service, make_settings

PARIS = ZoneInfo("Europe/Paris")
NOW = at("2026-10-01 07:00")
Q3 = quarter("2026-Q3", PARIS)
MINUTE = 1 / 60


@dataclass(frozen=True)
class Row:
    received: str  # Paris time
    medium: str = "email"
    status: str = "acknowledged"
    ack: str | None = None
    answered: str | None = None
    referred: str | None = None
    service: str | None = None
    closed: str | None = None
    member: bool = True
    company: str | None = "Acme"
    scope: str = "in"
    personal_data: bool = False
    urgent: bool = False
    category: str | None = None


QUARTER_ROWS = [
    # R1 Friday evening → Monday morning: 63 h, 0.625 working day.
    Row("2026-07-03 18:00", ack="2026-07-03 18:05", answered="2026-07-06 09:00",
        status="answered", category="videoprotection"),
    # R2 over 14 July (a Tuesday): 48 h, 1 working day.
    Row("2026-07-13 12:00", ack="2026-07-13 12:30", answered="2026-07-15 12:00",
        status="answered", personal_data=True, category="videoprotection"),
    # R3 acknowledged late (26 h), answered and referred the same day.
    Row("2026-07-21 10:00", ack="2026-07-22 12:00", answered="2026-07-21 15:00",
        referred="2026-07-21 16:00", service="cnil", status="referred", scope="out",
        company="Beta", category="donnees-personnelles-rgpd"),
    # R4 a call from a non-member, urgent: answered within the hour.
    Row("2026-08-05 09:00", medium="phone", ack="2026-08-05 09:00",
        answered="2026-08-05 10:00", status="answered", member=False, company=None,
        urgent=True),
    # R5 00:30 on 1 September in Paris is still 31 August in UTC: September's. A
    # non-member whose company name must not reach the statement; closed unanswered.
    Row("2026-09-01 00:30", ack="2026-09-01 00:35", closed="2026-09-02 10:00",
        status="closed", member=False, company="Leaky SA", category="videoprotection"),
    # R6 the last minute of the quarter: not acknowledged yet, open; a member whose
    # company the registry does not name.
    Row("2026-09-30 23:59", status="received", company=None),
    # R7 a call referred with the « Orienté » tag (no service known), no answer.
    Row("2026-09-10 14:00", medium="phone", ack="2026-09-10 14:00",
        referred="2026-09-11 09:00", status="referred", scope="out", category="drones"),
]  # fmt: skip

PREVIOUS_ROWS = [
    # P1 the last minute of Q2, answered in Q3.
    Row("2026-06-30 23:59", ack="2026-07-01 00:04", answered="2026-07-01 10:00",
        status="answered", category="videoprotection"),
    # P2 an open call from a non-member, out of scope.
    Row("2026-05-12 10:00", medium="phone", ack="2026-05-12 10:00", status="acknowledged",
        member=False, company=None, scope="out", category="drones"),
    # P3 referred to the CNIL, not answered.
    Row("2026-04-15 10:00", ack="2026-04-15 10:01", referred="2026-04-16 09:00",
        service="cnil", status="referred", company="Beta", personal_data=True),
]  # fmt: skip

OUTSIDE_ROWS = [
    # Not a request: in neither period's figures, whatever it looks like.
    Row("2026-07-10 10:00", ack="2026-07-10 10:01", answered="2026-07-10 11:00",
        status="not_a_request", urgent=True, category="drones"),
    Row("2026-05-10 10:00", status="not_a_request"),
    # Midnight of 1 October in Paris (22:00 UTC on 30 September): Q4.
    Row("2026-10-01 00:00", ack="2026-10-01 00:05", answered="2026-10-01 09:00",
        status="answered", category="drones"),
    # Q1, before the previous period.
    Row("2026-03-31 23:59", medium="phone", status="received"),
]  # fmt: skip


def paris(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def insert(service: Service, rows: list[Row]) -> None:
    with service.sessions() as session:
        for number, row in enumerate(rows, start=1):
            received = paris(row.received)
            assert received is not None
            session.add(
                Request(
                    reference=f"CDSE-2026-{number:05d}",
                    channel="CDSE",
                    year=2026,
                    number=number,
                    requester_address=f"demandeur{number}@example.fr",
                    subject="Saisine CDSE - question",
                    received_at=received,
                    status=row.status,
                    acknowledged_at=paris(row.ack),
                    created_at=received,
                    updated_at=received,
                    member=row.member,
                    member_company=row.company,
                    scope=row.scope,
                    personal_data=row.personal_data,
                    urgent=row.urgent,
                    category=row.category,
                    medium=row.medium,
                    answered_at=paris(row.answered),
                    referred_at=paris(row.referred),
                    referred_service=row.service,
                    closed_at=paris(row.closed),
                )
            )
        session.commit()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    service = make_service(make_settings(tmp_path / "data"))
    insert(service, QUARTER_ROWS + PREVIOUS_ROWS + OUTSIDE_ROWS)
    yield service
    service.close()


@pytest.fixture
def stats(service: Service) -> PeriodStats:
    with service.sessions() as session:
        return compute_stats(session, Q3, now=NOW, zone=PARIS)


def counts(lines: list[Count]) -> list[tuple[str, str, int, int | None]]:
    return [(c.key, c.label, c.count, c.previous) for c in lines]


def test_the_statement_names_its_period_and_the_previous_one(stats: PeriodStats) -> None:
    assert stats.period == Q3
    assert stats.previous_period == quarter("2026-Q2", PARIS)
    assert stats.generated_at == NOW


def test_totals_leave_out_what_is_not_a_request_and_other_periods(stats: PeriodStats) -> None:
    assert (stats.total, stats.previous_total) == (7, 3)


def test_requests_by_medium_with_the_previous_quarter(stats: PeriodStats) -> None:
    assert counts(stats.by_medium) == [
        ("email", "Courriel", 5, 2),
        ("phone", "Téléphone", 2, 1),
    ]


def test_outcomes_are_exclusive(stats: PeriodStats) -> None:
    # Referred wins over answered (R3); closed means closed without answer (R5).
    assert counts(stats.by_outcome) == [
        ("answered", "Répondues", 3, 1),
        ("referred", "Orientées vers un service compétent", 2, 1),
        ("closed", "Closes sans réponse", 1, 0),
        ("open", "En cours", 1, 1),
    ]
    assert sum(c.count for c in stats.by_outcome) == stats.total


def test_flags(stats: PeriodStats) -> None:
    assert counts(stats.flags) == [
        ("out_of_scope", "Hors périmètre", 2, 1),
        ("personal_data", "Avec données personnelles", 1, 1),
        ("not_member", "Hors entreprises membres", 2, 1),
        ("urgent", "Urgentes", 1, 0),
    ]


def test_referrals_by_service_name_the_service_in_french(stats: PeriodStats) -> None:
    assert counts(stats.referred_by_service) == [
        ("cnil", DEFAULT_SERVICES["cnil"].name, 1, 1),
        ("unknown-service", "Service non précisé", 1, 0),
    ]


def test_services_and_categories_can_be_named_by_the_caller(service: Service) -> None:
    with service.sessions() as session:
        stats = compute_stats(
            session, Q3, now=NOW, zone=PARIS, services={"cnil": "CNIL"},
            categories={"drones": "Aéronefs télépilotés"},
        )  # fmt: skip
    assert stats.referred_by_service[0].label == "CNIL"
    assert [c.label for c in stats.by_category] == [
        "videoprotection",  # not in the caller's mapping: the key itself
        "Aéronefs télépilotés",
        "donnees-personnelles-rgpd",
        "Non classé",
    ]


def test_categories_sorted_by_count_uncategorised_last(stats: PeriodStats) -> None:
    assert counts(stats.by_category) == [
        ("videoprotection", "Vidéoprotection", 3, 1),
        ("drones", "Drones", 1, 1),
        ("donnees-personnelles-rgpd", "Données personnelles (RGPD)", 1, 0),
        ("uncategorised", "Non classé", 2, 1),
    ]


def test_companies_name_members_only(stats: PeriodStats) -> None:
    assert counts(stats.by_company) == [
        ("Acme", "Acme", 3, 1),
        ("Beta", "Beta", 1, 1),
        ("unnamed-member", "Entreprise membre non précisée", 1, 0),
        ("non-members", "Non-membres", 2, 1),
    ]
    assert "Leaky SA" not in stats.model_dump_json()


def test_months_follow_paris_time(stats: PeriodStats) -> None:
    assert stats.by_month == [
        MonthVolume(month="2026-07", label="juillet 2026", email=3, phone=0),
        MonthVolume(month="2026-08", label="août 2026", email=0, phone=1),
        MonthVolume(month="2026-09", label="septembre 2026", email=2, phone=1),
    ]


def test_acknowledgement_delays_count_emails_only(stats: PeriodStats) -> None:
    # E-mails: R1 5 min, R2 30 min, R3 26 h, R5 5 min; R6 pending. Hours sorted:
    # 1/12, 1/12, 0.5, 26 → median (1/12 + 0.5) / 2, p90 at rank 2.7: 0.5 + 0.7 × 25.5.
    # Working days: R3 is Tuesday 10:00 → Wednesday 12:00 = 1 + 2/24; the others are
    # the same working day.
    short = 5 * MINUTE / 24
    days = sorted([short, 30 * MINUTE / 24, 1 + 2 / 24, short])
    assert stats.acknowledgement.model_dump() == pytest.approx(
        {
            "count": 4,
            "pending": 1,
            "within_24h": 3,
            "within_24h_share": 0.75,
            "median_hours": (5 * MINUTE + 0.5) / 2,
            "p90_hours": 0.5 + 0.7 * 25.5,
            "max_hours": 26.0,
            "median_working_days": (days[1] + days[2]) / 2,
            "p90_working_days": days[2] + 0.7 * (days[3] - days[2]),
        }
    )


def test_answer_delays_in_hours_and_working_days(stats: PeriodStats) -> None:
    # Answered: R4 1 h, R3 5 h (referred too), R2 48 h, R1 63 h; R6 is the only open
    # one (R5 closed, R7 referred: neither waits for an answer).
    # Working days: R4 1/24, R3 5/24, R1 0.625 (the weekend left out), R2 1.0 (14 July
    # left out).
    assert stats.answer.model_dump() == pytest.approx(
        {
            "count": 4,
            "pending": 1,
            "within_24h": 2,
            "within_24h_share": 0.5,
            "median_hours": (5 + 48) / 2,
            "p90_hours": 48 + 0.7 * (63 - 48),
            "max_hours": 63.0,
            "median_working_days": (5 / 24 + 0.625) / 2,
            "p90_working_days": 0.625 + 0.7 * (1.0 - 0.625),
        }
    )


def test_an_empty_quarter_has_zeros_and_no_delays(service: Service) -> None:
    with service.sessions() as session:
        stats = compute_stats(session, quarter("2025-Q3", PARIS), now=NOW, zone=PARIS)
    assert (stats.total, stats.previous_total) == (0, 0)
    assert [c.count for c in stats.by_medium + stats.by_outcome + stats.flags] == [0] * 10
    assert stats.by_category == stats.by_company == stats.referred_by_service == []
    assert [(m.email, m.phone) for m in stats.by_month] == [(0, 0)] * 3
    assert stats.answer == DelayStats(count=0, pending=0, within_24h=0)
    assert stats.acknowledgement.median_hours is None


def test_a_protocol_quarter_is_compared_with_the_one_before(service: Service) -> None:
    signed = date(2026, 7, 1)
    first = protocol_quarter("A1-T1", signed, PARIS)
    with service.sessions() as session:
        with pytest.raises(PeriodLabelError, match="protocol_start"):
            compute_stats(session, first, now=NOW, zone=PARIS)
        stats = compute_stats(session, first, now=NOW, zone=PARIS, protocol_start=signed)
    assert stats.previous_period.label == "A0-T4"
    assert (stats.total, stats.previous_total) == (7, 3)
