"""Agents work from their mail client: what they send and the tags they set move requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from dcs_mailbox.agent_tags import thunderbird_key
from dcs_mailbox.store.models import Request, RequestEvent, RequestStatus, VerdictCorrection
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import MAILBOX, build_eml

REQUEST_ID = "req-agent@acme-industrie.example"
REQUESTER = "j.martin@acme-industrie.example"


def request_of(running: RunningDaemon) -> Request:
    [request] = running.requests()
    return request


def events(running: RunningDaemon) -> list[str]:
    with running.service.sessions() as session:
        return [e.type for e in session.scalars(select(RequestEvent).order_by(RequestEvent.id))]


def test_an_answer_filed_in_sent_marks_the_request_answered_with_its_delay(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    received = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    dovecot.append("INBOX", build_eml(message_id=REQUEST_ID), msg_time=received)
    with RunningDaemon(settings) as running:
        smtp_server.wait_for(1, timeout=10)
        running.wait_cycles(2)  # the acknowledgement's own copy in Sent is read back
        assert request_of(running).status == RequestStatus.ACKNOWLEDGED
        # Thunderbird sends the agent's reply three hours after the request arrived.
        answered = received + timedelta(hours=3)
        reply = build_eml(
            date=answered,
            subject="RE: Saisine CDSE - palpations sur un site industriel",
            sender=f"DCS <{MAILBOX}>",
            to=REQUESTER,
            message_id="answer-1@interieur.gouv.fr",
            body="Madame,\n\nLes palpations sont encadrées par l'article L. 613-2 du CSI.\n",
            headers={"In-Reply-To": f"<{REQUEST_ID}>", "References": f"<{REQUEST_ID}>"},
        )
        dovecot.append("Sent", reply, flags=["\\Seen"], msg_time=answered)
        request = wait_until(
            lambda: (r := request_of(running)).answered_at is not None and r, "the answer"
        )
        assert request.status == RequestStatus.ANSWERED
        assert request.answered_at == answered
        with running.service.sessions() as session:
            event = session.scalars(
                select(RequestEvent).where(RequestEvent.type == "answer_sent")
            ).one()
        assert '"delay_hours": 3.0' in event.detail
    assert events(running).count("answer_sent") == 1


def test_a_forward_to_a_directory_service_marks_the_request_referred(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml(message_id=REQUEST_ID))
        smtp_server.wait_for(1, timeout=10)
        # Outlook forwards without thread headers: only the subject links it.
        forward = build_eml(
            subject="TR: Saisine CDSE - palpations sur un site industriel",
            sender=f"DCS <{MAILBOX}>",
            to="bdrij@gendarmerie.interieur.gouv.fr",
            message_id="fwd-1@interieur.gouv.fr",
            body="Pour attribution.\n\n-----Message d'origine-----\n...",
        )
        dovecot.append("Sent", forward, flags=["\\Seen"], msg_time=datetime.now(UTC))
        request = wait_until(
            lambda: (r := request_of(running)).referred_at is not None and r, "the referral"
        )
        assert request.status == RequestStatus.REFERRED
        assert request.referred_service == "dggn"
        assert request.answered_at is None  # a referral to a service is not an answer


def test_an_answer_pointing_the_requester_to_a_service_is_a_referral(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml(message_id=REQUEST_ID))
        smtp_server.wait_for(1, timeout=10)
        reply = build_eml(
            subject="RE: Saisine CDSE - palpations sur un site industriel",
            sender=f"DCS <{MAILBOX}>",
            to=REQUESTER,
            message_id="answer-2@interieur.gouv.fr",
            body="Madame,\n\nCette question relève de la CNIL : https://www.cnil.fr\n",
            headers={"In-Reply-To": f"<{REQUEST_ID}>"},
        )
        dovecot.append("Sent", reply, flags=["\\Seen"])
        request = wait_until(
            lambda: (r := request_of(running)).referred_service is not None and r, "referral"
        )
        assert request.referred_service == "cnil" and request.answered_at is not None


def test_thunderbird_tags_set_by_agents_change_the_request(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, build_eml(message_id=REQUEST_ID))
        smtp_server.wait_for(1, timeout=10)
        uid = dovecot.fetch_all("INBOX")[0].uid
        # What Thunderbird stores when an agent applies « Hors périmètre » then « Clos ».
        with dovecot.imap(folder="INBOX") as client:
            client.add_flags([uid], [thunderbird_key("Hors périmètre")])
        running.wait_cycles()
        with dovecot.imap(folder="INBOX") as client:
            client.add_flags([uid], [thunderbird_key("Clos")])
        request = wait_until(
            lambda: (r := request_of(running)).status == RequestStatus.CLOSED and r, "closing"
        )
        assert request.scope == "out" and request.closed_at is not None
        running.wait_cycles(2)  # tags already applied are not applied again
        with running.service.sessions() as session:
            [correction] = session.scalars(select(VerdictCorrection)).all()
        assert (correction.field, correction.agent_value, correction.source) == (
            "scope",
            "out",
            "keyword",
        )
    assert events(running).count("agent_close") == 1


def test_folder_view_files_a_copy_of_flagged_mail_for_outlook(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    settings = daemon_settings(tmp_path, dovecot, smtp_server, imap={"folder_view": "Tri DCS"})
    urgent = build_eml(subject="URGENT Saisine CDSE - colis suspect", message_id=REQUEST_ID)
    with RunningDaemon(settings) as running:
        dovecot.deliver_lmtp(MAILBOX, urgent)
        smtp_server.wait_for(1, timeout=10)
        running.wait_cycles()
    assert "Tri DCS.URGENT" in dovecot.folders()
    assert len(dovecot.fetch_all("Tri DCS.URGENT")) == 1
    assert len(dovecot.fetch_all("INBOX")) == 1  # the original stays where it was
