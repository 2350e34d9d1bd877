"""An in-process SMTP server (aiosmtpd) that captures what the code under test sends.

:class:`SmtpCapture` listens on 127.0.0.1 on a free port, records every accepted message
with its envelope and arrival times, and can be switched to answer temporary failures or
be stopped and started again on the same port, for retry and outage tests.
"""

from __future__ import annotations

import asyncio
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
# aiosmtpd would otherwise call socket.getfqdn() for every connection (a DNS lookup).
SERVER_HOSTNAME = "smtp.test"


@dataclass(frozen=True)
class CapturedMessage:
    """One message accepted by :class:`SmtpCapture`."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    received_monotonic: float  # time.monotonic() when DATA completed
    received_at: datetime  # wall clock, UTC
    peer: tuple[str, int]
    auth_login: str | None  # the AUTH user name, when the client authenticated
    tls: bool  # True when the session had switched to TLS (STARTTLS)

    def parse(self) -> EmailMessage:
        """The message parsed with the standard library's modern policy."""
        message = BytesParser(policy=email.policy.default).parsebytes(self.raw)
        assert isinstance(message, EmailMessage)
        return message


class _CaptureHandler:
    """aiosmtpd handler; its hooks run in the controller's event-loop thread."""

    def __init__(self, capture: SmtpCapture) -> None:
        self._capture = capture

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        failure = self._capture.fail_with or self._capture.refuse_recipients.get(address.lower())
        if failure is not None:
            return f"{failure[0]} {failure[1]}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self._capture.fail_with
        if failure is not None:
            return f"{failure[0]} {failure[1]}"
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        peer = session.peer if isinstance(session.peer, tuple) else ("", 0)
        self._capture._record(
            CapturedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                received_monotonic=time.monotonic(),
                received_at=datetime.now(UTC),
                peer=(str(peer[0]), int(peer[1])),
                auth_login=login.decode("utf-8", "replace") if login is not None else None,
                tls=server._tls_protocol is not None,
            )
        )
        local = self._capture.local_delivery
        if local is not None:
            addresses, deliver = local
            for rcpt in envelope.rcpt_tos:
                if rcpt.lower() in addresses:
                    deliver(rcpt, raw)  # like an MTA's local delivery (here before the 250)
        if self._capture.reply_delay:
            # Accepted, but the reply comes late: a client with a shorter timeout sees no
            # answer to its final dot (RFC 1047's case).
            await asyncio.sleep(self._capture.reply_delay)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Controller whose SMTP instances may require AUTH without requiring TLS."""

    def __init__(self, *args: Any, allow_auth_without_tls: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._allow_auth_without_tls = allow_auth_without_tls

    def factory(self) -> SMTP:
        # What Controller.factory() does, minus its missing type hints.
        smtpd = SMTP(self.handler, **self.SMTP_kwargs)
        if self._allow_auth_without_tls:
            # SMTP(auth_required=True, auth_require_tls=False) emits a UserWarning on every
            # connection, which the suite's filterwarnings=error turns into a failure; the
            # instance is therefore built with the default (TLS required for AUTH) and
            # relaxed afterwards. Loopback-only test server: no security concern.
            if not hasattr(smtpd, "_auth_require_tls"):
                raise RuntimeError("aiosmtpd changed: SMTP._auth_require_tls is gone")
            smtpd._auth_require_tls = False
        return smtpd


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class SmtpCapture:
    """A capturing SMTP server on 127.0.0.1.

    Options, all off by default:

    - ``credentials={"user": "password"}``: offer AUTH PLAIN/LOGIN (without TLS) and accept
      only these pairs; ``auth_required=True`` also refuses MAIL before AUTH.
    - ``tls_cert=(cert_path, key_path)``: offer STARTTLS with that certificate (for instance
      the one of :class:`~tests.servers.dovecot.DovecotServer`); ``require_starttls=True`` refuses
      everything but EHLO/STARTTLS/QUIT before TLS.

    ``fail_with = (451, "4.3.0 try later")`` makes every RCPT and DATA get that reply
    until it is set back to None.
    """

    host = HOST

    def __init__(
        self,
        *,
        port: int | None = None,
        credentials: dict[str, str] | None = None,
        auth_required: bool = False,
        tls_cert: tuple[Path, Path] | None = None,
        require_starttls: bool = False,
    ) -> None:
        if auth_required and not credentials:
            raise ValueError("auth_required needs credentials")
        if require_starttls and tls_cert is None:
            raise ValueError("require_starttls needs tls_cert")
        self._port = port
        self._credentials = dict(credentials) if credentials else None
        self._auth_required = auth_required
        self._tls_cert = tls_cert
        self._require_starttls = require_starttls
        self._messages: list[CapturedMessage] = []
        self._arrived = threading.Condition()
        self._controller: _Controller | None = None
        # Read from the event-loop thread; assigning a tuple or None is atomic.
        self.fail_with: tuple[int, str] | None = None
        self.auth_attempts: list[tuple[str, bool]] = []  # (login, accepted)
        # (addresses, deliver): mail for these recipients is also handed to deliver(rcpt,
        # raw) — e.g. Dovecot's LMTP — as a real server delivers its own domain's mail.
        self.local_delivery: tuple[frozenset[str], Callable[[str, bytes], None]] | None = None
        # {lower-case address: (code, text)}: RCPT refused for these recipients only.
        self.refuse_recipients: dict[str, tuple[int, str]] = {}
        self.reply_delay = 0.0  # seconds before the reply to the final dot

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SmtpCapture has no port yet: call start() first")
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def messages(self) -> list[CapturedMessage]:
        """A snapshot of the messages received so far, in arrival order."""
        with self._arrived:
            return list(self._messages)

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._arrived:
            self._messages.clear()

    def _record(self, message: CapturedMessage) -> None:
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[CapturedMessage]:
        """Block until at least *count* messages arrived; return all of them.

        Raises AssertionError (so pytest shows it as a test failure) on timeout.
        """
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= count, timeout):
                got = [(m.mail_from, m.rcpt_tos) for m in self._messages]
                raise AssertionError(
                    f"SMTP server on port {self._port} received {len(got)} message(s) "
                    f"within {timeout} s, expected {count}; received: {got}"
                )
            return list(self._messages)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._credentials is None:
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        accepted = self._credentials.get(login) == password
        self.auth_attempts.append((login, accepted))
        return AuthResult(success=accepted, handled=False, auth_data=auth_data)

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._tls_cert is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert, key = self._tls_cert
        context.load_cert_chain(cert, key)
        return context

    def start(self) -> Self:
        """Start listening (on the same port as before after a stop())."""
        if self._controller is not None:
            raise RuntimeError(f"SmtpCapture is already running on port {self._port}")
        if self._port is None:
            self._port = _free_port()
        authenticator: Callable[..., AuthResult] | None = None
        if self._credentials is not None:
            authenticator = self._authenticate
        # A fresh Controller each time: aiosmtpd closes its event loop on stop().
        controller = _Controller(
            _CaptureHandler(self),
            hostname=HOST,
            port=self._port,
            server_hostname=SERVER_HOSTNAME,
            allow_auth_without_tls=authenticator is not None,
            authenticator=authenticator,
            auth_required=self._auth_required,
            tls_context=self._tls_context(),
            require_starttls=self._require_starttls,
            ready_timeout=5.0,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening; connections are refused until start() is called again."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SmtpCapture {state} {HOST}:{self._port} messages={len(self.messages)}>"
