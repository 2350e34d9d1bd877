"""Report periods (protocol art. 6 and 8): quarters and years between local midnights,
their French titles, the working day a statement is due, and delays in working days.

Two schemes, chosen by [reports].periods:

- ``calendar``: "2026-Q3" is 1 July – 30 September 2026; "2026" is the calendar year.
- ``protocol``: counted from the signature date S ([reports].protocol_start, art. 8).
  "A1" (année 1) is [S, S + 1 year); "A1-T1" (trimestre 1) is [S, S + 3 months),
  "A1-T2" is [S + 3 months, S + 6 months) … "A2-T1" starts on S + 1 year. A day missing
  from the target month becomes the month's last day (signed on 31 January: quarters
  start on 31 January, 30 April, 31 July, 31 October). Periods before the signature
  have year numbers ≤ 0: "A0-T4" is the quarter just before it, which "A1-T1" is
  compared with.

A period is [start, end) between local midnights of the zone ([service].timezone):
in UTC, 22:00 (summer time) or 23:00 (winter time) the day before. Pure: no clock, no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import numpy.typing as npt

from dcs_mailbox.config import Settings
from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.outbound.french import MONTHS
from dcs_mailbox.reports.model import Period

PeriodKind = Literal["quarter", "year"]
QUARTER: Final = "quarter"
YEAR: Final = "year"

MONTHS_FR = MONTHS

_CALENDAR_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_CALENDAR_YEAR = re.compile(r"^(\d{4})$")
_PROTOCOL_QUARTER = re.compile(r"^A(-?\d{1,3})-T([1-4])$")
_PROTOCOL_YEAR = re.compile(r"^A(-?\d{1,3})$")
_SECOND = np.timedelta64(1, "s")
_DAY_SECONDS = 86_400.0


class PeriodLabelError(DcsMailboxError, ValueError):
    """A period label that names no period, or a protocol period without a signature date."""


# -- building periods ------------------------------------------------------------------


def quarter(label: str, zone: ZoneInfo) -> Period:
    """A calendar quarter: "2026-Q3" → [1 July 2026, 1 October 2026) at local midnights."""
    match = _CALENDAR_QUARTER.match(label.strip().upper())
    if not match:
        raise PeriodLabelError(f"{label!r} is not a calendar quarter: write it like 2026-Q3")
    year_number, number = int(match[1]), int(match[2])
    first = date(year_number, 3 * number - 2, 1)
    end = _add_months(first, 3)
    title = f"{ordinal(number)} trimestre {year_number} ({_span(first, end)})"
    return _period(QUARTER, f"{year_number}-Q{number}", title, first, end, zone)


def protocol_quarter(label: str, start_date: date, zone: ZoneInfo) -> Period:
    """A quarter of a protocol year: "A1-T2" is the 2nd quarter of the 1st year after
    the signature on `start_date` (see the module docstring)."""
    match = _PROTOCOL_QUARTER.match(label.strip().upper())
    if not match:
        raise PeriodLabelError(
            f"{label!r} is not a protocol quarter: write it like A1-T2 (year 1 of the "
            "protocol, quarter 2)"
        )
    return _protocol_quarter_at(4 * (int(match[1]) - 1) + int(match[2]) - 1, start_date, zone)


def year(label: str, zone: ZoneInfo, *, protocol_start: date | None = None) -> Period:
    """The annual review's period: a calendar year ("2026") or a protocol year ("A1",
    which needs `protocol_start`)."""
    text = label.strip().upper()
    if match := _CALENDAR_YEAR.match(text):
        first = date(int(match[1]), 1, 1)
        end = date(first.year + 1, 1, 1)
        return _period(YEAR, text, f"Année {first.year} ({_span(first, end)})", first, end, zone)
    if match := _PROTOCOL_YEAR.match(text):
        return _protocol_year_at(int(match[1]), _need_start(protocol_start, text), zone)
    raise PeriodLabelError(
        f"{label!r} is not a year: write a calendar year (2026) or a protocol year (A1)"
    )


def period_from_label(label: str, zone: ZoneInfo, *, protocol_start: date | None = None) -> Period:
    """Any label this module writes: "2026-Q3", "2026", "A1-T2", "A1"."""
    text = label.strip().upper()
    if _CALENDAR_QUARTER.match(text):
        return quarter(text, zone)
    if _PROTOCOL_QUARTER.match(text):
        return protocol_quarter(text, _need_start(protocol_start, text), zone)
    return year(text, zone, protocol_start=protocol_start)


def previous(period: Period, *, protocol_start: date | None = None) -> Period:
    """The period of the same kind just before `period` (ending where it starts).

    Protocol periods need `protocol_start`: where a quarter of a signature on the
    29th–31st starts cannot be told from the dates of the next one.
    """
    zone = _zone_of(period)
    text = period.label
    if match := _CALENDAR_QUARTER.match(text):
        index = 4 * int(match[1]) + int(match[2]) - 2
        return quarter(f"{index // 4}-Q{index % 4 + 1}", zone)
    if match := _CALENDAR_YEAR.match(text):
        return year(str(int(match[1]) - 1), zone)
    start = _need_start(protocol_start, text)
    if match := _PROTOCOL_QUARTER.match(text):
        return _protocol_quarter_at(4 * (int(match[1]) - 1) + int(match[2]) - 2, start, zone)
    if match := _PROTOCOL_YEAR.match(text):
        return _protocol_year_at(int(match[1]) - 1, start, zone)
    raise PeriodLabelError(f"{text!r} is not a period label written by reports.periods")


def period_containing(moment: datetime, settings: Settings, kind: PeriodKind = QUARTER) -> Period:
    """The quarter (or year) of the configured scheme that contains `moment` (aware)."""
    if moment.tzinfo is None:
        raise ValueError("period_containing needs a timezone-aware moment")
    zone = settings.service.zone
    day = moment.astimezone(zone).date()
    reports = settings.reports
    if reports.periods == "protocol":
        start = _need_start(reports.protocol_start, "protocol periods")
        months = (day.year - start.year) * 12 + day.month - start.month
        index = months // 3 if kind == QUARTER else months // 12
        # A quarter (year) starting later in the month than `day` has not started yet.
        while _protocol_start_of(index, start, kind) > day:
            index -= 1
        if kind == QUARTER:
            return _protocol_quarter_at(index, start, zone)
        return _protocol_year_at(index + 1, start, zone)
    if kind == QUARTER:
        return quarter(f"{day.year}-Q{(day.month - 1) // 3 + 1}", zone)
    return year(str(day.year), zone)


def last_completed(moment: datetime, settings: Settings, kind: PeriodKind = QUARTER) -> Period:
    """The last quarter (or year) that had ended at `moment`: the one a statement is due for."""
    current = period_containing(moment, settings, kind)
    return previous(current, protocol_start=settings.reports.protocol_start)


# -- working days ------------------------------------------------------------------------


def first_working_day_after(period: Period, zone: ZoneInfo) -> date:
    """The first day on or after the period's end that is neither a weekend day nor a
    French public holiday (the quarter ending 31 December 2026 → Monday 4 January 2027:
    1 January is a holiday, then a weekend)."""
    day = period.end.astimezone(zone).date()
    closed = set(public_holidays(day.year, day.year + 1))
    while day.weekday() >= 5 or day in closed:
        day += timedelta(days=1)
    return day


def public_holidays(first_year: int, last_year: int) -> tuple[date, ...]:
    """French public holidays (metropolitan list of python-holidays) of these years, sorted."""
    return _public_holidays(first_year, last_year)


@lru_cache(maxsize=32)
def _public_holidays(first_year: int, last_year: int) -> tuple[date, ...]:
    calendar = holidays.country_holidays("FR", years=range(first_year, last_year + 1))
    return tuple(sorted(calendar.keys()))


def working_days(
    start: npt.NDArray[Any], end: npt.NDArray[Any], zone: ZoneInfo
) -> npt.NDArray[np.float64]:
    """Delays between UTC instants (datetime64) in working days, vectorised.

    The time between the two moments on the local calendar, Saturdays, Sundays and
    French public holidays left out, in days of 24 h. With d1, d2 the local dates and
    f1, f2 the local times of day as fractions of a day:

        busday_count(d1, d2) − f1·[d1 is a working day] + f2·[d2 is a working day]

    Friday 18:00 → Monday 09:00 is 1 − 0.75 + 0.375 = 0.625; Saturday → Monday 10:00 is
    10/24; a negative delay counts as 0.
    """
    if start.size == 0:
        return np.zeros(0, dtype=np.float64)
    local_start, local_end = to_local(start, zone), to_local(end, zone)
    start_day = local_start.astype("datetime64[D]")
    end_day = local_end.astype("datetime64[D]")
    years = np.concatenate([start_day, end_day]).astype("datetime64[Y]").astype(np.int64) + 1970
    calendar = np.busdaycalendar(
        weekmask="1111100",
        holidays=np.array(
            public_holidays(int(years.min()), int(years.max())), dtype="datetime64[D]"
        ),
    )
    start_part = (local_start - start_day) / _SECOND / _DAY_SECONDS
    end_part = (local_end - end_day) / _SECOND / _DAY_SECONDS
    days = (
        np.busday_count(start_day, end_day, busdaycal=calendar)
        - start_part * np.is_busday(start_day, busdaycal=calendar)
        + end_part * np.is_busday(end_day, busdaycal=calendar)
    )
    result: npt.NDArray[np.float64] = np.maximum(days, 0.0)
    return result


def to_local(moments: npt.NDArray[Any], zone: ZoneInfo) -> npt.NDArray[Any]:
    """UTC datetime64 (no NaT) → local wall-clock datetime64[s] in `zone`.

    The offset is looked up once per distinct UTC hour present: the zone database
    changes offsets on whole UTC hours (Europe/Paris at 01:00 UTC)."""
    seconds = moments.astype("datetime64[s]").astype(np.int64)
    hours, where = np.unique(seconds // 3600, return_inverse=True)
    offsets = np.array([_offset_seconds(int(hour) * 3600, zone) for hour in hours], dtype=np.int64)
    return (seconds + offsets[where]).astype("datetime64[s]")


def _offset_seconds(timestamp: int, zone: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(timestamp, UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


# -- French wording ----------------------------------------------------------------------


def ordinal(number: int, *, feminine: bool = False) -> str:
    """1er / 1re, 2e, 3e… (Imprimerie nationale abbreviations)."""
    if number == 1:
        return "1re" if feminine else "1er"
    return f"{number}e"


def day_fr(day: date, *, with_year: bool = True) -> str:
    """« 1er juillet 2026 », « 14 juillet »."""
    text = f"{'1er' if day.day == 1 else day.day} {MONTHS_FR[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def month_fr(year_number: int, month: int) -> str:
    """« juillet 2026 »."""
    return f"{MONTHS_FR[month - 1]} {year_number}"


def _span(first: date, end: date) -> str:
    """« du 1er juillet au 30 septembre 2026 » for the days [first, end)."""
    last = end - timedelta(days=1)
    return f"du {day_fr(first, with_year=first.year != last.year)} au {day_fr(last)}"


# -- internals ---------------------------------------------------------------------------


def _period(kind: str, label: str, title: str, first: date, end: date, zone: ZoneInfo) -> Period:
    return Period(
        kind=kind,
        label=label,
        title=title,
        start=datetime.combine(first, time(), zone),
        end=datetime.combine(end, time(), zone),
    )


def _protocol_quarter_at(index: int, start: date, zone: ZoneInfo) -> Period:
    """The quarter `index` of the protocol (0 = A1-T1, -1 = A0-T4)."""
    first = _add_months(start, 3 * index)
    end = _add_months(start, 3 * (index + 1))
    year_number, number = index // 4 + 1, index % 4 + 1
    label = f"A{year_number}-T{number}"
    if year_number >= 1:
        name = (
            f"{ordinal(number)} trimestre de la {ordinal(year_number, feminine=True)} "
            "année du protocole"
        )
    else:
        name = f"Trimestre {label}, avant la signature du protocole"
    return _period(QUARTER, label, f"{name} ({_span(first, end)})", first, end, zone)


def _protocol_year_at(year_number: int, start: date, zone: ZoneInfo) -> Period:
    first = _add_months(start, 12 * (year_number - 1))
    end = _add_months(start, 12 * year_number)
    label = f"A{year_number}"
    if year_number >= 1:
        name = f"{ordinal(year_number, feminine=True)} année du protocole"
    else:
        name = f"Année {label}, avant la signature du protocole"
    return _period(YEAR, label, f"{name} ({_span(first, end)})", first, end, zone)


def _protocol_start_of(index: int, start: date, kind: str) -> date:
    return _add_months(start, 3 * index if kind == QUARTER else 12 * index)


def _add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    month_index = day.year * 12 + day.month - 1 + months
    year_number, month = divmod(month_index, 12)
    return date(year_number, month + 1, min(day.day, _days_in_month(year_number, month + 1)))


def _days_in_month(year_number: int, month: int) -> int:
    following = date(year_number + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _need_start(protocol_start: date | None, what: str) -> date:
    if protocol_start is None:
        raise PeriodLabelError(
            f"{what}: protocol periods are counted from the signature date; set "
            "[reports].protocol_start"
        )
    return protocol_start


def _zone_of(period: Period) -> ZoneInfo:
    zone = period.start.tzinfo
    if not isinstance(zone, ZoneInfo):
        raise ValueError(
            f"period {period.label} has no named time zone (a fixed offset cannot place "
            "midnights across summer time): build it with reports.periods"
        )
    return zone
