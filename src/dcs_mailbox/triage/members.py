"""The CDSE member registry, as triage sees it: pure lookups, no database.

Membership is decided by the sender's domain (protocol art. 1: the contact point serves
the security directors of member companies). Any address at a member company's domain
or one of its subdomains counts; a director writing from a personal webmail does not,
since nothing ties that address to the company.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from dcs_mailbox.text import fold
from dcs_mailbox.triage.verdict import Reason


@dataclass(frozen=True)
class Member:
    company: str
    domain: str  # lower-case, no leading "@"
    director_name: str = ""
    director_email: str = ""


class MemberRegistry:
    def __init__(self, members: Iterable[Member] = ()) -> None:
        self._by_domain: dict[str, Member] = {}
        for member in members:
            self._by_domain.setdefault(member.domain.lower().lstrip("@."), member)

    def __len__(self) -> int:
        return len(self._by_domain)

    def __iter__(self) -> Iterator[Member]:
        return iter(self._by_domain.values())

    def match(self, address: str | None) -> Member | None:
        if not address or "@" not in address:
            return None
        domain = address.rpartition("@")[2].lower().rstrip(".")
        labels = domain.split(".")
        for start in range(len(labels) - 1):  # the domain itself, then each parent
            member = self._by_domain.get(".".join(labels[start:]))
            if member is not None:
                return member
        return None

    def match_company(self, name: str) -> Member | None:
        """The member whose company name is `name`, ignoring case, accents and spacing.

        For a caller on the phone, the company they state is all there is: an exact name
        (« societe  generale » is « Société Générale »), never a guess between look-alikes.
        """
        wanted = fold(name)
        if not wanted:
            return None
        return next((m for m in self if fold(m.company) == wanted), None)

    def reason(self, address: str | None) -> tuple[bool, Reason]:
        member = self.match(address)
        if member is not None:
            return True, Reason(
                rule="member.domain",
                detail=f"Adresse d'une entreprise membre du CDSE ({member.company})",
                evidence=address or "",
            )
        return False, Reason(
            rule="member.unknown",
            detail="Adresse absente de l'annuaire des membres du CDSE",
            evidence=address or "",
        )
