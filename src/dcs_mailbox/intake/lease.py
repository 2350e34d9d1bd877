"""One daemon per mailbox, whatever machine or data directory it runs from.

The data directory's lock (service.DataDirLock) stops a second daemon on the same
data directory. A second daemon elsewhere — a manual run from a copy of the
configuration, a test machine pointed at the production mailbox — shares nothing with
the first but the mailbox itself, and would acknowledge every request a second time.
So the lease lives in the mailbox: a small message in a folder of its own
(`[imap].lease_folder`, not subscribed, so mail clients do not show it by default).

- Each daemon APPENDs a lease message naming itself (instance id, host, pid, data
  directory) and renews it by appending a fresh one every `timeout / 5`, deleting
  its previous one.
- Liveness is the lease's INTERNALDATE, set by the server: comparing two leases never
  depends on two machines' clocks agreeing.
- Rank is the UID of a daemon's first lease (UIDs only grow, RFC 3501 §2.3.1.1): of two
  live daemons, the lower rank keeps the mailbox, so two daemons starting at the same
  moment settle it the same way on both sides.
- A lease not renewed for `timeout` is stale and removed by the next daemon; so is one
  left on this host by a process that no longer exists, or by an earlier run on this
  data directory (whose lock we now hold): a restart after a crash is never refused.
- A daemon that finds its own lease gone (another daemon judged it stale, e.g. after a
  network partition) stops instead of processing mail beside the new holder.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path

from dcs_mailbox.errors import AlreadyRunningError, ImapError
from dcs_mailbox.intake.imap import ImapSession

log = logging.getLogger(__name__)

HEADER = "X-Dcs-Mailbox-Lease"  # instance=…; rank=…; host=…; pid=…
DATA_DIR_HEADER = "X-Dcs-Mailbox-Data-Dir"


class LeaseLost(AlreadyRunningError):
    """Another daemon took the mailbox over: this one must stop processing it."""


@dataclass(frozen=True)
class LeaseHolder:
    instance: str
    host: str
    pid: int
    data_dir: str

    @classmethod
    def this_process(cls, data_dir: Path) -> LeaseHolder:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid(), str(data_dir.resolve()))

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, data directory {self.data_dir}"


@dataclass(frozen=True)
class LeaseRecord:
    uid: int
    holder: LeaseHolder
    rank: int  # 0 on a daemon's first lease: its own UID is its rank
    at: datetime  # INTERNALDATE: the server's clock


def lease_message(holder: LeaseHolder, rank: int, mailbox: str, now: datetime) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = f"dcs-mailbox <{mailbox}>"
    message["To"] = mailbox
    message["Subject"] = f"dcs-mailbox : service actif sur {holder.host} (ne pas supprimer)"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("lease", holder.host.replace("@", "-") or None)
    message[HEADER] = (
        f"instance={holder.instance}; rank={rank}; host={holder.host}; pid={holder.pid}"
    )
    message[DATA_DIR_HEADER] = holder.data_dir
    message.set_content(
        "Ce message indique aux autres instances de dcs-mailbox que ce service traite "
        "déjà cette boîte aux lettres : une seconde instance refuse de démarrer au lieu "
        "d'accuser réception une seconde fois.\n"
        "Il est renouvelé automatiquement. Ne le supprimez pas.\n"
    )
    return message.as_bytes()


def parse_record(uid: int, header_bytes: bytes, at: datetime) -> LeaseRecord | None:
    headers = BytesHeaderParser(policy=SMTP).parsebytes(header_bytes)
    value = headers.get(HEADER)
    if value is None:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in str(value).split(";") if "=" in part)
    try:
        holder = LeaseHolder(
            instance=fields["instance"],
            host=fields.get("host", ""),
            pid=int(fields.get("pid", "0")),
            data_dir=str(headers.get(DATA_DIR_HEADER, "")).strip(),
        )
        return LeaseRecord(uid, holder, int(fields.get("rank", "0")), at)
    except (KeyError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process
    return True


class MailboxLease:
    """The lease protocol above over IMAP; `acquire` before touching mail, `renew_if_due`
    every round, `release` on a clean stop."""

    def __init__(
        self,
        open_session: Callable[[], ImapSession],
        folder: str,
        holder: LeaseHolder,
        *,
        mailbox: str,
        timeout_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = open_session
        self.folder = folder
        self.holder = holder
        self.mailbox = mailbox
        self.timeout_seconds = timeout_seconds
        self._monotonic = monotonic
        self._session: ImapSession | None = None
        self.rank: int | None = None
        self.uid: int | None = None
        self._renewed_at = 0.0

    # --- protocol ----------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the mailbox, or raise AlreadyRunningError naming the live holder."""
        session = self._ready()
        uid = self._append(session, rank=0)
        records = self._records(session)
        mine = next((r for r in records if r.uid == uid), None)
        if mine is None:
            raise ImapError(f"the lease just written to {self.folder!r} cannot be read back")
        rivals = self._live_rivals(records, mine)
        earlier = [r for r in rivals if self._rank_of(r, records) < uid]
        if earlier:
            holder = min(earlier, key=lambda r: self._rank_of(r, records))
            session.delete([r.uid for r in records if r.holder.instance == self.holder.instance])
            self.close()
            seconds = (mine.at - holder.at).total_seconds()
            raise AlreadyRunningError(
                f"another dcs-mailbox is already processing this mailbox "
                f"({holder.holder.describe()}; lease renewed {seconds:.0f} s ago): stop it "
                "first. Two daemons on one mailbox would acknowledge every request twice."
            )
        self._remove_stale(session, records, mine, keep={uid})
        self.rank, self.uid = uid, uid
        self._renewed_at = self._monotonic()
        log.info("mailbox lease taken (%s, rank %d)", self.folder, uid)

    def renew_if_due(self) -> None:
        if self.uid is None or self._monotonic() - self._renewed_at < self.timeout_seconds / 5:
            return
        self.renew()

    def renew(self) -> None:
        if self.rank is None or self.uid is None:
            raise RuntimeError("renew() before acquire()")
        session = self._ready()
        uid = self._append(session, rank=self.rank)
        records = self._records(session)
        mine = next((r for r in records if r.uid == uid), None)
        if mine is None or not any(r.uid == self.uid for r in records):
            session.delete([uid])
            self.uid = None
            self.close()
            raise LeaseLost(
                "this daemon's mailbox lease was removed (another dcs-mailbox judged it "
                "stale and took the mailbox over): stopping"
            )
        earlier = [
            r for r in self._live_rivals(records, mine) if self._rank_of(r, records) < self.rank
        ]
        if earlier:
            session.delete([uid, self.uid])
            self.uid = None
            self.close()
            raise LeaseLost(
                f"another dcs-mailbox holds this mailbox ({earlier[0].holder.describe()}): stopping"
            )
        # Ours from now on, before anything is deleted: if the reply to the deletion is
        # lost, the next renewal must not take the new lease for someone else's.
        self.uid = uid
        self._renewed_at = self._monotonic()
        self._remove_stale(session, records, mine, keep={uid})

    def release(self) -> None:
        """Remove our lease (best effort: a stale one is removed by the next daemon)."""
        if self.uid is None:
            self.close()
            return
        try:
            self._ready().delete(self._own_uids())
        except ImapError as exc:
            log.warning("could not remove the mailbox lease: %s", exc)
        finally:
            self.uid = None
            self.close()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # --- helpers -----------------------------------------------------------------------

    def _ready(self) -> ImapSession:
        try:
            if self._session is None:
                self._session = self._open()
                self._session.ensure_folder(self.folder)
            self._session.select(self.folder)
        except ImapError:
            self.close()
            raise
        return self._session

    def _append(self, session: ImapSession, *, rank: int) -> int:
        raw = lease_message(self.holder, rank, self.mailbox, datetime.now().astimezone())
        return session.append_returning_uid(self.folder, raw, f"{self.holder.instance}")

    def _records(self, session: ImapSession) -> list[LeaseRecord]:
        records = []
        for uid, (header, at) in session.headers_and_dates(
            [HEADER, DATA_DIR_HEADER], session.uids_after(0)
        ).items():
            record = parse_record(uid, header, at)
            if record is not None:
                records.append(record)
        return records

    def _own_uids(self) -> list[int]:
        session = self._ready()
        return [r.uid for r in self._records(session) if r.holder.instance == self.holder.instance]

    @staticmethod
    def _rank_of(record: LeaseRecord, records: Sequence[LeaseRecord]) -> int:
        if record.rank:
            return record.rank
        own = [r.uid for r in records if r.holder.instance == record.holder.instance]
        return min(own, default=record.uid)

    def _stale(self, record: LeaseRecord, latest: datetime, now: datetime) -> bool:
        if (now - latest).total_seconds() > self.timeout_seconds:
            return True
        if record.holder.host == self.holder.host:
            # Same host: an earlier run on our data directory (we hold its lock now), or a
            # process that no longer exists, left it after a crash.
            return record.holder.data_dir == self.holder.data_dir or not _pid_alive(
                record.holder.pid
            )
        return False

    def _live_rivals(self, records: Sequence[LeaseRecord], mine: LeaseRecord) -> list[LeaseRecord]:
        latest: dict[str, LeaseRecord] = {}
        for record in records:
            if record.holder.instance == self.holder.instance:
                continue
            seen = latest.get(record.holder.instance)
            if seen is None or record.at > seen.at:
                latest[record.holder.instance] = record
        return [r for r in latest.values() if not self._stale(r, r.at, mine.at)]

    def _remove_stale(
        self,
        session: ImapSession,
        records: Sequence[LeaseRecord],
        mine: LeaseRecord,
        *,
        keep: set[int],
    ) -> None:
        live = {r.holder.instance for r in self._live_rivals(records, mine)}
        doomed = [
            r.uid
            for r in records
            if r.uid not in keep
            and (r.holder.instance == self.holder.instance or r.holder.instance not in live)
        ]
        if doomed:
            for r in records:
                if r.uid in doomed and r.holder.instance != self.holder.instance:
                    log.info("removing a stale mailbox lease (%s)", r.holder.describe())
            session.delete(doomed)
