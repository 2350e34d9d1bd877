"""The triage stage's entry point: InboundMessage (+ member registry) in, Verdict out.

Pure: no database, no network, no clock. The order matters only for cost: machine mail
is settled first, and scope / personal data are assessed only where a person asks
something.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dcs_mailbox.message import InboundMessage
from dcs_mailbox.triage.automated import detect_automated, no_autoreply_requested
from dcs_mailbox.triage.body import split_body
from dcs_mailbox.triage.kind import asks_nothing, human_kind
from dcs_mailbox.triage.members import MemberRegistry
from dcs_mailbox.triage.personal_data import detect_personal_data
from dcs_mailbox.triage.scope import DEFAULT_SERVICES, Service, assess_scope
from dcs_mailbox.triage.scope_model import ScopeModel
from dcs_mailbox.triage.tag import find_tag
from dcs_mailbox.triage.urgency import detect_urgency
from dcs_mailbox.triage.verdict import Kind, Reason, Verdict


@dataclass(frozen=True)
class TriageContext:
    channels: Sequence[tuple[str, str]]  # (channel name, tag)
    own_addresses: frozenset[str]
    members: MemberRegistry = field(default_factory=MemberRegistry)
    scope_model: ScopeModel | None = None
    services: Mapping[str, Service] = field(default_factory=lambda: DEFAULT_SERVICES)


def triage(message: InboundMessage, context: TriageContext, *, deep: bool = True) -> Verdict:
    """`deep=False` stops before scope and personal data, the costly part: for history
    (mail older than the service, never a request), which agents already handled."""
    reasons: list[Reason] = []
    tag = find_tag(message.subject, context.channels)
    if tag is not None:
        reasons.append(
            Reason(
                rule="tag.subject",
                detail=f"Mention « {tag.evidence} » dans l'objet (canal {tag.channel})",
                evidence=tag.evidence,
            )
        )
    sender = message.sender.address if message.sender else None
    member, member_reason = context.members.reason(sender)
    reasons.append(member_reason)
    company = context.members.match(sender)
    base = Verdict(
        kind=Kind.REQUEST,
        tagged=tag is not None,
        channel=tag.channel if tag else None,
        member=member,
        member_company=company.company if company else None,
    )

    automated = detect_automated(message, context.own_addresses)
    if automated is not None:
        reasons.extend(automated.reasons)
        return base.model_copy(
            update={"kind": automated.kind, "no_reply": True, "reasons": tuple(reasons)}
        )

    no_reply = False
    suppress = no_autoreply_requested(message)
    if suppress is not None:
        # A person's mail that asks not to be auto-answered: still a request, no ack.
        reasons.append(suppress)
        no_reply = True

    body = split_body(message.text, message.sender)
    kind, kind_reason = human_kind(message, body.own, tagged=tag is not None, member=member)
    if kind_reason is not None:
        reasons.append(kind_reason)
    urgency = detect_urgency(message.subject, body.own, reply=kind is Kind.FOLLOWUP)
    if urgency is not None:
        reasons.append(urgency)
    human = {"kind": kind, "no_reply": no_reply, "urgent": urgency is not None}
    if not deep or kind is Kind.OTHER or (kind is Kind.FOLLOWUP and asks_nothing(body.own)):
        return base.model_copy(update={**human, "reasons": tuple(reasons)})

    scope = assess_scope(
        message.subject, body.own, model=context.scope_model, services=context.services
    )
    reasons.extend(scope.reasons)
    personal = detect_personal_data(message, body)
    reasons.extend(personal.reasons)
    return base.model_copy(
        update={
            **human,
            "scope": scope.scope.value,
            "category": scope.category,
            "service": scope.service.key if scope.service else None,
            "personal_data": personal.found,
            "reasons": tuple(reasons),
        }
    )
