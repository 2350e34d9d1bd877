"""Loop and backscatter protection: which messages must never be acknowledged."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from dcs_mailbox.message import Address, AutomationHeaders, InboundMessage
from dcs_mailbox.parse import parse_message
from dcs_mailbox.triage.automated import (
    EVIDENCE_CHARS,
    RULES,
    AutomatedFinding,
    detect_automated,
    no_autoreply_requested,
)
from dcs_mailbox.triage.verdict import Kind

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "loop"
OWN = frozenset({"sec-dcs@interieur.gouv.fr"})

# One hand-written fixture per rule: the rule must fire on it, with this kind.
FIXTURE_OF_RULE: dict[str, tuple[str, Kind]] = {
    "auto.auto-submitted": ("auto-submitted.eml", Kind.AUTO_REPLY),
    "auto.x-autoreply": ("x-autoreply.eml", Kind.AUTO_REPLY),
    "auto.precedence": ("precedence-bulk.eml", Kind.OTHER),
    "auto.subject": ("subject-out-of-office.eml", Kind.AUTO_REPLY),
    "list.list-id": ("list-id.eml", Kind.OTHER),
    "list.list-unsubscribe": ("list-unsubscribe.eml", Kind.OTHER),
    "list.feedback-id": ("feedback-id.eml", Kind.OTHER),
    "report.delivery-status": ("dsn-delivery-status.eml", Kind.BOUNCE),
    "report.disposition-notification": ("mdn-disposition-notification.eml", Kind.BOUNCE),
    "report.feedback-report": ("arf-feedback-report.eml", Kind.BOUNCE),
    "report.other": ("report-other.eml", Kind.OTHER),
    "bounce.sender": ("bounce-sender.eml", Kind.BOUNCE),
    "bounce.subject": ("bounce-subject.eml", Kind.BOUNCE),
    "bounce.body": ("bounce-body.eml", Kind.BOUNCE),
    "bounce.null-return-path": ("null-return-path.eml", Kind.BOUNCE),
    "sender.own-address": ("own-address.eml", Kind.OTHER),
    "sender.no-reply": ("no-reply.eml", Kind.OTHER),
}

HUMAN_FIXTURES = (
    "human-request.eml",  # « Saisine CDSE - … » from a person
    "human-reply.eml",  # « RE: Saisine CDSE » with In-Reply-To and quoted history
    "human-noreply-display-name.eml",  # "Noreply" only in the display name
    "human-absence-subject.eml",  # « absence » in the middle of the subject
    "human-forwarded-bounce.eml",  # « TR : Non remis : … » forwarded with a question
)


@cache
def load(name: str) -> InboundMessage:
    return parse_message((FIXTURES / name).read_bytes())


def detect(name: str, own: frozenset[str] = OWN) -> AutomatedFinding:
    finding = detect_automated(load(name), own)
    assert finding is not None, f"{name} was not detected as automated"
    return finding


def rules(finding: AutomatedFinding) -> list[str]:
    return [reason.rule for reason in finding.reasons]


def message(
    *,
    subject: str = "Saisine CDSE - question",
    sender: str | None = "jeanne.durand@entreprise.example",
    return_path: str | None = None,
    text: str = "Bonjour,\nune question.\n",
    **automation: str,
) -> InboundMessage:
    return InboundMessage(
        sha256="0" * 64,
        size=0,
        message_id="test@example",
        subject=subject,
        sender=Address(address=sender) if sender is not None else None,
        return_path=return_path,
        automation=AutomationHeaders(**automation),
        text=text,
    )


# --- one fixture per rule --------------------------------------------------------------


def test_auto_submitted_auto_replied_is_an_auto_reply() -> None:
    finding = detect("auto-submitted.eml")
    assert finding.kind is Kind.AUTO_REPLY
    assert "auto.auto-submitted" in rules(finding)


def test_null_return_path_of_an_auto_reply_does_not_make_it_a_bounce() -> None:
    # RFC 3834 §3.3: responders send with <> too, so <> only decides when alone.
    finding = detect("auto-submitted.eml")
    assert rules(finding) == ["auto.auto-submitted", "bounce.null-return-path"]
    assert finding.kind is Kind.AUTO_REPLY


def test_auto_submitted_auto_generated_is_a_machine_notice() -> None:
    finding = detect("auto-generated.eml")
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["auto.auto-submitted"]


@pytest.mark.parametrize("fixture", ["x-autoreply.eml", "x-autorespond.eml"])
def test_x_autoreply_or_x_autorespond_header_is_an_auto_reply(fixture: str) -> None:
    finding = detect(fixture)
    assert finding.kind is Kind.AUTO_REPLY
    assert rules(finding) == ["auto.x-autoreply"]


def test_precedence_bulk_is_other() -> None:
    finding = detect("precedence-bulk.eml")
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["auto.precedence"]


def test_precedence_auto_reply_is_an_auto_reply() -> None:
    finding = detect("precedence-auto-reply.eml")
    assert finding.kind is Kind.AUTO_REPLY
    assert rules(finding) == ["auto.precedence"]


def test_out_of_office_subject_is_an_auto_reply() -> None:
    finding = detect("subject-out-of-office.eml")  # « Réponse automatique : » with U+00A0
    assert finding.kind is Kind.AUTO_REPLY
    assert rules(finding) == ["auto.subject"]


def test_list_id_is_other() -> None:
    finding = detect("list-id.eml")
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["list.list-id"]


def test_list_unsubscribe_is_other() -> None:
    finding = detect("list-unsubscribe.eml")
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["list.list-unsubscribe"]


def test_feedback_id_is_other() -> None:
    finding = detect("feedback-id.eml")
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["list.feedback-id"]


def test_delivery_status_report_is_a_bounce() -> None:
    finding = detect("dsn-delivery-status.eml")
    assert finding.kind is Kind.BOUNCE
    assert "report.delivery-status" in rules(finding)


def test_postfix_bounce_marked_auto_replied_is_still_a_bounce() -> None:
    finding = detect("dsn-delivery-status.eml")
    assert "auto.auto-submitted" in rules(finding)
    assert finding.kind is Kind.BOUNCE


def test_every_rule_that_fires_is_reported_in_rule_order() -> None:
    finding = detect("dsn-delivery-status.eml")
    assert rules(finding) == [
        "auto.auto-submitted",
        "report.delivery-status",
        "bounce.sender",
        "bounce.subject",
        "bounce.body",
        "bounce.null-return-path",
        "sender.no-reply",  # MAILER-DAEMON is also an address that takes no answer
    ]


def test_read_receipt_is_a_bounce() -> None:
    finding = detect("mdn-disposition-notification.eml")
    assert finding.kind is Kind.BOUNCE
    assert rules(finding) == ["report.disposition-notification"]


def test_abuse_feedback_report_is_a_bounce() -> None:
    finding = detect("arf-feedback-report.eml")
    assert finding.kind is Kind.BOUNCE
    assert rules(finding) == ["report.feedback-report"]


def test_report_of_another_type_is_a_machine_notice() -> None:
    finding = detect("report-other.eml")  # TLS report, RFC 8460
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["report.other"]


def test_postmaster_sender_is_a_bounce() -> None:
    finding = detect("bounce-sender.eml")
    assert finding.kind is Kind.BOUNCE
    assert rules(finding) == ["bounce.sender"]


def test_non_delivery_subject_is_a_bounce() -> None:
    finding = detect("bounce-subject.eml")  # « Non remis : » with U+00A0
    assert finding.kind is Kind.BOUNCE
    assert rules(finding) == ["bounce.subject"]


def test_body_opening_like_a_non_delivery_notice_is_a_bounce() -> None:
    finding = detect("bounce-body.eml")
    assert finding.kind is Kind.BOUNCE
    assert rules(finding) == ["bounce.body"]


def test_null_return_path_is_a_bounce() -> None:
    finding = detect("null-return-path.eml")
    assert finding.kind is Kind.BOUNCE
    assert rules(finding) == ["bounce.null-return-path"]


def test_our_own_address_is_other_whatever_its_case() -> None:
    finding = detect("own-address.eml", own=frozenset({"Sec-DCS@Interieur.gouv.fr"}))
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["sender.own-address"]


def test_no_reply_sender_is_other() -> None:
    finding = detect("no-reply.eml")  # ne-pas-repondre@…
    assert finding.kind is Kind.OTHER
    assert rules(finding) == ["sender.no-reply"]


def test_every_rule_has_its_own_fixture() -> None:
    assert sorted(FIXTURE_OF_RULE) == sorted(rule.id for rule in RULES)
    for rule_id, (fixture, kind) in FIXTURE_OF_RULE.items():
        finding = detect(fixture)
        assert rule_id in rules(finding), fixture
        assert finding.kind is kind, fixture


def test_rule_ids_are_unique_and_documented() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    doc = (ROOT / "docs" / "loop-protection.md").read_text(encoding="utf-8")
    for rule_id, (fixture, _) in FIXTURE_OF_RULE.items():
        assert f"`{rule_id}`" in doc
        assert fixture in doc
    assert "`noreply.auto-response-suppress`" in doc


def test_reasons_carry_a_french_detail_and_short_evidence() -> None:
    for fixture, _ in FIXTURE_OF_RULE.values():
        for reason in detect(fixture).reasons:
            assert reason.detail and reason.evidence
            assert len(reason.evidence) <= EVIDENCE_CHARS


# --- people's mail is left alone -------------------------------------------------------


@pytest.mark.parametrize("fixture", HUMAN_FIXTURES)
def test_mail_written_by_a_person_is_not_flagged(fixture: str) -> None:
    assert detect_automated(load(fixture), OWN) is None
    assert no_autoreply_requested(load(fixture)) is None


def test_message_without_sender_is_not_flagged() -> None:
    # The record stage sees sender None and cannot answer; no kind is invented here.
    assert detect_automated(message(sender=None), OWN) is None


# --- X-Auto-Response-Suppress: a person, but no automatic answer -----------------------


def test_auto_response_suppress_withholds_the_ack_but_keeps_the_message_human() -> None:
    request = load("x-auto-response-suppress.eml")
    assert detect_automated(request, OWN) is None
    reason = no_autoreply_requested(request)
    assert reason is not None
    assert reason.rule == "noreply.auto-response-suppress"
    assert reason.evidence == "All"


@pytest.mark.parametrize(
    ("value", "requested"),
    [
        ("All", True),
        ("all", True),
        ("OOF, AutoReply", True),
        ("DR, RN, NRN, OOF, AutoReply", True),
        ("OOF", False),  # out-of-office notices only: our acknowledgement is not one
        ("DR, NDR, RN, NRN", False),
        ("None", False),
        ("", False),
    ],
)
def test_auto_response_suppress_values(value: str, requested: bool) -> None:
    found = no_autoreply_requested(message(x_auto_response_suppress=value))
    assert (found is not None) is requested


# --- header values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("auto-replied", Kind.AUTO_REPLY),
        ("Auto-Replied; owner-email=absences@entreprise.example", Kind.AUTO_REPLY),
        ("auto-generated (failure)", Kind.OTHER),
        ("auto-notified", Kind.OTHER),
        ("no", None),
        ("No", None),
        ("", None),
    ],
)
def test_auto_submitted_values(value: str, kind: Kind | None) -> None:
    finding = detect_automated(message(auto_submitted=value), OWN)
    assert (finding.kind if finding else None) is kind


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("bulk", Kind.OTHER),
        ("Junk", Kind.OTHER),
        ("list", Kind.OTHER),
        ("auto_reply", Kind.AUTO_REPLY),
        ("first-class", None),
        ("normal", None),
    ],
)
def test_precedence_values(value: str, kind: Kind | None) -> None:
    finding = detect_automated(message(precedence=value), OWN)
    assert (finding.kind if finding else None) is kind


@pytest.mark.parametrize("value", ["no", "False", "0"])
def test_x_autoreply_saying_no_is_ignored(value: str) -> None:
    assert detect_automated(message(x_autoreply=value), OWN) is None


@pytest.mark.parametrize(
    ("return_path", "bounce"),
    [
        ("", True),
        ("mailer-daemon", True),  # Sendmail's local spelling of the null path
        ("mailer-daemon@relais.example", True),
        ("jeanne.durand@entreprise.example", False),
        (None, False),  # no Return-Path header at all
    ],
)
def test_return_path_values(return_path: str | None, bounce: bool) -> None:
    finding = detect_automated(message(return_path=return_path), OWN)
    assert (finding is not None and finding.kind is Kind.BOUNCE) is bounce


def test_evidence_is_truncated() -> None:
    finding = detect_automated(message(list_id="x" * 1_000), OWN)
    assert finding is not None
    assert len(finding.reasons[0].evidence) == EVIDENCE_CHARS


# --- lexicons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Réponse automatique : Saisine CDSE - drones",
        "REPONSE AUTOMATIQUE: Saisine CDSE",
        "Réponse\u00a0automatique\u00a0: Saisine CDSE",
        "Absence du bureau",
        "Absent du bureau jusqu'au 3 mars",
        "Message d’absence",
        "Message d'absence : Accusé de réception",
        "Automatic reply: Saisine CDSE",
        "Auto-Reply: Saisine CDSE",
        "AutoReply: Saisine CDSE",
        "Out of Office: Saisine CDSE",
        "Out of Office AutoReply: Saisine CDSE",
        "Abwesenheitsnotiz: Saisine CDSE",
        "Automatische Antwort: Saisine CDSE",
        "Autosvar: Saisine CDSE",
        "Auto: Saisine CDSE",  # RFC 3834 §3.1.5, Sieve vacation
        "Risposta automatica: Saisine CDSE",
        "Respuesta automática: Saisine CDSE",
        "[Auto-Reply] Saisine CDSE",
        "Saisine CDSE [Réponse automatique]",
    ],
)
def test_out_of_office_subjects_are_auto_replies(subject: str) -> None:
    finding = detect_automated(message(subject=subject), OWN)
    assert finding is not None and finding.kind is Kind.AUTO_REPLY
    assert rules(finding) == ["auto.subject"]


@pytest.mark.parametrize(
    "subject",
    [
        "Question sur l'absence de carte professionnelle",
        "Absences répétées d'un agent de sécurité",
        "RE: Réponse automatique : Accusé de réception",  # a person answering a responder
        "Saisine CDSE - absence de réponse automatique",
        "TR: Undeliverable: Saisine CDSE",  # a person forwarding a bounce
        "Saisine CDSE - retour d'expérience sur un colis non remis au destinataire",
        "Auto-entrepreneur : puis-je exercer comme agent de sécurité ?",
    ],
)
def test_subjects_that_merely_mention_absence_or_delivery_are_not_flagged(subject: str) -> None:
    assert detect_automated(message(subject=subject), OWN) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Non remis : Saisine CDSE",
        "Undeliverable: Saisine CDSE",
        "Échec de la remise du message",
        "Delivery Status Notification (Failure)",
        "Undelivered Mail Returned to Sender",
        "Returned mail: see transcript for details",
        "Mail delivery failed: returning message to sender",
        "failure notice",
        "Unzustellbar: Saisine CDSE",
    ],
)
def test_non_delivery_subjects_are_bounces(subject: str) -> None:
    finding = detect_automated(message(subject=subject), OWN)
    assert finding is not None and finding.kind is Kind.BOUNCE
    assert rules(finding) == ["bounce.subject"]


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@example.com",
        "no-reply@example.com",
        "no_reply@example.com",
        "donotreply@example.com",
        "do-not-reply@example.com",
        "ne-pas-repondre@example.gouv.fr",
        "nepasrepondre@example.gouv.fr",
        "ne_pas_repondre@example.gouv.fr",
        "dgfip.ne-pas-repondre@example.gouv.fr",
        "noreply-dmarc-support@example.com",
        "no-reply+dossier123@example.com",
        "notification@example.com",
        "notifications@example.com",
        "mailer@example.com",
        "owner-securite-privee@listes.example.gouv.fr",  # list robots, RFC 3834 §2
        "securite-privee-request@listes.example.gouv.fr",
        "securite-privee-bounces@listes.example.gouv.fr",
    ],
)
def test_no_reply_local_parts_are_other(sender: str) -> None:
    finding = detect_automated(message(sender=sender), OWN)
    assert finding is not None and finding.kind is Kind.OTHER
    assert rules(finding) == ["sender.no-reply"]


@pytest.mark.parametrize(
    "sender",
    [
        "norbert.reply@example.com",
        "reply@example.com",
        "m.notier@example.com",
        "request@example.com",
        "auto-entrepreneur@example.com",
    ],
)
def test_addresses_that_only_look_like_no_reply_are_not_flagged(sender: str) -> None:
    assert detect_automated(message(sender=sender), OWN) is None
