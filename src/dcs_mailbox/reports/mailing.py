"""A scheduled mailing — the daily digest, the quarterly statistics — sent exactly once
per (kind, period), as far as this side of SMTP can know.

The same steps as outbound/dispatch.py, on a `ReportRun` row instead of an outbox row:

1. the run is claimed: a row (kind, period) committed as pending with its deterministic
   Message-ID. The unique pair stops a second run; the Message-ID lets the Sent-folder
   reader (store/answers.py) recognise our copy instead of taking it for an answer.
2. the message is composed — nothing to say → state "empty", recorded, never retried —
   its bytes archived, and the attempt counted and committed before SMTP;
   crash from here on → pending with attempts > 0: the next call looks for the
   Message-ID in the Sent folder before sending again.
3. on the server's 250 the run is committed sent, at once;
   an SMTP failure leaves it pending with the error, for the next call to retry.
4. the exact bytes are filed in the Sent folder (unless the submission server did).

The window left is the one the dispatcher has (RFC 1047): between the server accepting
the final "." and our commit in step 3.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from dcs_mailbox.clock import Clock
from dcs_mailbox.errors import ImapError, SmtpError
from dcs_mailbox.outbound.dispatch import SentFolder
from dcs_mailbox.outbound.smtp import SmtpSender
from dcs_mailbox.store.archive import RawArchive
from dcs_mailbox.store.models import ReportRun

log = logging.getLogger(__name__)

# Anything with contains(message_id) and append(raw, when): the daemon's ImapSentFolder,
# or a fake in tests.
SentFolderLike = SentFolder

_NAME = re.compile(r"^[A-Za-z0-9-]{1,32}$")


class RunState(StrEnum):
    PENDING = "pending"  # claimed, not (known to be) sent: the next call tries again
    SENT = "sent"
    EMPTY = "empty"  # nothing to send that period: recorded so that it is not retried


FINAL_STATES = frozenset({RunState.SENT, RunState.EMPTY})


class MailingOutcome(StrEnum):
    """What one call did."""

    SENT = "sent"  # this call sent it
    EMPTY = "empty"  # nothing to send (now or at an earlier call): recorded, not retried
    ALREADY_SENT = "already-sent"  # an earlier call sent it (or it was found in Sent)
    FAILED = "failed"  # not sent: the run stays pending and the next call retries


# (message_id, now) → the complete message carrying that Message-ID (attachments and
# all), or None when there is nothing to send this period.
Compose = Callable[[str, datetime], EmailMessage | None]


@dataclass(frozen=True)
class Mailing:
    kind: str  # "digest", "quarterly"...
    period: str  # "2026-11-24", "2026-Q3"...
    recipients: tuple[str, ...]
    compose: Compose


@dataclass(frozen=True)
class MailingResult:
    outcome: MailingOutcome
    message_id: str
    attempts: int
    error: str | None = None  # why it failed, or which recipients refused it


@dataclass(frozen=True)
class _Run:
    id: int
    state: str
    attempts: int


def report_message_id(kind: str, period: str, mailbox_address: str) -> str:
    """Deterministic (RFC 5322 §3.6.4 id-left "." id-right): the same mailing always has
    the same Message-ID, so a copy found in Sent after a crash is recognisable. The local
    part keeps two mailboxes of the same domain from sharing identifiers."""
    for what, value in (("kind", kind), ("period", period)):
        if not _NAME.match(value):
            raise ValueError(f"report {what} {value!r} must be 1-32 letters, digits or '-'")
    local, _, domain = mailbox_address.rpartition("@")
    return f"{kind}.{period}.{local}@{domain}".lower()


class ReportMailer:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        archive: RawArchive,
        clock: Clock,
        sender_factory: Callable[[], SmtpSender],
        mailbox_address: str,
    ) -> None:
        self.sessions = sessions
        self.archive = archive
        self.clock = clock
        self.sender_factory = sender_factory
        self.mailbox_address = mailbox_address

    def state(self, kind: str, period: str) -> str | None:
        """The recorded state of that run, None when it was never claimed."""
        with self.sessions() as session:
            return session.scalar(
                select(ReportRun.state).where(ReportRun.kind == kind, ReportRun.period == period)
            )

    def send(self, mailing: Mailing, sent_folder: SentFolderLike | None = None) -> MailingResult:
        if not mailing.recipients:
            raise ValueError(f"mailing {mailing.kind} {mailing.period} has no recipients")
        message_id = report_message_id(mailing.kind, mailing.period, self.mailbox_address)
        run = self._claim(mailing, message_id)
        if run.state == RunState.SENT:
            return MailingResult(MailingOutcome.ALREADY_SENT, message_id, run.attempts)
        if run.state == RunState.EMPTY:
            return MailingResult(MailingOutcome.EMPTY, message_id, run.attempts)
        if run.attempts and sent_folder is not None:
            recovered = self._recover(run, message_id, sent_folder)
            if recovered is not None:
                return recovered
        return self._attempt(run, mailing, message_id, sent_folder)

    # --- steps -----------------------------------------------------------------------

    def _claim(self, mailing: Mailing, message_id: str) -> _Run:
        where = (ReportRun.kind == mailing.kind, ReportRun.period == mailing.period)
        with self.sessions() as session:
            row = session.scalars(select(ReportRun).where(*where)).one_or_none()
            if row is not None:
                return _Run(row.id, row.state, row.attempts)
        try:
            with self.sessions.begin() as session:
                row = ReportRun(
                    kind=mailing.kind,
                    period=mailing.period,
                    state=RunState.PENDING,
                    message_id_header=message_id,
                    recipients=", ".join(mailing.recipients),
                    created_at=self.clock.now(),
                    attempts=0,
                )
                session.add(row)
                session.flush()
                return _Run(row.id, row.state, row.attempts)
        except IntegrityError:
            pass  # the unique (kind, period): claimed by a concurrent caller meanwhile
        with self.sessions() as session:
            row = session.scalars(select(ReportRun).where(*where)).one()
            return _Run(row.id, row.state, row.attempts)

    def _recover(
        self, run: _Run, message_id: str, sent_folder: SentFolderLike
    ) -> MailingResult | None:
        """An earlier attempt may have left: look before sending again."""
        try:
            already = sent_folder.contains(message_id)
        except ImapError as exc:
            # Sending blind could duplicate; waiting costs one retry interval.
            error = f"vérification impossible dans le dossier des éléments envoyés : {exc}"
            log.warning("report %s not sent: %s", message_id, error)
            self._failed(run.id, error)
            return MailingResult(MailingOutcome.FAILED, message_id, run.attempts, error)
        if not already:
            return None
        log.info("report %s found in the Sent folder after a restart: not sent again", message_id)
        self._sent(run.id, self.clock.now(), None)
        return MailingResult(MailingOutcome.ALREADY_SENT, message_id, run.attempts)

    def _attempt(
        self,
        run: _Run,
        mailing: Mailing,
        message_id: str,
        sent_folder: SentFolderLike | None,
    ) -> MailingResult:
        message = mailing.compose(message_id, self.clock.now())
        if message is None:
            self._empty(run.id)
            log.info("report %s: nothing to send, recorded as empty", message_id)
            return MailingResult(MailingOutcome.EMPTY, message_id, run.attempts)
        _require_message_id(message, message_id)
        raw = message.as_bytes()
        raw_sha256 = self.archive.store(raw)
        refused: str | None = None
        with self.sender_factory() as sender:
            attempts = self._begin_attempt(run.id, mailing, raw_sha256)
            try:
                sender.send(
                    message,
                    envelope_from=self.mailbox_address,
                    recipients=list(mailing.recipients),
                )
            except SmtpError as exc:
                if not _delivered_to_some(exc):
                    log.warning(
                        "report %s not sent (attempt %d), retried at the next call: %s",
                        message_id,
                        attempts,
                        exc,
                    )
                    self._failed(run.id, str(exc))
                    return MailingResult(MailingOutcome.FAILED, message_id, attempts, str(exc))
                refused = str(exc)
                log.error("report %s sent, but some recipients refused it: %s", message_id, exc)
        now = self.clock.now()
        self._sent(run.id, now, refused)
        log.info("report %s sent to %s", message_id, ", ".join(mailing.recipients))
        if sent_folder is not None:
            self._file_copy(sent_folder, message_id, raw, now)
        return MailingResult(MailingOutcome.SENT, message_id, attempts, refused)

    def _file_copy(
        self, sent_folder: SentFolderLike, message_id: str, raw: bytes, now: datetime
    ) -> None:
        try:
            # Some submission servers file their own copy: never two in Sent.
            if not sent_folder.contains(message_id):
                sent_folder.append(raw, now)
        except ImapError as exc:
            # The run is sent and the bytes are archived (raw_sha256): only the agents'
            # view in Thunderbird lacks the copy.
            log.warning("report %s sent, but not filed in the Sent folder: %s", message_id, exc)

    # --- state changes, one committed transaction each ---------------------------------

    def _begin_attempt(self, run_id: int, mailing: Mailing, raw_sha256: str) -> int:
        """Committed before the SMTP exchange: attempts > 0 on a pending run means "this
        mailing may have left", and the next call looks in Sent before sending again."""
        with self.sessions.begin() as session:
            row = session.get_one(ReportRun, run_id)
            row.attempts += 1
            row.recipients = ", ".join(mailing.recipients)
            row.raw_sha256 = raw_sha256  # the bytes of this attempt: what Sent would hold
            return row.attempts

    def _sent(self, run_id: int, now: datetime, note: str | None) -> None:
        with self.sessions.begin() as session:
            row = session.get_one(ReportRun, run_id)
            row.state = RunState.SENT
            row.sent_at = now
            row.last_error = note[:2000] if note else None

    def _empty(self, run_id: int) -> None:
        with self.sessions.begin() as session:
            row = session.get_one(ReportRun, run_id)
            row.state = RunState.EMPTY
            row.last_error = None

    def _failed(self, run_id: int, error: str) -> None:
        with self.sessions.begin() as session:
            row = session.get_one(ReportRun, run_id)
            row.state = RunState.PENDING
            row.last_error = error[:2000]


def _require_message_id(message: EmailMessage, message_id: str) -> None:
    present = message["Message-ID"]
    if present is None:
        message["Message-ID"] = f"<{message_id}>"
    elif str(present).strip() != f"<{message_id}>":
        raise ValueError(
            f"the composed report carries Message-ID {present}, not <{message_id}>: "
            "use the identifier given to compose (exactly-once sending depends on it)"
        )


def _delivered_to_some(exc: SmtpError) -> bool:
    """True for SmtpSender's partial refusal: raised by SmtpSender itself after the server
    accepted the message for the other recipients (every other SmtpError chains the
    smtplib or socket error behind it). Sending again would give them a second copy."""
    return exc.__cause__ is None and not exc.temporary and str(exc).startswith("recipient")
