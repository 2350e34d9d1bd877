"""Record one inbound message: one transaction, all or nothing (STYLE.md).

The transaction writes the message row, its mailbox location, and for a new request
the request, its reference number, its first events and its acknowledgement in the
outbox. A crash anywhere before commit leaves nothing behind; re-processing after the
commit finds the message by its sha256 and only adds what is missing (a new location).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, object_session

from dcs_mailbox.config import ChannelSettings
from dcs_mailbox.message import InboundMessage
from dcs_mailbox.reference import format_reference, references_in
from dcs_mailbox.store.models import (
    IntakeFailure,
    MailboxItem,
    Message,
    MessageStatus,
    OutboxMessage,
    OutboxState,
    ReferenceCounter,
    Request,
    RequestEvent,
    RequestStatus,
)
from dcs_mailbox.triage.ack_policy import decide_acknowledgement
from dcs_mailbox.triage.verdict import Kind, Reason, Verdict

ACKNOWLEDGEMENT = "acknowledgement"
URGENT_ALERT = "urgent_alert"


@dataclass(frozen=True)
class Location:
    folder: str
    uidvalidity: int
    uid: int


class Disposition(StrEnum):
    NEW_REQUEST = "new_request"
    FOLLOWUP = "followup"
    HISTORY = "history"
    NOT_A_REQUEST = "not_a_request"
    AUTOMATED = "automated"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class TriageFlags:
    """The machine's triage flags, for the keywords agents see."""

    member: bool | None = None
    scope: str | None = None
    personal_data: bool | None = None
    urgent: bool = False


@dataclass(frozen=True)
class RecordOutcome:
    disposition: Disposition
    message_pk: int
    request_reference: str | None = None
    channel: str | None = None
    acknowledgement_queued: bool = False
    withheld: Reason | None = None
    already_recorded: bool = False  # the same bytes were recorded before: nothing new written
    acknowledged: bool = False
    flags: TriageFlags = field(default_factory=lambda: TriageFlags())
    alert_queued: bool = False


def find_message(session: Session, sha256: str) -> Message | None:
    return session.scalars(select(Message).where(Message.sha256 == sha256)).one_or_none()


def add_location(
    session: Session, message: Message, location: Location | None, now: datetime
) -> None:
    if location is None:
        return
    exists = session.scalar(
        select(MailboxItem.id).where(
            MailboxItem.folder == location.folder,
            MailboxItem.uidvalidity == location.uidvalidity,
            MailboxItem.uid == location.uid,
        )
    )
    if exists is None:
        session.add(
            MailboxItem(
                folder=location.folder,
                uidvalidity=location.uidvalidity,
                uid=location.uid,
                message_pk=message.id,
                seen_at=now,
            )
        )


def _insert_new(session: Session, row: Message, location: Location | None, now: datetime) -> None:
    """A message row seen for the first time, with its location. A location already
    recorded for other bytes (a server that re-renders a message, or reuses a UID under
    the same UIDVALIDITY) keeps its first message, as add_location does."""
    session.add(row)
    session.flush()
    add_location(session, row, location, now)


def _copy_of_ours(session: Session, message: InboundMessage, own: frozenset[str]) -> bool:
    sender = message.sender
    if sender is None or not message.message_id:
        return False
    if sender.address.casefold() not in {a.casefold() for a in own}:
        return False
    return (
        session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.message_id_header == message.message_id)
        )
        is not None
    )


def find_thread_request(
    session: Session, message: InboundMessage, prefixes: frozenset[str]
) -> Request | None:
    """The known request this message belongs to: by thread headers, then by a quoted reference."""
    ids = message.thread_ids
    if ids:
        by_message = session.scalars(
            select(Request)
            .join(Message, Message.request_id == Request.id)
            .where(Message.message_id_header.in_(ids))
            .order_by(Request.id)
            .limit(1)
        ).first()
        if by_message is not None:
            return by_message
        by_outbox = session.scalars(
            select(Request)
            .join(OutboxMessage, OutboxMessage.request_id == Request.id)
            .where(OutboxMessage.message_id_header.in_(ids))
            .limit(1)
        ).first()
        if by_outbox is not None:
            return by_outbox
    refs = references_in(message.subject, prefixes)
    if refs:
        return session.scalars(select(Request).where(Request.reference.in_(refs)).limit(1)).first()
    return None


def _same_mailbox(column: Any, address: str) -> Any:
    """`address` and its sub-addresses (a+1@x and a+2@x reach a's mailbox: RFC 5233)."""
    local, _, domain = address.partition("@")
    base = local.split("+", 1)[0]
    escaped = base.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        column == f"{base}@{domain}",
        # The range ("+" is followed by "," in ASCII) lets the index narrow the LIKE.
        and_(
            column >= f"{base}+",
            column < f"{base},",
            column.like(f"{escaped}+%@{domain}", escape="\\"),
        ),
    )


def acks_to_recipient_since(session: Session, recipient: str, since: datetime) -> int:
    count = session.scalar(
        select(func.count(OutboxMessage.id)).where(
            _same_mailbox(OutboxMessage.recipient, recipient),
            OutboxMessage.kind == ACKNOWLEDGEMENT,
            OutboxMessage.created_at >= since,
        )
    )
    return int(count or 0)


def acks_for_sender_since(session: Session, sender: str, since: datetime) -> int:
    """Acknowledgements caused by this From address, wherever they went: a sender naming a
    new Reply-To each time must not make us mail arbitrary victims (backscatter)."""
    count = session.scalar(
        select(func.count(OutboxMessage.id))
        .join(Request, OutboxMessage.request_id == Request.id)
        .where(
            _same_mailbox(Request.requester_address, sender),
            OutboxMessage.kind == ACKNOWLEDGEMENT,
            OutboxMessage.created_at >= since,
        )
    )
    return int(count or 0)


def allocate_reference(session: Session, channel: ChannelSettings, year: int) -> tuple[int, str]:
    # UPDATE first: on PostgreSQL the row lock serialises concurrent writers; SQLite has
    # one writer at a time anyway.
    result = session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.channel == channel.name, ReferenceCounter.year == year)
        .values(last_number=ReferenceCounter.last_number + 1)
        .returning(ReferenceCounter.last_number)
    ).scalar_one_or_none()
    if result is None:
        session.add(ReferenceCounter(channel=channel.name, year=year, last_number=1))
        session.flush()
        result = 1
    return result, format_reference(channel.reference_prefix, year, result)


def derived_message_id(reference: str, what: str, sha256: str, domain: str) -> str:
    """Deterministic: the same request always yields the same Message-ID (idempotent sends)."""
    return f"{reference.lower()}.{what}.{sha256[:16]}@{domain}"


HUMAN_KINDS = (Kind.REQUEST, Kind.FOLLOWUP)


def _event(
    request: Request, at: datetime, type_: str, detail: dict[str, object], message_pk: int | None
) -> RequestEvent:
    """Append to the timeline of a flushed request without loading its events (the
    collection is read only for display)."""
    session = object_session(request)
    assert session is not None and request.id is not None, "the request must be flushed"
    event = RequestEvent(
        request_id=request.id,
        at=at,
        type=type_,
        detail=json.dumps(detail, ensure_ascii=False),
        message_pk=message_pk,
    )
    session.add(event)
    return event


def _reasons_json(reasons: Iterable[Reason]) -> str:
    return json.dumps([r.model_dump() for r in reasons], ensure_ascii=False)


def record_inbound(
    session: Session,
    *,
    message: InboundMessage,
    verdict: Verdict,
    arrived_at: datetime,
    now: datetime,
    location: Location | None,
    channels: tuple[ChannelSettings, ...],
    history_before: datetime | None,
    own_domain: str,
    zone: ZoneInfo,
    own_addresses: frozenset[str],
    max_acks_per_sender_per_day: int,
    alert_recipients: tuple[str, ...] = (),
    acknowledged_before: bool = False,
) -> RecordOutcome:
    """Write everything about one new message. The caller commits.

    `acknowledged_before`: the message already carries the keyword set once its
    acknowledgement left (keywords.ACK_SENT) — the mailbox remembers what a lost or
    restored database forgot, so no second acknowledgement is queued."""
    prefixes = frozenset(c.reference_prefix for c in channels)
    # A copy of a message we sent (the proof copy, [acknowledgement].proof_copy) is
    # machine mail of our own: never part of the requester's thread.
    thread = (
        None
        if _copy_of_ours(session, message, own_addresses)
        else find_thread_request(session, message, prefixes)
    )
    kind = verdict.kind
    if thread is not None and kind in (Kind.REQUEST, Kind.OTHER) and not verdict.no_reply:
        kind = Kind.FOLLOWUP
    elif thread is None and kind is Kind.FOLLOWUP:
        # A reply to something we never recorded (a thread from before the service, a
        # reply to an agent's personal mail): judged as a request of its own.
        kind = Kind.REQUEST
    history = history_before is not None and arrived_at < history_before

    row = Message(
        sha256=message.sha256,
        size=message.size,
        message_id_header=(message.message_id or "")[:998] or None,
        status=MessageStatus.RECORDED,
        kind=kind.value,
        tagged=verdict.tagged,
        channel=verdict.channel,
        history=history,
        subject=message.subject[:1000],
        from_address=message.sender.address[:320] if message.sender else None,
        date_header=message.date,
        arrived_at=arrived_at,
        recorded_at=now,
        reasons=_reasons_json(verdict.reasons),
        member=verdict.member if kind in HUMAN_KINDS else None,
        scope=verdict.scope,
        personal_data=verdict.personal_data,
        urgent=verdict.urgent,
        category=verdict.category,
    )
    flags = TriageFlags(row.member, verdict.scope, verdict.personal_data, verdict.urgent)

    if thread is not None:
        row.request_id = thread.id
        _insert_new(session, row, location, now)
        event_type = "followup_received" if kind is Kind.FOLLOWUP else f"{kind.value}_received"
        _event(thread, now, event_type, {"from": row.from_address, "kind": kind.value}, row.id)
        thread.updated_at = now
        return RecordOutcome(
            Disposition.FOLLOWUP, row.id, thread.reference, thread.channel, flags=flags
        )

    if kind not in HUMAN_KINDS:
        _insert_new(session, row, location, now)
        return RecordOutcome(Disposition.AUTOMATED, row.id)
    if not verdict.tagged or verdict.channel is None:
        _insert_new(session, row, location, now)
        return RecordOutcome(Disposition.NOT_A_REQUEST, row.id, flags=flags)
    if history:
        _insert_new(session, row, location, now)
        return RecordOutcome(Disposition.HISTORY, row.id, channel=verdict.channel)

    # A new request. Queries first, then every row in as few flushes as possible: a
    # backlog records thousands of these in a row (docs/benchmarks.md).
    channel = next(c for c in channels if c.name == verdict.channel)
    year = arrived_at.astimezone(zone).year
    number, reference = allocate_reference(session, channel, year)
    target = message.reply_to or message.sender
    decision = decide_acknowledgement(
        message,
        verdict,
        own_addresses=own_addresses,
        acks_to_sender_last_24h=max(
            acks_to_recipient_since(session, target.address, now - timedelta(hours=24))
            if target is not None and "@" in target.address
            else 0,
            acks_for_sender_since(session, message.sender.address, now - timedelta(hours=24))
            if message.sender is not None and "@" in message.sender.address
            else 0,
        ),
        max_per_sender_per_day=max_acks_per_sender_per_day,
    )
    request = Request(
        reference=reference,
        channel=channel.name,
        year=year,
        number=number,
        requester_address=row.from_address,
        requester_name=(message.sender.name if message.sender else "")[:255],
        subject=row.subject,
        received_at=arrived_at,
        status=RequestStatus.RECEIVED,
        created_at=now,
        updated_at=now,
        member=verdict.member,
        member_company=verdict.member_company,
        scope=verdict.scope or "uncertain",
        personal_data=bool(verdict.personal_data),
        urgent=verdict.urgent,
        category=verdict.category,
        service=verdict.service,
    )
    session.add(request)
    session.flush()
    row.request_id = request.id
    _insert_new(session, row, location, now)
    _event(
        request,
        now,
        "received",
        {
            "reasons": [r.model_dump() for r in verdict.reasons],
            "arrived_at": arrived_at.isoformat(),
        },
        row.id,
    )
    alert_queued = False
    if verdict.urgent and alert_recipients:
        # Protocol art. 4: an imminent threat goes to the duty officers at once.
        session.add(
            OutboxMessage(
                request_id=request.id,
                kind=URGENT_ALERT,
                message_id_header=derived_message_id(
                    reference, "alerte", message.sha256, own_domain
                ),
                recipient=", ".join(alert_recipients),
                state=OutboxState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        _event(request, now, "urgent_alert_queued", {"to": ", ".join(alert_recipients)}, None)
        alert_queued = True
    if acknowledged_before and decision.send:
        # A database restored from backup, or a new one on an old mailbox: the request
        # is new to us, its acknowledgement is not.
        request.acknowledged_at = now
        request.status = RequestStatus.ACKNOWLEDGED
        _event(
            request,
            now,
            "acknowledgement_found",
            {
                "detail": "accusé de réception déjà envoyé d'après le mot-clé de la boîte : "
                "pas de second envoi"
            },
            None,
        )
        return RecordOutcome(
            Disposition.NEW_REQUEST,
            row.id,
            reference,
            channel.name,
            acknowledged=True,
            alert_queued=alert_queued,
            flags=flags,
        )
    if not decision.send or decision.recipient is None:
        reason = decision.reason
        _event(
            request,
            now,
            "acknowledgement_withheld",
            {"reason": reason.model_dump() if reason else None},
            None,
        )
        return RecordOutcome(
            Disposition.NEW_REQUEST,
            row.id,
            reference,
            channel.name,
            withheld=reason,
            alert_queued=alert_queued,
            flags=flags,
        )
    session.add(
        OutboxMessage(
            request_id=request.id,
            kind=ACKNOWLEDGEMENT,
            message_id_header=derived_message_id(reference, "accuse", message.sha256, own_domain),
            recipient=decision.recipient,
            state=OutboxState.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    _event(request, now, "acknowledgement_queued", {"to": decision.recipient}, None)
    return RecordOutcome(
        Disposition.NEW_REQUEST,
        row.id,
        reference,
        channel.name,
        acknowledgement_queued=True,
        alert_queued=alert_queued,
        flags=flags,
    )


def note_failure(session: Session, sha256: str, error: str, now: datetime) -> int:
    """Count one failed attempt at a message; returns the attempts so far."""
    failure = session.get(IntakeFailure, sha256)
    if failure is None:
        failure = IntakeFailure(sha256=sha256, attempts=0, first_failed_at=now, last_failed_at=now)
        session.add(failure)
    failure.attempts += 1
    failure.last_error = error[:4000]
    failure.last_failed_at = now
    session.flush()
    return failure.attempts


def record_quarantine(
    session: Session,
    *,
    sha256: str,
    size: int,
    error: str,
    arrived_at: datetime,
    now: datetime,
    location: Location | None,
) -> RecordOutcome:
    row = Message(
        sha256=sha256,
        size=size,
        status=MessageStatus.QUARANTINED,
        kind=None,
        subject="",
        arrived_at=arrived_at,
        recorded_at=now,
        error=error[:4000],
    )
    session.add(row)
    session.flush()
    add_location(session, row, location, now)
    return RecordOutcome(Disposition.QUARANTINED, row.id)


def outcome_of(session: Session, row: Message) -> RecordOutcome:
    """The outcome a message already recorded had, to re-apply its keywords idempotently."""
    reference = None
    acknowledged = False
    if row.request_id is not None:
        request = session.get_one(Request, row.request_id)
        reference = request.reference
        acknowledged = request.acknowledged_at is not None
    if row.status == MessageStatus.QUARANTINED:
        disposition = Disposition.QUARANTINED
    elif row.history:
        disposition = Disposition.HISTORY
    elif row.kind == Kind.FOLLOWUP or (row.request_id is not None and row.kind != Kind.REQUEST):
        disposition = Disposition.FOLLOWUP
    elif row.request_id is not None:
        disposition = Disposition.NEW_REQUEST
    elif row.kind == Kind.REQUEST:
        disposition = Disposition.NOT_A_REQUEST
    else:
        disposition = Disposition.AUTOMATED
    return RecordOutcome(
        disposition,
        row.id,
        reference,
        row.channel,
        already_recorded=True,
        acknowledged=acknowledged and disposition is Disposition.NEW_REQUEST,
        flags=TriageFlags(row.member, row.scope, row.personal_data, row.urgent),
    )
