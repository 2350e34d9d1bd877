"""One delay notice per incident (store/ack_delay.py, outbound/delay_alarm.py), on a real
SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dcs_mailbox.outbound.delay_alarm import compose_alarm
from dcs_mailbox.service import Service
from dcs_mailbox.store.ack_delay import due_alarm, mark_raised
from dcs_mailbox.store.models import OutboxMessage, OutboxState, Request
from tests.support import at, build_eml, make_service, make_settings

START = at("2026-11-24 09:00")
HOUR = timedelta(hours=1)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = make_service(make_settings(tmp_path / "data"))
    yield svc
    svc.close()


def request_at(service: Service, when: datetime, n: int) -> int:
    outcome = service.pipeline.process(
        build_eml(message_id=f"r{n}@x.example", sender=f"d{n}@x.example"),
        arrived_at=when,
        location=None,
    )
    assert outcome.acknowledgement_queued
    with service.sessions.begin() as session:  # as after a refused attempt
        request_id = session.scalars(select(Request.id).order_by(Request.id.desc())).first()
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.request_id == request_id)
            .values(attempts=1, last_error="451 4.3.0 try later")
        )
        return request_id or 0


def send(service: Service, request_id: int) -> None:
    with service.sessions.begin() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.request_id == request_id)
            .values(state=OutboxState.SENT)
        )


def raise_if_due(service: Service, now: datetime) -> str | None:
    with service.sessions.begin() as session:
        alarm = due_alarm(session, now, HOUR)
        if alarm is None:
            return None
        mark_raised(session, alarm, now)
        return alarm.reference


def test_nothing_before_the_delay_then_one_notice_per_incident(service: Service) -> None:
    first = request_at(service, START, 1)
    second = request_at(service, START + timedelta(minutes=10), 2)
    assert raise_if_due(service, START + timedelta(minutes=59)) is None
    assert raise_if_due(service, START + HOUR) == "CDSE-2026-0001"
    # The outage goes on; a request arriving now becomes overdue too: same incident.
    third = request_at(service, START + 2 * HOUR, 3)
    assert raise_if_due(service, START + 4 * HOUR) is None
    # The queue drains one by one: still the same incident.
    send(service, first)
    assert raise_if_due(service, START + 5 * HOUR) is None
    send(service, second)
    send(service, third)
    assert raise_if_due(service, START + 5 * HOUR) is None  # nothing waits
    # A later outage is a new incident; a request never refused is not one.
    with service.sessions.begin() as session:
        fresh = request_at(service, START + 6 * HOUR, 9)
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.request_id == fresh)
            .values(attempts=0, last_error=None)
        )
    assert raise_if_due(service, START + 8 * HOUR) is None
    send(service, fresh)
    request_at(service, START + 10 * HOUR, 4)
    assert raise_if_due(service, START + 10 * HOUR + timedelta(minutes=30)) is None
    assert raise_if_due(service, START + 11 * HOUR) == "CDSE-2026-0005"


def test_the_notice_is_french_and_says_how_long_is_left(service: Service) -> None:
    request_at(service, START, 1)
    request_at(service, START, 2)
    now = START + timedelta(hours=2, minutes=30)
    with service.sessions() as session:
        alarm = due_alarm(session, now, HOUR)
    assert alarm is not None and alarm.waiting == 2 and alarm.last_error == "451 4.3.0 try later"
    message = compose_alarm(
        service.renderer, alarm, mailbox="sec-dcs@interieur.gouv.fr", display_name="DCS", now=now
    )
    assert message["Subject"] == (
        "[dcs-mailbox] Accusés de réception en attente depuis 2 h 30 min — action requise"
    )
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "2 accusés de réception n'ont pas pu être envoyés" in text
    assert "reçue le mardi 24 novembre 2026 à 10 h 00" in text  # Paris time
    assert "il reste 21 h 30 min" in text
    late = compose_alarm(
        service.renderer,
        alarm,
        mailbox="sec-dcs@interieur.gouv.fr",
        display_name="DCS",
        now=START + timedelta(hours=25),
    )
    assert "Le délai de 24 heures prévu par le protocole est dépassé" in (
        late.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    )
