"""archive → parse → triage → record, for one message, from IMAP or from a file.

Failure policy (the first complaint of ticket systems' users is one bad message
blocking the queue):
- bytes that are not a message (ParseError) are quarantined at once, with the reason;
- any other error in parse/triage/record is counted in the database and retried, up
  to [intake].max_attempts, then the message is quarantined with its last error;
- errors of the environment (database unavailable or locked, disk full) are not the
  message's fault: they propagate, and the daemon retries the whole pass later.

A fetch batch goes through `process_batch`: one transaction for the whole batch (the
per-message commits and sessions were most of the cost of a backlog, docs/benchmarks.md).
If anything in that transaction fails it is rolled back whole and every message of the
batch goes through `process` one by one, with the policy above: the fast path never
decides a message's fate on its own.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from dcs_mailbox.clock import Clock
from dcs_mailbox.config import Settings
from dcs_mailbox.errors import ParseError, StoreError
from dcs_mailbox.keywords import ACK_SENT
from dcs_mailbox.message import InboundMessage
from dcs_mailbox.parse import parse_message
from dcs_mailbox.store.answers import record_sent
from dcs_mailbox.store.archive import RawArchive
from dcs_mailbox.store.members import load_registry, registry_version
from dcs_mailbox.store.models import Message
from dcs_mailbox.store.record import (
    Location,
    RecordOutcome,
    add_location,
    find_message,
    note_failure,
    outcome_of,
    record_inbound,
    record_quarantine,
)
from dcs_mailbox.triage.body import split_body
from dcs_mailbox.triage.classify import TriageContext, triage
from dcs_mailbox.triage.resources import load_scope_model, load_services_setting
from dcs_mailbox.triage.verdict import Verdict

log = logging.getLogger(__name__)


class EnvironmentFailure(StoreError):
    """The database or the disk failed: retry the pass later, the message is not at fault."""

    @classmethod
    def from_error(cls, exc: BaseException) -> EnvironmentFailure:
        return cls(environment_error_text(exc))


def _environmental(exc: BaseException) -> bool:
    """The database or the disk failed, not this message: locked, unreachable, full, or
    corrupt ("database disk image is malformed" is a DatabaseError, not operational).
    A constraint or a value the column refuses is the message's (IntegrityError,
    DataError)."""
    if isinstance(exc, (OperationalError, OSError, StoreError)):
        return True
    return isinstance(exc, DatabaseError) and not isinstance(exc, (IntegrityError, DataError))


def environment_error_text(exc: BaseException) -> str:
    """A one-line, actionable description of a database or disk failure. Only the driver's
    own message: SQLAlchemy's text carries the statement and its parameters, which may
    hold people's names and addresses, and logs must not."""
    if isinstance(exc, StoreError):
        return str(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        detail = str(exc.orig)
    elif isinstance(exc, OSError):
        detail = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    else:
        detail = type(exc).__name__
    return (
        f"database or disk unavailable: {detail} — disk full, permissions, or another "
        "process holding the database?"
    )


@dataclass(frozen=True)
class Incoming:
    """One message of a fetch batch."""

    raw: bytes
    arrived_at: datetime
    location: Location | None
    keywords: frozenset[str] = frozenset()  # lower case, as found on the server


@dataclass
class Pipeline:
    settings: Settings
    sessions: sessionmaker[Session]
    archive: RawArchive
    clock: Clock
    history_before: datetime | None = None

    def __post_init__(self) -> None:
        self._members_version: tuple[int, object] | None = None
        self._model_version: int | None = None
        self._loaded = False
        self.context = TriageContext(
            channels=tuple((c.name, c.tag) for c in self.settings.channels),
            own_addresses=self.settings.mailbox.own_addresses,
        )
        self.refresh()

    def refresh(self) -> None:
        """Reload what agents and operators change while the service runs: the member
        registry (`members import`) and the scope model (`triage train`). Cheap when
        nothing changed: one small query and one stat()."""
        with self.sessions() as session:
            members_version = registry_version(session)
            members = load_registry(session) if members_version != self._members_version else None
        model_path = self.settings.scope_model_path
        model_version = model_path.stat().st_mtime_ns if model_path.exists() else None
        updates: dict[str, object] = {}
        if members is not None:
            updates["members"] = members
            self._members_version = members_version
        if model_version != self._model_version or not self._loaded:
            updates["scope_model"] = load_scope_model(model_path)
            self._model_version = model_version
        if not self._loaded:
            updates["services"] = load_services_setting(self.settings.triage.services_file)
            self._loaded = True
        if updates:
            self.context = replace(self.context, **updates)  # type: ignore[arg-type]

    def process(
        self,
        raw: bytes,
        *,
        arrived_at: datetime,
        location: Location | None,
        keywords: frozenset[str] = frozenset(),
    ) -> RecordOutcome:
        sha256 = hashlib.sha256(raw).hexdigest()
        try:
            known = self._known(sha256, location)
            if known is not None:
                # Not archived again: its bytes may have been purged on purpose (retention).
                return known
            self.archive.store(raw)  # before anything else can go wrong with a new message
            attempt = 0
            while True:
                attempt += 1
                try:
                    return self._record(Incoming(raw, arrived_at, location, keywords))
                except ParseError as exc:
                    return self._quarantine(
                        sha256, len(raw), f"illisible : {exc}", arrived_at, location
                    )
                except IntegrityError:
                    # Recorded meanwhile by a concurrent writer: the unique sha256 won.
                    known = self._known(sha256, location)
                    if known is not None:
                        return known
                    raise
                except Exception as exc:
                    if _environmental(exc):
                        raise
                    error = f"{type(exc).__name__}: {exc}"
                    log.exception("processing message %s failed (attempt %d)", sha256[:12], attempt)
                    attempts = self._note_failure(sha256, error)
                    if attempts >= self.settings.intake.max_attempts:
                        return self._quarantine(
                            sha256,
                            len(raw),
                            f"échec après {attempts} tentatives : {error}",
                            arrived_at,
                            location,
                        )
        except (OperationalError, OSError) as exc:
            raise EnvironmentFailure.from_error(exc) from exc
        except SQLAlchemyError as exc:
            raise EnvironmentFailure.from_error(exc) from exc

    def process_batch(self, items: Sequence[Incoming]) -> list[RecordOutcome]:
        """Record a fetch batch in one transaction; outcomes in the order of `items`.

        Archive first (every new message's bytes are on disk before the transaction
        commits), then parse and triage outside the transaction, then record everything
        at once. A message that fails to parse or triage, or any failure of the
        transaction, sends the messages concerned through `process` one by one.
        """
        if len(items) <= 1:
            return [self._process_item(i) for i in items]
        hashes = [hashlib.sha256(item.raw).hexdigest() for item in items]
        outcomes: list[RecordOutcome | None] = [None] * len(items)
        try:
            with self.sessions.begin() as session:
                known = {
                    row.sha256: row
                    for row in session.scalars(select(Message).where(Message.sha256.in_(hashes)))
                }
                for index, (item, sha256) in enumerate(zip(items, hashes, strict=True)):
                    row = known.get(sha256)
                    if row is not None:
                        add_location(session, row, item.location, self.clock.now())
                        outcomes[index] = outcome_of(session, row)
            prepared: list[tuple[int, InboundMessage, Verdict]] = []
            seen: set[str] = set()
            for index, (item, sha256) in enumerate(zip(items, hashes, strict=True)):
                if outcomes[index] is not None or sha256 in seen:
                    continue  # known, or the same bytes twice in the batch: `process` below
                seen.add(sha256)
                self.archive.store(item.raw, sha256)
                try:
                    message = parse_message(item.raw)
                    verdict = triage(message, self.context, deep=not self._history(item))
                    prepared.append((index, message, verdict))
                except Exception:  # `process` below applies the failure policy
                    continue
            if prepared:
                self._record_prepared(items, prepared, outcomes)
        except (OperationalError, OSError) as exc:
            raise EnvironmentFailure.from_error(exc) from exc
        except (IntegrityError, StoreError):
            raise  # handled per message below or by the daemon
        except SQLAlchemyError as exc:
            raise EnvironmentFailure.from_error(exc) from exc
        return [
            outcome if outcome is not None else self._process_item(item)
            for item, outcome in zip(items, outcomes, strict=True)
        ]

    def _record_prepared(
        self,
        items: Sequence[Incoming],
        prepared: Sequence[tuple[int, InboundMessage, Verdict]],
        outcomes: list[RecordOutcome | None],
    ) -> None:
        now = self.clock.now()
        try:
            with self.sessions.begin() as session:
                recorded = [
                    (index, self._record_in(session, message, verdict, items[index], now))
                    for index, message, verdict in prepared
                ]
        except Exception as exc:  # rolled back whole: each message is retried alone
            if _environmental(exc):
                raise
            log.info("batch of %d rolled back; recording its messages one by one", len(items))
            return
        for index, outcome in recorded:
            outcomes[index] = outcome

    def process_sent(self, raw: bytes, *, sent_at: datetime, location: Location | None) -> str:
        """A message of the Sent folder (an agent's mail, or our own copy); returns what it
        was taken for. Bad input is quarantined like inbound mail, never retried forever."""
        sha256 = hashlib.sha256(raw).hexdigest()
        try:
            with self.sessions.begin() as session:
                known = find_message(session, sha256)
                if known is not None:
                    add_location(session, known, location, self.clock.now())
                    return "known"
            self.archive.store(raw)
            try:
                message = parse_message(raw)
                own_text = split_body(message.text, message.sender).own
                with self.sessions.begin() as session:
                    return record_sent(
                        session,
                        message=message,
                        sent_at=sent_at,
                        now=self.clock.now(),
                        location=location,
                        prefixes=frozenset(c.reference_prefix for c in self.settings.channels),
                        services=self.context.services,
                        own_text=own_text,
                    ).kind.value
            except Exception as exc:
                if _environmental(exc):
                    raise
                log.exception("Sent message %s could not be processed", sha256[:12])
                self._quarantine(
                    sha256, len(raw), f"{type(exc).__name__}: {exc}", sent_at, location
                )
                return "quarantined"
        except (OperationalError, OSError) as exc:
            raise EnvironmentFailure.from_error(exc) from exc

    def _known(self, sha256: str, location: Location | None) -> RecordOutcome | None:
        with self.sessions.begin() as session:
            row = find_message(session, sha256)
            if row is None:
                return None
            add_location(session, row, location, self.clock.now())
            return outcome_of(session, row)

    def _process_item(self, item: Incoming) -> RecordOutcome:
        return self.process(
            item.raw, arrived_at=item.arrived_at, location=item.location, keywords=item.keywords
        )

    def _record(self, item: Incoming) -> RecordOutcome:
        message = parse_message(item.raw)
        verdict = triage(message, self.context, deep=not self._history(item))
        now = self.clock.now()
        with self.sessions.begin() as session:
            return self._record_in(session, message, verdict, item, now)

    def _history(self, item: Incoming) -> bool:
        """Mail from before the service (record.py decides the same way): recorded, never
        a request, so scope and personal data are not assessed."""
        return self.history_before is not None and item.arrived_at < self.history_before

    def _record_in(
        self,
        session: Session,
        message: InboundMessage,
        verdict: Verdict,
        item: Incoming,
        now: datetime,
    ) -> RecordOutcome:
        return record_inbound(
            session,
            message=message,
            verdict=verdict,
            arrived_at=item.arrived_at,
            now=now,
            location=item.location,
            channels=self.settings.channels,
            history_before=self.history_before,
            own_domain=self.settings.mailbox.address.rpartition("@")[2],
            zone=self.settings.service.zone,
            own_addresses=self.settings.mailbox.own_addresses,
            max_acks_per_sender_per_day=self.settings.acknowledgement.max_per_sender_per_day,
            alert_recipients=tuple(self.settings.alerts.duty_addresses),
            acknowledged_before=ACK_SENT in item.keywords,
        )

    def _note_failure(self, sha256: str, error: str) -> int:
        with self.sessions.begin() as session:
            return note_failure(session, sha256, error, self.clock.now())

    def _quarantine(
        self, sha256: str, size: int, error: str, arrived_at: datetime, location: Location | None
    ) -> RecordOutcome:
        log.warning("message %s quarantined: %s", sha256[:12], error)
        with self.sessions.begin() as session:
            return record_quarantine(
                session,
                sha256=sha256,
                size=size,
                error=error,
                arrived_at=arrived_at,
                now=self.clock.now(),
                location=location,
            )
