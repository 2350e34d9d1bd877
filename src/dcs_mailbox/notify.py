"""Tell systemd how the service is doing: the sd_notify datagram protocol, no dependency.

systemd passes a Unix datagram socket in NOTIFY_SOCKET (a path, or an abstract name
written with a leading '@') and, when the unit sets WatchdogSec=, the interval in
WATCHDOG_USEC (sd_notify(3), sd_watchdog_enabled(3)). Outside systemd (tests, a shell)
NOTIFY_SOCKET is unset and every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends `KEY=value` lines to the service manager; silent when there is none."""

    def __init__(self, address: str | None, watchdog_seconds: float | None = None) -> None:
        self.address = address
        self.watchdog_seconds = watchdog_seconds if address else None
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None, _watchdog_seconds(env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one datagram of newline-separated fields; False if it could not be sent."""
        if self.address is None:
            return False
        # sd_notify(3): an address starting with '@' is in the abstract namespace.
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        payload = "\n".join(fields).encode()
        try:
            with self._lock, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(payload, target)
        except OSError as exc:
            # The service keeps working; systemd will notice the missing pings itself.
            log.warning("cannot notify the service manager at %s: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    """WATCHDOG_USEC as seconds, or None when the watchdog is off or meant for another
    process (WATCHDOG_PID names the process the manager watches, sd_watchdog_enabled(3))."""
    raw = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Supervision(threading.Thread):
    """The conversation with systemd, in a thread of its own so a stuck main loop cannot
    keep pinging: READY=1 once `ready()`, STATUS= when `status()` changes, WATCHDOG=1 every
    half interval (sd_watchdog_enabled(3)) but only while `healthy()`, STOPPING=1 at the end.
    """

    # How often STATUS is refreshed when there is no watchdog to pace the thread.
    STATUS_PERIOD = 5.0

    def __init__(
        self,
        notifier: Notifier,
        *,
        ready: Callable[[], bool],
        healthy: Callable[[], bool],
        status: Callable[[], str],
        stop: threading.Event,
    ) -> None:
        super().__init__(name="dcs-mailbox-systemd", daemon=True)
        self.notifier = notifier
        self._ready = ready
        self._healthy = healthy
        self._status = status
        self._stop_requested = stop
        self._done = threading.Event()
        self._is_ready = False
        self._last_status = ""
        self._stopping_sent = False
        self._stopping_lock = threading.Lock()
        wd = notifier.watchdog_seconds
        self.period = min(wd / 2, self.STATUS_PERIOD) if wd else self.STATUS_PERIOD

    def start(self) -> None:
        if self.notifier.enabled:
            super().start()

    def run(self) -> None:
        while not self._done.is_set() and not self._stop_requested.is_set():
            try:
                self.tick()
            except Exception:
                # A failing status query must not end supervision: the pings decide.
                log.exception("systemd notification round failed")
            self._done.wait(self.period)
        self._send_stopping()

    def tick(self) -> None:
        if not self._is_ready and self._ready():
            self._is_ready = True
            self._last_status = self._status()
            self.notifier.ready(self._last_status)
        elif self._is_ready:
            line = self._status()
            if line != self._last_status:
                self._last_status = line
                self.notifier.status(line)
        if self._is_ready and self.notifier.watchdog_seconds and self._healthy():
            self.notifier.watchdog()

    def close(self) -> None:
        """End supervision (STOPPING=1 is sent once, by the thread or here)."""
        self._done.set()
        if self.is_alive():
            self.join(timeout=5)
        self._send_stopping()

    def _send_stopping(self) -> None:
        with self._stopping_lock:
            if self._stopping_sent:
                return
            self._stopping_sent = True
        self.notifier.stopping()
