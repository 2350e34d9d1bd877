from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.reports.periods import quarter
from dcs_mailbox.reports.stats import compute_stats
from dcs_mailbox.store.models import Message, Request, RequestEvent
from dcs_mailbox.store.retention import purge
from tests.support import at, build_eml, make_service, make_settings

NOW = at("2026-11-24 10:00")


def test_old_mail_loses_its_personal_data_and_statistics_keep_their_figures(
    tmp_path: Path,
) -> None:
    service = make_service(make_settings(tmp_path / "data"), FixedClock(NOW))
    old_arrival = NOW - timedelta(days=800)
    old = build_eml(message_id="old@x.example", sender="Anne Durand <a.durand@x.example>")
    new = build_eml(message_id="new@x.example", sender="Paul Roux <p.roux@y.example>")
    service.pipeline.process(old, arrived_at=old_arrival, location=None)
    service.pipeline.process(new, arrived_at=NOW, location=None)
    period = quarter("2024-Q3", service.settings.service.zone)
    with service.sessions() as session:
        before = compute_stats(session, period, now=NOW, zone=service.settings.service.zone)
    with service.sessions.begin() as session:
        report = purge(session, service.archive, now=NOW, days=730)
    assert (report.messages, report.requests, report.files) == (1, 1, 1)
    with service.sessions() as session:
        old_request, new_request = session.scalars(select(Request).order_by(Request.id)).all()
        assert old_request.requester_address is None and old_request.requester_name == ""
        assert old_request.subject == "" and old_request.received_at == old_arrival
        assert new_request.requester_address == "p.roux@y.example"  # recent: untouched
        messages = session.scalars(select(Message).order_by(Message.id)).all()
        assert messages[0].from_address is None and messages[0].reasons == "[]"
        details = [json.loads(e.detail) for e in session.scalars(
            select(RequestEvent).where(RequestEvent.request_id == old_request.id))]  # fmt: skip
        assert details and all(d == {} for d in details)
        after = compute_stats(session, period, now=NOW, zone=service.settings.service.zone)
    assert after.model_dump(exclude={"generated_at"}) == before.model_dump(exclude={"generated_at"})
    assert not service.archive.path_for(messages[0].sha256).exists()
    assert service.archive.path_for(messages[1].sha256).exists()
    # Seen again after the purge: recognised, not a new request, not acknowledged again.
    again = service.pipeline.process(old, arrived_at=NOW, location=None)
    assert again.already_recorded
    assert not service.archive.path_for(messages[0].sha256).exists()  # not re-archived
    with service.sessions.begin() as session:
        assert purge(session, service.archive, now=NOW, days=730).messages == 0
    service.close()


def test_the_database_file_is_owner_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    make_service(settings).close()
    database = Path(settings.database_url.removeprefix("sqlite:///"))
    assert database.stat().st_mode & 0o077 == 0
    assert settings.service.data_dir.stat().st_mode & 0o077 == 0
