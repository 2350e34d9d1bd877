"""The parsed form of one inbound message: the only thing downstream stages read.

Nothing after `parse` touches `email.message` again (STYLE.md): triage, record and
outbound work on this immutable model.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class Address(BaseModel):
    model_config = ConfigDict(frozen=True)

    # addr-spec, lower-cased. May lack "@" ("mailer-daemon") or be "" (only a display
    # name): such an address identifies a sender but is never written to.
    address: str
    name: str = ""

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    filename: str  # as announced by the sender; never used as a path
    content_type: str
    size: int


class AutomationHeaders(BaseModel):
    """The headers that tell machine-sent mail from a person's (RFC 3834, RFC 2369, RFC 3464)."""

    model_config = ConfigDict(frozen=True)

    auto_submitted: str | None = None
    precedence: str | None = None
    x_autoreply: str | None = None
    x_autorespond: str | None = None
    x_auto_response_suppress: str | None = None
    list_id: str | None = None
    list_unsubscribe: str | None = None
    feedback_id: str | None = None


class InboundMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha256: str
    size: int
    message_id: str | None  # without angle brackets
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    subject: str = ""  # decoded (RFC 2047), whitespace-folded
    sender: Address | None = None  # From
    reply_to: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    # None: no Return-Path header (not delivered through an MTA that adds one); "": null
    # reverse-path "<>", the mark of a bounce (RFC 5321 §4.5.5).
    return_path: str | None = None
    date: datetime | None = None  # Date header, timezone-aware
    content_type: str = "text/plain"  # top-level type, lower-case
    report_type: str | None = None  # multipart/report's report-type parameter (RFC 6522)
    automation: AutomationHeaders = AutomationHeaders()
    text: str = ""  # text/plain body, or HTML converted to text
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()  # what the parser had to repair or could not read

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers, nearest first (RFC 5322 §3.6.4)."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)
