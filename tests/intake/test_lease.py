"""The mailbox lease (intake/lease.py) against a real Dovecot: one daemon per mailbox."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from imapclient import IMAPClient

from dcs_mailbox.errors import AlreadyRunningError
from dcs_mailbox.intake.imap import ImapSession
from dcs_mailbox.intake.lease import LeaseHolder, LeaseLost, MailboxLease, lease_message
from tests.servers.dovecot import DovecotServer

FOLDER = "dcs-mailbox-lease"
MAILBOX = "sec-dcs@interieur.gouv.fr"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def holder(name: str, *, host: str = "other-host", pid: int = 4242) -> LeaseHolder:
    return LeaseHolder(instance=name, host=host, pid=pid, data_dir=f"/var/lib/{name}")


def lease_for(dovecot: DovecotServer, who: LeaseHolder, clock: Clock | None = None) -> MailboxLease:
    def open_session() -> ImapSession:
        client = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
        client.login("sec-dcs", dovecot.password_of("sec-dcs"))
        return ImapSession(client, "test")

    return MailboxLease(
        open_session,
        FOLDER,
        who,
        mailbox=MAILBOX,
        timeout_seconds=300,
        monotonic=clock or Clock(),
    )


def leases(dovecot: DovecotServer) -> list[bytes]:
    return [m.raw for m in dovecot.fetch_all(FOLDER)]


def test_first_daemon_takes_the_mailbox_in_an_unsubscribed_folder(dovecot: DovecotServer) -> None:
    lease = lease_for(dovecot, holder("a"))
    lease.acquire()
    stored = leases(dovecot)
    assert len(stored) == 1 and b"instance=a; rank=0" in stored[0]
    assert "service actif sur other-host" in stored[0].decode()
    with dovecot.imap() as client:
        subscribed = [str(name) for _f, _d, name in client.list_sub_folders()]
    assert FOLDER not in subscribed  # mail clients show subscribed folders only
    lease.release()
    assert leases(dovecot) == []


def test_a_second_daemon_elsewhere_is_refused_with_a_clear_message(
    dovecot: DovecotServer,
) -> None:
    first = lease_for(dovecot, holder("a", host="srv-prod", pid=111))
    first.acquire()
    second = lease_for(dovecot, holder("b", host="poste-agent", pid=222))
    with pytest.raises(AlreadyRunningError) as refused:
        second.acquire()
    message = str(refused.value)
    assert "pid 111 on srv-prod" in message and "/var/lib/a" in message
    assert "twice" in message
    # The refused daemon leaves nothing behind; the holder renews undisturbed.
    assert len(leases(dovecot)) == 1
    first.renew()
    assert len(leases(dovecot)) == 1
    second.close()
    first.release()


def test_a_lease_not_renewed_for_the_timeout_is_taken_over(dovecot: DovecotServer) -> None:
    old = datetime.now(UTC) - timedelta(seconds=301)
    _create(dovecot)
    dovecot.append(FOLDER, _raw(holder("gone")), msg_time=old)
    lease = lease_for(dovecot, holder("new"))
    lease.acquire()  # not refused
    stored = leases(dovecot)
    assert len(stored) == 1 and b"instance=new" in stored[0]  # the stale one was removed
    lease.release()


def test_a_recent_lease_of_a_process_elsewhere_is_respected(dovecot: DovecotServer) -> None:
    recent = datetime.now(UTC) - timedelta(seconds=200)
    _create(dovecot)
    dovecot.append(FOLDER, _raw(holder("alive")), msg_time=recent)
    with pytest.raises(AlreadyRunningError, match="pid 4242 on other-host"):
        lease_for(dovecot, holder("new", host="srv-b")).acquire()


def test_a_crashed_daemon_on_this_host_never_blocks_its_restart(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    import socket

    host = socket.gethostname()
    # A process that no longer exists, with another data directory...
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    _create(dovecot)
    dovecot.append(FOLDER, _raw(holder("dead", host=host, pid=int(dead.stdout))))
    # ...and an earlier run on our own data directory (whose lock the new run holds).
    earlier = LeaseHolder("earlier", host, 1, str(tmp_path.resolve()))
    dovecot.append(FOLDER, _raw(earlier))
    me = LeaseHolder("me", host, 99999999, str(tmp_path.resolve()))
    lease = lease_for(dovecot, me)
    lease.acquire()
    assert [b"instance=me" in raw for raw in leases(dovecot)] == [True]
    lease.release()


def test_two_daemons_starting_together_settle_on_the_first_lease(dovecot: DovecotServer) -> None:
    """Both APPEND before either reads: the lower UID keeps the mailbox, on both sides."""
    _create(dovecot)
    a, b = holder("a", host="srv-a"), holder("b", host="srv-b")
    first_uid = dovecot.append(FOLDER, _raw(a))  # a's APPEND landed first
    first = lease_for(dovecot, a)
    first.rank, first.uid = first_uid, first_uid  # a is between its APPEND and its read
    with pytest.raises(AlreadyRunningError):
        lease_for(dovecot, b).acquire()
    first.renew()  # and a, reading now, keeps going
    assert len(leases(dovecot)) == 1
    first.release()


def test_renewal_replaces_the_lease_and_keeps_the_rank(dovecot: DovecotServer) -> None:
    clock = Clock()
    lease = lease_for(dovecot, holder("a"), clock)
    lease.acquire()
    rank = lease.rank
    clock.now += 59
    lease.renew_if_due()  # not yet due (every timeout / 5 = 60 s)
    assert lease.uid == rank
    clock.now += 2
    lease.renew_if_due()
    assert lease.uid is not None and lease.uid > (rank or 0) and lease.rank == rank
    stored = leases(dovecot)
    assert len(stored) == 1 and f"rank={rank}".encode() in stored[0]
    lease.release()


def test_a_daemon_whose_lease_was_taken_over_stops(dovecot: DovecotServer) -> None:
    lease = lease_for(dovecot, holder("a"))
    lease.acquire()
    with dovecot.imap(folder=FOLDER) as client:  # what a daemon judging it stale does
        client.delete_messages(client.search(["ALL"]))
        client.expunge()
    with pytest.raises(LeaseLost, match="stopping"):
        lease.renew()
    assert leases(dovecot) == []


def _raw(who: LeaseHolder) -> bytes:
    return lease_message(who, 0, MAILBOX, datetime.now(UTC))


def _create(dovecot: DovecotServer) -> bool:
    with dovecot.imap() as client:
        if not client.folder_exists(FOLDER):
            client.create_folder(FOLDER)
    return True
