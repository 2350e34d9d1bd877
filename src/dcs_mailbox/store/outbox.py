"""The outbox seen from the dispatcher: plain data out, one committed transaction per call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from dcs_mailbox.store.models import (
    WAITING_STATES,
    MailboxItem,
    Message,
    OutboxMessage,
    OutboxState,
    Request,
    RequestEvent,
    RequestStatus,
)
from dcs_mailbox.store.record import ACKNOWLEDGEMENT


@dataclass(frozen=True)
class DueMessage:
    outbox_id: int
    kind: str
    state: OutboxState
    attempts: int
    recipient: str
    message_id: str
    reference: str
    channel: str
    subject: str
    received_at: datetime
    in_reply_to: str | None
    requester_address: str | None = None
    requester_name: str = ""
    member: bool = True
    member_company: str | None = None
    scope: str = "uncertain"
    personal_data: bool = False
    urgent: bool = False
    service: str | None = None
    reasons: tuple[str, ...] = ()  # triage reasons of the request's message, for agents
    attempt_started_at: datetime | None = None  # when the last SMTP attempt began


@dataclass(frozen=True)
class SentCopy:
    outbox_id: int
    message_id: str
    raw_sha256: str


@dataclass(frozen=True)
class Placed:
    """Where the request's own message sits in the mailbox (to set keywords on it)."""

    folder: str
    uidvalidity: int
    uid: int


class OutboxStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def due(self, now: datetime, limit: int = 100) -> list[DueMessage]:
        with self.sessions() as session:
            rows = session.execute(
                select(OutboxMessage, Request)
                .join(Request, OutboxMessage.request_id == Request.id)
                .where(
                    OutboxMessage.state.in_(WAITING_STATES),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            ).all()
            due = []
            for row, request in rows:
                origin = session.scalars(
                    select(Message)
                    .where(Message.request_id == request.id)
                    .order_by(Message.id)
                    .limit(1)
                ).first()
                reasons = json.loads(origin.reasons) if origin is not None else []
                due.append(
                    DueMessage(
                        outbox_id=row.id,
                        kind=row.kind,
                        state=OutboxState(row.state),
                        attempts=row.attempts,
                        recipient=row.recipient,
                        message_id=row.message_id_header,
                        reference=request.reference,
                        channel=request.channel,
                        subject=request.subject,
                        received_at=request.received_at,
                        in_reply_to=origin.message_id_header if origin is not None else None,
                        requester_address=request.requester_address,
                        requester_name=request.requester_name,
                        member=request.member,
                        member_company=request.member_company,
                        scope=request.scope,
                        personal_data=request.personal_data,
                        urgent=request.urgent,
                        service=request.service,
                        reasons=tuple(str(r.get("detail", "")) for r in reasons),
                        attempt_started_at=row.attempt_started_at,
                    )
                )
            return due

    def next_due_at(self) -> datetime | None:
        with self.sessions() as session:
            return session.scalar(
                select(OutboxMessage.next_attempt_at)
                .where(OutboxMessage.state.in_(WAITING_STATES))
                .order_by(OutboxMessage.next_attempt_at)
                .limit(1)
            )

    def begin_attempt(self, outbox_id: int, now: datetime, raw_sha256: str | None = None) -> None:
        """Committed before the SMTP exchange: after a crash, SENDING means "this message
        may have left", and the dispatcher looks for it before sending again."""
        with self.sessions.begin() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            row.state = OutboxState.SENDING
            row.attempts += 1
            row.next_attempt_at = now
            row.attempt_started_at = now
            if raw_sha256:
                # The bytes about to leave (archived): whatever settles this attempt later
                # (a proof copy, a repair after a crash) can still file them in Sent.
                row.raw_sha256 = raw_sha256

    def commit_sent(self, outbox_id: int, now: datetime) -> None:
        """The first thing done after the server's 250: one UPDATE, one commit. A crash
        before it sends the message again (RFC 1047's window); keeping it this short
        keeps that window to a fraction of a millisecond. The bookkeeping follows in
        `sent`, which is idempotent."""
        with self.sessions.begin() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id)
                .values(state=OutboxState.SENT, sent_at=now, last_error=None)
            )

    def sent(
        self,
        outbox_id: int,
        now: datetime,
        raw_sha256: str | None,
        *,
        recovered: bool = False,
        proven: bool = False,
    ) -> list[Placed]:
        with self.sessions.begin() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            row.state = OutboxState.SENT
            row.sent_at = now
            row.last_error = None
            if raw_sha256:
                row.raw_sha256 = raw_sha256
            request = session.get_one(Request, row.request_id)
            is_ack = row.kind == ACKNOWLEDGEMENT
            if is_ack and request.acknowledged_at is None:
                request.acknowledged_at = now
                request.status = RequestStatus.ACKNOWLEDGED
                request.updated_at = now
            detail: dict[str, object] = {"to": row.recipient, "message_id": row.message_id_header}
            if recovered:
                detail["recovered"] = "envoi constaté dans le dossier des éléments envoyés"
                if raw_sha256 is None:
                    row.copied_to_sent_at = now
            if proven:
                detail["recovered"] = "envoi constaté par la copie de contrôle reçue"
            _event(session, row, now, f"{row.kind}_sent", detail)
            if not is_ack:
                return []
            return [
                Placed(item.folder, item.uidvalidity, item.uid)
                for item in session.scalars(
                    select(MailboxItem)
                    .join(Message, MailboxItem.message_pk == Message.id)
                    .where(Message.request_id == request.id, Message.kind == "request")
                )
            ]

    def postpone(self, outbox_id: int, until: datetime) -> None:
        """Look again at `until`, state unchanged (a SENDING row stays one: it may have left)."""
        with self.sessions.begin() as session:
            session.get_one(OutboxMessage, outbox_id).next_attempt_at = until

    def proven(self, outbox_id: int, now: datetime) -> list[Placed]:
        """The copy of a message we sent came back (`[acknowledgement].proof_copy`): the
        server accepted it, for every recipient (all-or-nothing transactions). A row a
        crash or a lost reply left SENDING or PENDING is sent; a SENT row whose
        bookkeeping a crash cut short is completed. Returns where to set keywords."""
        with self.sessions() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            state = OutboxState(row.state)
            unfinished = state is OutboxState.SENT and _bookkeeping_missing(session, row)
        if state in WAITING_STATES or unfinished:
            return self.sent(outbox_id, now, None, proven=True)
        return []

    def complete_committed_sends(self, now: datetime) -> list[Placed]:
        """Rows committed SENT whose bookkeeping (`sent`) a crash cut short: the request
        not marked acknowledged, no event. Completed once, from the next flush."""
        with self.sessions() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .join(Request, OutboxMessage.request_id == Request.id)
                .where(
                    OutboxMessage.state == OutboxState.SENT,
                    OutboxMessage.kind == ACKNOWLEDGEMENT,
                    Request.acknowledged_at.is_(None),
                )
            ).all()
            pending = [(row.id, row.sent_at or now) for row in rows]
        placed: list[Placed] = []
        for outbox_id, sent_at in pending:
            placed.extend(self.sent(outbox_id, sent_at, None))
        return placed

    def retry(
        self,
        outbox_id: int,
        now: datetime,
        error: str,
        retry_at: datetime,
        *,
        keep_sending: bool = False,
    ) -> None:
        """Try again at `retry_at`. `keep_sending`: the message may have left (no reply to
        the final dot, or the Sent folder could not be checked): the row stays SENDING,
        so the next attempt looks for evidence before sending."""
        with self.sessions.begin() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            if not keep_sending:
                row.state = OutboxState.PENDING
            row.last_error = error[:2000]
            row.next_attempt_at = retry_at
            _event(
                session,
                row,
                now,
                f"{row.kind}_delayed",
                {"error": error[:500], "attempt": row.attempts, "retry_at": retry_at.isoformat()},
            )

    def failed(self, outbox_id: int, now: datetime, error: str) -> None:
        with self.sessions.begin() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            row.state = OutboxState.FAILED
            row.last_error = error[:2000]
            _event(session, row, now, f"{row.kind}_failed", {"error": error[:500]})

    def awaiting_sent_copy(self, limit: int = 100) -> list[SentCopy]:
        with self.sessions() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.state == OutboxState.SENT,
                    OutboxMessage.copied_to_sent_at.is_(None),
                    OutboxMessage.raw_sha256.is_not(None),
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            return [SentCopy(r.id, r.message_id_header, r.raw_sha256 or "") for r in rows]

    def copies_among(self, message_pks: Sequence[int], own: Sequence[str]) -> dict[int, int]:
        """Which of these recorded messages are copies of messages we sent: same
        Message-ID as an outbox row and from one of our `own` addresses (a requester
        knows the Message-ID of the acknowledgement they got). {message pk: outbox id}."""
        if not message_pks:
            return {}
        with self.sessions() as session:
            rows = session.execute(
                select(Message.id, OutboxMessage.id)
                .join(OutboxMessage, OutboxMessage.message_id_header == Message.message_id_header)
                .where(
                    Message.id.in_(message_pks),
                    func.lower(Message.from_address).in_([a.lower() for a in own]),
                )
            ).all()
        return {message_pk: outbox_id for message_pk, outbox_id in rows}

    def copied(self, outbox_id: int, now: datetime) -> None:
        with self.sessions.begin() as session:
            session.get_one(OutboxMessage, outbox_id).copied_to_sent_at = now


def _bookkeeping_missing(session: Session, row: OutboxMessage) -> bool:
    if row.kind != ACKNOWLEDGEMENT:
        return False
    return session.get_one(Request, row.request_id).acknowledged_at is None


def _event(
    session: Session, row: OutboxMessage, at: datetime, type_: str, detail: dict[str, object]
) -> None:
    session.add(
        RequestEvent(
            request_id=row.request_id,
            at=at,
            type=type_,
            detail=json.dumps(detail, ensure_ascii=False),
        )
    )
