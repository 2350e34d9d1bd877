"""IMAP keywords the daemon sets on messages, shown as tags by Thunderbird.

Names are part of the agents' interface (docs/keywords.md): change them only with a
migration of existing mailboxes in mind. RFC 3501 §2.3.2: a keyword is an atom; the
leading "$" marks it as set by software rather than typed by a person.
"""

from __future__ import annotations

from dcs_mailbox.store.record import Disposition, RecordOutcome

ACK_SENT = "$accuse_envoye"
ACK_WITHHELD = "$sans_accuse"
FOLLOWUP = "$suivi"
AUTOMATED = "$automatique"
HISTORY = "$historique"
NOT_A_REQUEST = "$non_saisine"
QUARANTINED = "$quarantaine"
OUT_OF_SCOPE = "$hors_perimetre"
PERSONAL_DATA = "$donnees_personnelles"
NOT_A_MEMBER = "$non_membre"
URGENT = "$urgent"


def keywords_for(outcome: RecordOutcome, channel_keywords: dict[str, str]) -> tuple[str, ...]:
    """Keywords to set on the message once `outcome` is committed."""
    return (*_disposition_keywords(outcome, channel_keywords), *_flag_keywords(outcome))


def _flag_keywords(outcome: RecordOutcome) -> tuple[str, ...]:
    flags = outcome.flags
    keywords = []
    if flags.urgent:
        keywords.append(URGENT)
    if flags.scope == "out":
        keywords.append(OUT_OF_SCOPE)
    if flags.personal_data:
        keywords.append(PERSONAL_DATA)
    if flags.member is False:
        keywords.append(NOT_A_MEMBER)
    return tuple(keywords)


def _disposition_keywords(
    outcome: RecordOutcome, channel_keywords: dict[str, str]
) -> tuple[str, ...]:
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
