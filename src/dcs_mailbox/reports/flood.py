"""Flood watch (protocol art. 9: the ministry may revise the conditions if requests flood in).

Each check counts the requests of the rolling week (the last 7 × 24 h) and the weekly
average of the 8 weeks before it. An episode starts when the week exceeds
`[reports].flood_weekly_threshold`, or `flood_multiple` times that average; it ends when
the week falls back under both. The managers get one alert per episode, not one per
check: the episode's start is remembered in `service_state`, and the alert is a
scheduled mailing of kind "flood" whose period is that start (exactly once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.config import ReportSettings
from dcs_mailbox.store.models import Request, RequestStatus, ServiceState

EPISODE_KEY = "flood_episode_started_at"
TRAILING_WEEKS = 8


@dataclass(frozen=True)
class FloodCheck:
    week_count: int
    trailing_average: float
    over_threshold: bool
    over_multiple: bool

    @property
    def flooding(self) -> bool:
        return self.over_threshold or self.over_multiple


@dataclass(frozen=True)
class FloodDecision:
    check: FloodCheck
    alert_period: str | None  # set when an episode starts now: the mailing's period
    episode_started_at: datetime | None


def measure(session: Session, now: datetime, settings: ReportSettings) -> FloodCheck:
    week_start = now - timedelta(days=7)
    trailing_start = week_start - timedelta(weeks=TRAILING_WEEKS)

    def count(start: datetime, end: datetime) -> int:
        return int(
            session.scalar(
                select(func.count(Request.id)).where(
                    Request.received_at >= start,
                    Request.received_at < end,
                    Request.status != RequestStatus.NOT_A_REQUEST,
                )
            )
            or 0
        )

    week = count(week_start, now)
    average = count(trailing_start, week_start) / TRAILING_WEEKS
    return FloodCheck(
        week_count=week,
        trailing_average=average,
        over_threshold=week > settings.flood_weekly_threshold,
        # With no history, a multiple of zero means nothing: the threshold decides.
        over_multiple=average > 0 and week > settings.flood_multiple * average,
    )


def decide(session: Session, now: datetime, settings: ReportSettings) -> FloodDecision:
    """Update the episode state; say whether an alert is due. The caller commits."""
    check = measure(session, now, settings)
    state = session.get(ServiceState, EPISODE_KEY)
    if check.flooding and state is None:
        session.add(ServiceState(key=EPISODE_KEY, value=now.isoformat()))
        return FloodDecision(check, now.strftime("%Y-%m-%d-%H%M"), now)
    if not check.flooding and state is not None:
        session.delete(state)
        return FloodDecision(check, None, None)
    started = datetime.fromisoformat(state.value) if state is not None else None
    return FloodDecision(check, None, started)
