"""The member registry in the database: import from the CDSE's CSV, load for triage."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.store.models import MemberCompany
from dcs_mailbox.triage.members import Member, MemberRegistry

COLUMNS = ("company", "domain", "director_name", "director_email")


class MembersFileError(DcsMailboxError):
    """The members CSV cannot be read or has the wrong shape."""


@dataclass(frozen=True)
class ImportReport:
    added: int
    updated: int
    removed: int
    total: int


def read_members_csv(path: Path) -> list[Member]:
    """Read `company,domain,director_name,director_email` (UTF-8, header row)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MembersFileError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise MembersFileError(f"{path} is not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS[:2] if c not in (reader.fieldnames or [])]
    if missing:
        raise MembersFileError(
            f"{path}: missing column(s) {', '.join(missing)}; expected header {','.join(COLUMNS)}"
        )
    members: list[Member] = []
    for line, row in enumerate(reader, start=2):
        company = (row.get("company") or "").strip()
        domain = (row.get("domain") or "").strip().lower().lstrip("@")
        if not company or not domain or "." not in domain:
            raise MembersFileError(f"{path}, line {line}: a company and a domain are required")
        members.append(
            Member(
                company=company,
                domain=domain,
                director_name=(row.get("director_name") or "").strip(),
                director_email=(row.get("director_email") or "").strip().lower(),
            )
        )
    return members


def replace_members(session: Session, members: list[Member], now: datetime) -> ImportReport:
    """Make the registry exactly the file's content (the CDSE's list is authoritative)."""
    existing = {m.domain: m for m in session.scalars(select(MemberCompany))}
    wanted = {m.domain: m for m in members}
    added = updated = 0
    for domain, member in wanted.items():
        row = existing.get(domain)
        if row is None:
            session.add(
                MemberCompany(
                    company=member.company,
                    domain=domain,
                    director_name=member.director_name,
                    director_email=member.director_email,
                    imported_at=now,
                )
            )
            added += 1
        elif (row.company, row.director_name, row.director_email) != (
            member.company,
            member.director_name,
            member.director_email,
        ):
            row.company, row.director_name = member.company, member.director_name
            row.director_email, row.imported_at = member.director_email, now
            updated += 1
    gone = [d for d in existing if d not in wanted]
    if gone:
        session.execute(delete(MemberCompany).where(MemberCompany.domain.in_(gone)))
    return ImportReport(added, updated, len(gone), len(wanted))


def load_registry(session: Session) -> MemberRegistry:
    return MemberRegistry(
        Member(r.company, r.domain, r.director_name, r.director_email)
        for r in session.scalars(select(MemberCompany))
    )


def registry_version(session: Session) -> tuple[int, object]:
    """Changes whenever an import adds, updates or removes a member."""
    count, latest = session.execute(
        select(func.count(MemberCompany.id), func.max(MemberCompany.imported_at))
    ).one()
    return int(count), latest
