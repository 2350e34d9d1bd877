"""Read-only views of what was recorded, as plain data for the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.store.models import (
    WAITING_STATES,
    IntakeFailure,
    Message,
    MessageStatus,
    OutboxMessage,
    OutboxState,
    Request,
    RequestEvent,
)


@dataclass(frozen=True)
class RequestSummary:
    reference: str
    channel: str
    status: str
    received_at: datetime
    acknowledged_at: datetime | None
    requester_address: str | None
    requester_name: str
    subject: str
    member: bool = False
    member_company: str | None = None
    scope: str = "uncertain"
    personal_data: bool = False
    urgent: bool = False
    category: str | None = None
    service: str | None = None
    medium: str = "email"
    answered_at: datetime | None = None
    referred_at: datetime | None = None
    referred_service: str | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class EventView:
    at: datetime
    type: str
    detail: dict[str, object]


@dataclass(frozen=True)
class MessageView:
    kind: str | None
    from_address: str | None
    subject: str
    arrived_at: datetime
    message_id: str | None
    reasons: list[dict[str, str]]


@dataclass(frozen=True)
class RequestDetail:
    summary: RequestSummary
    events: list[EventView] = field(default_factory=list)
    messages: list[MessageView] = field(default_factory=list)
    outbox: list[dict[str, object]] = field(default_factory=list)


def _summary(request: Request) -> RequestSummary:
    return RequestSummary(
        reference=request.reference,
        channel=request.channel,
        status=request.status,
        received_at=request.received_at,
        acknowledged_at=request.acknowledged_at,
        requester_address=request.requester_address,
        requester_name=request.requester_name,
        subject=request.subject,
        member=request.member,
        member_company=request.member_company,
        scope=request.scope,
        personal_data=request.personal_data,
        urgent=request.urgent,
        category=request.category,
        service=request.service,
        medium=request.medium,
        answered_at=request.answered_at,
        referred_at=request.referred_at,
        referred_service=request.referred_service,
        closed_at=request.closed_at,
    )


def list_requests(session: Session, limit: int = 100) -> list[RequestSummary]:
    rows = session.scalars(select(Request).order_by(Request.received_at.desc()).limit(limit))
    return [_summary(r) for r in rows]


def request_detail(session: Session, reference: str) -> RequestDetail | None:
    request = session.scalars(
        select(Request).where(func.upper(Request.reference) == reference.upper())
    ).one_or_none()
    if request is None:
        return None
    events = session.scalars(
        select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(RequestEvent.id)
    )
    messages = session.scalars(
        select(Message).where(Message.request_id == request.id).order_by(Message.id)
    )
    outbox = session.scalars(select(OutboxMessage).where(OutboxMessage.request_id == request.id))
    return RequestDetail(
        summary=_summary(request),
        events=[EventView(e.at, e.type, json.loads(e.detail)) for e in events],
        messages=[
            MessageView(
                m.kind,
                m.from_address,
                m.subject,
                m.arrived_at,
                m.message_id_header,
                json.loads(m.reasons),
            )
            for m in messages
        ],
        outbox=[
            {
                "kind": o.kind,
                "state": o.state,
                "recipient": o.recipient,
                "attempts": o.attempts,
                "message_id": o.message_id_header,
                "last_error": o.last_error,
                "sent_at": o.sent_at.isoformat() if o.sent_at else None,
            }
            for o in outbox
        ],
    )


@dataclass(frozen=True)
class Counts:
    messages: int
    quarantined: int
    requests: int
    outbox_pending: int
    outbox_failed: int
    failing: int


def counts(session: Session) -> Counts:
    def count(stmt: object) -> int:
        return int(session.scalar(stmt) or 0)  # type: ignore[call-overload]

    return Counts(
        messages=count(select(func.count(Message.id))),
        quarantined=count(
            select(func.count(Message.id)).where(Message.status == MessageStatus.QUARANTINED)
        ),
        requests=count(select(func.count(Request.id))),
        outbox_pending=count(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.state.in_(WAITING_STATES))
        ),
        outbox_failed=count(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.state == OutboxState.FAILED)
        ),
        failing=count(select(func.count(IntakeFailure.sha256))),
    )
