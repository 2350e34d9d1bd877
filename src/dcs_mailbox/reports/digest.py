"""The agents' daily digest: requests waiting for an answer, acknowledgements overdue.

Protocol art. 3: every request is acknowledged within 24 h, then answered in a delay
that depends on its complexity. Nothing here enforces a deadline; the digest makes sure
no open request and no stuck acknowledgement goes unnoticed ("the 24 h promise must
never be missed silently").

`build_digest` is SQL in, a plain model out; `digest_context` turns that model into
what the templates/digest/ files need. Neither sends anything (see mailing.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from dcs_mailbox.config import DigestSettings, Settings
from dcs_mailbox.outbound.french import duration_fr, long_day_fr
from dcs_mailbox.outbound.render import Envelope, TemplateRenderer
from dcs_mailbox.store.models import (
    WAITING_STATES,
    OutboxMessage,
    OutboxState,
    Request,
    RequestStatus,
)
from dcs_mailbox.store.record import ACKNOWLEDGEMENT

DIGEST_KIND = "digest"
DIGEST_TEMPLATE = "digest"

# Waiting for an agent: anything past these (answered, referred, closed, not a request)
# has left the agents' to-do list.
OPEN_STATUSES = (RequestStatus.RECEIVED, RequestStatus.ACKNOWLEDGED)
# An acknowledgement in one of these states has not reached the requester.
UNSENT_STATES = (*WAITING_STATES, OutboxState.FAILED)

_STATE_LABELS = {
    OutboxState.PENDING: "en attente d'un nouvel essai",
    OutboxState.SENDING: "envoi commencé puis interrompu, repris au prochain passage",
    OutboxState.FAILED: "refusé définitivement par le serveur : un agent doit intervenir",
}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class PendingRequest(_Model):
    """A request no agent has answered, referred or closed yet."""

    reference: str
    received_at: datetime
    requester_name: str
    requester_address: str | None
    company: str | None  # member company, from the registry
    subject: str
    urgent: bool
    status: RequestStatus
    acknowledged_at: datetime | None
    age: timedelta


class OverdueAcknowledgement(_Model):
    """An acknowledgement still unsent `ack_overdue_minutes` after its request arrived."""

    reference: str
    received_at: datetime  # the request's: the 24 h promise runs from there
    recipient: str
    subject: str
    state: OutboxState
    attempts: int
    last_error: str | None
    delay: timedelta  # since the request arrived


class Digest(_Model):
    generated_at: datetime
    pending: tuple[PendingRequest, ...]  # urgent first, then oldest first
    overdue_acknowledgements: tuple[OverdueAcknowledgement, ...]  # oldest first

    @property
    def is_empty(self) -> bool:
        return not self.pending and not self.overdue_acknowledgements

    @property
    def urgent_count(self) -> int:
        return sum(1 for request in self.pending if request.urgent)


def build_digest(session: Session, now: datetime, settings: DigestSettings) -> Digest:
    if now.tzinfo is None:
        raise ValueError("build_digest needs a timezone-aware `now`")
    return Digest(
        generated_at=now,
        pending=tuple(_pending(session, now)),
        overdue_acknowledgements=tuple(
            _overdue_acknowledgements(session, now, timedelta(minutes=settings.ack_overdue_minutes))
        ),
    )


def _pending(session: Session, now: datetime) -> list[PendingRequest]:
    rows = session.scalars(
        select(Request)
        .where(Request.status.in_(OPEN_STATUSES))
        .order_by(Request.urgent.desc(), Request.received_at, Request.id)
    )
    return [
        PendingRequest(
            reference=row.reference,
            received_at=row.received_at,
            requester_name=row.requester_name,
            requester_address=row.requester_address,
            company=row.member_company,
            subject=row.subject,
            urgent=row.urgent,
            status=RequestStatus(row.status),
            acknowledged_at=row.acknowledged_at,
            age=now - row.received_at,
        )
        for row in rows
    ]


def _overdue_acknowledgements(
    session: Session, now: datetime, overdue_after: timedelta
) -> list[OverdueAcknowledgement]:
    rows = session.execute(
        select(OutboxMessage, Request)
        .join(Request, OutboxMessage.request_id == Request.id)
        .where(
            OutboxMessage.kind == ACKNOWLEDGEMENT,
            OutboxMessage.state.in_(UNSENT_STATES),
            Request.received_at <= now - overdue_after,
            # Once an agent has answered, referred or closed the request, the requester
            # heard from us: a stuck acknowledgement no longer breaks the promise.
            Request.status.in_(OPEN_STATUSES),
        )
        .order_by(Request.received_at, Request.id)
    ).all()
    return [
        OverdueAcknowledgement(
            reference=request.reference,
            received_at=request.received_at,
            recipient=outbox.recipient,
            subject=request.subject,
            state=OutboxState(outbox.state),
            attempts=outbox.attempts,
            last_error=outbox.last_error,
            delay=now - request.received_at,
        )
        for outbox, request in rows
    ]


# --- rendering context -----------------------------------------------------------------


def digest_context(
    digest: Digest, *, zone: ZoneInfo, mailbox_address: str, settings: DigestSettings
) -> dict[str, object]:
    """What templates/digest/*.j2 read. Dates stay datetimes (the `date_fr` filter puts
    them in Paris time); durations and labels are French strings already."""
    return {
        "mailbox_name": mailbox_address.partition("@")[0],
        "generated_at": digest.generated_at,
        "day_label": long_day_fr(digest.generated_at.astimezone(zone)),
        "pending_count": len(digest.pending),
        "urgent_count": digest.urgent_count,
        "overdue_count": len(digest.overdue_acknowledgements),
        "ack_overdue_after": duration_fr(timedelta(minutes=settings.ack_overdue_minutes)),
        "pending": [
            {
                "reference": r.reference,
                "received_at": r.received_at,
                "requester_name": r.requester_name,
                "requester_address": r.requester_address,
                "company": r.company,
                "subject": r.subject,
                "urgent": r.urgent,
                "acknowledged": r.acknowledged_at is not None,
                "age": duration_fr(r.age),
            }
            for r in digest.pending
        ],
        "overdue": [
            {
                "reference": a.reference,
                "received_at": a.received_at,
                "recipient": a.recipient,
                "subject": a.subject,
                "state_label": _state_label(a),
                "attempts": a.attempts,
                "reason": a.last_error or "aucune erreur enregistrée",
                "delay": duration_fr(a.delay),
            }
            for a in digest.overdue_acknowledgements
        ],
    }


def compose_digest(
    renderer: TemplateRenderer,
    digest: Digest,
    *,
    settings: Settings,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """The digest as a complete message to [digest].recipients, From the mailbox."""
    context = digest_context(
        digest,
        zone=settings.service.zone,
        mailbox_address=settings.mailbox.address,
        settings=settings.digest,
    )
    # RFC 3834 §5: a notice of our own, not an answer to anybody.
    envelope = Envelope(", ".join(settings.digest.recipients), message_id, None, "auto-generated")
    return renderer.compose(
        DIGEST_TEMPLATE,
        context,
        envelope,
        sender_address=settings.mailbox.address,
        sender_name=settings.mailbox.display_name,
        now=now,
    )


def _state_label(acknowledgement: OverdueAcknowledgement) -> str:
    if acknowledgement.state is OutboxState.PENDING and acknowledgement.attempts == 0:
        return "jamais tenté : le service était-il arrêté ?"
    return _STATE_LABELS[acknowledgement.state]
