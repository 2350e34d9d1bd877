"""Send what the outbox holds, exactly once as far as this side of SMTP can know.

Order of one send, and what a crash at each point leaves:

1. the outbox row is committed as SENDING (attempt counted);
   crash here → row SENDING, nothing sent: the Sent-folder check finds nothing, we send.
2. the acknowledgement goes out over SMTP;
   crash during the exchange → the server either got the final "." or did not. We look
   for the deterministic Message-ID in the Sent folder (submission servers that file
   copies themselves, and our own copy from step 4, both count); not found → we send.
3. on the server's 250 the row is committed SENT (request acknowledged), at once;
4. the exact bytes are appended to the Sent folder, then the row is marked copied;
   crash between 3 and 4 → the copy is made on the next pass (after checking it is not
   already there), never a second SMTP send.

The one window left is between the server accepting the final "." and our commit in
step 3 (RFC 1047 describes it): a crash exactly there, or a reply to the "." that never
comes, leaves the row SENDING while the message may have left. With proof copies
([acknowledgement].proof_copy) the mailbox's envelope copy settles it: such a row waits
up to proof_grace_seconds for that copy (the daemon's intake marks it sent) before it is
sent again, and every transaction is all-or-nothing so the copy cannot go without the
requester's. Without them, the Sent folder is the only evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from dcs_mailbox.clock import Clock
from dcs_mailbox.config import Settings
from dcs_mailbox.errors import ImapError, SmtpError
from dcs_mailbox.outbound.render import Envelope, TemplateRenderer
from dcs_mailbox.outbound.smtp import SmtpSender
from dcs_mailbox.store.archive import RawArchive
from dcs_mailbox.store.models import OutboxState
from dcs_mailbox.store.outbox import DueMessage, OutboxStore, Placed
from dcs_mailbox.store.record import URGENT_ALERT
from dcs_mailbox.triage.resources import load_services_setting
from dcs_mailbox.triage.scope import Service

log = logging.getLogger(__name__)


class SentFolder(Protocol):
    def contains(self, message_id: str) -> bool: ...

    def append(self, raw: bytes, when: datetime) -> None: ...


@dataclass
class FlushReport:
    sent: list[str] = field(default_factory=list)  # Message-IDs
    placed: list[Placed] = field(default_factory=list)  # requests' messages to keyword
    delayed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    copied: int = 0


class Dispatcher:
    def __init__(
        self,
        *,
        settings: Settings,
        outbox: OutboxStore,
        renderer: TemplateRenderer,
        archive: RawArchive,
        clock: Clock,
        sender_factory: Callable[[], SmtpSender],
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.renderer = renderer
        self.archive = archive
        self.clock = clock
        self.sender_factory = sender_factory
        self.services: Mapping[str, Service] = load_services_setting(settings.triage.services_file)

    def flush(self, sent_folder: SentFolder | None) -> FlushReport:
        report = FlushReport()
        report.placed.extend(self.outbox.complete_committed_sends(self.clock.now()))
        due = self.outbox.due(self.clock.now())
        if due:
            sender = self.sender_factory()
            try:
                for item in due:
                    if not self._dispatch(item, sender, sent_folder, report):
                        break  # the server is unreachable: the rest waits for the next pass
            finally:
                sender.close()
        if sent_folder is not None:
            self._copy_to_sent(sent_folder, report)
        return report

    def _dispatch(
        self,
        item: DueMessage,
        sender: SmtpSender,
        sent_folder: SentFolder | None,
        report: FlushReport,
    ) -> bool:
        now = self.clock.now()
        if item.state is OutboxState.SENDING and sent_folder is not None:
            try:
                already = sent_folder.contains(item.message_id)
            except ImapError as exc:
                # Sending blind could duplicate; waiting costs one retry interval.
                log.warning("cannot check the Sent folder for %s: %s", item.message_id, exc)
                self.outbox.retry(
                    item.outbox_id,
                    now,
                    f"vérification impossible : {exc}",
                    now + self._backoff(item.attempts),
                    keep_sending=True,
                )
                return True
            if already:
                log.info("acknowledgement %s found in Sent after a restart", item.message_id)
                report.placed.extend(self.outbox.sent(item.outbox_id, now, None, recovered=True))
                report.sent.append(item.message_id)
                return True
            if self._awaiting_proof(item, now):
                return True
        message = self.renderer.compose(
            *self._template(item),
            sender_address=self.settings.mailbox.address,
            sender_name=self.settings.mailbox.display_name,
            now=now,
        )
        raw_sha256 = self.archive.store(message.as_bytes())
        recipients = [r.strip() for r in item.recipient.split(",") if r.strip()]
        if self.settings.acknowledgement.proof_copy:
            recipients.append(self.settings.mailbox.address)  # envelope only: the proof copy
        self.outbox.begin_attempt(item.outbox_id, now, raw_sha256)
        try:
            sender.send(
                message,
                envelope_from=self.settings.mailbox.address,
                recipients=recipients,
                all_or_nothing=self.settings.acknowledgement.proof_copy,
            )
        except SmtpError as exc:
            attempts = item.attempts + 1
            if exc.temporary:
                retry_at = now + self._backoff(attempts)
                log.warning(
                    "%s %s to %s not sent (attempt %d), retry at %s: %s",
                    item.kind,
                    item.reference,
                    item.recipient,
                    attempts,
                    retry_at.isoformat(),
                    exc,
                )
                self.outbox.retry(
                    item.outbox_id, now, str(exc), retry_at, keep_sending=exc.maybe_delivered
                )
                report.delayed.append(item.message_id)
                return False
            log.error(
                "%s %s to %s refused for good: %s", item.kind, item.reference, item.recipient, exc
            )
            self.outbox.failed(item.outbox_id, now, str(exc))
            report.failed.append(item.message_id)
            return True
        sent_at = self.clock.now()
        self.outbox.commit_sent(item.outbox_id, sent_at)  # first, before anything else
        report.placed.extend(self.outbox.sent(item.outbox_id, sent_at, raw_sha256))
        report.sent.append(item.message_id)
        log.info("%s %s sent to %s", item.kind, item.reference, item.recipient)
        return True

    def _awaiting_proof(self, item: DueMessage, now: datetime) -> bool:
        """A SENDING row not in Sent, with proof copies on: the server may have accepted it
        just before a crash, and its copy may still be on its way to the INBOX (where the
        daemon's intake settles the row). Wait for it up to proof_grace_seconds after the
        attempt began; past that, nothing came back, so nothing left: send."""
        ack = self.settings.acknowledgement
        if not ack.proof_copy or item.attempt_started_at is None:
            return False
        until = item.attempt_started_at + timedelta(seconds=ack.proof_grace_seconds)
        if now >= until:
            return False
        log.info(
            "%s may have left before a crash: waiting for its copy until %s",
            item.message_id,
            until.isoformat(),
        )
        self.outbox.postpone(item.outbox_id, until)
        return True

    def _copy_to_sent(self, sent_folder: SentFolder, report: FlushReport) -> None:
        for copy in self.outbox.awaiting_sent_copy():
            try:
                if not sent_folder.contains(copy.message_id):
                    sent_folder.append(self.archive.load(copy.raw_sha256), self.clock.now())
            except ImapError as exc:
                log.warning("copy of %s to the Sent folder postponed: %s", copy.message_id, exc)
                return
            self.outbox.copied(copy.outbox_id, self.clock.now())
            report.copied += 1

    def _backoff(self, attempts: int) -> timedelta:
        ack = self.settings.acknowledgement
        seconds = ack.retry_initial_seconds * 2 ** max(0, attempts - 1)
        return timedelta(seconds=min(seconds, ack.retry_max_seconds))

    def _template(self, item: DueMessage) -> tuple[str, dict[str, object], Envelope]:
        channel = self.settings.channel(item.channel)
        service = self.services.get(item.service or "")
        context: dict[str, object] = {
            "reference": item.reference,
            "received_at": item.received_at,
            "subject": item.subject,
            "partner_name": channel.partner_name,
            "emergency_phone": channel.emergency_phone,
            "member": item.member,
            "member_company": item.member_company,
            "out_of_scope": item.scope == "out",
            "personal_data": item.personal_data,
            "urgent": item.urgent,
            "service_name": service.name if service else None,
            "service_url": service.url if service else None,
            "requester_address": item.requester_address,
            "requester_name": item.requester_name,
            "reasons": item.reasons,
        }
        if item.kind == URGENT_ALERT:
            envelope = Envelope(item.recipient, item.message_id, item.in_reply_to, "auto-generated")
            return "urgent_alert", context, envelope
        envelope = Envelope(item.recipient, item.message_id, item.in_reply_to)
        return channel.template, context, envelope
