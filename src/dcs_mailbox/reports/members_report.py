"""Use of the contact point by member company (protocol art. 7).

Per member company: how many of its requests fell outside the contact point's scope or
asked about personal data, so that the CDSE can remind the members who use the contact
point wrongly. Counts and member company names only: no requester, no subject.

`compute_member_usage` is SQL in, a plain model out; `member_usage_context` and
`member_usage_csv` render it (templates/members_report/, attachment).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dcs_mailbox.reports.email import number_fr, percent_fr
from dcs_mailbox.reports.model import Period
from dcs_mailbox.reports.tables import csv_text
from dcs_mailbox.store.models import Request, RequestStatus

OUT_OF_SCOPE = "out"


class MemberUsage(BaseModel):
    model_config = ConfigDict(frozen=True)

    company: str  # member company, as the registry names it
    requests: int  # its requests of the period
    out_of_scope: int  # ... outside the contact point's scope
    personal_data: int  # ... about personal data
    flagged: int  # ... either (a request may be both)


class MemberUsageReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    period: Period
    # Every member company with a request in the period: most flagged requests first,
    # then most requests, then by name.
    members: list[MemberUsage]

    @property
    def flagged_members(self) -> list[MemberUsage]:
        """The companies the CDSE may want to remind of the rules."""
        return [member for member in self.members if member.flagged]

    @property
    def requests(self) -> int:
        return sum(member.requests for member in self.members)


def compute_member_usage(session: Session, period: Period) -> MemberUsageReport:
    """Requests of member companies received in [period.start, period.end), except
    those an agent marked as not a request (they are out of every statistic)."""
    out_of_scope = Request.scope == OUT_OF_SCOPE
    personal_data = Request.personal_data.is_(True)
    rows = session.execute(
        select(
            Request.member_company,
            func.count(Request.id),
            func.sum(case((out_of_scope, 1), else_=0)),
            func.sum(case((personal_data, 1), else_=0)),
            func.sum(case((out_of_scope | personal_data, 1), else_=0)),
        )
        .where(
            Request.received_at >= period.start,
            Request.received_at < period.end,
            Request.status != RequestStatus.NOT_A_REQUEST,
            Request.member.is_(True),
            Request.member_company.is_not(None),
        )
        .group_by(Request.member_company)
    ).all()
    members = [
        MemberUsage(
            company=company,
            requests=requests,
            out_of_scope=int(outside),
            personal_data=int(personal),
            flagged=int(flagged),
        )
        for company, requests, outside, personal, flagged in rows
    ]
    members.sort(key=lambda m: (-m.flagged, -m.requests, m.company.casefold(), m.company))
    return MemberUsageReport(period=period, members=members)


def member_usage_context(
    report: MemberUsageReport,
    *,
    partner_name: str,
    channel_name: str,
    generated_at: datetime,
) -> dict[str, object]:
    """What templates/members_report/*.j2 read."""
    flagged = report.flagged_members
    return {
        "partner_name": partner_name,
        "channel_name": channel_name,
        "period_label": report.period.label,
        "period_title": report.period.title,
        "generated_at": generated_at,
        "companies": len(report.members),
        "request_count": report.requests,
        "requests": number_fr(report.requests),
        "flagged_count": len(flagged),
        "other_companies": len(report.members) - len(flagged),
        "out_of_scope_total": number_fr(sum(m.out_of_scope for m in report.members)),
        "personal_data_total": number_fr(sum(m.personal_data for m in report.members)),
        "rows": [
            {
                "company": m.company,
                "requests": number_fr(m.requests),
                "out_of_scope": number_fr(m.out_of_scope),
                "personal_data": number_fr(m.personal_data),
                "flagged_count": m.flagged,
                "flagged": number_fr(m.flagged),
                "flagged_share": percent_fr(m.flagged / m.requests),
                "detail": _detail(m),
            }
            for m in flagged
        ],
    }


def _detail(member: MemberUsage) -> str:
    """« 6 hors du champ et 2 portant sur des données personnelles », zeros left out."""
    parts = []
    if member.out_of_scope:
        parts.append(f"{number_fr(member.out_of_scope)} hors du champ")
    if member.personal_data:
        parts.append(f"{number_fr(member.personal_data)} portant sur des données personnelles")
    return " et ".join(parts)


MEMBER_CSV_HEADER = (
    "entreprise",
    "saisines",
    "hors du champ",
    "données personnelles",
    "hors du champ ou données personnelles",
)


def member_usage_csv(report: MemberUsageReport) -> bytes:
    """Every member company of the report; UTF-8 with BOM and `;` for French Excel."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(MEMBER_CSV_HEADER)
    for m in report.members:
        writer.writerow(
            (csv_text(m.company), m.requests, m.out_of_scope, m.personal_data, m.flagged)
        )
    return buffer.getvalue().encode("utf-8-sig")
