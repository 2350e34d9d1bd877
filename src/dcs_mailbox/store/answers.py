"""What agents send from the shared mailbox, read back from the Sent folder.

Agents answer from Thunderbird or Outlook; their mail lands in Sent. Each new message
there is matched to its request (thread headers, or the [CDSE-2026-0042] reference the
acknowledgement put in the subject) and moves the request along:
- to the requester → the first one marks the request answered and fixes the answer
  delay; later ones go to the timeline;
- to a service of the directory (services.toml `addresses`) → referred to that service;
- to the requester, naming a service of the directory (its address or acronym) → also
  referred: the agent told the requester where to go (protocol art. 2).
Our own acknowledgements, alerts and reports are recognised by their Message-ID and
never taken for answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from dcs_mailbox.message import InboundMessage
from dcs_mailbox.store.models import (
    Message,
    MessageStatus,
    OutboxMessage,
    ReportRun,
    Request,
    RequestEvent,
    RequestStatus,
)
from dcs_mailbox.store.record import Location, add_location, find_thread_request
from dcs_mailbox.text import fold
from dcs_mailbox.triage.scope import Service

OUTBOUND = "outbound"
CLOSING_STATES = (RequestStatus.CLOSED, RequestStatus.NOT_A_REQUEST)


class SentKind(StrEnum):
    OWN = "own"  # our acknowledgement, alert or report
    ANSWER = "answer"
    REFERRAL = "referral"
    UNRELATED = "agent_mail"  # an agent's mail that belongs to no request


@dataclass(frozen=True)
class SentOutcome:
    kind: SentKind
    reference: str | None = None
    service: str | None = None
    first_answer: bool = False


def _is_ours(session: Session, message_id: str | None) -> bool:
    if not message_id:
        return False
    return (
        session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.message_id_header == message_id)
        )
        is not None
        or session.scalar(select(ReportRun.id).where(ReportRun.message_id_header == message_id))
        is not None
    )


SUBJECT_MATCH_WINDOW = timedelta(days=90)
_PREFIXES = re.compile(r"^\s*(?:(?:re|tr|fw|fwd|aw|wg|r|rif)\s*:\s*|\[[^\]]*\]\s*)+", re.I)


def normalised_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and bracketed tags, folded."""
    return fold(_PREFIXES.sub("", subject))


def _by_subject(session: Session, subject: str, *, since: datetime) -> Request | None:
    """A forward made with Outlook carries no thread header: fall back on the subject,
    when exactly one recent request has it (never a guess between two)."""
    wanted = normalised_subject(subject)
    if len(wanted) < 8:
        return None
    matches = [
        r
        for r in session.scalars(
            select(Request).where(Request.received_at >= since, Request.medium == "email")
        )
        if normalised_subject(r.subject) == wanted
    ]
    return matches[0] if len(matches) == 1 else None


def _mentioned_service(text: str, services: Mapping[str, Service]) -> Service | None:
    """A service the agent points the requester to: its web address or its acronym."""
    folded = fold(text)
    for service in services.values():
        tokens = []
        if service.url:
            host = re.sub(r"^https?://(www\.)?", "", service.url).split("/")[0]
            tokens.append(re.escape(host.lower()))
        acronym = re.search(r"\(([A-Z][A-Za-z]{2,})\)", service.name)
        if acronym:
            tokens.append(re.escape(fold(acronym.group(1))))
        if tokens and re.search(r"(?<![a-z0-9.])(?:" + "|".join(tokens) + r")(?![a-z0-9])", folded):
            return service
    return None


def record_sent(
    session: Session,
    *,
    message: InboundMessage,
    sent_at: datetime,
    now: datetime,
    location: Location | None,
    prefixes: frozenset[str],
    services: Mapping[str, Service],
    own_text: str,
) -> SentOutcome:
    """Record one new message of the Sent folder. The caller commits.

    `sent_at` is when the message was filed in Sent; its Date header, set by the agent's
    client when sending, is preferred when it is plausible (not in the future)."""
    if message.date is not None and sent_at - timedelta(days=7) <= message.date <= now:
        sent_at = message.date.astimezone(sent_at.tzinfo)
    ours = _is_ours(session, message.message_id)
    request = None if ours else find_thread_request(session, message, prefixes)
    if request is None and not ours:
        request = _by_subject(session, message.subject, since=now - SUBJECT_MATCH_WINDOW)
    recipients = [a.address for a in (*message.to, *message.cc) if "@" in a.address]
    kind = SentKind.OWN if ours else SentKind.UNRELATED
    service: Service | None = None
    first = False
    if request is not None:
        service = next((s for s in services.values() for r in recipients if s.receives(r)), None)
        to_requester = request.requester_address in recipients
        if service is None and to_requester:
            service = _mentioned_service(f"{message.subject}\n{own_text}", services)
        kind = SentKind.REFERRAL if service is not None else SentKind.ANSWER
        first = _apply(session, request, kind, service, message, sent_at, now, to_requester)
    row = Message(
        sha256=message.sha256,
        size=message.size,
        message_id_header=(message.message_id or "")[:998] or None,
        direction=OUTBOUND,
        status=MessageStatus.RECORDED,
        kind=kind.value,
        subject=message.subject[:1000],
        from_address=message.sender.address[:320] if message.sender else None,
        date_header=message.date,
        arrived_at=sent_at,
        recorded_at=now,
        request_id=request.id if request is not None else None,
    )
    session.add(row)
    session.flush()
    add_location(session, row, location, now)
    return SentOutcome(
        kind, request.reference if request else None, service.key if service else None, first
    )


def _apply(
    session: Session,
    request: Request,
    kind: SentKind,
    service: Service | None,
    message: InboundMessage,
    sent_at: datetime,
    now: datetime,
    to_requester: bool,
) -> bool:
    first_answer = to_requester and request.answered_at is None
    detail: dict[str, object] = {
        "to": ", ".join(a.address for a in message.to)[:500],
        "from": message.sender.address if message.sender else None,
    }
    if first_answer:
        request.answered_at = sent_at
        hours = (sent_at - request.received_at).total_seconds() / 3600
        detail["delay_hours"] = round(hours, 2)
    if service is not None:
        detail["service"] = service.key
        if request.referred_at is None:
            request.referred_at = sent_at
            request.referred_service = service.key
    if request.status not in CLOSING_STATES:
        if service is not None:
            request.status = RequestStatus.REFERRED
        elif first_answer:
            request.status = RequestStatus.ANSWERED
    request.updated_at = now
    event = "referred" if kind is SentKind.REFERRAL else "answer_sent"
    if kind is SentKind.ANSWER and not to_requester:
        event = "agent_mail_sent"
    session.add(
        RequestEvent(
            request_id=request.id,
            at=sent_at,
            type=event,
            detail=json.dumps(detail, ensure_ascii=False),
        )
    )
    return first_answer
