"""Does the sender report an imminent or ongoing threat? (protocol art. 4: emergency line)

Two signals, each general: an explicit « URGENT » marker in the subject (or « en
urgence » in the request), or a threat word and an immediacy word in the same sentence.
Nouns that merely name dangerous goods (« dépôt d'explosifs ») are not threats.
Words about emergency *planning* (« plan d'urgence », « numéro d'urgence », procedures of
evacuation in general) are not urgency.
"""

from __future__ import annotations

import re

from dcs_mailbox.text import fold
from dcs_mailbox.triage.verdict import Reason

_SUBJECT_MARK = re.compile(r"(?<![a-z])(?:tres |extremement )?urgent(?:issime)?(?![a-z])")
_BODY_MARK = re.compile(
    r"(?<![a-z])(?:en (?:toute )?urgence|de toute urgence|urgentissime)(?![a-z])"
)
_THREAT = (
    r"menace[sr]?|menacant|bombe|engin explosif|colis suspect|sac abandonne"
    r"|objet suspect|individu arme|personne armee|arme a feu|fusil|attaque|attentat"
    r"|prise d'otage|intrusion|evacue|evacuation|alerte a la bombe|incendie criminel"
    r"|tireur|agression en cours"
)
_NOW = (
    r"ce soir|cette nuit|ce matin|cet apres-midi|aujourd'hui|demain matin|en cours"
    r"|actuellement|a l'instant|il y a \d+ (?:minutes?|heures?)|immediat|imminent[e]?"
    r"|dans (?:l'heure|les prochaines heures)"
)
_SENTENCE = re.compile(r"[^.!?\n]+")
_THREAT_RE = re.compile(rf"(?<![a-z])(?:{_THREAT})")
_NOW_RE = re.compile(rf"(?<![a-z])(?:{_NOW})(?![a-z])")


def detect_urgency(subject: str, own_text: str, *, reply: bool = False) -> Reason | None:
    """`reply`: the message answers a thread, whose subject it inherits — a « RE: URGENT »
    thank-you is not urgent; only its own words count."""
    folded_subject = fold(subject)
    match = None if reply else _SUBJECT_MARK.search(folded_subject)
    if match:
        return Reason(
            rule="urgent.subject",
            detail="Mention « urgent » dans l'objet",
            evidence=match.group(0),
        )
    folded = fold(own_text)
    match = _BODY_MARK.search(folded)
    if match:
        return Reason(
            rule="urgent.asked", detail="Réponse demandée en urgence", evidence=match.group(0)
        )
    for sentence in _SENTENCE.finditer(folded):
        text = sentence.group(0)
        threat, now = _THREAT_RE.search(text), _NOW_RE.search(text)
        if threat and now:
            return Reason(
                rule="urgent.threat-now",
                detail="Menace signalée comme imminente ou en cours",
                evidence=text.strip()[:200],
            )
    return None
