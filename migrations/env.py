"""Alembic environment: the URL comes from dcs-mailbox (`db upgrade`), never from alembic.ini."""

from __future__ import annotations

from alembic import context

from dcs_mailbox.store.db import make_engine
from dcs_mailbox.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by dcs_mailbox.store.db"
    engine = make_engine(url)
    with engine.connect() as connection:
        # SQLite cannot ALTER most things: batch mode rebuilds tables (alembic docs, "batch").
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
