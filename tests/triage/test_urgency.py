from __future__ import annotations

import pytest

from dcs_mailbox.triage.urgency import detect_urgency


@pytest.mark.parametrize(
    ("subject", "text", "rule"),
    [
        ("URGENT - Saisine CDSE - alerte", "Bonjour", "urgent.subject"),
        ("Saisine CDSE (très urgent)", "", "urgent.subject"),
        (
            "Saisine CDSE",
            "Pouvez-vous nous répondre en urgence sur la conduite à tenir ?",
            "urgent.asked",
        ),
        (
            "Saisine CDSE",
            "Un colis suspect a été découvert il y a 10 minutes dans le hall.",
            "urgent.threat-now",
        ),
        (
            "Saisine CDSE",
            "Nous avons reçu ce matin une menace visant notre dépôt.",
            "urgent.threat-now",
        ),
    ],
)
def test_imminent_or_ongoing_threats_are_urgent(subject: str, text: str, rule: str) -> None:
    reason = detect_urgency(subject, text)
    assert reason is not None and reason.rule == rule


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        (
            "Saisine CDSE - plan d'urgence",
            "Quelles obligations pour notre plan d'urgence interne ?",
        ),
        ("Saisine CDSE - exercices", "Comment organiser un exercice d'évacuation l'an prochain ?"),
        ("Saisine CDSE", "Quel est le numéro d'urgence à afficher dans nos locaux ?"),
        (
            "Saisine CDSE",
            "Nous avons reçu des menaces l'an dernier ; quelles démarches en général ?",
        ),
    ],
)
def test_emergency_planning_questions_are_not_urgent(subject: str, text: str) -> None:
    assert detect_urgency(subject, text) is None


def test_a_reply_does_not_inherit_urgency_from_the_thread_subject() -> None:
    assert detect_urgency("RE: URGENT - Saisine CDSE", "Merci pour votre aide.", reply=True) is None


def test_a_place_storing_explosives_is_not_a_threat() -> None:
    text = "Ce soir encore un drone a survolé le dépôt d'explosifs de la carrière."
    assert detect_urgency("Saisine CDSE - survols de drones", text) is None
