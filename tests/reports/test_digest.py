"""The daily digest's content, from a seeded SQLite database (reports/digest.py)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.outbound.french import duration_fr
from dcs_mailbox.reports.digest import Digest, build_digest, compose_digest
from dcs_mailbox.reports.digest_cli import run_digest_command
from dcs_mailbox.scheduler import send_daily_digest
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import (
    OutboxMessage,
    OutboxState,
    ReportRun,
    Request,
    RequestStatus,
)
from tests.servers.smtp import SmtpCapture
from tests.support import at, make_service, make_settings

NOW = at("2026-11-24 09:00")  # mardi 24 novembre 2026, 10 h 00 à Paris
AGENTS = "agents-dcs@interieur.gouv.fr"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    settings = make_settings(
        tmp_path / "data",
        digest={"recipients": [AGENTS], "time": "08:30", "ack_overdue_minutes": 60},
    )
    svc = make_service(settings, FixedClock(NOW))
    yield svc
    svc.close()


def add_request(
    service: Service,
    number: int,
    *,
    received_at: datetime,
    status: RequestStatus = RequestStatus.ACKNOWLEDGED,
    urgent: bool = False,
    subject: str = "Palpations sur un site industriel",
    company: str | None = "ACME Industrie",
) -> str:
    reference = f"CDSE-2026-{number:04d}"
    with service.sessions.begin() as session:
        session.add(
            Request(
                reference=reference,
                channel="CDSE",
                year=2026,
                number=number,
                requester_address=f"directeur{number}@acme-industrie.example",
                requester_name=f"Directeur {number}",
                subject=subject,
                received_at=received_at,
                status=status,
                acknowledged_at=received_at if status is not RequestStatus.RECEIVED else None,
                created_at=received_at,
                updated_at=received_at,
                member=company is not None,
                member_company=company,
                urgent=urgent,
            )
        )
    return reference


def add_acknowledgement(
    service: Service,
    reference: str,
    *,
    state: OutboxState,
    attempts: int = 0,
    last_error: str | None = None,
) -> None:
    with service.sessions.begin() as session:
        request = session.scalars(select(Request).where(Request.reference == reference)).one()
        session.add(
            OutboxMessage(
                request_id=request.id,
                kind="acknowledgement",
                message_id_header=f"{reference.lower()}.accuse.0123456789abcdef@interieur.gouv.fr",
                recipient=request.requester_address or "",
                state=state,
                attempts=attempts,
                next_attempt_at=NOW,
                last_error=last_error,
                created_at=request.received_at,
            )
        )


def digest_of(service: Service) -> Digest:
    with service.sessions() as session:
        return build_digest(session, NOW, service.settings.digest)


def test_unanswered_requests_are_listed_and_settled_ones_are_not(service: Service) -> None:
    received = add_request(service, 1, received_at=NOW - timedelta(minutes=30),
                           status=RequestStatus.RECEIVED)  # fmt: skip
    acknowledged = add_request(service, 2, received_at=NOW - timedelta(days=2))
    for number, status in enumerate(
        (
            RequestStatus.ANSWERED,
            RequestStatus.REFERRED,
            RequestStatus.CLOSED,
            RequestStatus.NOT_A_REQUEST,
        ),
        start=3,
    ):
        add_request(service, number, received_at=NOW - timedelta(days=5), status=status)

    digest = digest_of(service)

    assert [r.reference for r in digest.pending] == [acknowledged, received]
    assert not digest.is_empty
    oldest = digest.pending[0]
    assert oldest.age == timedelta(days=2)
    assert oldest.company == "ACME Industrie"
    assert oldest.requester_address == "directeur2@acme-industrie.example"


def test_urgent_requests_come_first_then_the_oldest(service: Service) -> None:
    recent = add_request(service, 1, received_at=NOW - timedelta(hours=3))
    old = add_request(service, 2, received_at=NOW - timedelta(days=6))
    urgent_recent = add_request(service, 3, received_at=NOW - timedelta(hours=1), urgent=True)
    urgent_old = add_request(service, 4, received_at=NOW - timedelta(days=1), urgent=True)

    digest = digest_of(service)

    assert [r.reference for r in digest.pending] == [urgent_old, urgent_recent, old, recent]
    assert digest.urgent_count == 2


def test_acknowledgement_unsent_for_two_hours_is_listed_with_its_reason(service: Service) -> None:
    stuck = add_request(service, 1, received_at=NOW - timedelta(hours=2),
                        status=RequestStatus.RECEIVED)  # fmt: skip
    add_acknowledgement(
        service,
        stuck,
        state=OutboxState.PENDING,
        attempts=4,
        last_error="SMTP server answered 451 4.3.0 later",
    )
    # Within ack_overdue_minutes: not late yet.
    fresh = add_request(service, 2, received_at=NOW - timedelta(minutes=20),
                        status=RequestStatus.RECEIVED)  # fmt: skip
    add_acknowledgement(service, fresh, state=OutboxState.PENDING)
    # Sent: not late, whatever its age.
    done = add_request(service, 3, received_at=NOW - timedelta(days=1))
    add_acknowledgement(service, done, state=OutboxState.SENT, attempts=1)
    # Answered by an agent meanwhile: the requester heard from us.
    answered = add_request(service, 4, received_at=NOW - timedelta(days=1),
                           status=RequestStatus.ANSWERED)  # fmt: skip
    add_acknowledgement(service, answered, state=OutboxState.FAILED, last_error="550 no")

    digest = digest_of(service)

    assert [a.reference for a in digest.overdue_acknowledgements] == [stuck]
    late = digest.overdue_acknowledgements[0]
    assert late.last_error == "SMTP server answered 451 4.3.0 later"
    assert late.state is OutboxState.PENDING
    assert late.attempts == 4
    assert late.delay == timedelta(hours=2)

    text = plain(compose(service, digest))
    assert "ACCUSÉS DE RÉCEPTION EN RETARD (1)" in text
    assert f"- {stuck}, reçue le mardi 24 novembre 2026 à 8 h 00, il y a 2 h" in text
    assert "Motif : SMTP server answered 451 4.3.0 later" in text
    assert "(4 tentatives)" in text


def test_failed_acknowledgement_is_listed_as_needing_an_agent(service: Service) -> None:
    reference = add_request(service, 1, received_at=NOW - timedelta(days=1, hours=3),
                            status=RequestStatus.RECEIVED)  # fmt: skip
    add_acknowledgement(
        service,
        reference,
        state=OutboxState.FAILED,
        attempts=1,
        last_error="recipient refused: x@y: 550 5.1.1 unknown",
    )

    text = plain(compose(service, digest_of(service)))

    assert "refusé définitivement par le serveur : un agent doit intervenir" in text
    assert "il y a 1 jour 3 h" in text
    assert "Accusé de réception : non envoyé" in text


def test_digest_message_is_french_with_paris_dates_and_urgent_marks(service: Service) -> None:
    add_request(service, 1, received_at=at("2026-11-23 08:00"))
    add_request(service, 2, received_at=at("2026-11-20 15:45"), company=None,
                subject="Vidéoprotection <script>")  # fmt: skip
    add_request(service, 3, received_at=at("2026-11-24 07:30"), urgent=True)

    message = compose(service, digest_of(service))

    assert message["Subject"] == (
        "[sec-dcs] 3 saisines en attente de réponse (dont 1 urgente) – mardi 24 novembre 2026"
    )
    assert message["To"] == AGENTS
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == "<digest.2026-11-24.sec-dcs@interieur.gouv.fr>"
    assert "X-DCS-Reference" not in message
    text = plain(message)
    lines = text.splitlines()
    entries = [line for line in lines if line.startswith("- ")]
    assert entries == [
        "- [URGENT] CDSE-2026-0003, reçue le mardi 24 novembre 2026 à 8 h 30, "
        "en attente depuis 1 h 30 min",
        "- CDSE-2026-0002, reçue le vendredi 20 novembre 2026 à 16 h 45, "
        "en attente depuis 3 jours 17 h",
        "- CDSE-2026-0001, reçue le lundi 23 novembre 2026 à 9 h 00, en attente depuis 1 jour 1 h",
    ]
    assert "  Demandeur : Directeur 1 <directeur1@acme-industrie.example> – ACME Industrie" in lines
    assert "  Demandeur : Directeur 2 <directeur2@acme-industrie.example>" in lines
    assert "  Objet : « Vidéoprotection <script> »" in lines
    assert "établi le mardi 24 novembre 2026 à 10 h 00 (heure de Paris)" in text
    assert "ACCUSÉS DE RÉCEPTION" not in text
    html = html_part(message)
    assert "Vidéoprotection &lt;script&gt;" in html
    assert "<script>" not in html
    assert html.count(">URGENT</strong>") == 1


def test_subject_counts_overdue_acknowledgements_in_the_singular(service: Service) -> None:
    reference = add_request(service, 1, received_at=NOW - timedelta(hours=5),
                            status=RequestStatus.RECEIVED)  # fmt: skip
    add_acknowledgement(service, reference, state=OutboxState.PENDING, attempts=2,
                        last_error="cannot reach SMTP server")  # fmt: skip

    message = compose(service, digest_of(service))

    assert message["Subject"] == (
        "[sec-dcs] 1 saisine en attente de réponse, 1 accusé de réception en retard"
        " – mardi 24 novembre 2026"
    )


def test_empty_digest_is_not_sent_and_recorded_empty(
    service: Service, smtp_server: SmtpCapture
) -> None:
    add_request(service, 1, received_at=NOW - timedelta(days=1), status=RequestStatus.ANSWERED)
    assert digest_of(service).is_empty

    assert send_daily_digest(service) == "empty"
    assert send_daily_digest(service) == "empty"  # recorded: not composed again

    assert smtp_server.messages == []
    with service.sessions() as session:
        run = session.scalars(select(ReportRun)).one()
    assert (run.kind, run.period, run.state) == ("digest", "2026-11-24", "empty")
    assert run.attempts == 0 and run.sent_at is None


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=59), "0 min"),
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=20), "3 h 20 min"),
        (timedelta(days=1), "1 jour"),
        (timedelta(days=2, hours=5, minutes=59), "2 jours 5 h"),
        (timedelta(minutes=-5), "0 min"),  # a clock step backwards is not a negative age
    ],
)
def test_durations_read_in_french(delta: timedelta, text: str) -> None:
    assert duration_fr(delta) == text


# --- helpers -----------------------------------------------------------------------------


def compose(service: Service, digest: Digest) -> EmailMessage:
    message = compose_digest(
        service.dispatcher.renderer,
        digest,
        settings=service.settings,
        message_id="digest.2026-11-24.sec-dcs@interieur.gouv.fr",
        now=NOW,
    )
    # Through bytes and back, as the agents' mail client will see it.
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def html_part(message: EmailMessage) -> str:
    body = message.get_body(("html",))
    assert body is not None
    return str(body.get_content())


# --- dcs-mailbox digest (reports/digest_cli.py) ------------------------------------------


def test_dry_run_prints_the_digest_and_neither_sends_nor_records(
    tmp_path: Path, smtp_server: SmtpCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        tmp_path / "data",
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )  # no recipients yet: a dry run still shows what they would get
    service = make_service(settings)
    try:
        reference = add_request(service, 1, received_at=at("2026-01-05 10:00"), urgent=True)
        assert run_digest_command(settings, argparse.Namespace(dry_run=True)) == 0
        with service.sessions() as session:
            assert session.scalars(select(ReportRun)).all() == []
    finally:
        service.close()
    out = capsys.readouterr().out
    assert "Objet : [sec-dcs] 1 saisine en attente de réponse (dont 1 urgente) – " in out
    assert f"- [URGENT] {reference}, reçue le lundi 5 janvier 2026 à 11 h 00" in out
    assert smtp_server.messages == []


def test_digest_command_sends_once(
    tmp_path: Path, smtp_server: SmtpCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        tmp_path / "data",
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
        digest={"recipients": [AGENTS]},
    )
    service = make_service(settings)
    try:
        add_request(service, 1, received_at=at("2026-01-05 10:00"))
    finally:
        service.close()
    send = argparse.Namespace(dry_run=False)

    assert run_digest_command(settings, send) == 0
    assert run_digest_command(settings, send) == 0

    assert len(smtp_server.wait_for(1)) == 1
    out = capsys.readouterr().out
    assert f"today's digest sent to {AGENTS}" in out
    assert "had already been sent" in out


def test_digest_command_without_recipients_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path / "data")
    make_service(settings).close()

    assert run_digest_command(settings, argparse.Namespace(dry_run=False)) == 2
    assert "[digest].recipients is empty" in capsys.readouterr().err
