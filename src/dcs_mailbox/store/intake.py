"""Checkpoints and service facts for intake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dcs_mailbox.store.models import FolderCheckpoint, ServiceState

FIRST_START = "first_start_at"


@dataclass(frozen=True)
class Checkpoint:
    uidvalidity: int
    last_uid: int


class IntakeStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def first_start(self, now: datetime) -> datetime:
        """When the service first ran against this database (set once, kept forever)."""
        with self.sessions.begin() as session:
            state = session.get(ServiceState, FIRST_START)
            if state is None:
                session.add(ServiceState(key=FIRST_START, value=now.isoformat()))
                return now
            return datetime.fromisoformat(state.value)

    def checkpoint(self, folder: str) -> Checkpoint | None:
        with self.sessions() as session:
            row = session.scalars(
                select(FolderCheckpoint).where(FolderCheckpoint.folder == folder)
            ).one_or_none()
            return None if row is None else Checkpoint(row.uidvalidity, row.last_uid)

    def save_checkpoint(self, folder: str, checkpoint: Checkpoint, now: datetime) -> None:
        with self.sessions.begin() as session:
            row = session.scalars(
                select(FolderCheckpoint).where(FolderCheckpoint.folder == folder)
            ).one_or_none()
            if row is None:
                row = FolderCheckpoint(folder=folder)
                session.add(row)
            row.uidvalidity = checkpoint.uidvalidity
            row.last_uid = checkpoint.last_uid
            row.updated_at = now
