from __future__ import annotations

from pathlib import Path

import pytest

from dcs_mailbox.store.members import MembersFileError, read_members_csv
from dcs_mailbox.triage.members import Member, MemberRegistry

REGISTRY = MemberRegistry(
    [
        Member(
            "Groupe Exemple",
            "groupe-exemple.example",
            "Anne Durand",
            "a.durand@groupe-exemple.example",
        )
    ]
)


def test_an_address_at_a_member_domain_is_a_member() -> None:
    member = REGISTRY.match("deputy@groupe-exemple.example")
    assert member is not None and member.company == "Groupe Exemple"


def test_a_subdomain_of_a_member_domain_is_a_member() -> None:
    assert REGISTRY.match("surete@filiale.groupe-exemple.example") is not None


def test_a_registered_director_writing_from_webmail_is_not_a_member() -> None:
    assert REGISTRY.match("anne.durand@webmail.example") is None


def test_a_lookalike_domain_is_not_a_member() -> None:
    assert REGISTRY.match("x@groupe-exemple.example.evil.example") is None
    assert REGISTRY.match("x@autregroupe-exemple.example") is None


def test_no_address_is_not_a_member() -> None:
    assert REGISTRY.match(None) is None and REGISTRY.match("mailer-daemon") is None


def test_members_csv_is_read_with_its_header(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "company,domain,director_name,director_email\n"
        "Société Générale d'Exemple,SGE.example,Élise Roux,E.Roux@sge.example\n",
        encoding="utf-8",
    )
    [member] = read_members_csv(path)
    assert member == Member(
        "Société Générale d'Exemple", "sge.example", "Élise Roux", "e.roux@sge.example"
    )


def test_members_csv_without_domain_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("company,site\nX,x.example\n", encoding="utf-8")
    with pytest.raises(MembersFileError, match="missing column"):
        read_members_csv(path)
