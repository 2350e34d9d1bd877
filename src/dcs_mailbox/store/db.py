"""Engine and session factory. Built from settings by the caller: no import-time singletons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dcs_mailbox.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

# The newest revision in migrations/versions. Every command checks the database against
# it with one SELECT, without importing Alembic (0.2 s of start-up: it counts in the 2 s
# report target); tests/store/test_migrations.py keeps it equal to Alembic's head.
SCHEMA_REVISION = "0005"

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def make_engine(url: str, busy_timeout_seconds: float = 30.0) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: statement parameters (people's names and addresses) never
        # reach an exception's text, hence never a log line or a quarantine reason.
        engine = create_engine(
            url, connect_args={"timeout": busy_timeout_seconds}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_seconds))
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _sqlite_pragmas(busy_timeout_seconds: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL: readers (the CLI) never block the daemon's writer. NORMAL is durable in WAL
        # mode except for the last transactions on power loss, which re-processing covers
        # because every step is idempotent.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer elsewhere (a CLI command, a backup) holding the lock longer than this
        # makes the daemon's pass fail with "database is locked" and retry later.
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.close()

    return on_connect


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> str:
    """Create or migrate the database to the newest revision; returns that revision."""
    from alembic import command

    _ensure_sqlite_directory(url)
    command.upgrade(_alembic_config(url), "head")
    _owner_only(url)
    return head_revision()


def head_revision() -> str:
    """Alembic's own idea of the newest revision (reads migrations/)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None, "migrations/ has no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as exc:
            if "no such table" in str(exc.orig) or "does not exist" in str(exc.orig):
                return None
            raise


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a database that `db upgrade` has not brought to the newest revision."""
    try:
        current = current_revision(engine)
    except OperationalError as exc:
        raise StoreError(
            f"cannot open the database {engine.url!r}: {exc.orig} — if it does not exist "
            "yet, run `dcs-mailbox db upgrade --config …` to create it"
        ) from exc
    head = SCHEMA_REVISION
    if current != head:
        state = "is not initialised" if current is None else f"is at revision {current}"
        raise StoreError(
            f"the database {engine.url!r} {state}, the code needs {head}: "
            "run `dcs-mailbox db upgrade --config …` first"
        )


def _owner_only(url: str) -> None:
    """The database holds people's mail: 0600. SQLite gives its -wal and -shm files the
    permissions of the database file, so this covers them too."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        Path(url[len(prefix) :]).chmod(0o600)


def _ensure_sqlite_directory(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
