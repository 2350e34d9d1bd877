"""Acknowledgements waiting too long: the incident as the database knows it (protocol
art. 3 promises an acknowledgement within 24 h).

One notice per incident: raising it marks every request then waiting (an event in its
timeline); no new notice is raised while any marked request still waits, and requests
that start waiting during the incident are marked too — so neither the outage going on
nor the queue draining in any order repeats it; the next outage does. The notice itself
is rendered by outbound/delay_alarm.py and put in the INBOX by the daemon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.store.models import WAITING_STATES, OutboxMessage, Request, RequestEvent
from dcs_mailbox.store.record import ACKNOWLEDGEMENT

ALARM_EVENT = "acknowledgement_delay_alert"


@dataclass(frozen=True)
class DelayAlarm:
    request_id: int
    reference: str
    received_at: datetime
    waiting: int  # acknowledgements waiting, all requests
    attempts: int
    last_error: str | None


def due_alarm(session: Session, now: datetime, after: timedelta) -> DelayAlarm | None:
    """The notice to raise now, if any: the oldest waiting acknowledgement is older than
    `after` and was refused at least once, and no request covered by an earlier notice
    is still waiting. Writes (the caller commits): requests joining an ongoing incident."""
    waiting = (
        select(OutboxMessage.request_id)
        .where(OutboxMessage.kind == ACKNOWLEDGEMENT, OutboxMessage.state.in_(WAITING_STATES))
        .scalar_subquery()
    )
    ongoing = session.scalar(
        select(RequestEvent.id)
        .where(RequestEvent.type == ALARM_EVENT, RequestEvent.request_id.in_(waiting))
        .limit(1)
    )
    if ongoing is not None:
        # The incident goes on: requests that started waiting since belong to it too, so
        # the queue draining in any order cannot look like a new incident.
        _extend_incident(session, now)
        return None
    oldest = session.execute(
        select(OutboxMessage, Request)
        .join(Request, OutboxMessage.request_id == Request.id)
        .where(OutboxMessage.kind == ACKNOWLEDGEMENT, OutboxMessage.state.in_(WAITING_STATES))
        .order_by(Request.received_at, Request.id)
        .limit(1)
    ).first()
    if oldest is None:
        return None
    outbox, request = oldest
    if now - request.received_at < after or outbox.last_error is None:
        # Not late yet, or never refused: a daemon back after a long stop is not an
        # SMTP outage (its queue leaves on this very round).
        return None
    count = session.scalar(
        select(func.count(OutboxMessage.id)).where(
            OutboxMessage.kind == ACKNOWLEDGEMENT, OutboxMessage.state.in_(WAITING_STATES)
        )
    )
    return DelayAlarm(
        request_id=request.id,
        reference=request.reference,
        received_at=request.received_at,
        waiting=int(count or 0),
        attempts=outbox.attempts,
        last_error=outbox.last_error,
    )


def mark_raised(session: Session, alarm: DelayAlarm, now: datetime) -> None:
    """Every request waiting now belongs to the incident the notice announced."""
    detail = json.dumps({"oldest": alarm.reference, "waiting": alarm.waiting})
    _mark_waiting(session, now, detail, also=alarm.request_id)


def _extend_incident(session: Session, now: datetime) -> None:
    _mark_waiting(session, now, json.dumps({"joined": "incident en cours"}))


def _mark_waiting(session: Session, now: datetime, detail: str, also: int | None = None) -> None:
    marked = select(RequestEvent.request_id).where(RequestEvent.type == ALARM_EVENT)
    request_ids = set(
        session.scalars(
            select(OutboxMessage.request_id).where(
                OutboxMessage.kind == ACKNOWLEDGEMENT,
                OutboxMessage.state.in_(WAITING_STATES),
                OutboxMessage.request_id.not_in(marked),
            )
        ).all()
    )
    if also is not None:
        request_ids.add(also)
    for request_id in request_ids:
        session.add(
            RequestEvent(
                request_id=request_id, at=now, type=ALARM_EVENT, detail=detail, message_pk=None
            )
        )
