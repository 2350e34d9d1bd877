"""IMAP keywords the daemon sets on messages, shown as tags by Thunderbird.

Names are part of the agents' interface (docs/keywords.md): change them only with a
migration of existing mailboxes in mind. RFC 3501 §2.3.2: a keyword is an atom; the
leading "$" marks it as set by software rather than typed by a person.
"""

from __future__ import annotations

from dcs_mailbox.store.record import Disposition, RecordOutcome

ACK_SENT = "$AccuseEnvoye"
ACK_WITHHELD = "$SansAccuse"
FOLLOWUP = "$Suivi"
AUTOMATED = "$Automatique"
HISTORY = "$Historique"
NOT_A_REQUEST = "$NonSaisine"
QUARANTINED = "$Quarantaine"


def keywords_for(outcome: RecordOutcome, channel_keywords: dict[str, str]) -> tuple[str, ...]:
    """Keywords to set on the message once `outcome` is committed."""
    channel = channel_keywords.get(outcome.channel or "")
    match outcome.disposition:
        case Disposition.NEW_REQUEST:
            extra = (ACK_WITHHELD,) if outcome.withheld is not None else ()
            acked = (ACK_SENT,) if outcome.acknowledged else ()
            return (*((channel,) if channel else ()), *extra, *acked)
        case Disposition.FOLLOWUP:
            return (*((channel,) if channel else ()), FOLLOWUP)
        case Disposition.HISTORY:
            return (*((channel,) if channel else ()), HISTORY)
        case Disposition.AUTOMATED:
            return (AUTOMATED,)
        case Disposition.NOT_A_REQUEST:
            return (NOT_A_REQUEST,)
        case Disposition.QUARANTINED:
            return (QUARANTINED,)
