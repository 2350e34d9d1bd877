"""What triage decides about one message, and why."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Kind(StrEnum):
    REQUEST = "request"  # a person asking the DCS something (tagged or not)
    FOLLOWUP = "followup"  # a message in the thread of a known request (set by record)
    AUTO_REPLY = "auto_reply"  # RFC 3834 automatic response, out-of-office
    BOUNCE = "bounce"  # delivery status notification, MDN, feedback report
    OTHER = "other"  # mailing lists, newsletters, our own mail, machine notices


class Reason(BaseModel):
    """One rule that fired, with the evidence that fired it."""

    model_config = ConfigDict(frozen=True)

    rule: str  # stable identifier, e.g. "auto.auto-submitted"; documented in docs/
    detail: str  # French, for agents: what was seen
    evidence: str = ""  # the header value or text span that matched


class Verdict(BaseModel):
    """Every flag carries its reasons in `reasons` (rule ids are prefixed by family:
    tag., auto./bounce./list./report./sender., kind., member., scope., pd., urgent.)."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    tagged: bool
    channel: str | None = None  # name of the channel whose tag matched
    # Where the answer must not go, whatever the kind: a reply would loop or backscatter.
    no_reply: bool = False
    member: bool = False
    member_company: str | None = None
    # "in", "out" or "uncertain" for requests and follow-ups that ask something;
    # None where the question does not arise (machine mail, "thank you" follow-ups).
    scope: str | None = None
    category: str | None = None
    service: str | None = None  # key of the suggested competent service, for "out"
    personal_data: bool | None = None
    urgent: bool = False
    reasons: tuple[Reason, ...] = ()

    @property
    def in_scope(self) -> bool | None:
        return {"in": True, "out": False}.get(self.scope or "")
