"""sd_notify through a real datagram socket standing in for systemd: READY, STATUS,
WATCHDOG while intake is healthy, no WATCHDOG once the IMAP server stops answering."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from dcs_mailbox.daemon import IntakeHealth
from dcs_mailbox.notify import Notifier, Supervision
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture


class FakeSystemd:
    """A bound AF_UNIX datagram socket that records (monotonic time, field) pairs."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            now = time.monotonic()
            with self._lock:
                self.received += [(now, line) for line in data.decode().split("\n")]

    def fields(self) -> list[str]:
        with self._lock:
            return [line for _at, line in self.received]

    def times_of(self, field: str) -> list[float]:
        with self._lock:
            return [at for at, line in self.received if line == field]

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    # sun_path holds 108 bytes: pytest's tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="sdnotify-") as directory:
        fake = FakeSystemd(str(Path(directory) / "notify"))
        try:
            yield fake
        finally:
            fake.close()


# --- the client ---------------------------------------------------------------------


def test_notifier_without_notify_socket_is_a_no_op() -> None:
    notifier = Notifier.from_environ({"WATCHDOG_USEC": "2000000"})
    assert not notifier.enabled
    assert notifier.watchdog_seconds is None
    assert notifier.ready("connected") is False


def test_notifier_sends_to_a_path_socket(systemd: FakeSystemd) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": systemd.address})
    assert notifier.ready("connected, IDLE, 0 pending acks")
    assert notifier.watchdog()
    assert notifier.stopping()
    wait_until(lambda: "STOPPING=1" in systemd.fields(), "the datagrams")
    assert systemd.fields() == [
        "READY=1",
        "STATUS=connected, IDLE, 0 pending acks",
        "WATCHDOG=1",
        "STOPPING=1",
        "STATUS=stopping",
    ]


def test_notifier_sends_to_an_abstract_socket() -> None:
    fake = FakeSystemd(f"@dcs-mailbox-test-{os.getpid()}-{time.monotonic_ns()}")
    try:
        assert Notifier.from_environ({"NOTIFY_SOCKET": fake.address}).watchdog()
        wait_until(lambda: fake.fields() == ["WATCHDOG=1"], "the datagram")
    finally:
        fake.close()


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert Notifier(str(tmp_path / "gone")).watchdog() is False


@pytest.mark.parametrize(
    ("environ", "seconds"),
    [
        ({"WATCHDOG_USEC": "120000000"}, 120.0),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 2.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # meant for another
    ],
)
def test_watchdog_interval_comes_from_watchdog_usec(
    environ: dict[str, str], seconds: float | None
) -> None:
    notifier = Notifier.from_environ({"NOTIFY_SOCKET": "/run/x", **environ})
    assert notifier.watchdog_seconds == seconds


def test_supervision_pings_only_when_ready_and_healthy(systemd: FakeSystemd) -> None:
    state = {"ready": False, "healthy": True, "status": "starting"}
    supervision = Supervision(
        Notifier(systemd.address, 2.0),
        ready=lambda: bool(state["ready"]),
        healthy=lambda: bool(state["healthy"]),
        status=lambda: str(state["status"]),
        stop=threading.Event(),
    )
    assert supervision.period == 1.0  # half the watchdog interval
    supervision.tick()  # not ready: nothing at all
    state.update(ready=True, status="connected, IDLE, 0 pending acks")
    supervision.tick()
    state.update(healthy=False, status="connected, IDLE, 0 pending acks, IMAP not answering")
    supervision.tick()
    supervision.close()
    wait_until(lambda: "STOPPING=1" in systemd.fields(), "STOPPING")
    assert systemd.fields() == [
        "READY=1",
        "STATUS=connected, IDLE, 0 pending acks",
        "WATCHDOG=1",
        "STATUS=connected, IDLE, 0 pending acks, IMAP not answering",
        "STOPPING=1",
        "STATUS=stopping",
    ]


# --- the daemon under a fake systemd ---------------------------------------------------

WATCHDOG_SECONDS = 2.0  # pings every second
IDLE_RENEW = 1.0
IMAP_TIMEOUT = 1.0
# IntakeHealth: one wait plus two timeouts without an answer, then the pings stop.
STALE_AFTER = IDLE_RENEW + 2 * IMAP_TIMEOUT


def test_daemon_pings_while_imap_answers_and_stops_when_the_server_hangs(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpCapture,
    systemd: FakeSystemd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", systemd.address)
    monkeypatch.setenv("WATCHDOG_USEC", str(int(WATCHDOG_SECONDS * 1_000_000)))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    settings = daemon_settings(
        tmp_path,
        dovecot,
        smtp_server,
        imap={"idle_renew_seconds": IDLE_RENEW, "timeout_seconds": IMAP_TIMEOUT},
    )
    assert dovecot.pid is not None
    group = os.getpgid(dovecot.pid)
    assert group == dovecot.pid  # Dovecot runs in a process group of its own

    with RunningDaemon(settings) as running:
        wait_until(lambda: "READY=1" in systemd.fields(), "READY=1")
        ready_at = systemd.times_of("READY=1")[0]
        assert "STATUS=connected, IDLE, 0 pending acks" in systemd.fields()
        # Several renewals of a quiet IDLE: the pings go on.
        wait_until(
            lambda: len([t for t in systemd.times_of("WATCHDOG=1") if t > ready_at]) >= 4,
            "four watchdog pings",
            timeout=10,
        )

        os.killpg(group, signal.SIGSTOP)  # the sockets stay open; nothing answers
        hung_at = time.monotonic()
        try:
            time.sleep(STALE_AFTER + 4 * (WATCHDOG_SECONDS / 2))
            pings = systemd.times_of("WATCHDOG=1")
            # The last ping comes at most one period after the health turns stale...
            assert max(pings) <= hung_at + STALE_AFTER + WATCHDOG_SECONDS / 2 + 0.5
            # ...so systemd, with WatchdogSec=2, would have restarted the service by now.
            assert time.monotonic() - max(pings) > WATCHDOG_SECONDS
            assert any(
                "IMAP not answering" in f or f == "STATUS=reconnecting" for f in systemd.fields()
            )
        finally:
            os.killpg(group, signal.SIGCONT)

        resumed_at = time.monotonic()
        wait_until(
            lambda: any(t > resumed_at for t in systemd.times_of("WATCHDOG=1")),
            "the pings to resume once the server answers again",
            timeout=20,
        )
        assert running.daemon.cycles > 0
    wait_until(lambda: "STOPPING=1" in systemd.fields(), "STOPPING=1")


def test_intake_health_turns_stale_after_one_wait_and_two_timeouts() -> None:
    session = SimpleNamespace(last_exchange=time.monotonic())
    health = IntakeHealth(timeout_seconds=30)
    assert not health.healthy()  # not connected yet

    health.attach(session, "IDLE", longest_wait=120)  # type: ignore[arg-type]
    assert health.stale_after == 180
    assert health.healthy()
    session.last_exchange -= 179
    assert health.healthy()  # a quiet IDLE, just before its renewal answers
    session.last_exchange -= 2
    assert not health.healthy()  # the renewal went unanswered

    health.detach()
    assert not health.healthy() and health.mode == "reconnecting"
