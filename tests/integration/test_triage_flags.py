"""Each triage flag reaches the agents: IMAP keywords, the record, and the acknowledgement."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from dcs_mailbox.keywords import NOT_A_MEMBER, OUT_OF_SCOPE, PERSONAL_DATA, URGENT
from dcs_mailbox.store.members import replace_members
from dcs_mailbox.store.models import Request
from dcs_mailbox.triage.members import Member
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import CapturedMessage, SmtpCapture
from tests.support import MAILBOX, at, build_eml

MEMBER = Member("Industries Exemple", "industries-exemple.example", "Anne Durand", "")
DUTY = "permanence-dcs@interieur.gouv.fr"

CASES = {
    "tax": build_eml(
        subject="Saisine CDSE - crédit de TVA de notre filiale",
        sender="Anne Durand <a.durand@industries-exemple.example>",
        message_id="tax@industries-exemple.example",
        body=(
            "Bonjour,\n\nNotre service comptable s'interroge : comment obtenir le "
            "remboursement du crédit de TVA de notre filiale, et quel est son effet sur "
            "l'impôt sur les sociétés ?\n\nAnne Durand\n"
        ),
    ),
    "personal": build_eml(
        subject="Saisine CDSE - vérification d'un candidat",
        sender="Anne Durand <a.durand@industries-exemple.example>",
        message_id="pd@industries-exemple.example",
        body=(
            "Bonjour,\n\nNous envisageons de recruter M. Jean DUPONT, né le 12/03/1985, comme "
            "agent de sûreté. Pouvez-vous nous indiquer s'il est connu des services de police "
            "ou s'il a des antécédents ?\n\nAnne Durand\n"
        ),
    ),
    "stranger": build_eml(
        subject="Saisine CDSE - palpations lors d'un salon",
        sender="Paul Martin <p.martin@gmail.example>",
        message_id="nm@gmail.example",
        body=(
            "Bonjour,\n\nNos agents de sécurité privée peuvent-ils procéder à des palpations "
            "à l'entrée d'un salon professionnel ?\n\nPaul Martin\n"
        ),
    ),
    "urgent": build_eml(
        subject="URGENT Saisine CDSE - colis suspect dans notre hall",
        sender="Anne Durand <a.durand@industries-exemple.example>",
        message_id="urgent@industries-exemple.example",
        body=(
            "Bonjour,\n\nUn colis suspect a été découvert il y a dix minutes dans le hall de "
            "notre siège ; le bâtiment est en cours d'évacuation et le 17 a été appelé. "
            "Quelle conduite tenir pour nos autres sites ?\n\nAnne Durand\n"
        ),
    ),
}


def ack_to(messages: list[CapturedMessage], recipient: str, subject_part: str) -> str:
    for message in messages:
        parsed = message.parse()
        if recipient in message.rcpt_tos and subject_part in str(parsed["Subject"]):
            body = parsed.get_body(("plain",))
            assert body is not None
            return str(body.get_content())
    raise AssertionError(f"no message to {recipient} about {subject_part!r}")


def test_flags_reach_keywords_record_acknowledgement_and_duty_alert(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server, alerts={"duty_addresses": [DUTY]})
    from dcs_mailbox.store.db import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    with make_session_factory(engine).begin() as session:
        replace_members(session, [MEMBER], at("2026-11-24 08:00"))
    engine.dispose()

    with RunningDaemon(settings) as running:
        running.wait_cycles()
        for raw in CASES.values():
            dovecot.deliver_lmtp(MAILBOX, raw)
        messages = smtp_server.wait_for(5, timeout=15)  # 4 acknowledgements + 1 alert
        running.wait_cycles()
        stored = {m.raw.split(b"Message-ID: <")[1].split(b"@")[0]: m for m in dovecot.fetch_all()}
        expected = {
            b"tax": {OUT_OF_SCOPE},
            b"pd": {PERSONAL_DATA},
            b"nm": {NOT_A_MEMBER},
            b"urgent": {URGENT},
        }
        for key, keywords in expected.items():
            uid = stored[key].uid
            wait_until(
                lambda u=uid, k=keywords: k <= dovecot.keywords("INBOX", u),  # type: ignore[misc]
                f"{keywords} on {key!r}",
            )
        assert NOT_A_MEMBER not in dovecot.keywords("INBOX", stored[b"tax"].uid)
        with running.service.sessions() as session:
            requests = {r.subject.split(" - ")[1]: r for r in session.scalars(select(Request))}
        assert requests["crédit de TVA de notre filiale"].scope == "out"
        assert requests["vérification d'un candidat"].personal_data
        assert not requests["palpations lors d'un salon"].member
        assert requests["colis suspect dans notre hall"].urgent

    tax = ack_to(messages, "a.durand@industries-exemple.example", "TVA")
    assert "semble ne pas relever du champ du point de contact" in tax
    personal = ack_to(messages, "a.durand@industries-exemple.example", "candidat")
    assert "personne physique ou morale identifiée" in personal
    stranger = ack_to(messages, "p.martin@gmail.example", "palpations")
    assert "réservé aux directeurs de la sécurité des entreprises membres" in stranger
    urgent = ack_to(messages, "a.durand@industries-exemple.example", "colis")
    assert urgent.index("situation d'urgence") < urgent.index("accuse réception")
    alert = ack_to(messages, DUTY, "[URGENT]")
    assert "menace imminente ou en cours" in alert and "Industries Exemple" in alert
    assert len(smtp_server.messages) == 5
