"""The statistics of a period, as one typed model: computed by SQL, rendered separately.

No personal data may ever enter these models (protocol: statistics go to the CDSE):
counts, delays and company names of member companies only — never a requester's name or
address, a subject or a message text.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Period(BaseModel):
    """[start, end) in Europe/Paris, stored as aware datetimes."""

    model_config = ConfigDict(frozen=True)

    kind: str  # "quarter" or "year"
    label: str  # "2026-Q3", "2026"; protocol periods "A1-T2" (year 1, quarter 2), "A1"
    title: str  # French, e.g. « 3e trimestre 2026 (du 1er juillet au 30 septembre 2026) »
    start: datetime
    end: datetime


class Count(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    label: str  # French
    count: int
    previous: int | None = None  # the same figure in the previous period


class DelayStats(BaseModel):
    """Delays of the requests of the period that reached the phase (hours are real hours;
    working days exclude weekends and French public holidays)."""

    model_config = ConfigDict(frozen=True)

    count: int  # requests that reached the phase
    pending: int  # requests of the period that have not reached it yet
    within_24h: int | None = None
    within_24h_share: float | None = None  # 0..1
    median_hours: float | None = None
    p90_hours: float | None = None
    max_hours: float | None = None
    median_working_days: float | None = None
    p90_working_days: float | None = None


class MonthVolume(BaseModel):
    model_config = ConfigDict(frozen=True)

    month: str  # "2026-07"
    label: str  # « juillet 2026 »
    email: int
    phone: int


class PeriodStats(BaseModel):
    """Everything the quarterly (or annual) statement says."""

    model_config = ConfigDict(frozen=True)

    period: Period
    previous_period: Period
    generated_at: datetime
    total: int
    previous_total: int
    by_medium: list[Count]  # email, phone
    # Exclusive outcomes: answered, referred, closed (without answer), open.
    by_outcome: list[Count]
    # Flags, not exclusive: out_of_scope, personal_data, not_member, urgent.
    flags: list[Count]
    referred_by_service: list[Count]
    by_category: list[Count]
    by_company: list[Count]  # member companies by name; non-members as one line
    by_month: list[MonthVolume]
    acknowledgement: DelayStats  # email requests only (a call is acknowledged live)
    answer: DelayStats
