"""The pipeline against a real SQLite database (no mail server needed)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dcs_mailbox import pipeline as pipeline_module
from dcs_mailbox.clock import FixedClock
from dcs_mailbox.pipeline import Incoming
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import (
    IntakeFailure,
    MailboxItem,
    Message,
    MessageStatus,
    OutboxMessage,
    Request,
    RequestEvent,
)
from dcs_mailbox.store.record import Disposition, Location, RecordOutcome
from tests.support import at, build_eml, make_service, make_settings

NOW = at("2026-11-24 09:00")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def service(tmp_path: Path, clock: FixedClock) -> Service:
    svc = make_service(make_settings(tmp_path / "data"), clock)
    yield svc  # type: ignore[misc]
    svc.close()


def count(service: Service, model: type) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_tagged_request_gets_a_reference_and_a_queued_acknowledgement(service: Service) -> None:
    outcome = service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.NEW_REQUEST
    assert outcome.request_reference == "CDSE-2026-0001"
    assert outcome.acknowledgement_queued
    with service.sessions() as session:
        request = session.scalars(select(Request)).one()
        assert request.requester_address == "j.martin@acme-industrie.example"
        assert request.requester_name == "Jeanne Martin"
        outbox = session.scalars(select(OutboxMessage)).one()
        assert outbox.recipient == "j.martin@acme-industrie.example"
        assert outbox.message_id_header.startswith("cdse-2026-0001.accuse.")
        types = [e.type for e in session.scalars(select(RequestEvent).order_by(RequestEvent.id))]
        assert types == ["received", "acknowledgement_queued"]


def test_raw_bytes_are_archived_before_recording(service: Service) -> None:
    raw = build_eml()
    service.pipeline.process(raw, arrived_at=NOW, location=None)
    with service.sessions() as session:
        sha = session.scalars(select(Message.sha256)).one()
    assert service.archive.load(sha) == raw
    assert service.archive.path_for(sha).stat().st_mode & 0o077 == 0


def test_reference_numbers_follow_each_other_and_restart_each_paris_year(service: Service) -> None:
    refs = [
        service.pipeline.process(
            build_eml(message_id=f"r{i}@x.example", sender=f"p{i}@x.example"),
            arrived_at=arrived,
            location=None,
        ).request_reference
        for i, arrived in enumerate(
            [at("2026-06-01 10:00"), at("2026-12-31 22:30"), at("2026-12-31 23:30")]
        )
    ]
    # 23:30 UTC on 31 December is already 2027 in Paris.
    assert refs == ["CDSE-2026-0001", "CDSE-2026-0002", "CDSE-2027-0001"]


def test_same_bytes_twice_record_once_and_acknowledge_once(service: Service) -> None:
    raw = build_eml()
    first = service.pipeline.process(raw, arrived_at=NOW, location=Location("INBOX", 7, 1))
    again = service.pipeline.process(raw, arrived_at=NOW, location=Location("INBOX", 8, 1))
    assert not first.already_recorded and again.already_recorded
    assert again.request_reference == first.request_reference
    assert count(service, Request) == 1 and count(service, OutboxMessage) == 1
    with service.sessions() as session:
        locations = session.scalars(select(Message)).one().locations
        assert sorted(loc.uidvalidity for loc in locations) == [7, 8]


def test_reply_with_in_reply_to_is_a_followup_without_acknowledgement(service: Service) -> None:
    service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    reply = build_eml(
        subject="RE: Saisine CDSE - palpations sur un site industriel",
        message_id="reply-1@acme-industrie.example",
        headers={"In-Reply-To": "<req-1@acme-industrie.example>"},
    )
    outcome = service.pipeline.process(reply, arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.FOLLOWUP
    assert outcome.request_reference == "CDSE-2026-0001"
    assert count(service, OutboxMessage) == 1 and count(service, Request) == 1


def test_reply_to_our_acknowledgement_is_a_followup(service: Service) -> None:
    service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    with service.sessions() as session:
        ack_id = session.scalars(select(OutboxMessage.message_id_header)).one()
    reply = build_eml(
        subject="Re: [CDSE-2026-0001] Accusé de réception",
        message_id="reply-2@acme-industrie.example",
        headers={"References": f"<{ack_id}>"},
    )
    outcome = service.pipeline.process(reply, arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.FOLLOWUP


def test_reference_quoted_in_the_subject_attaches_a_new_thread(service: Service) -> None:
    service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    later = build_eml(subject="Complément cdse-2026-0001", message_id="x-3@acme.example")
    outcome = service.pipeline.process(later, arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.FOLLOWUP
    assert outcome.request_reference == "CDSE-2026-0001"


def test_mail_older_than_the_history_horizon_is_never_acknowledged(service: Service) -> None:
    service.pipeline.history_before = NOW - timedelta(hours=24)
    outcome = service.pipeline.process(
        build_eml(), arrived_at=NOW - timedelta(days=400), location=None
    )
    assert outcome.disposition is Disposition.HISTORY
    assert count(service, Request) == 0 and count(service, OutboxMessage) == 0


def test_history_is_not_assessed_for_scope_or_personal_data(service: Service) -> None:
    """The lazy path for a first start on years of mail: kind and tag only."""
    service.pipeline.history_before = NOW - timedelta(hours=24)
    body = "Pouvez-vous me communiquer l'adresse de M. Jean Dupont, né le 12/03/1975 ?"
    old = service.pipeline.process_batch(
        [
            Incoming(build_eml(body=body), NOW - timedelta(days=400), None),
            Incoming(build_eml(body=body + " "), NOW - timedelta(days=401), None),
        ]
    )
    fresh = service.pipeline.process(build_eml(body=body + "  "), arrived_at=NOW, location=None)
    assert [o.disposition for o in old] == [Disposition.HISTORY] * 2
    with service.sessions() as session:
        rows = session.scalars(select(Message).order_by(Message.id)).all()
    assert [(r.history, r.scope, r.personal_data) for r in rows[:2]] == [(True, None, None)] * 2
    assert rows[0].tagged and rows[0].kind == "request"
    assert rows[2].personal_data is True and fresh.flags.personal_data  # assessed when new


def test_untagged_mail_is_recorded_and_left_to_agents(service: Service) -> None:
    outcome = service.pipeline.process(
        build_eml(subject="Question sur la vidéoprotection"), arrived_at=NOW, location=None
    )
    assert outcome.disposition is Disposition.NOT_A_REQUEST
    assert count(service, Message) == 1 and count(service, OutboxMessage) == 0


def test_tagged_auto_reply_is_not_acknowledged(service: Service) -> None:
    raw = build_eml(
        subject="Réponse automatique : Saisine CDSE - palpations",
        headers={"Auto-Submitted": "auto-replied"},
    )
    outcome = service.pipeline.process(raw, arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.AUTOMATED
    assert count(service, OutboxMessage) == 0


def test_acknowledgement_goes_to_reply_to_when_set(service: Service) -> None:
    raw = build_eml(headers={"Reply-To": "secretariat@acme-industrie.example"})
    service.pipeline.process(raw, arrived_at=NOW, location=None)
    with service.sessions() as session:
        assert session.scalars(select(OutboxMessage.recipient)).one() == (
            "secretariat@acme-industrie.example"
        )


def test_a_flooding_sender_gets_at_most_the_daily_limit(service: Service) -> None:
    limit = service.settings.acknowledgement.max_per_sender_per_day
    outcomes = [
        service.pipeline.process(
            build_eml(message_id=f"flood-{i}@x.example", body=f"demande {i}"),
            arrived_at=NOW,
            location=None,
        )
        for i in range(limit + 3)
    ]
    assert sum(o.acknowledgement_queued for o in outcomes) == limit
    withheld = [o for o in outcomes if o.withheld is not None]
    assert len(withheld) == 3 and withheld[0].withheld is not None
    assert withheld[0].withheld.rule == "ack.rate-limit"
    assert count(service, Request) == limit + 3  # recorded all the same


def test_our_own_address_is_never_acknowledged(service: Service) -> None:
    raw = build_eml(sender="DCS <sec-dcs@interieur.gouv.fr>")
    outcome = service.pipeline.process(raw, arrived_at=NOW, location=None)
    assert not outcome.acknowledgement_queued


def test_empty_message_is_quarantined_with_its_reason(service: Service) -> None:
    outcome = service.pipeline.process(b"\r\n", arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.QUARANTINED
    with service.sessions() as session:
        row = session.scalars(select(Message)).one()
        assert row.status == MessageStatus.QUARANTINED
        assert row.error is not None and "empty" in row.error


def test_a_message_that_keeps_failing_is_quarantined_after_max_attempts(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    def broken_triage(*_args: object, **_kwargs: object) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("triage bug")

    monkeypatch.setattr(pipeline_module, "triage", broken_triage)
    outcome = service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.QUARANTINED
    assert calls == service.settings.intake.max_attempts
    with service.sessions() as session:
        failure = session.scalars(select(IntakeFailure)).one()
        assert failure.attempts == calls and "triage bug" in failure.last_error
        message = session.scalars(select(Message)).one()
        assert message.error is not None and "RuntimeError: triage bug" in message.error


def test_triage_reasons_are_recorded_for_agents(service: Service) -> None:
    service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    with service.sessions() as session:
        reasons = json.loads(session.scalars(select(Message.reasons)).one())
    assert reasons[0]["rule"] == "tag.subject"


def test_a_members_import_is_picked_up_without_restart(service: Service) -> None:
    from dcs_mailbox.store.members import replace_members
    from dcs_mailbox.triage.members import Member

    first = service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    assert first.flags.member is False
    with service.sessions.begin() as session:
        replace_members(session, [Member("Acme", "acme-industrie.example")], NOW)
    service.pipeline.refresh()
    second = service.pipeline.process(
        build_eml(message_id="second@acme-industrie.example"), arrived_at=NOW, location=None
    )
    assert second.flags.member is True


# --- a fetch batch in one transaction (Pipeline.process_batch) ---------------------------


def _batch(*raws: bytes) -> list[Incoming]:
    return [Incoming(raw, NOW, Location("INBOX", 7, uid)) for uid, raw in enumerate(raws, 1)]


def _outcome_view(outcomes: list[RecordOutcome]) -> list[tuple[object, ...]]:
    return [
        (o.disposition, o.request_reference, o.acknowledgement_queued, o.withheld, o.flags)
        for o in outcomes
    ]


def test_a_batch_records_like_one_message_at_a_time(tmp_path: Path, clock: FixedClock) -> None:
    limit = make_settings(tmp_path / "x").acknowledgement.max_per_sender_per_day
    raws = [
        build_eml(),
        build_eml(message_id="auto@x.example", headers={"Auto-Submitted": "auto-replied"}),
        build_eml(subject="Question sans mention", message_id="untagged@x.example"),
        *(
            build_eml(message_id=f"flood-{i}@x.example", body=f"demande {i}")
            for i in range(limit + 2)
        ),
        build_eml(
            subject="RE: Saisine CDSE",
            message_id="reply@x.example",
            headers={"In-Reply-To": "<" + "first@acme-industrie.example" + ">"},
        ),
    ]
    one_by_one = make_service(make_settings(tmp_path / "a"), clock)
    batched = make_service(make_settings(tmp_path / "b"), clock)
    try:
        expected = [
            one_by_one.pipeline.process(i.raw, arrived_at=i.arrived_at, location=i.location)
            for i in _batch(*raws)
        ]
        got = batched.pipeline.process_batch(_batch(*raws))
        assert _outcome_view(got) == _outcome_view(expected)
        for model in (Message, Request, OutboxMessage, RequestEvent, MailboxItem):
            assert count(batched, model) == count(one_by_one, model), model.__name__
        assert sum(o.acknowledgement_queued for o in got) == limit  # the flood limit holds
    finally:
        one_by_one.close()
        batched.close()


def test_a_batch_with_unreadable_and_repeated_messages(service: Service) -> None:
    first = build_eml()
    outcomes = service.pipeline.process_batch(_batch(first, b"\r\n", first, build_eml(body="x")))
    dispositions = [o.disposition for o in outcomes]
    assert dispositions == [
        Disposition.NEW_REQUEST,
        Disposition.QUARANTINED,
        Disposition.NEW_REQUEST,  # the same bytes at another UID: the same request
        Disposition.NEW_REQUEST,
    ]
    assert outcomes[2].already_recorded and outcomes[2].message_pk == outcomes[0].message_pk
    assert count(service, OutboxMessage) == 2
    assert count(service, MailboxItem) == 4  # every UID has its row
    # Fetched again (a crash before the checkpoint): nothing new, same outcomes.
    again = service.pipeline.process_batch(_batch(first, b"\r\n", first, build_eml(body="x")))
    assert all(o.already_recorded for o in again)
    assert [o.disposition for o in again] == dispositions
    assert count(service, OutboxMessage) == 2 and count(service, Message) == 3


def test_a_bug_while_recording_a_batch_falls_back_to_one_by_one(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline_module.record_inbound
    poison = b"poison"

    def record(session: object, **kwargs: Any) -> RecordOutcome:
        if poison in kwargs["message"].text.encode():
            raise RuntimeError("record bug")
        return real(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_module, "record_inbound", record)
    raws = [build_eml(body=f"question {i}") for i in range(3)] + [build_eml(body="poison")]
    outcomes = service.pipeline.process_batch(_batch(*raws))
    assert [o.disposition for o in outcomes] == [Disposition.NEW_REQUEST] * 3 + [
        Disposition.QUARANTINED
    ]
    assert count(service, OutboxMessage) == 3
    with service.sessions() as session:
        quarantined = session.scalars(
            select(Message).where(Message.status == MessageStatus.QUARANTINED)
        ).one()
        assert quarantined.error is not None and "record bug" in quarantined.error
