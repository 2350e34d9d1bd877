"""The record-stage acknowledgement rules of docs/loop-protection.md, one fixture each."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.service import Service
from dcs_mailbox.store.record import Disposition
from tests.support import at, build_eml, make_service, make_settings

FIXTURES = Path(__file__).parent / "fixtures" / "loop"
NOW = at("2026-11-24 10:00")


@pytest.fixture
def service(tmp_path: Path) -> Service:
    svc = make_service(make_settings(tmp_path / "data"), FixedClock(NOW))
    yield svc  # type: ignore[misc]
    svc.close()


def test_request_without_a_usable_sender_is_recorded_without_acknowledgement(
    service: Service,
) -> None:
    raw = (FIXTURES / "record-no-sender.eml").read_bytes()
    outcome = service.pipeline.process(raw, arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.NEW_REQUEST
    assert outcome.withheld is not None and outcome.withheld.rule == "ack.no-sender"


def test_our_own_mail_is_never_acknowledged(service: Service) -> None:
    raw = (FIXTURES / "record-own-address.eml").read_bytes()
    outcome = service.pipeline.process(raw, arrived_at=NOW, location=None)
    assert not outcome.acknowledgement_queued
    assert outcome.disposition is Disposition.AUTOMATED  # sender.own-address


def test_followup_of_a_known_request_is_attached_without_acknowledgement(
    service: Service,
) -> None:
    service.pipeline.process(build_eml(), arrived_at=NOW, location=None)
    raw = (FIXTURES / "record-followup.eml").read_bytes()
    outcome = service.pipeline.process(raw, arrived_at=NOW, location=None)
    assert outcome.disposition is Disposition.FOLLOWUP
    assert outcome.request_reference == "CDSE-2026-0001"
    assert not outcome.acknowledgement_queued


def test_mail_older_than_the_horizon_is_history_not_a_request(service: Service) -> None:
    service.pipeline.history_before = NOW - timedelta(hours=24)
    old = service.pipeline.process(
        build_eml(message_id="old@x.example"), arrived_at=NOW - timedelta(days=3), location=None
    )
    assert old.disposition is Disposition.HISTORY
