"""Whether a recorded request gets its automatic acknowledgement. Pure: counts are passed in.

Protocol art. 3 promises an acknowledgement for every email within 24 h; RFC 3834 and
plain prudence say when an automatic answer would do harm instead (loops, backscatter,
floods). Each refusal carries its reason, which is written to the request's timeline.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcs_mailbox.message import InboundMessage
from dcs_mailbox.triage.verdict import Reason, Verdict


@dataclass(frozen=True)
class AckDecision:
    send: bool
    recipient: str | None
    reason: Reason | None = None  # why not, when send is False


def decide_acknowledgement(
    message: InboundMessage,
    verdict: Verdict,
    *,
    own_addresses: frozenset[str],
    acks_to_sender_last_24h: int,
    max_per_sender_per_day: int,
) -> AckDecision:
    # RFC 3834 §4: answer the Reply-To if the sender set one, else From.
    target = message.reply_to or message.sender
    if target is None or "@" not in target.address:
        return AckDecision(
            False,
            None,
            Reason(rule="ack.no-sender", detail="Aucune adresse d'expéditeur lisible"),
        )
    recipient = target.address
    if verdict.no_reply:
        fired = verdict.reasons[0] if verdict.reasons else None
        return AckDecision(
            False,
            recipient,
            Reason(
                rule="ack.no-reply-requested",
                detail="Réponse automatique déconseillée pour ce message",
                evidence=fired.rule if fired else "",
            ),
        )
    if recipient in own_addresses:
        return AckDecision(
            False,
            recipient,
            Reason(rule="ack.own-address", detail="Adresse de la boîte elle-même"),
        )
    if acks_to_sender_last_24h >= max_per_sender_per_day:
        return AckDecision(
            False,
            recipient,
            Reason(
                rule="ack.rate-limit",
                detail=(
                    f"Déjà {acks_to_sender_last_24h} accusés de réception envoyés à cette "
                    "adresse en 24 heures"
                ),
                evidence=f"limite : {max_per_sender_per_day}",
            ),
        )
    return AckDecision(True, recipient)
