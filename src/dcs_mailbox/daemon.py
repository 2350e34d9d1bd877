"""The long-running service: watch the INBOX, record, acknowledge, repeat.

One thread, one loop: sync new mail → flush the outbox → wait (IDLE or poll). Any IMAP
or environment failure drops the connection and retries with exponential backoff; the
UID checkpoint and idempotent recording make every retry safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from imapclient import IMAPClient
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from dcs_mailbox import keywords as kw
from dcs_mailbox.agent_tags import ACTIONS_BY_KEY, DAEMON_TAGS
from dcs_mailbox.config import ImapSettings
from dcs_mailbox.errors import AlreadyRunningError, ConfigError, ImapError, SmtpError, StoreError
from dcs_mailbox.intake import imap
from dcs_mailbox.intake.imap import FetchedMessage, ImapSentFolder, ImapSession
from dcs_mailbox.intake.lease import LeaseHolder, MailboxLease
from dcs_mailbox.keywords import ACK_SENT, keywords_for
from dcs_mailbox.notify import Notifier, Supervision
from dcs_mailbox.outbound.delay_alarm import compose_alarm
from dcs_mailbox.pipeline import Incoming, environment_error_text
from dcs_mailbox.scheduler import Scheduler
from dcs_mailbox.service import DataDirLock, Service
from dcs_mailbox.status import outbox_sizes
from dcs_mailbox.store.ack_delay import due_alarm, mark_raised
from dcs_mailbox.store.agent_tags import apply_agent_tags, tagged_candidates
from dcs_mailbox.store.intake import Checkpoint
from dcs_mailbox.store.outbox import Placed
from dcs_mailbox.store.record import Disposition, Location, RecordOutcome

log = logging.getLogger(__name__)

# The flags an agent acts on; the others (acknowledged, automatic...) are bookkeeping.
FOLDER_VIEW_LABELS = {
    tag.key: tag.label
    for tag in DAEMON_TAGS
    if tag.key in (kw.URGENT, kw.OUT_OF_SCOPE, kw.PERSONAL_DATA, kw.NOT_A_MEMBER, kw.QUARANTINED)
}

Connector = Callable[[ImapSettings, SecretStr | None], IMAPClient]


def chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class IntakeHealth:
    """Is the INBOX connection alive? Judged by the age of the last exchange the server
    answered (ImapSession.last_exchange), read from the systemd thread, so a loop stuck in
    any call is caught as well as a server that stopped answering.

    A silent IDLE answers nothing until it is renewed (DONE + IDLE, RFC 2177): a healthy
    connection therefore goes up to one wait (idle_renew_seconds or poll_interval_seconds)
    plus the renewal's own timeout without an exchange. One more timeout is slack for a
    round spent on SMTP and the Sent folder.
    """

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self.stale_after = 0.0
        self.mode = "starting"
        self._session: ImapSession | None = None
        self._last_exchange: float | None = None

    def attach(self, session: ImapSession, mode: str, longest_wait: float) -> None:
        self._session = session
        self.mode = mode
        self.stale_after = longest_wait + 2 * self.timeout_seconds

    def detach(self) -> None:
        if self._session is not None:
            self._last_exchange = self._session.last_exchange
        self._session = None
        self.mode = "reconnecting"

    def last_exchange(self) -> float | None:
        return self._session.last_exchange if self._session else self._last_exchange

    def healthy(self) -> bool:
        last = self.last_exchange()
        return (
            self._session is not None
            and last is not None
            and time.monotonic() - last <= self.stale_after
        )


class Daemon:
    def __init__(
        self,
        service: Service,
        *,
        stop: threading.Event | None = None,
        connect: Connector = imap.connect,
    ) -> None:
        if service.settings.imap is None:
            raise ConfigError("no [imap] section: the daemon has no mailbox to watch")
        self.service = service
        self.settings = service.settings
        self.imap_settings: ImapSettings = service.settings.imap
        self.stop = stop or threading.Event()
        self._connect = connect
        self._password = self.imap_settings.resolve("imap")
        self.channel_keywords = {c.name: c.keyword for c in self.settings.channels}
        self.cycles = 0  # completed sync+flush rounds, for status and tests
        self.unexpected_errors: list[str] = []  # bugs survived; tests assert there are none
        self._wake = threading.Event()
        self._last_uid = 0
        # systemd supervision (deploy/dcs-mailbox.service): read by the Supervision thread.
        self.health = IntakeHealth(self.imap_settings.timeout_seconds)
        self.lease: MailboxLease | None = (
            MailboxLease(
                self._open,
                self.imap_settings.lease_folder,
                LeaseHolder.this_process(self.settings.service.data_dir),
                mailbox=self.settings.mailbox.address,
                timeout_seconds=self.imap_settings.lease_timeout_seconds,
            )
            if self.imap_settings.lease_folder
            else None
        )

    def wake(self) -> None:
        """End the current IDLE or poll wait at once (a new round starts)."""
        self._wake.set()

    def _should_stop_waiting(self) -> bool:
        return self.stop.is_set() or self._wake.is_set()

    # --- lifecycle -------------------------------------------------------------------

    def run(self) -> None:
        with DataDirLock(self.settings.service.data_dir):
            if not self._take_mailbox():
                return  # asked to stop while the IMAP server was unreachable
            try:
                self._run_locked()
            finally:
                if self.lease is not None:
                    self.lease.release()

    def _take_mailbox(self) -> bool:
        """Take the mailbox lease (intake/lease.py) before any mail or report is handled,
        retrying while the server is unreachable; a live holder elsewhere is fatal."""
        if self.lease is None:
            return True
        delay = 1.0
        while not self.stop.is_set():
            try:
                self.lease.acquire()
                return True
            except AlreadyRunningError:
                self.lease.close()
                raise
            except ImapError as exc:
                log.error("%s; retrying in %.0f s", exc, delay)
                self.lease.close()
            self.stop.wait(delay)
            delay = min(delay * 2, self.imap_settings.reconnect_max_seconds)
        return False

    def _run_locked(self) -> None:
        now = self.service.clock.now()
        first_start = self.service.intake.first_start(now)
        self.service.pipeline.history_before = first_start - self.settings.intake.history_horizon
        log.info(
            "watching %s on %s:%s; mail that arrived before %s is history",
            self.imap_settings.inbox,
            self.imap_settings.host,
            self.imap_settings.port,
            self.service.pipeline.history_before.isoformat(),
        )
        # Scheduled mail (the daily digest) runs in APScheduler's thread, with a Sent
        # folder connection of its own: imaplib connections are not thread-safe.
        scheduler = Scheduler(
            self.service,
            sent_folder_factory=lambda: ImapSentFolder(self._open, self.imap_settings.sent_folder),
        )
        # READY=1 after the first full round; WATCHDOG=1 only while intake is healthy.
        supervision = Supervision(
            Notifier.from_environ(),
            ready=lambda: self.cycles > 0,
            healthy=self.health.healthy,
            status=self.status_line,
            stop=self.stop,
        )
        scheduler.start()
        supervision.start()
        try:
            self._loop()
        finally:
            scheduler.shutdown()
            self.unexpected_errors.extend(scheduler.job_errors)
            supervision.close()
        log.info("stopped")

    def _loop(self) -> None:
        delay = 1.0
        while not self.stop.is_set():
            cycles_before = self.cycles
            try:
                self._connected_loop()
            except AlreadyRunningError:
                raise  # the mailbox lease was lost: another daemon holds the mailbox
            except (ImapError, StoreError) as exc:
                log.error("%s; retrying in %.0f s", exc, delay)
            except (SQLAlchemyError, OSError) as exc:
                # The database or the disk, anywhere in the round (a checkpoint, the
                # outbox): the environment's fault, retried like an IMAP outage.
                log.error("%s; retrying in %.0f s", environment_error_text(exc), delay)
            except Exception as exc:
                log.exception("unexpected error; retrying in %.0f s", delay)
                self.unexpected_errors.append(f"{type(exc).__name__}: {exc}")
            else:
                continue
            if self.cycles > cycles_before:
                delay = 1.0  # the connection had been healthy: start the backoff over
            self.stop.wait(delay)
            delay = min(delay * 2, self.imap_settings.reconnect_max_seconds)

    def status_line(self) -> str:
        """One line for `systemctl status` (STATUS=): «connected, IDLE, 3 pending acks»."""
        if self.health.mode in ("starting", "reconnecting"):
            return self.health.mode
        with self.service.sessions() as session:
            sizes = outbox_sizes(session)
        pending = sizes.pending + sizes.sending
        line = f"connected, {self.health.mode}, {pending} pending ack{'s' * (pending != 1)}"
        if sizes.failed:
            line += f", {sizes.failed} failed"
        return line if self.health.healthy() else line + ", IMAP not answering"

    def _open(self) -> ImapSession:
        where = f"{self.imap_settings.host}:{self.imap_settings.port}"
        return ImapSession(self._connect(self.imap_settings, self._password), where)

    def _connected_loop(self) -> None:
        sent = ImapSentFolder(self._open, self.imap_settings.sent_folder)
        try:
            with self._open() as inbox:
                use_idle = self.imap_settings.idle and inbox.has_idle()
                log.info("connected (%s)", "IDLE" if use_idle else "polling")
                self.health.attach(  # systemd supervision
                    inbox,
                    "IDLE" if use_idle else "polling",
                    self.imap_settings.idle_renew_seconds
                    if use_idle
                    else self.imap_settings.poll_interval_seconds,
                )
                while not self.stop.is_set():
                    if self.lease is not None:
                        self.lease.renew_if_due()
                    self.sync(inbox)
                    self.flush(inbox, sent)
                    self.sync_sent(sent)
                    self.read_agent_tags(inbox)
                    self.cycles += 1
                    if self.stop.is_set():
                        break
                    # Mail that arrived during this round was announced (if at all) inside
                    # the replies to our own commands, where imaplib keeps it from
                    # idle_check: look for it explicitly before waiting (ImapSession).
                    if inbox.uids_after(self._last_uid) or inbox.announced_changes():
                        continue
                    inbox.wait(self._wait_seconds(use_idle), use_idle, self._should_stop_waiting)
                    self._wake.clear()
        finally:
            self.health.detach()  # systemd supervision
            sent.close()

    def _wait_seconds(self, use_idle: bool) -> float:
        limit = (
            self.imap_settings.idle_renew_seconds
            if use_idle
            else self.imap_settings.poll_interval_seconds
        )
        if self.lease is not None:
            limit = min(limit, self.lease.timeout_seconds / 5)
        due = self.service.outbox.next_due_at()
        if due is not None:
            until_due = (due - self.service.clock.now()).total_seconds()
            limit = min(limit, max(until_due, 0.5))
        return limit

    # --- one round -------------------------------------------------------------------

    def _new_uids(
        self, session: ImapSession, folder: str, *, readonly: bool
    ) -> tuple[int, int, list[int]]:
        """SELECT `folder` and list the UIDs past its checkpoint: (uidvalidity, last, new)."""
        state = session.select(folder, readonly=readonly)
        checkpoint = self.service.intake.checkpoint(folder)
        if checkpoint is not None and checkpoint.uidvalidity != state.uidvalidity:
            # RFC 3501 §2.3.1.1: old UIDs mean nothing now. Re-scan everything; content
            # hashes recognise what was already recorded.
            log.warning(
                "UIDVALIDITY of %s changed (%d → %d): re-scanning the folder",
                folder,
                checkpoint.uidvalidity,
                state.uidvalidity,
            )
            checkpoint = None
        last_uid = checkpoint.last_uid if checkpoint else 0
        uids = session.uids_after(last_uid)
        if checkpoint is None and not uids:
            self.service.intake.save_checkpoint(
                folder, Checkpoint(state.uidvalidity, 0), self.service.clock.now()
            )
        return state.uidvalidity, last_uid, uids

    def _arrival(self, item: FetchedMessage) -> datetime:
        if item.internal_date is not None and item.internal_date.tzinfo:
            return item.internal_date.astimezone(UTC)
        return self.service.clock.now()

    def sync(self, inbox: ImapSession) -> int:
        """Process every INBOX message past the checkpoint; returns how many were fetched."""
        folder = self.imap_settings.inbox
        self.service.pipeline.refresh()
        uidvalidity, last_uid, uids = self._new_uids(inbox, folder, readonly=False)
        self._last_uid = max([last_uid, *uids])
        for batch in inbox.fetch_batches(uids, self.imap_settings.fetch_batch_size):
            if self.lease is not None:
                self.lease.renew_if_due()  # a backlog's sync may outlast the lease
            to_mark: dict[str, list[int]] = {}
            fetched = inbox.fetch(batch)
            outcomes = self.service.pipeline.process_batch(
                [
                    Incoming(
                        item.raw,
                        self._arrival(item),
                        Location(folder, uidvalidity, item.uid),
                        frozenset(f.lower() for f in item.flags),
                    )
                    for item in fetched
                ]
            )
            copies = self._settle_proof_copies(inbox, fetched, outcomes)
            for item, outcome in zip(fetched, outcomes, strict=True):
                if item.uid in copies:
                    continue  # removed from the INBOX
                present = {f.lower() for f in item.flags}
                for keyword in keywords_for(outcome, self.channel_keywords):
                    if keyword.lower() not in present:
                        to_mark.setdefault(keyword, []).append(item.uid)
            for keyword, marked in to_mark.items():
                inbox.add_keywords(marked, [keyword])
                self._file_in_folder_view(inbox, keyword, marked)
            self.service.intake.save_checkpoint(
                folder, Checkpoint(uidvalidity, max(batch)), self.service.clock.now()
            )
        return len(uids)

    def _settle_proof_copies(
        self,
        inbox: ImapSession,
        fetched: Sequence[FetchedMessage],
        outcomes: Sequence[RecordOutcome],
    ) -> set[int]:
        """Copies of what we sent, delivered back by the mail server
        (`[acknowledgement].proof_copy`): proof that the server accepted the message, which
        settles a row a crash left `sending`. Removed from the INBOX (agents need not see
        them); the Sent copy is the dispatcher's, from the archived bytes, after checking
        Sent. Returns their UIDs."""
        if not self.settings.acknowledgement.proof_copy:
            return set()
        automated: dict[int, list[int]] = {}
        for item, outcome in zip(fetched, outcomes, strict=True):
            if outcome.disposition is Disposition.AUTOMATED:
                automated.setdefault(outcome.message_pk, []).append(item.uid)
        copies = self.service.outbox.copies_among(
            list(automated), sorted(self.settings.mailbox.own_addresses)
        )
        if not copies:
            return set()
        now = self.service.clock.now()
        for outbox_id in copies.values():
            self._mark_acknowledged(inbox, self.service.outbox.proven(outbox_id, now))
        uids = {uid for pk in copies for uid in automated[pk]}
        inbox.remove(sorted(uids))
        return uids

    def read_agent_tags(self, inbox: ImapSession) -> int:
        """Apply the tags agents set in their mail client to the requests (docs/lifecycle.md).

        The FLAGS of every message that belongs to a request are read each round: a few
        hundred requests a year make that one short FETCH.
        """
        folder = self.imap_settings.inbox
        checkpoint = self.service.intake.checkpoint(folder)
        if checkpoint is None:
            return 0
        with self.service.sessions() as session:
            candidates = tagged_candidates(session, folder, checkpoint.uidvalidity)
        applied = 0
        by_uid = {c.uid: c for c in candidates}
        for batch in chunks(sorted(by_uid), 500):
            for uid, flags in inbox.flags(batch).items():
                keys = {f.lower() for f in flags} - by_uid[uid].applied
                if not keys & ACTIONS_BY_KEY.keys():
                    continue
                with self.service.sessions.begin() as session:
                    actions = apply_agent_tags(
                        session, by_uid[uid].item_id, keys, self.service.clock.now()
                    )
                applied += len(actions)
                log.info("UID %d: agent tag(s) applied: %s", uid, ", ".join(actions))
        return applied

    def _file_in_folder_view(self, inbox: ImapSession, keyword: str, uids: list[int]) -> None:
        """Outlook shows folders, not keywords: copy flagged mail into a folder per flag.
        Only on the round the keyword is first set, so each message is copied once."""
        root = self.imap_settings.folder_view
        label = FOLDER_VIEW_LABELS.get(keyword)
        if not root or label is None:
            return
        inbox.copy_to(uids, (root, label))

    def sync_sent(self, sent: ImapSentFolder) -> int:
        """Read what agents sent (answers, referrals) from the Sent folder, read-only."""
        session, folder = sent.ready()
        uidvalidity, _last, uids = self._new_uids(session, folder, readonly=True)
        for batch in session.fetch_batches(uids, self.imap_settings.fetch_batch_size):
            for item in session.fetch(batch):
                self.service.pipeline.process_sent(
                    item.raw,
                    sent_at=self._arrival(item),
                    location=Location(folder, uidvalidity, item.uid),
                )
            self.service.intake.save_checkpoint(
                folder, Checkpoint(uidvalidity, max(batch)), self.service.clock.now()
            )
        return len(uids)

    def flush(self, inbox: ImapSession, sent: ImapSentFolder) -> None:
        try:
            report = self.service.dispatcher.flush(sent)
        except (SmtpError, ConfigError) as exc:
            log.error("outbox flush failed: %s", exc)
        else:
            self._mark_acknowledged(inbox, report.placed)
        self._raise_delay_alarm(inbox)

    def _raise_delay_alarm(self, inbox: ImapSession) -> None:
        """Acknowledgements waiting too long: a flagged notice in the INBOX, through IMAP
        because SMTP is the usual culprit (store/ack_delay.py, outbound/delay_alarm.py)."""
        now = self.service.clock.now()
        after = timedelta(minutes=self.settings.alerts.ack_delay_minutes)
        with self.service.sessions.begin() as session:
            alarm = due_alarm(session, now, after)
        if alarm is None:
            return
        log.error(
            "%d acknowledgement(s) waiting; the oldest (%s) for %s: last error %s",
            alarm.waiting,
            alarm.reference,
            now - alarm.received_at,
            alarm.last_error,
        )
        notice = compose_alarm(
            self.service.renderer,
            alarm,
            mailbox=self.settings.mailbox.address,
            display_name=self.settings.mailbox.display_name,
            now=now,
        )
        # Appended before it is marked, unless already there (a crash, or a database that
        # refused the mark, between the two): never lost, never repeated. Our own address:
        # intake records it as our mail, never acknowledges it.
        if not inbox.search_header("Message-ID", str(notice["Message-ID"])):
            inbox.append(self.imap_settings.inbox, notice.as_bytes(), now, [r"\Flagged"])
        with self.service.sessions.begin() as session:
            mark_raised(session, alarm, now)

    def _mark_acknowledged(self, inbox: ImapSession, placed: list[Placed]) -> None:
        folder = self.imap_settings.inbox
        checkpoint = self.service.intake.checkpoint(folder)
        uids = [
            p.uid
            for p in placed
            if checkpoint is not None
            and p.folder == folder
            and p.uidvalidity == checkpoint.uidvalidity
        ]
        if uids:
            # No re-SELECT here: it would tell the session about new mail, and IDLE would
            # then never announce it.
            inbox.add_keywords(uids, [ACK_SENT])
