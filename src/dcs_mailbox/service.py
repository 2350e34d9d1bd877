"""Builds the stages from settings. Nothing is created at import time: tests swap any part."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from dcs_mailbox.clock import Clock, SystemClock
from dcs_mailbox.config import Settings
from dcs_mailbox.errors import AlreadyRunningError, ConfigError, StoreError
from dcs_mailbox.outbound.dispatch import Dispatcher
from dcs_mailbox.outbound.render import TemplateRenderer
from dcs_mailbox.outbound.smtp import SmtpSender
from dcs_mailbox.store.archive import RawArchive
from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema
from dcs_mailbox.store.intake import IntakeStore
from dcs_mailbox.store.outbox import OutboxStore

if TYPE_CHECKING:
    from dcs_mailbox.pipeline import Pipeline


@dataclass
class Service:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    archive: RawArchive
    clock: Clock
    outbox: OutboxStore
    intake: IntakeStore
    dispatcher: Dispatcher
    # Shared by the dispatcher and the reports (digest, statistics, alerts).
    renderer: TemplateRenderer
    sender_factory: Callable[[], SmtpSender]
    _pipeline: Pipeline | None = field(default=None, repr=False)

    @property
    def pipeline(self) -> Pipeline:
        """Built on first use: reports and the CLI's read-only commands never load triage
        (its lexicons and phone-number metadata cost start-up time)."""
        if self._pipeline is None:
            from dcs_mailbox import pipeline as pipeline_module

            self._pipeline = pipeline_module.Pipeline(
                self.settings, self.sessions, self.archive, self.clock
            )
        return self._pipeline

    def close(self) -> None:
        self.engine.dispose()


def prepare_data_dir(settings: Settings) -> Path:
    data_dir = settings.service.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StoreError(f"cannot create [service].data_dir {data_dir}: {exc.strerror}") from exc
    return data_dir


def build_service(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sender_factory: Callable[[], SmtpSender] | None = None,
) -> Service:
    clock = clock or SystemClock()
    data_dir = prepare_data_dir(settings)
    engine = make_engine(settings.database_url, settings.database.busy_timeout_seconds)
    require_current_schema(engine)
    sessions = make_session_factory(engine)
    archive = RawArchive(data_dir / "archive")
    outbox = OutboxStore(sessions)
    renderer = TemplateRenderer(settings.service.templates_dir, settings.service.zone)

    def default_sender() -> SmtpSender:
        if settings.smtp is None:
            raise ConfigError("no [smtp] section: acknowledgements cannot be sent")
        return SmtpSender(settings.smtp, settings.smtp.resolve("smtp"))

    dispatcher = Dispatcher(
        settings=settings,
        outbox=outbox,
        renderer=renderer,
        archive=archive,
        clock=clock,
        sender_factory=sender_factory or default_sender,
    )
    return Service(
        settings=settings,
        engine=engine,
        sessions=sessions,
        archive=archive,
        clock=clock,
        outbox=outbox,
        intake=IntakeStore(sessions),
        dispatcher=dispatcher,
        renderer=renderer,
        sender_factory=dispatcher.sender_factory,
    )


class DataDirLock:
    """One process per data directory: a second daemon (a manual run beside the service)
    would process the same mail twice."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "dcs-mailbox.lock"
        self._fd: int | None = None

    def __enter__(self) -> DataDirLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunningError(
                f"another dcs-mailbox process (pid {holder}) is using {self.path.parent}: "
                "stop it first (systemctl stop dcs-mailbox) or use another data_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
