"""Agents overriding the machine's verdict. Each change is kept with the first verdict,
so triage quality can be measured on real traffic and the scope model retrained."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.store.models import Message, Request, RequestEvent, VerdictCorrection

FIELDS = ("scope", "personal_data", "member", "urgent")


class UnknownRequestError(DcsMailboxError):
    """No request has that reference."""


@dataclass(frozen=True)
class Change:
    field: str
    before: str
    after: str


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def apply_correction(
    session: Session,
    reference: str,
    values: dict[str, object],
    *,
    reason: str,
    agent: str,
    source: str,
    now: datetime,
) -> list[Change]:
    request = session.scalars(
        select(Request).where(func.upper(Request.reference) == reference.upper())
    ).one_or_none()
    if request is None:
        raise UnknownRequestError(f"no request with reference {reference}")
    return correct_request(
        session, request, values, reason=reason, agent=agent, source=source, now=now
    )


def correct_request(
    session: Session,
    request: Request,
    values: dict[str, object],
    *,
    reason: str,
    agent: str,
    source: str,
    now: datetime,
) -> list[Change]:
    origin = session.scalars(
        select(Message).where(Message.request_id == request.id).order_by(Message.id).limit(1)
    ).first()
    changes: list[Change] = []
    for name, value in values.items():
        if name not in FIELDS:
            raise ValueError(f"cannot correct {name!r}")
        before = getattr(request, name)
        if before == value:
            continue
        machine = getattr(origin, name, None) if origin is not None else None
        session.add(
            VerdictCorrection(
                request_id=request.id,
                at=now,
                field=name,
                machine_value=None if machine is None else _text(machine),
                previous_value=_text(before),
                agent_value=_text(value),
                reason=reason,
                agent=agent,
                source=source,
            )
        )
        setattr(request, name, value)
        changes.append(Change(name, _text(before), _text(value)))
    if changes:
        request.updated_at = now
        session.add(
            RequestEvent(
                request_id=request.id,
                at=now,
                type="agent_correction",
                detail=json.dumps(
                    {
                        "changes": {c.field: [c.before, c.after] for c in changes},
                        "reason": reason,
                        "agent": agent,
                        "source": source,
                    },
                    ensure_ascii=False,
                ),
            )
        )
    return changes


def scope_labels(session: Session) -> list[tuple[str, bool]]:
    """(archived message sha256, in scope) for every request an agent classified in or out:
    the agent's latest word on each, the training labels of the scope model."""
    latest: dict[int, tuple[int, str]] = {}
    for correction in session.scalars(
        select(VerdictCorrection).where(VerdictCorrection.field == "scope")
    ):
        current = latest.get(correction.request_id)
        if current is None or correction.id > current[0]:
            latest[correction.request_id] = (correction.id, correction.agent_value)
    labels: list[tuple[str, bool]] = []
    for request_id, (_id, value) in latest.items():
        if value not in ("in", "out"):
            continue
        sha = session.scalar(
            select(Message.sha256)
            .where(Message.request_id == request_id)
            .order_by(Message.id)
            .limit(1)
        )
        if sha:
            labels.append((sha, value == "in"))
    return labels
