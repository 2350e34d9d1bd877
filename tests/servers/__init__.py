"""Real mail servers for the integration tests, run privately on loopback.

- :class:`~tests.servers.dovecot.DovecotServer`: a private Dovecot 2.3 (IMAP, IMAPS,
  LMTP) in a temporary directory; never touches ``/etc/dovecot`` or the system service.
- :class:`~tests.servers.smtp.SmtpCapture`: an in-process aiosmtpd server that records
  every message it receives and can be told to answer temporary failures.

The pytest fixtures built on them live in ``tests/conftest.py``.
"""

from .dovecot import (
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    INSTALL_HINT,
    DovecotNotInstalledError,
    DovecotServer,
    DovecotStartError,
    StoredMessage,
    find_dovecot,
    make_self_signed_cert,
    wait_for_stopped_servers,
)
from .smtp import CapturedMessage, SmtpCapture

__all__ = [
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "INSTALL_HINT",
    "CapturedMessage",
    "DovecotNotInstalledError",
    "DovecotServer",
    "DovecotStartError",
    "SmtpCapture",
    "StoredMessage",
    "find_dovecot",
    "make_self_signed_cert",
    "wait_for_stopped_servers",
]
