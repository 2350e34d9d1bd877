from __future__ import annotations

from dcs_mailbox.parse import parse_message
from dcs_mailbox.triage.kind import asks_nothing, human_kind
from dcs_mailbox.triage.verdict import Kind
from tests.support import build_eml


def kind_of(raw: bytes, *, tagged: bool = False, member: bool = False) -> Kind:
    message = parse_message(raw)
    return human_kind(message, message.text, tagged=tagged, member=member)[0]


def test_a_reply_in_a_thread_is_a_followup() -> None:
    raw = build_eml(subject="RE: Saisine CDSE", headers={"In-Reply-To": "<x@y.example>"})
    assert kind_of(raw, tagged=True) is Kind.FOLLOWUP


def test_a_tagged_message_is_a_request_whoever_sends_it() -> None:
    raw = build_eml(sender="bsi@prefecture.gouv.fr", body="Pour information, le bilan annuel.")
    assert kind_of(raw, tagged=True) is Kind.REQUEST


def test_untagged_mail_from_the_administration_is_not_a_request() -> None:
    raw = build_eml(
        subject="Recensement 2026", sender="bsi@finistere.gouv.fr", body="Voici l'état."
    )
    assert kind_of(raw) is Kind.OTHER


def test_an_untagged_report_that_asks_nothing_is_not_a_request() -> None:
    raw = build_eml(
        subject="Bilan semestriel du réseau",
        sender="contact@association.example",
        body="Vous trouverez ci-dessous le bilan semestriel des faits signalés par notre réseau.",
    )
    assert kind_of(raw) is Kind.OTHER


def test_an_untagged_report_with_a_question_is_a_request() -> None:
    raw = build_eml(
        subject="Compte rendu de la réunion",
        sender="contact@association.example",
        body="Voici le compte rendu. Pourriez-vous nous indiquer la date de la prochaine réunion ?",
    )
    assert kind_of(raw) is Kind.REQUEST


def test_job_applications_and_sales_pitches_are_requests_to_be_answered() -> None:
    raw = build_eml(subject="Candidature spontanée", sender="etudiant@example.net", body="Mon CV.")
    assert kind_of(raw) is Kind.REQUEST


def test_a_thank_you_asks_nothing() -> None:
    assert asks_nothing("Merci beaucoup pour votre réponse rapide, c'est noté.")
    assert not asks_nothing("Merci. Pouvez-vous préciser le délai ?")
