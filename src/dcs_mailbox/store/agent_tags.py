"""Agents' Thunderbird tags, applied to their requests (once, when a tag appears)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dcs_mailbox.agent_tags import ACTIONS_BY_KEY, AGENT_TAGS, AgentAction
from dcs_mailbox.store.corrections import correct_request
from dcs_mailbox.store.models import MailboxItem, Message, Request, RequestEvent, RequestStatus

LABELS = {tag.key: tag.label for tag in AGENT_TAGS}
AGENT = "étiquette Thunderbird"


@dataclass(frozen=True)
class TaggedMessage:
    item_id: int
    uid: int
    applied: frozenset[str]


def tagged_candidates(session: Session, folder: str, uidvalidity: int) -> list[TaggedMessage]:
    """INBOX messages that belong to a request: where an agent's tag means something."""
    rows = session.execute(
        select(MailboxItem.id, MailboxItem.uid, MailboxItem.agent_keywords)
        .join(Message, MailboxItem.message_pk == Message.id)
        .where(
            MailboxItem.folder == folder,
            MailboxItem.uidvalidity == uidvalidity,
            Message.request_id.is_not(None),
            Message.direction == "inbound",
        )
    )
    return [TaggedMessage(i, uid, frozenset(k.split())) for i, uid, k in rows]


def apply_agent_tags(
    session: Session, item_id: int, keys: set[str], now: datetime
) -> list[AgentAction]:
    """Apply the agent tags among `keys` not yet applied to this message's request."""
    item = session.get_one(MailboxItem, item_id)
    applied = set(item.agent_keywords.split())
    new = sorted(k for k in keys if k in ACTIONS_BY_KEY and k not in applied)
    if not new:
        return []
    message = session.get_one(Message, item.message_pk)
    assert message.request_id is not None
    request = session.get_one(Request, message.request_id)
    done: list[AgentAction] = []
    for key in new:
        action = ACTIONS_BY_KEY[key]
        _apply(session, request, action, LABELS[key], now)
        done.append(action)
    item.agent_keywords = " ".join(sorted(applied | set(new)))
    return done


def _apply(
    session: Session, request: Request, action: AgentAction, label: str, now: datetime
) -> None:
    reason = f"étiquette « {label} »"
    corrections: dict[AgentAction, dict[str, object]] = {
        AgentAction.SCOPE_OUT: {"scope": "out"},
        AgentAction.SCOPE_IN: {"scope": "in"},
        AgentAction.PERSONAL_DATA: {"personal_data": True},
    }
    if action in corrections:
        correct_request(
            session, request, corrections[action], reason=reason, agent=AGENT,
            source="keyword", now=now,
        )  # fmt: skip
        return
    if action is AgentAction.CLOSE:
        request.status = RequestStatus.CLOSED
        request.closed_at = request.closed_at or now
    elif action is AgentAction.REFER:
        request.referred_at = request.referred_at or now
        if request.status != RequestStatus.CLOSED:
            request.status = RequestStatus.REFERRED
    elif action is AgentAction.NOT_A_REQUEST:
        request.status = RequestStatus.NOT_A_REQUEST
    request.updated_at = now
    session.add(
        RequestEvent(
            request_id=request.id,
            at=now,
            type=f"agent_{action.value}",
            detail=json.dumps({"tag": label, "source": "keyword"}, ensure_ascii=False),
        )
    )
