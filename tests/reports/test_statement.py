"""The protocol's reports end to end: content, no personal data, schedule, sending once."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from dcs_mailbox.cli import main
from dcs_mailbox.clock import FixedClock
from dcs_mailbox.reports.periods import quarter
from dcs_mailbox.reports.statement import build_statement, due, send_statement
from dcs_mailbox.scheduler import Scheduler
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import ReportRun, Request
from tests.servers.smtp import SmtpCapture
from tests.support import at, make_service, settings_dict
from tests.test_cli import write_config

REQUESTERS = [
    ("Hélène Marchetti-Roux", "h.marchetti-roux@veloria.example", "Groupe Veloria"),
    ("Bertrand Quéré", "b.quere@transalpe.example", "Transalpe Logistique"),
    ("Inès Bouchard", "ines.bouchard@webmail.example", None),
]
SUBJECTS = ["Caméras sur le parking de Saint-Priest", "Palpations au salon Vinexpo", "Stage"]


def seed(service: Service) -> None:
    """Nine requests in Q4 2026 and three in Q3, with names, addresses and subjects that
    must never appear in a report."""
    with service.sessions.begin() as session:
        number = 0
        for month, count in ((8, 3), (10, 4), (11, 3), (12, 2)):
            for i in range(count):
                number += 1
                name, address, company = REQUESTERS[number % 3]
                received = at(f"2026-{month:02d}-{10 + i:02d} 09:00")
                session.add(
                    Request(
                        reference=f"CDSE-2026-{number:04d}", channel="CDSE", year=2026,
                        number=number, requester_name=name, requester_address=address,
                        subject=f"Saisine CDSE - {SUBJECTS[number % 3]}", received_at=received,
                        status="answered", acknowledged_at=received + timedelta(minutes=1),
                        answered_at=received + timedelta(hours=5 + number),
                        created_at=received, updated_at=received, member=company is not None,
                        member_company=company, scope="out" if number % 4 == 0 else "in",
                        personal_data=number % 5 == 0, medium="email",
                    )
                )  # fmt: skip


@pytest.fixture
def service(tmp_path: Path) -> Service:
    data = settings_dict(
        tmp_path / "data",
        reports={"recipients": ["contact@cdse.example"], "time": "09:00"},
    )
    from dcs_mailbox.config import settings_from_dict
    from dcs_mailbox.store.db import upgrade

    settings = settings_from_dict(data)
    upgrade(settings.database_url)
    svc = make_service(settings, FixedClock(at("2027-01-04 09:30")))
    seed(svc)
    yield svc  # type: ignore[misc]
    svc.close()


def all_text(statement_bytes: list[bytes]) -> str:
    texts = []
    for blob in statement_bytes:
        if blob[:2] == b"PK":  # xlsx: every XML part
            with zipfile.ZipFile(io.BytesIO(blob)) as archive:
                texts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        else:
            texts.append(blob.decode("utf-8", "replace"))
    return "\n".join(texts)


@pytest.mark.parametrize("kind", ["quarterly", "members", "annual"])
def test_reports_contain_no_personal_data(service: Service, kind: str) -> None:
    period = quarter("2026-Q4", service.settings.service.zone)
    if kind == "annual":
        from dcs_mailbox.reports.periods import year

        period = year("2026", service.settings.service.zone)
    statement = build_statement(
        service, kind, period, message_id="m@x", now=service.clock.now(), to=("c@x.example",)
    )
    message = message_from_bytes(statement.message.as_bytes(), policy=default)
    decoded = [
        part.get_content().encode() if part.get_content_maintype() == "text"
        else part.get_payload(decode=True)
        for part in message.walk() if not part.is_multipart()
    ]  # fmt: skip
    text = all_text([*decoded, statement.html.encode(), statement.csv, statement.xlsx or b""])
    for name, address, _company in REQUESTERS:
        assert name not in text and address not in text
        assert address.split("@")[0] not in text
    for subject in SUBJECTS:
        assert subject not in text


def test_quarterly_figures_reach_the_email_and_its_attachments(service: Service) -> None:
    period = quarter("2026-Q4", service.settings.service.zone)
    statement = build_statement(
        service, "quarterly", period, message_id="m@x", now=service.clock.now(), to=("c@x",)
    )
    assert statement.figures["total"] == 9 and statement.figures["previous_total"] == 3
    message = message_from_bytes(statement.message.as_bytes(), policy=default)
    names = sorted(p.get_filename() for p in message.iter_attachments())  # type: ignore[attr-defined]
    assert names == ["statistiques-dcs-2026-T4.csv", "statistiques-dcs-2026-T4.xlsx"]
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "4e trimestre 2026" in plain and "9" in plain
    assert statement.png is not None and statement.png[:8] == b"\x89PNG\r\n\x1a\n"


def test_reports_fall_due_on_the_first_working_day_after_the_period(service: Service) -> None:
    settings = service.settings
    # Q4 2026 ends on Thursday 31 December; 1 January is a holiday, then a weekend.
    assert due(at("2027-01-01 10:00"), settings) == []
    assert due(at("2027-01-04 07:59"), settings) == []  # 08:59 in Paris
    kinds = {(kind, period.label) for kind, period in due(at("2027-01-04 08:00"), settings)}
    assert kinds == {("quarterly", "2026-Q4"), ("members", "2026-Q4"), ("annual", "2026")}
    assert {k for k, _p in due(at("2027-02-15 08:00"), settings)} == {
        "quarterly", "members", "annual"
    }  # fmt: skip


def test_each_report_is_sent_once_across_restarts_and_caught_up_after_downtime(
    service: Service, smtp_server: SmtpCapture
) -> None:
    from dcs_mailbox.config import settings_from_dict

    data = service.settings.model_dump(mode="json")
    data["smtp"] = {"host": smtp_server.host, "port": smtp_server.port, "security": "plain"}
    settings = settings_from_dict(data)
    # The daemon was down on 4 January: it comes back on the 11th and catches up.
    late = make_service(settings, FixedClock(at("2027-01-11 10:00")))
    for _restart in range(2):
        scheduler = Scheduler(late)
        scheduler.run_reports_now()
        assert scheduler.job_errors == []
    subjects = sorted(str(m.parse()["Subject"]) for m in smtp_server.wait_for(3))
    assert len(smtp_server.messages) == 3
    assert any("4e trimestre 2026" in s for s in subjects)
    with late.sessions() as session:
        runs = {(r.kind, r.period, r.state) for r in session.query(ReportRun)}
    assert runs == {("quarterly", "2026-Q4", "sent"), ("members", "2026-Q4", "sent"),
                    ("annual", "2026", "sent")}  # fmt: skip
    result = send_statement(late, "quarterly", quarter("2026-Q4", settings.service.zone))
    assert result.outcome.value == "already-sent" and len(smtp_server.messages) == 3
    late.close()


def test_report_command_previews_files_and_prints_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    from dcs_mailbox.config import load_settings

    svc = make_service(load_settings(config))
    seed(svc)
    svc.close()
    out_dir = tmp_path / "preview"
    capsys.readouterr()
    assert main(["report", "quarterly", "--period", "2026-Q4", "--config", str(config),
                 "--output", str(out_dir), "--json"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    figures = json.loads(out[: out.rindex("}") + 1])
    assert figures["total"] == 9
    produced = sorted(p.suffix for p in out_dir.iterdir())
    assert produced == [".csv", ".eml", ".html", ".png", ".xlsx"]
    html = (out_dir / "statistiques-dcs-2026-T4.html").read_text()
    assert 'src="statistiques-dcs-2026-T4.png"' in html
    assert main(["report", "annual", "--period", "2026-Q4", "--config", str(config)]) == 2
    assert main(["report", "list", "--config", str(config)]) == 0
    assert "Aucun rapport envoyé." in capsys.readouterr().out


def test_a_flood_alerts_the_managers_once_per_episode(
    tmp_path: Path, smtp_server: SmtpCapture
) -> None:
    from dcs_mailbox.config import settings_from_dict
    from dcs_mailbox.store.db import upgrade

    data = settings_dict(
        tmp_path / "data",
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
        reports={"flood_recipients": ["chef-dcs@interieur.gouv.fr"], "flood_weekly_threshold": 5},
    )
    settings = settings_from_dict(data)
    upgrade(settings.database_url)
    now = at("2026-11-24 10:00")
    svc = make_service(settings, FixedClock(now))
    with svc.sessions.begin() as session:
        for number in range(1, 8):
            received = now - timedelta(hours=number * 5)
            session.add(
                Request(
                    reference=f"CDSE-2026-{number:04d}", channel="CDSE", year=2026,
                    number=number, subject="x", received_at=received, status="acknowledged",
                    created_at=received, updated_at=received,
                )
            )  # fmt: skip
    for _check in range(3):
        scheduler = Scheduler(svc)
        scheduler.run_reports_now()
        assert scheduler.job_errors == []
    [alert] = smtp_server.wait_for(1)
    assert alert.rcpt_tos == ("chef-dcs@interieur.gouv.fr",)
    assert "Afflux de saisines : 7 en sept jours" in str(alert.parse()["Subject"])
    assert len(smtp_server.messages) == 1
    svc.close()
