"""Acknowledgements that cannot leave: tell the agents long before the 24 h promise
(protocol art. 3) is at risk.

When the oldest acknowledgement still waiting (pending or being retried) is older than
`[alerts].ack_delay_minutes`, the daemon puts a flagged French notice in the mailbox's
own INBOX. It goes through IMAP, not SMTP, because the SMTP server being down is the
usual reason acknowledgements wait. One notice per incident: raising it marks every
request then waiting (an event in its timeline), and no new notice is raised while any
marked request is still waiting — so neither requests arriving during the outage nor
the queue draining one by one after it repeat the notice; the next outage does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.outbound.french import duration_fr
from dcs_mailbox.outbound.render import Envelope, TemplateRenderer
from dcs_mailbox.store.models import OutboxMessage, OutboxState, Request, RequestEvent
from dcs_mailbox.store.record import ACKNOWLEDGEMENT

ALARM_EVENT = "acknowledgement_delay_alert"
PROMISE = timedelta(hours=24)
WAITING = (OutboxState.PENDING, OutboxState.SENDING)


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
        .where(OutboxMessage.kind == ACKNOWLEDGEMENT, OutboxMessage.state.in_(WAITING))
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
        .where(OutboxMessage.kind == ACKNOWLEDGEMENT, OutboxMessage.state.in_(WAITING))
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
            OutboxMessage.kind == ACKNOWLEDGEMENT, OutboxMessage.state.in_(WAITING)
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
                OutboxMessage.state.in_(WAITING),
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


def compose_alarm(
    renderer: TemplateRenderer,
    alarm: DelayAlarm,
    *,
    mailbox: str,
    display_name: str,
    now: datetime,
) -> EmailMessage:
    domain = mailbox.rpartition("@")[2]
    left = alarm.received_at + PROMISE - now
    context: dict[str, object] = {
        "reference": alarm.reference,
        "received_at": alarm.received_at,
        "waiting": alarm.waiting,
        "attempts": alarm.attempts,
        "last_error": alarm.last_error or "aucune erreur enregistrée",
        "age": duration_fr(now - alarm.received_at),
        "left": duration_fr(left) if left > timedelta(0) else None,
        "now": now,
    }
    return renderer.compose(
        "ack_delay_alert",
        context,
        Envelope(
            mailbox,
            f"{alarm.reference.lower()}.alerte-delai.{alarm.request_id}@{domain}",
            auto_submitted="auto-generated",
        ),
        sender_address=mailbox,
        sender_name=display_name,
        now=now,
    )
