"""Kind of a message a person wrote: a request, a follow-up, or mail that asks nothing.

Machine mail is settled before (automated.py). Here the question is whether a person's
message asks the DCS something. A tagged message always counts as a request: the sender
said so. For untagged mail, two general signals mean "not a request": it comes from the
administration itself (prefectures and ministries write to the DCS about their own
business), or it reads as a report or a meeting notice and asks nothing.
"""

from __future__ import annotations

import re

from dcs_mailbox.message import InboundMessage
from dcs_mailbox.text import fold
from dcs_mailbox.triage.verdict import Kind, Reason

ADMINISTRATION_DOMAINS = ("gouv.fr",)
REPORT_GENRE = (
    r"ordre du jour|compte[- ]rendu|comite de (?:suivi|pilotage)|bilan (?:annuel|semestriel"
    r"|trimestriel|mensuel)|recensement|pour information|pour votre information"
    r"|convention de partenariat|lettre d'information|revue de presse"
)
ASK = (
    r"\?|pouvez-vous|pourriez-vous|pourrais-je|puis-je|je souhaiterais|nous souhaiterions"
    r"|je souhaite|nous souhaitons|je vous serais reconnaissant|nous vous serions reconnaissants"
    r"|merci de (?:bien vouloir )?(?:me|nous) (?:indiquer|preciser|dire|eclairer|faire savoir)"
    r"|candidature|je me permets de vous (?:solliciter|proposer|contacter)|je vous propose"
    r"|vous presenter|nous aimerions savoir|j'aimerais savoir"
)
CLOSING_ONLY = r"merci|remercie|remerciements|bien recu|c'est note|parfait|entendu|tres bien"
_REPORT = re.compile(rf"(?<![a-z])(?:{REPORT_GENRE})")
_ASK = re.compile(ASK)
_CLOSING = re.compile(rf"(?<![a-z])(?:{CLOSING_ONLY})(?![a-z])")


def human_kind(
    message: InboundMessage, own_text: str, *, tagged: bool, member: bool
) -> tuple[Kind, Reason | None]:
    if message.in_reply_to:
        return Kind.FOLLOWUP, Reason(
            rule="kind.reply",
            detail="Réponse dans un fil existant (en-tête In-Reply-To)",
            evidence=message.in_reply_to[0][:200],
        )
    if tagged or member:
        return Kind.REQUEST, None
    address = message.sender.address if message.sender else ""
    domain = address.rpartition("@")[2]
    if any(domain == d or domain.endswith("." + d) for d in ADMINISTRATION_DOMAINS):
        return Kind.OTHER, Reason(
            rule="kind.administration",
            detail="Courrier d'une administration, sans la mention de saisine",
            evidence=address,
        )
    folded = fold(f"{message.subject}\n{own_text}")
    report = _REPORT.search(folded)
    if report and not _ASK.search(folded):
        return Kind.OTHER, Reason(
            rule="kind.report",
            detail="Compte rendu ou information, sans question posée",
            evidence=report.group(0),
        )
    return Kind.REQUEST, None


def asks_nothing(own_text: str) -> bool:
    """A follow-up that only thanks or closes the exchange (no question, a few words)."""
    folded = fold(own_text)
    if _ASK.search(folded) or len(folded.split()) > 60:
        return False
    return _CLOSING.search(folded) is not None
