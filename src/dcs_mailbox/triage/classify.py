"""The triage stage's entry point: InboundMessage in, Verdict out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dcs_mailbox.message import InboundMessage
from dcs_mailbox.triage.automated import detect_automated, no_autoreply_requested
from dcs_mailbox.triage.tag import find_tag
from dcs_mailbox.triage.verdict import Kind, Reason, Verdict


@dataclass(frozen=True)
class TriageContext:
    channels: Sequence[tuple[str, str]]  # (channel name, tag)
    own_addresses: frozenset[str]


def triage(message: InboundMessage, context: TriageContext) -> Verdict:
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
    kind = Kind.REQUEST
    no_reply = False
    automated = detect_automated(message, context.own_addresses)
    if automated is not None:
        reasons.extend(automated.reasons)
        kind = automated.kind
        no_reply = True
    suppress = no_autoreply_requested(message)
    if suppress is not None:
        # A person's mail that asks not to be auto-answered: still a request, no ack.
        reasons.append(suppress)
        no_reply = True
    return Verdict(
        kind=kind,
        tagged=tag is not None,
        channel=tag.channel if tag else None,
        no_reply=no_reply,
        reasons=tuple(reasons),
    )
