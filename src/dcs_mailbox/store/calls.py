"""Requests made by telephone, logged by the agent who took the call.

Protocol art. 1 makes the contact point a telephone *and* email one: a call is a request
like a mail, numbered in the same series of its channel and counted in the same
statistics. It has no message, no sender address and never an acknowledgement mail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from dcs_mailbox.config import ChannelSettings
from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.store.models import Medium, Request, RequestEvent, RequestStatus
from dcs_mailbox.store.record import allocate_reference
from dcs_mailbox.triage.members import MemberRegistry

PHONE_CALL_LOGGED = "phone_call_logged"
SCOPES = ("in", "out", "uncertain")
# An agent's workstation clock and the server's may differ a little; more than this
# ahead is a typing mistake (wrong day, wrong month), not skew.
FUTURE_TOLERANCE = timedelta(minutes=5)


class CallError(DcsMailboxError):
    """A telephone call cannot be logged as given."""


@dataclass(frozen=True)
class PhoneCall:
    """A logged call, as agents list it."""

    reference: str
    channel: str
    at: datetime  # when the call was taken, UTC
    caller: str
    company: str  # as the caller stated it
    member: bool
    member_company: str | None  # the registry's name, when the company is a member
    subject: str
    scope: str
    urgent: bool
    status: str
    agent: str


def log_call(
    session: Session,
    *,
    channel: ChannelSettings,
    at: datetime,
    caller: str,
    company: str,
    subject: str,
    urgent: bool,
    scope: str,
    registry: MemberRegistry,
    now: datetime,
    agent: str,
    zone: ZoneInfo,
) -> Request:
    """Record one call as a request of `channel`. The caller commits.

    `at` and `now` are timezone-aware; `zone` ([service].timezone) decides the year of
    the reference, as it does for mail.
    """
    if at.tzinfo is None or now.tzinfo is None:
        raise ValueError("naive datetime given to log_call: pass timezone-aware times")
    at = at.astimezone(UTC)
    caller, company, subject = caller.strip(), company.strip(), subject.strip()
    _check(at=at, subject=subject, scope=scope, now=now, zone=zone)
    _refuse_duplicate(session, channel=channel, at=at, caller=caller, subject=subject)

    year = at.astimezone(zone).year
    number, reference = allocate_reference(session, channel, year)
    member = registry.match_company(company)
    request = Request(
        reference=reference,
        channel=channel.name,
        year=year,
        number=number,
        medium=Medium.PHONE,
        requester_address=None,
        requester_name=caller[:255],
        subject=subject,
        received_at=at,
        # Protocol art. 3 promises an acknowledgement within 24 h. On the telephone the
        # agent who takes the call acknowledges the request in person, then and there:
        # the request is acknowledged when received, and no acknowledgement mail is ever
        # queued (there is no address to send one to anyway).
        status=RequestStatus.ACKNOWLEDGED,
        acknowledged_at=at,
        created_at=now,
        updated_at=now,
        member=member is not None,
        member_company=member.company if member is not None else None,
        scope=scope,
        urgent=urgent,
    )
    session.add(request)
    # The timeline is append-only (never updated nor purged): the caller's name stays
    # on the request, where corrections and retention reach it, and out of the event.
    request.events.append(
        RequestEvent(
            at=now,
            type=PHONE_CALL_LOGGED,
            detail=json.dumps(
                {"company": company, "agent": agent, "at": at.isoformat()}, ensure_ascii=False
            ),
        )
    )
    session.flush()
    return request


def _check(*, at: datetime, subject: str, scope: str, now: datetime, zone: ZoneInfo) -> None:
    if not subject:
        raise CallError(
            "a call cannot be logged without a subject: say in a few words what the caller asked"
        )
    if scope not in SCOPES:
        raise CallError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    if at > now + FUTURE_TOLERANCE:
        local = at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        raise CallError(
            f"the call's time {local} ({zone.key}) is in the future: give the time the call "
            "was taken, in local time"
        )


def _refuse_duplicate(
    session: Session, *, channel: ChannelSettings, at: datetime, caller: str, subject: str
) -> None:
    # The same command typed twice (a retry after an error message, shell history)
    # must not count one call twice in the statistics.
    existing = session.scalar(
        select(Request.reference).where(
            Request.medium == Medium.PHONE,
            Request.channel == channel.name,
            Request.received_at == at,
            Request.requester_name == caller[:255],
            Request.subject == subject,
        )
    )
    if existing is not None:
        raise CallError(
            f"this call was already logged as {existing} (same time, caller and subject): "
            "nothing was written"
        )


def list_calls(session: Session, limit: int = 100) -> list[PhoneCall]:
    """Logged calls, most recent first."""
    rows = session.execute(
        select(Request, RequestEvent.detail)
        .outerjoin(
            RequestEvent,
            and_(RequestEvent.request_id == Request.id, RequestEvent.type == PHONE_CALL_LOGGED),
        )
        .where(Request.medium == Medium.PHONE)
        .order_by(Request.received_at.desc(), Request.id.desc())
        .limit(limit)
    )
    calls = []
    for request, detail_json in rows:
        detail = json.loads(detail_json) if detail_json else {}
        calls.append(
            PhoneCall(
                reference=request.reference,
                channel=request.channel,
                at=request.received_at,
                caller=request.requester_name,
                company=str(detail.get("company", "")),
                member=request.member,
                member_company=request.member_company,
                subject=request.subject,
                scope=request.scope,
                urgent=request.urgent,
                status=request.status,
                agent=str(detail.get("agent", "")),
            )
        )
    return calls
