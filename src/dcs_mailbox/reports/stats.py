"""The statistical statement of a period (protocol art. 6): SQL aggregation in, `PeriodStats` out.

The requests of a period are those received in [start, end), except the ones an agent
marked « pas une saisine » (docs/lifecycle.md). The database counts, over the
`received_at` index: for each of the period and the previous one, one pass of
conditional counts (totals, media, outcomes, flags, months) and one GROUP BY (services,
categories, companies). Only the delays need rows: the period's timestamps, fetched as
plain text tuples and computed with numpy.

Definitions (figures as the database stands when computed, late answers included — the
previous period's too, so they may differ from its own statement):

- Outcomes, exclusive: « orientée » = `referred_at` set (answered or not);
  « répondue » = `answered_at` set and not referred; « close sans réponse » =
  `closed_at` set, neither answered nor referred; « en cours » = none of the three.
- Flags, not exclusive: scope "out", personal data, not a member, urgent.
- Acknowledgement delay (e-mail only — a call is acknowledged live):
  `acknowledged_at − received_at`; pending = e-mail requests not acknowledged.
  Answer delay (all media): `answered_at − received_at` of the answered requests
  (referred ones included); pending = the requests « en cours ».
  Hours are elapsed real hours; a negative delay (clocks of two machines) counts as 0;
  « within 24 h » is a delay ≤ 24 h (protocol art. 3).
- Percentiles: `numpy.percentile`, linear interpolation between order statistics
  (Hyndman & Fan type 7, the spreadsheets' PERCENTILE.INC / CENTILE): the CDSE can
  check them in its spreadsheet.
- Delay in working days: `periods.working_days` — the time between the two moments on
  the local calendar with Saturdays, Sundays and French public holidays left out, in
  days of 24 h (received Friday 18:00, answered Monday 09:00: 0.625 working day).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, String, and_, case, cast, func, select
from sqlalchemy.orm import Session

from dcs_mailbox.reports.model import Count, DelayStats, MonthVolume, Period, PeriodStats
from dcs_mailbox.reports.periods import month_fr, previous, working_days
from dcs_mailbox.store.models import Medium, Request, RequestStatus
from dcs_mailbox.triage.scope import DEFAULT_SERVICES

MEDIA = {Medium.EMAIL.value: "Courriel", Medium.PHONE.value: "Téléphone"}
OUTCOMES = {
    "answered": "Répondues",
    "referred": "Orientées vers un service compétent",
    "closed": "Closes sans réponse",
    "open": "En cours",
}
FLAGS = {
    "out_of_scope": "Hors périmètre",
    "personal_data": "Avec données personnelles",
    "not_member": "Hors entreprises membres",
    "urgent": "Urgentes",
}
# Lines that gather what has no name of its own; always listed last.
UNCATEGORISED = ("uncategorised", "Non classé")
NON_MEMBERS = ("non-members", "Non-membres")
UNNAMED_MEMBER = ("unnamed-member", "Entreprise membre non précisée")
UNKNOWN_SERVICE = ("unknown-service", "Service non précisé")

# Categories of triage/scope_lexicon.py as the statement names them.
CATEGORY_LABELS: Mapping[str, str] = {
    "securite-privee": "Sécurité privée",
    "videoprotection": "Vidéoprotection",
    "palpations": "Palpations et inspection des bagages",
    "vigipirate": "Vigipirate",
    "evenements": "Sécurité des événements",
    "terrorisme-radicalisation": "Terrorisme et radicalisation",
    "drones": "Drones",
    "armes": "Armes",
    "cyber": "Menaces et incidents cyber",
    "protocole": "Protocole DCS–CDSE",
    "surete-site": "Sûreté des sites",
    "alerte-evacuation": "Alerte, évacuation et gestion de crise",
    "malveillance": "Menaces, agressions et malveillance",
    "enquetes-administratives": "Enquêtes administratives",
    "demarchage": "Démarchage commercial",
    "candidature": "Candidatures",
    "plainte": "Plaintes",
    "fiscal": "Fiscalité",
    "travail": "Droit du travail et protection sociale",
    "donnees-personnelles-rgpd": "Données personnelles (RGPD)",
    "justice": "Justice",
    "economie": "Économie et douane",
    "marches-publics": "Marchés publics et paiements",
    "visas-titres": "Visas et titres",
    "contraventions": "Contraventions",
}

_SECOND = np.timedelta64(1, "s")
_Lines = dict[tuple[str, str], tuple[int, int]]  # (key, label) → (count, previous)


def compute_stats(
    session: Session,
    period: Period,
    *,
    now: datetime,
    zone: ZoneInfo,
    services: Mapping[str, str] | None = None,
    categories: Mapping[str, str] | None = None,
    previous_period: Period | None = None,
    protocol_start: date | None = None,
) -> PeriodStats:
    """The statement of `period`, compared with `previous_period`: by default the period
    just before it, which for protocol periods needs `protocol_start`
    ([reports].protocol_start) to be placed.

    `services`: service key → French name (default: the bundled services directory);
    `categories`: category key → French label (default: CATEGORY_LABELS).
    """
    if now.tzinfo is None:
        raise ValueError("compute_stats needs a timezone-aware `now`")
    before = previous_period or previous(period, protocol_start=protocol_start)
    month_starts = _month_starts(period, zone)
    bounds = [datetime.combine(day, time(), zone) for day in month_starts[1:]]
    current, prior = _figures(session, period, bounds), _figures(session, before, [])
    service_names = services if services is not None else _default_services()
    category_labels = categories if categories is not None else CATEGORY_LABELS
    cells = (_cells(session, period), _cells(session, before))
    delays = _DelayRows.fetch(session, period, zone)
    return PeriodStats(
        period=period,
        previous_period=before,
        generated_at=now,
        total=current["total"],
        previous_total=prior["total"],
        by_medium=_fixed_lines(MEDIA, current, prior),
        by_outcome=_fixed_lines(OUTCOMES, current, prior),
        flags=_fixed_lines(FLAGS, current, prior),
        referred_by_service=_service_lines(cells, service_names),
        by_category=_category_lines(cells, category_labels),
        by_company=_company_lines(cells),
        by_month=_month_volumes(current, month_starts),
        acknowledgement=delays.acknowledgement(pending=current["ack_pending"]),
        answer=delays.answer(pending=current["open"]),
    )


def _default_services() -> dict[str, str]:
    return {key: service.name for key, service in DEFAULT_SERVICES.items()}


def _in(period: Period) -> ColumnElement[bool]:
    return and_(
        Request.received_at >= period.start,
        Request.received_at < period.end,
        Request.status != RequestStatus.NOT_A_REQUEST.value,
    )


def _figures(session: Session, period: Period, bounds: Sequence[datetime]) -> dict[str, int]:
    """Totals, media, outcomes, flags, and per medium the requests received before each
    of `bounds` (for the months), in one pass with no sort: COUNT(*) FILTER (WHERE …),
    SQL:2003, in SQLite since 3.30 and in PostgreSQL. One query per period: grouping
    both periods by a CASE costs SQLite a sort, twice the time of two range scans."""
    answered, referred = Request.answered_at.is_not(None), Request.referred_at.is_not(None)
    closed = Request.closed_at.is_not(None)
    email, phone = Request.medium == Medium.EMAIL.value, Request.medium == Medium.PHONE.value
    conditions: dict[str, ColumnElement[bool]] = {
        "email": email,
        "phone": phone,
        "referred": referred,
        "answered": answered & ~referred,
        "closed": closed & ~answered & ~referred,
        "open": ~closed & ~answered & ~referred,
        "out_of_scope": Request.scope == "out",
        "personal_data": Request.personal_data.is_(True),
        "not_member": Request.member.is_(False),
        "urgent": Request.urgent.is_(True),
        "ack_pending": email & Request.acknowledged_at.is_(None),
    }
    for index, bound in enumerate(bounds, start=1):
        # Cumulative: one comparison per row and bound instead of two per month.
        conditions[f"email_before{index}"] = email & (Request.received_at < bound)
        conditions[f"phone_before{index}"] = phone & (Request.received_at < bound)
    columns = [func.count().label("total")]
    columns += [func.count().filter(cond).label(name) for name, cond in conditions.items()]
    row = session.execute(select(*columns).where(_in(period))).one()
    return {name: int(value or 0) for name, value in row._asdict().items()}


class _Cell(NamedTuple):
    """Requests of one period sharing a category, membership, company and referral."""

    category: str | None
    member: bool
    company: str | None  # members only
    referred: bool
    service: str | None
    requests: int


def _cells(session: Session, period: Period) -> list[_Cell]:
    """One GROUP BY for the three open-ended breakdowns (services, categories,
    companies): a few thousand cells at most, summed in Python — one sort instead of
    three, a third faster on SQLite (1,000,000 requests, bench/report_stats.py)."""
    # No bound parameter in a grouped expression: PostgreSQL would take the SELECT's and
    # the GROUP BY's copies for different expressions.
    company = case((Request.member.is_(True), Request.member_company), else_=None)
    referred = Request.referred_at.is_not(None)
    keys = (Request.category, Request.member, company, referred, Request.referred_service)
    query = select(*keys, func.count()).where(_in(period)).group_by(*keys)
    return [_Cell(*row) for row in session.execute(query)]


def _tally(
    cells: tuple[list[_Cell], list[_Cell]], line: Callable[[_Cell], tuple[str, str] | None]
) -> _Lines:
    """(key, label) → (count in the period, count in the previous one); `line` names
    the line a cell counts on (None: on none)."""
    merged: dict[tuple[str, str], list[int]] = {}
    for side, period_cells in enumerate(cells):
        for cell in period_cells:
            key = line(cell)
            if key is not None:
                merged.setdefault(key, [0, 0])[side] += cell.requests
    return {key: (figures[0], figures[1]) for key, figures in merged.items()}


def _fixed_lines(
    labels: Mapping[str, str], current: Mapping[str, int], prior: Mapping[str, int]
) -> list[Count]:
    return [
        Count(key=key, label=label, count=current[key], previous=prior[key])
        for key, label in labels.items()
    ]


def _lines(counts: _Lines, last: Sequence[str] = ()) -> list[Count]:
    """Sorted by count, then previous count, then label; the `last` keys at the end."""

    def order(item: tuple[tuple[str, str], tuple[int, int]]) -> tuple[int, int, int, str]:
        (key, label), (count, before) = item
        rank = last.index(key) + 1 if key in last else 0
        return (rank, -count, -before, label)

    return [
        Count(key=key, label=label, count=count, previous=before)
        for (key, label), (count, before) in sorted(counts.items(), key=order)
    ]


def _service_lines(cells: tuple[list[_Cell], list[_Cell]], names: Mapping[str, str]) -> list[Count]:
    def line(cell: _Cell) -> tuple[str, str] | None:
        if not cell.referred:
            return None
        if not cell.service:
            return UNKNOWN_SERVICE
        return (cell.service, names.get(cell.service, cell.service))

    return _lines(_tally(cells, line), last=[UNKNOWN_SERVICE[0]])


def _category_lines(
    cells: tuple[list[_Cell], list[_Cell]], labels: Mapping[str, str]
) -> list[Count]:
    def line(cell: _Cell) -> tuple[str, str]:
        key = cell.category
        return (key, labels.get(key, key)) if key else UNCATEGORISED

    return _lines(_tally(cells, line), last=[UNCATEGORISED[0]])


def _company_lines(cells: tuple[list[_Cell], list[_Cell]]) -> list[Count]:
    # Non-members are one line whatever name they gave: the statement names member
    # companies only (no personal data in statistics, see model.py).
    def line(cell: _Cell) -> tuple[str, str]:
        if not cell.member:
            return NON_MEMBERS
        return (cell.company, cell.company) if cell.company else UNNAMED_MEMBER

    return _lines(_tally(cells, line), last=[UNNAMED_MEMBER[0], NON_MEMBERS[0]])


def _month_volumes(figures: Mapping[str, int], starts: Sequence[date]) -> list[MonthVolume]:
    volumes = []
    for index, day in enumerate(starts):
        counts = {
            medium: figures.get(f"{medium}_before{index + 1}", figures[medium])
            - figures.get(f"{medium}_before{index}", 0)
            for medium in MEDIA
        }
        volumes.append(
            MonthVolume(
                month=f"{day.year:04d}-{day.month:02d}",
                label=month_fr(day.year, day.month),
                email=counts[Medium.EMAIL.value],
                phone=counts[Medium.PHONE.value],
            )
        )
    return volumes


def _month_starts(period: Period, zone: ZoneInfo) -> list[date]:
    """The period's first day, then the first day of each later month it covers: a
    month is told by its local boundaries, so a mail at 23:30 UTC on 30 June is July's."""
    first = period.start.astimezone(zone).date()
    end = period.end.astimezone(zone).date()
    starts = [first]
    month = date(first.year, first.month, 1)
    while True:
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        if month >= end:
            return starts
        starts.append(month)


class _DelayRows:
    """The period's (medium, received, acknowledged, answered) as numpy arrays (UTC)."""

    def __init__(
        self, email: npt.NDArray[np.bool_], moments: Sequence[npt.NDArray[Any]], zone: ZoneInfo
    ) -> None:
        self.email = email
        self.received, self.acknowledged, self.answered = moments
        self.zone = zone

    @classmethod
    def fetch(cls, session: Session, period: Period, zone: ZoneInfo) -> _DelayRows:
        # Text, not the column type's aware datetimes: numpy parses a quarter's ISO
        # strings at once, in milliseconds, instead of one Python object per value.
        query = select(
            Request.medium == Medium.EMAIL.value,
            cast(Request.received_at, String),
            cast(Request.acknowledged_at, String),
            cast(Request.answered_at, String),
        ).where(_in(period))
        with _without_cyclic_gc():
            columns = list(zip(*session.execute(query), strict=True)) or [()] * 4
        moments = [np.array(column, dtype="datetime64[s]") for column in columns[1:]]
        return cls(np.array(columns[0], dtype=bool), moments, zone)

    def acknowledgement(self, *, pending: int) -> DelayStats:
        reached = self.email & ~np.isnat(self.acknowledged)
        return self._stats(self.received[reached], self.acknowledged[reached], pending)

    def answer(self, *, pending: int) -> DelayStats:
        reached = ~np.isnat(self.answered)
        return self._stats(self.received[reached], self.answered[reached], pending)

    def _stats(self, start: npt.NDArray[Any], end: npt.NDArray[Any], pending: int) -> DelayStats:
        if start.size == 0:
            return DelayStats(count=0, pending=pending, within_24h=0)
        hours = np.maximum((end - start) / _SECOND / 3600.0, 0.0)
        days = working_days(start, end, self.zone)
        within = int(np.count_nonzero(hours <= 24.0))
        hour_median, hour_p90 = np.percentile(hours, [50, 90])
        day_median, day_p90 = np.percentile(days, [50, 90])
        return DelayStats(
            count=int(start.size),
            pending=pending,
            within_24h=within,
            within_24h_share=within / start.size,
            median_hours=float(hour_median),
            p90_hours=float(hour_p90),
            max_hours=float(hours.max()),
            median_working_days=float(day_median),
            p90_working_days=float(day_p90),
        )


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Tens of thousands of row tuples trigger the cyclic collector over and over (it
    counts allocations): measured, half the fetch time of a quarter of 80,000 requests.
    Rows of strings hold no cycles; the collector runs again right after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
