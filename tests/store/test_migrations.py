from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from dcs_mailbox.store.db import (
    SCHEMA_REVISION,
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)
from dcs_mailbox.store.models import Base


def test_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    assert upgrade(url) == head_revision()
    engine = make_engine(url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_requests_recorded_before_triage_columns_survive_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    command.upgrade(_alembic_config(url), "0001")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO requests (reference, channel, year, number, requester_name, subject, "
                "received_at, status, created_at, updated_at) VALUES ('CDSE-2026-0001', 'CDSE', "
                "2026, 1, '', 'x', '2026-01-01', 'received', '2026-01-01', '2026-01-01')"
            )
        )
    upgrade(url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT scope, member, urgent FROM requests")).one()
        assert current_revision(engine) == head_revision()
    engine.dispose()
    assert tuple(row) == ("uncertain", 0, 0)


def test_the_schema_check_constant_is_alembics_head() -> None:
    assert head_revision() == SCHEMA_REVISION
