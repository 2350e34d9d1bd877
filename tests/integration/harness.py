"""Run the real daemon in a thread against the test servers, and wait for what it does."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from dcs_mailbox.config import Settings, settings_from_dict
from dcs_mailbox.daemon import Daemon
from dcs_mailbox.service import Service, build_service
from dcs_mailbox.store.db import upgrade
from dcs_mailbox.store.models import Message, OutboxMessage, Request
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import settings_dict

T = TypeVar("T")


def daemon_settings(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpCapture,
    /,
    *,
    imap: dict[str, Any] | None = None,
    **sections: Any,
) -> Settings:
    password = tmp_path / "imap-password"
    password.write_text(dovecot.password_of("sec-dcs"))
    data = settings_dict(
        tmp_path / "data",
        imap={
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "security": "plain",
            "username": "sec-dcs",
            "password_file": str(password),
            "timeout_seconds": 5,
            "reconnect_max_seconds": 2,
            **(imap or {}),
        },
        **{
            "smtp": {
                "host": smtp_server.host,
                "port": smtp_server.port,
                "security": "plain",
                "timeout_seconds": 5,
            },
            "acknowledgement": {"retry_initial_seconds": 0.5, "retry_max_seconds": 1},
            **sections,
        },
    )
    settings = settings_from_dict(data)
    upgrade(settings.database_url)
    return settings


def wait_until(predicate: Callable[[], T], what: str, timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class RunningDaemon:
    """The daemon in a background thread; any exception it raises fails the test at stop()."""

    def __init__(self, settings: Settings, **daemon_kwargs: Any) -> None:
        self.settings = settings
        self.service: Service = build_service(settings)
        self.stop_event = threading.Event()
        self.daemon = Daemon(self.service, stop=self.stop_event, **daemon_kwargs)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="dcs-mailbox-daemon", daemon=True)

    def _run(self) -> None:
        try:
            self.daemon.run()
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> RunningDaemon:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=15)
        self.service.close()
        assert not self.thread.is_alive(), "the daemon did not stop within 15 s of the request"
        if self.error is not None:
            raise AssertionError(f"the daemon failed: {self.error!r}") from self.error
        assert not self.daemon.unexpected_errors, self.daemon.unexpected_errors

    def wait_cycles(self, cycles: int = 1, timeout: float = 15.0) -> None:
        """Wait until `cycles` full rounds (sync + flush) have started and ended from now."""
        target = self.daemon.cycles + cycles + 1

        def done() -> bool:
            self.daemon.wake()
            return self.daemon.cycles >= target

        wait_until(done, f"{cycles} daemon cycle(s)", timeout)

    def count(self, model: type, *where: Any) -> int:
        with self.service.sessions() as session:
            stmt = select(func.count()).select_from(model)
            for clause in where:
                stmt = stmt.where(clause)
            return int(session.scalar(stmt) or 0)

    def messages(self) -> int:
        """Messages recorded from the INBOX (the Sent folder's are counted apart)."""
        return self.count(Message, Message.direction == "inbound")

    def requests(self) -> list[Request]:
        with self.service.sessions() as session:
            return list(session.scalars(select(Request).order_by(Request.id)))

    def outbox(self) -> list[OutboxMessage]:
        with self.service.sessions() as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
