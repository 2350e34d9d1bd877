"""Report periods: boundaries, labels, titles, working days (reports/periods.py)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dcs_mailbox.config import Settings
from dcs_mailbox.reports.periods import (
    PeriodLabelError,
    first_working_day_after,
    last_completed,
    period_containing,
    period_from_label,
    previous,
    protocol_quarter,
    public_holidays,
    quarter,
    to_local,
    working_days,
    year,
)
from tests.support import at, make_settings

PARIS = ZoneInfo("Europe/Paris")
SIGNED = date(2026, 3, 15)


def paris(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def utc64(*texts: str) -> np.ndarray:
    """Paris wall-clock times → UTC datetime64[s], as the store's rows give them."""
    return np.array(
        [paris(t).astimezone(ZoneInfo("UTC")).replace(tzinfo=None) for t in texts],
        dtype="datetime64[s]",
    )


@pytest.fixture
def calendar_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def protocol_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, reports={"periods": "protocol", "protocol_start": "2026-03-15"})


# -- calendar quarters -------------------------------------------------------------------


def test_summer_quarter_starts_and_ends_at_paris_midnight_22h_utc() -> None:
    q3 = quarter("2026-Q3", PARIS)
    assert (q3.kind, q3.label) == ("quarter", "2026-Q3")
    assert q3.start == at("2026-06-30 22:00")
    assert q3.end == at("2026-09-30 22:00")
    assert q3.start.tzinfo is PARIS
    assert q3.title == "3e trimestre 2026 (du 1er juillet au 30 septembre 2026)"


def test_quarter_across_a_time_change_has_each_end_in_its_own_offset() -> None:
    # Summer time starts on 29 March 2026 and ends on 25 October 2026.
    q1, q4 = quarter("2026-Q1", PARIS), quarter("2026-Q4", PARIS)
    assert q1.start == at("2025-12-31 23:00")
    assert q1.end == at("2026-03-31 22:00")
    assert q4.start == at("2026-09-30 22:00")
    assert q4.end == at("2026-12-31 23:00")


def test_first_quarter_title_uses_1er() -> None:
    assert quarter("2027-Q1", PARIS).title == "1er trimestre 2027 (du 1er janvier au 31 mars 2027)"


@pytest.mark.parametrize("label", ["2026-Q5", "2026-Q0", "2026Q3", "Q3-2026", "A1-T2", ""])
def test_a_label_that_is_no_calendar_quarter_is_refused(label: str) -> None:
    with pytest.raises(PeriodLabelError, match="2026-Q3"):
        quarter(label, PARIS)


def test_previous_quarter_crosses_the_year() -> None:
    before = previous(quarter("2027-Q1", PARIS))
    assert before == quarter("2026-Q4", PARIS)
    assert before.end == quarter("2027-Q1", PARIS).start


def test_previous_year() -> None:
    assert previous(year("2027", PARIS)) == year("2026", PARIS)


def test_calendar_year() -> None:
    period = year("2026", PARIS)
    assert (period.kind, period.label) == ("year", "2026")
    assert (period.start, period.end) == (at("2025-12-31 23:00"), at("2026-12-31 23:00"))
    assert period.title == "Année 2026 (du 1er janvier au 31 décembre 2026)"


# -- protocol periods --------------------------------------------------------------------


def test_protocol_quarters_are_counted_from_the_signature_date() -> None:
    t1 = protocol_quarter("A1-T1", SIGNED, PARIS)
    t2 = protocol_quarter("A1-T2", SIGNED, PARIS)
    t4 = protocol_quarter("A1-T4", SIGNED, PARIS)
    next_year = protocol_quarter("A2-T1", SIGNED, PARIS)
    assert (t1.start, t1.end) == (paris("2026-03-15 00:00"), paris("2026-06-15 00:00"))
    assert t1.start == at("2026-03-14 23:00")  # still winter time on 15 March
    assert t1.end == at("2026-06-14 22:00")
    assert t2.title == "2e trimestre de la 1re année du protocole (du 15 juin au 14 septembre 2026)"
    assert t4.title == (
        "4e trimestre de la 1re année du protocole (du 15 décembre 2026 au 14 mars 2027)"
    )
    assert t4.end == next_year.start == paris("2027-03-15 00:00")
    assert next_year.label == "A2-T1"


def test_quarters_of_a_signature_on_the_31st_start_on_the_last_day_of_short_months() -> None:
    signed = date(2026, 1, 31)
    starts = [protocol_quarter(f"A1-T{n}", signed, PARIS).start.date() for n in range(1, 5)]
    assert starts == [date(2026, 1, 31), date(2026, 4, 30), date(2026, 7, 31), date(2026, 10, 31)]
    t3 = protocol_quarter("A1-T3", signed, PARIS)
    assert previous(t3, protocol_start=signed).start.date() == date(2026, 4, 30)


def test_previous_protocol_quarter_needs_the_signature_date() -> None:
    with pytest.raises(PeriodLabelError, match="protocol_start"):
        previous(protocol_quarter("A1-T2", SIGNED, PARIS))


def test_the_quarter_before_the_first_is_before_the_signature() -> None:
    t1 = protocol_quarter("A1-T1", SIGNED, PARIS)
    before = previous(t1, protocol_start=SIGNED)
    assert before.label == "A0-T4"
    assert (before.start, before.end) == (paris("2025-12-15 00:00"), t1.start)
    assert before.title == (
        "Trimestre A0-T4, avant la signature du protocole (du 15 décembre 2025 au 14 mars 2026)"
    )
    assert previous(protocol_quarter("A2-T1", SIGNED, PARIS), protocol_start=SIGNED).label == (
        "A1-T4"
    )


def test_protocol_year() -> None:
    first = year("A1", PARIS, protocol_start=SIGNED)
    assert (first.kind, first.label) == ("year", "A1")
    assert (first.start, first.end) == (paris("2026-03-15 00:00"), paris("2027-03-15 00:00"))
    assert first.title == "1re année du protocole (du 15 mars 2026 au 14 mars 2027)"
    assert previous(year("A2", PARIS, protocol_start=SIGNED), protocol_start=SIGNED) == first


def test_a_protocol_year_without_signature_date_is_refused() -> None:
    with pytest.raises(PeriodLabelError, match=r"\[reports\]\.protocol_start"):
        year("A1", PARIS)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("2026-q3", "2026-Q3"), ("a1-t2", "A1-T2"), ("2026", "2026"), ("A1", "A1")],
)
def test_period_from_label_reads_every_scheme(label: str, expected: str) -> None:
    assert period_from_label(label, PARIS, protocol_start=SIGNED).label == expected


# -- the period of a moment --------------------------------------------------------------


def test_the_quarter_of_a_moment_follows_paris_midnight(calendar_settings: Settings) -> None:
    assert period_containing(at("2026-06-30 21:59"), calendar_settings).label == "2026-Q2"
    assert period_containing(at("2026-06-30 22:00"), calendar_settings).label == "2026-Q3"
    assert period_containing(at("2026-06-30 22:00"), calendar_settings, "year").label == "2026"


def test_the_protocol_quarter_of_a_moment(protocol_settings: Settings) -> None:
    assert period_containing(at("2026-06-14 21:59"), protocol_settings).label == "A1-T1"
    assert period_containing(at("2026-06-14 22:00"), protocol_settings).label == "A1-T2"
    assert period_containing(at("2026-01-02 10:00"), protocol_settings).label == "A0-T4"
    assert period_containing(at("2027-03-20 10:00"), protocol_settings, "year").label == "A2"


def test_last_completed_quarter_and_year(
    calendar_settings: Settings, protocol_settings: Settings
) -> None:
    assert last_completed(at("2026-10-01 07:00"), calendar_settings).label == "2026-Q3"
    assert last_completed(at("2026-09-30 21:59"), calendar_settings).label == "2026-Q2"
    assert last_completed(at("2027-01-04 08:00"), calendar_settings, "year").label == "2026"
    assert last_completed(at("2026-09-15 08:00"), protocol_settings).label == "A1-T2"
    assert last_completed(at("2027-03-16 08:00"), protocol_settings, "year").label == "A1"


# -- working days ------------------------------------------------------------------------


def test_statement_after_q4_waits_for_new_year_and_the_weekend() -> None:
    # 1 January 2027 is a holiday (Friday), then Saturday and Sunday.
    assert first_working_day_after(quarter("2026-Q4", PARIS), PARIS) == date(2027, 1, 4)


def test_statement_after_a_quarter_ending_on_easter_sunday_waits_for_tuesday() -> None:
    # Easter 2024 is Sunday 31 March: the first day after Q1 is Easter Monday.
    assert first_working_day_after(quarter("2024-Q1", PARIS), PARIS) == date(2024, 4, 2)


def test_statement_is_due_the_next_day_when_it_is_a_working_day() -> None:
    assert first_working_day_after(quarter("2026-Q2", PARIS), PARIS) == date(2026, 7, 1)


def test_public_holidays_are_the_french_ones() -> None:
    days = public_holidays(2026, 2026)
    assert date(2026, 7, 14) in days
    assert date(2026, 4, 6) in days  # Easter Monday
    assert date(2026, 12, 25) in days
    assert date(2026, 12, 26) not in days  # Alsace-Moselle only


def test_to_local_follows_the_time_change() -> None:
    moments = np.array(["2026-03-29T00:30", "2026-03-29T01:30"], dtype="datetime64[s]")
    assert to_local(moments, PARIS).tolist() == [
        datetime(2026, 3, 29, 1, 30),
        datetime(2026, 3, 29, 3, 30),
    ]


@pytest.mark.parametrize(
    ("received", "answered", "expected"),
    [
        ("2026-11-20 18:00", "2026-11-23 09:00", 0.625),  # Friday evening → Monday morning
        ("2026-11-21 10:00", "2026-11-23 10:00", 10 / 24),  # Saturday → Monday
        ("2026-11-24 09:00", "2026-11-24 11:00", 2 / 24),  # same day
        ("2026-07-13 12:00", "2026-07-15 12:00", 1.0),  # over 14 July (a Tuesday)
        ("2026-04-03 12:00", "2026-04-07 12:00", 1.0),  # over Easter Monday
        ("2026-03-27 12:00", "2026-03-30 12:00", 1.0),  # over the spring time change
        ("2026-07-14 09:00", "2026-07-14 17:00", 0.0),  # on a holiday
        ("2026-11-24 11:00", "2026-11-24 09:00", 0.0),  # clocks disagree: never negative
    ],
)
def test_delay_in_working_days(received: str, answered: str, expected: float) -> None:
    days = working_days(utc64(received), utc64(answered), PARIS)
    assert days.tolist() == pytest.approx([expected])


def test_working_days_are_vectorised_over_years() -> None:
    days = working_days(
        utc64("2026-12-31 12:00", "2026-07-13 12:00"),
        utc64("2027-01-04 12:00", "2026-07-15 12:00"),
        PARIS,
    )
    # 31 Dec (half) + 4 Jan (half): 1 January and the weekend left out.
    assert days.tolist() == pytest.approx([1.0, 1.0])


def test_no_delays_give_no_working_days() -> None:
    empty = np.array([], dtype="datetime64[s]")
    assert working_days(empty, empty, PARIS).tolist() == []
