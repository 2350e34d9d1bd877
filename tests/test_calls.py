"""Telephone calls: `calls log`, `calls list`, and the phone request they make."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from dcs_mailbox.calls_cli import add_calls_parser, run_calls
from dcs_mailbox.clock import FixedClock
from dcs_mailbox.config import Settings
from dcs_mailbox.errors import ConfigError
from dcs_mailbox.service import Service
from dcs_mailbox.store.calls import CallError, list_calls, log_call
from dcs_mailbox.store.members import load_registry, replace_members
from dcs_mailbox.store.models import (
    Message,
    OutboxMessage,
    ReferenceCounter,
    Request,
    RequestEvent,
)
from dcs_mailbox.store.queries import list_requests
from dcs_mailbox.triage.members import Member, MemberRegistry
from tests.support import CHANNEL, at, build_eml, make_service, make_settings

NOW = at("2026-11-24 13:30")
PARIS = ZoneInfo("Europe/Paris")
MEMBERS = [
    Member("Société Générale de Sûreté", "sgs.example"),
    Member("Acme Industrie", "acme-industrie.example"),
]
USP = {
    **CHANNEL,
    "name": "USP",
    "tag": "Saisine USP",
    "partner_name": "Union des entreprises de sécurité privée",
    "reference_prefix": "USP",
    "keyword": "$SaisineUSP",
}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    settings = make_settings(tmp_path / "data", channels=[CHANNEL, USP])
    service = make_service(settings, FixedClock(NOW))
    with service.sessions.begin() as session:
        replace_members(session, MEMBERS, NOW)
    yield service
    service.close()


def calls(settings: Settings, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="dcs-mailbox")
    add_calls_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["calls", *argv, "--config", "config.toml"])
    return run_calls(settings, args, clock=FixedClock(NOW))


def log(service: Service, *extra: str, subject: str = "Palpations à l'entrée d'un site") -> int:
    return calls(
        service.settings,
        "log",
        "--from",
        "Paul Durand",
        "--company",
        "Société Générale de Sûreté",
        "--subject",
        subject,
        "--agent",
        "agent.dupont",
        *extra,
    )


def phone_request(service: Service, reference: str) -> Request:
    with service.sessions() as session:
        return session.scalars(select(Request).where(Request.reference == reference)).one()


def count(service: Service, entity: type[object]) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(entity)) or 0)


def test_a_call_takes_the_next_reference_shared_with_mail(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = service.pipeline.process(
        build_eml(), arrived_at=at("2026-11-24 09:00"), location=None
    )
    assert outcome.request_reference == "CDSE-2026-0001"
    assert log(service) == 0
    assert "Appel enregistré sous la référence CDSE-2026-0002" in capsys.readouterr().out
    request = phone_request(service, "CDSE-2026-0002")
    assert (request.medium, request.channel, request.year, request.number) == (
        "phone",
        "CDSE",
        2026,
        2,
    )
    assert request.requester_name == "Paul Durand" and request.requester_address is None
    assert request.subject == "Palpations à l'entrée d'un site"
    # The agent on the line is the acknowledgement: acknowledged the moment it arrives.
    assert request.status == "acknowledged"
    assert request.received_at == request.acknowledged_at == NOW
    assert (request.created_at, request.updated_at) == (NOW, NOW)
    with service.sessions() as session:
        assert session.scalar(select(Message.id).where(Message.request_id == request.id)) is None
        [event] = session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id))
    assert event.type == "phone_call_logged" and event.at == NOW
    # No personal data in the append-only timeline: the caller's name is not there.
    assert json.loads(event.detail) == {
        "company": "Société Générale de Sûreté",
        "agent": "agent.dupont",
        "at": NOW.isoformat(),
    }


def test_each_channel_numbers_its_own_calls(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    assert log(service, "--channel", "USP") == 0
    assert log(service, subject="Autre question") == 0
    out = capsys.readouterr().out
    assert "référence USP-2026-0001" in out and "référence CDSE-2026-0001" in out


def test_an_unknown_channel_is_refused_by_name(service: Service) -> None:
    with pytest.raises(ConfigError, match="no channel named 'SNES'"):
        log(service, "--channel", "SNES")
    assert count(service, Request) == 0


def test_the_reference_year_is_the_year_in_paris(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    # 31 December 23:30 UTC is already 1 January in Paris.
    settings = service.settings
    with service.sessions.begin() as session:
        request = log_call(
            session,
            channel=settings.channels[0],
            at=at("2026-12-31 23:30"),
            caller="Paul Durand",
            company="Acme Industrie",
            subject="Vœux et question",
            urgent=False,
            scope="in",
            registry=MemberRegistry(),
            now=at("2027-01-01 00:00"),
            agent="agent.dupont",
            zone=settings.service.zone,
        )
        assert request.reference == "CDSE-2027-0001" and request.year == 2027


@pytest.mark.parametrize(
    ("typed", "utc"),
    [
        ("2026-07-01 10:00", "2026-07-01 08:00"),  # summer time, UTC+2
        ("2026-11-24 10:00", "2026-11-24 09:00"),  # winter time, UTC+1
        ("24/11/2026 10:00", "2026-11-24 09:00"),  # as French agents write it
        ("2026-11-24T14:34", "2026-11-24 13:34"),  # 4 minutes ahead: clock skew, accepted
    ],
)
def test_at_is_local_time_in_the_configured_zone(service: Service, typed: str, utc: str) -> None:
    assert log(service, "--at", typed) == 0
    assert phone_request(service, "CDSE-2026-0001").received_at == at(utc)


def test_a_call_logged_without_at_was_taken_now(service: Service) -> None:
    assert log(service) == 0
    assert phone_request(service, "CDSE-2026-0001").received_at == NOW


def test_membership_by_company_name_ignores_accents_case_and_spacing(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = service.settings
    base = ["log", "--from", "Paul Durand", "--subject", "Question", "--agent", "a"]
    assert calls(settings, *base, "--company", "  SOCIETE generale  de\u00a0surete ") == 0
    assert "Entreprise membre : Société Générale de Sûreté." in capsys.readouterr().out
    assert (
        calls(settings, *base, "--company", "Générale de Sûreté", "--at", "2026-11-24 12:00") == 0
    )
    out = capsys.readouterr().out
    assert "« Générale de Sûreté » n'est pas dans l'annuaire des membres" in out
    assert "requests set CDSE-2026-0002 --member yes" in out

    member = phone_request(service, "CDSE-2026-0001")
    assert member.member is True and member.member_company == "Société Générale de Sûreté"
    other = phone_request(service, "CDSE-2026-0002")
    assert other.member is False and other.member_company is None
    with service.sessions() as session:
        [member_call, other_call] = list_calls(session)
    # The stated company is kept with the call, not passed off as a member's name.
    assert member_call.company == "SOCIETE generale  de\u00a0surete"
    assert member_call.member_company == "Société Générale de Sûreté"
    assert (other_call.company, other_call.member_company) == ("Générale de Sûreté", None)


def test_match_company_is_exact_on_the_folded_name() -> None:
    registry = MemberRegistry(MEMBERS)
    assert registry.match_company("acme   INDUSTRIE") == MEMBERS[1]
    assert registry.match_company("société générale de sûreté") == MEMBERS[0]
    assert registry.match_company("Acme") is None
    assert registry.match_company("Acme Industrie SAS") is None
    assert registry.match_company("   ") is None


def test_a_call_is_listed_with_requests_and_never_gets_an_acknowledgement_mail(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    service.pipeline.process(build_eml(), arrived_at=at("2026-11-24 09:00"), location=None)
    assert log(service, "--urgent", "--scope", "in") == 0
    capsys.readouterr()

    assert calls(service.settings, "list") == 0
    table = capsys.readouterr().out
    assert "CDSE-2026-0002" in table and "24/11/2026 14:30" in table and "Paul Durand" in table
    assert "CDSE-2026-0001" not in table  # the mail is a request, not a call
    assert calls(service.settings, "list", "--json") == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["reference"] == "CDSE-2026-0002" and row["at"] == NOW.isoformat()
    assert (row["caller"], row["company"], row["agent"]) == (
        "Paul Durand",
        "Société Générale de Sûreté",
        "agent.dupont",
    )
    assert (row["member"], row["urgent"], row["scope"]) == (True, True, "in")

    with service.sessions() as session:
        listed = {r.reference: r for r in list_requests(session)}
        assert listed.keys() == {"CDSE-2026-0001", "CDSE-2026-0002"}
        outbox = session.execute(
            select(Request.reference, OutboxMessage.kind).join(
                OutboxMessage, OutboxMessage.request_id == Request.id
            )
        ).all()
    assert listed["CDSE-2026-0002"].urgent is True
    assert outbox == [("CDSE-2026-0001", "acknowledgement")]  # the mail's, none for the call


def test_an_urgent_call_keeps_its_flag(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    assert log(service, "--urgent") == 0
    assert "Marqué urgent." in capsys.readouterr().out
    assert phone_request(service, "CDSE-2026-0001").urgent is True
    assert log(service, subject="Pas urgent") == 0
    assert phone_request(service, "CDSE-2026-0002").urgent is False


def test_an_empty_list_says_so(service: Service, capsys: pytest.CaptureFixture[str]) -> None:
    assert calls(service.settings, "list") == 0
    assert capsys.readouterr().out.strip() == "Aucun appel enregistré."


@pytest.mark.parametrize(
    ("extra", "subject", "message"),
    [
        ((), "   ", "cannot be logged without a subject"),
        (("--at", "2026-11-24 14:40"), "Question", r"2026-11-24 14:40 \(Europe/Paris\) is in the"),
        (("--at", "2027-11-24 10:00"), "Question", "is in the future"),
        (("--at", "demain 14h"), "Question", "write it like 2026-11-24 14:05"),
        (("--at", "2026-03-29 02:30"), "Question", "does not exist in Europe/Paris"),
    ],
)
def test_invalid_input_is_a_clear_error_and_writes_nothing(
    service: Service, extra: tuple[str, ...], subject: str, message: str
) -> None:
    with pytest.raises(CallError, match=message):
        log(service, *extra, subject=subject)
    for entity in (Request, RequestEvent, ReferenceCounter):
        assert count(service, entity) == 0


def test_an_unknown_scope_is_refused(service: Service, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        log(service, "--scope", "maybe")
    assert "invalid choice: 'maybe'" in capsys.readouterr().err
    with service.sessions.begin() as session, pytest.raises(CallError, match="unknown scope"):
        log_call(
            session,
            channel=service.settings.channels[0],
            at=NOW,
            caller="Paul Durand",
            company="Acme Industrie",
            subject="Question",
            urgent=False,
            scope="maybe",
            registry=load_registry(session),
            now=NOW,
            agent="agent.dupont",
            zone=PARIS,
        )
    assert count(service, Request) == 0 and count(service, ReferenceCounter) == 0


def test_the_same_call_typed_twice_is_counted_once(service: Service) -> None:
    assert log(service, "--at", "2026-11-24 14:05") == 0
    with pytest.raises(CallError, match="already logged as CDSE-2026-0001"):
        log(service, "--at", "2026-11-24 14:05")
    assert count(service, Request) == 1
    assert log(service, "--at", "2026-11-24 14:20") == 0  # a second call is a new request
    assert count(service, Request) == 2
