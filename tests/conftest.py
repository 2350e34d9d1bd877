"""Shared pytest fixtures for the dcs-mailbox test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.dovecot import (
    INSTALL_HINT,
    DovecotServer,
    find_dovecot,
    wait_for_stopped_servers,
)
from tests.servers.smtp import SmtpCapture

# ---------------------------------------------------------------------------------------
# Real mail servers on loopback (tests/servers): Dovecot for IMAP/LMTP, aiosmtpd for SMTP.
#
# Any test that uses one of these fixtures (directly or through another fixture) is marked
# `integration` automatically. Integration tests are never skipped: when Dovecot is
# missing they fail with the command that installs it, in CI and locally alike.
# ---------------------------------------------------------------------------------------

MAIL_SERVER_FIXTURES = frozenset({"dovecot", "dovecot_binary", "smtp_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if MAIL_SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def dovecot_binary() -> Iterator[str]:
    """Path of the ``dovecot`` binary; fails (never skips) when it is not installed.

    At the end of the session, waits for the Dovecot masters that were stopped without
    waiting (see the ``dovecot`` fixture) so that none outlives the test run.
    """
    binary = find_dovecot()
    if binary is None:
        where = "in CI (CI is set)" if os.environ.get("CI") else "on this machine"
        pytest.fail(
            f"Dovecot is not installed {where}: {INSTALL_HINT}, then run the tests again. "
            "Integration tests are never skipped.",
            pytrace=False,
        )
    yield binary
    wait_for_stopped_servers()


@pytest.fixture
def dovecot(tmp_path: Path, dovecot_binary: str) -> Iterator[DovecotServer]:
    """A fresh private Dovecot for each test, user ``sec-dcs`` / ``secret``.

    Function scope on purpose: starting an instance (config, self-signed certificate,
    greeting) takes about 0.05 s here, so each test gets empty mailboxes and may restart
    or kill its server without disturbing other tests. Stopping is the slow part (Dovecot's
    master sleeps 1 s before exiting), so the teardown does not wait for it: the master
    exits in the background and ``dovecot_binary`` reaps it at the end of the session.

    More users: ``dovecot.add_user("bob", "pw")`` (no restart needed). Log in with the
    bare user name or any address with that local part (``sec-dcs@interieur.gouv.fr``).
    """
    server = DovecotServer(tmp_path / "dovecot", dovecot_binary=dovecot_binary)
    server.start()
    yield server
    server.stop(wait=False)


@pytest.fixture
def smtp_server() -> Iterator[SmtpCapture]:
    """A capturing SMTP server on 127.0.0.1 (no AUTH, no TLS); starts in milliseconds.

    For AUTH or STARTTLS, build ``SmtpCapture(credentials=..., tls_cert=...)`` in the test.
    """
    with SmtpCapture() as server:
        yield server
