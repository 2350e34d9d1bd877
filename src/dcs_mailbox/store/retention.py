"""Retention: people's mail is not kept forever (GDPR art. 5(1)(e), storage limitation).

Past `[retention].days`, for every message that arrived before the cut-off:
- its raw bytes are deleted from the archive (and the bytes of what we sent about it);
- the personal fields are blanked: sender, subject, triage evidence; for requests, the
  requester's name and address and the subject; timeline details (addresses, errors).
What the statistics read stays: dates, medium, status, outcome, scope, flags, category,
member company (a legal person), delays — so past quarters' figures do not change.
Message rows and their sha256 stay too: a purged message seen again (UIDVALIDITY
change, restored mailbox) is still recognised and never acknowledged twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from dcs_mailbox.store.archive import RawArchive
from dcs_mailbox.store.models import Message, OutboxMessage, Request, RequestEvent

PURGED = "{}"


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime
    messages: int
    requests: int
    files: int


def purge(session: Session, archive: RawArchive, *, now: datetime, days: int) -> PurgeReport:
    """Blank personal data older than `days`. The caller commits; files are deleted after
    the rows are blanked, so a crash in between leaves only files to delete next time."""
    cutoff = now - timedelta(days=days)
    old_messages = list(
        session.scalars(
            select(Message).where(
                Message.arrived_at < cutoff,
                or_(
                    Message.from_address.is_not(None),
                    Message.subject != "",
                    Message.reasons != "[]",
                ),
            )
        )
    )
    shas = [m.sha256 for m in old_messages]
    for message in old_messages:
        message.from_address = None
        message.subject = ""
        message.reasons = "[]"
    old_requests = list(
        session.scalars(
            select(Request).where(
                Request.received_at < cutoff,
                or_(Request.requester_address.is_not(None), Request.requester_name != "",
                    Request.subject != ""),
            )
        )
    )  # fmt: skip
    request_ids = [r.id for r in old_requests]
    for request in old_requests:
        request.requester_address = None
        request.requester_name = ""
        request.subject = ""
    if request_ids:
        session.execute(
            update(RequestEvent)
            .where(RequestEvent.request_id.in_(request_ids))
            .values(detail=PURGED)
        )
        sent = session.scalars(
            select(OutboxMessage.raw_sha256).where(
                OutboxMessage.request_id.in_(request_ids), OutboxMessage.raw_sha256.is_not(None)
            )
        )
        shas += [s for s in sent if s]
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.request_id.in_(request_ids))
            .values(recipient="", last_error=None)
        )
    session.flush()
    files = sum(archive.delete(sha) for sha in shas)
    return PurgeReport(cutoff, len(old_messages), len(old_requests), files)
