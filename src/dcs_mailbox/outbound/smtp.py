"""SMTP submission: one connection per flush, errors sorted into temporary and permanent."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from types import TracebackType

from pydantic import SecretStr

from dcs_mailbox.config import Security, SmtpSettings
from dcs_mailbox.errors import SmtpError
from dcs_mailbox.tls import client_context


class SmtpSender:
    def __init__(self, settings: SmtpSettings, password: SecretStr | None) -> None:
        self.settings = settings
        self._password = password
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        s = self.settings
        where = f"SMTP server {s.host}:{s.port}"
        context = client_context(s.verify_certificate, s.ca_file)
        try:
            if s.security is Security.TLS:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout_seconds, context=context
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            try:
                smtp.ehlo()
                if s.security is Security.STARTTLS:
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if s.username:
                    smtp.login(
                        s.username, self._password.get_secret_value() if self._password else ""
                    )
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpError(
                f"{where} refused the login of {s.username!r} ({exc.smtp_code}): "
                "check [smtp].username and the password source",
                temporary=True,
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise SmtpError(f"{where} does not offer STARTTLS: {exc}", temporary=True) from exc
        except ssl.SSLError as exc:
            raise SmtpError(
                f"TLS with {where} failed: {exc.reason or exc} (check [smtp].ca_file or "
                "verify_certificate)",
                temporary=True,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SmtpError(f"cannot reach {where}: {exc}", temporary=True) from exc
        self._smtp = smtp

    def send(
        self,
        message: EmailMessage,
        *,
        envelope_from: str,
        recipients: list[str],
        all_or_nothing: bool = False,
    ) -> None:
        """One SMTP transaction. If the server refuses every recipient, or any of them with
        `all_or_nothing` (proof copies: the mailbox's copy must mean the requester's went
        too), the transaction is reset before DATA. Otherwise the accepted recipients get
        the message and the refusal is raised after it, as permanent (nothing to retry
        without sending the others a second copy)."""
        if self._smtp is None:
            self.connect()
        smtp = self._smtp
        assert smtp is not None
        dot_sent = False
        try:
            code, reply = smtp.mail(envelope_from)
            if code != 250:
                smtp.rset()
                raise SmtpError(
                    f"sender {envelope_from} refused: {code} {_text(reply)}",
                    temporary=400 <= code < 500,
                )
            refused: dict[str, tuple[int, bytes]] = {}
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, reply)
            if refused and (all_or_nothing or len(refused) == len(recipients)):
                smtp.rset()
                raise SmtpError(
                    f"recipient refused: {_describe_refusals(refused)}",
                    temporary=all(400 <= c < 500 for c, _ in refused.values()),
                )
            code, reply = smtp.docmd("DATA")
            if code != 354:
                smtp.rset()
                raise SmtpError(
                    f"SMTP server answered {code} {_text(reply)} to DATA",
                    temporary=code < 500,
                )
            smtp.send(_dot_stuffed(message.as_bytes()))
            dot_sent = True
            code, reply = smtp.getreply()
            if code != 250:
                raise SmtpError(f"SMTP server answered {code} {_text(reply)}", temporary=code < 500)
        except SmtpError:
            raise
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SmtpError(
                f"SMTP exchange failed{' after the final dot' if dot_sent else ''}: {exc}",
                temporary=True,
                maybe_delivered=dot_sent,
            ) from exc
        if refused:  # the others have it
            raise SmtpError(f"recipient refused: {_describe_refusals(refused)}", temporary=False)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


_LINE_ENDS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _dot_stuffed(data: bytes) -> bytes:
    """CRLF line ends, leading dots doubled, the end-of-data line (RFC 5321 §4.5.2)."""
    data = _LEADING_DOT.sub(b"..", _LINE_ENDS.sub(b"\r\n", data))
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _describe_refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt}: {code} {msg.decode('utf-8', 'replace')}" for rcpt, (code, msg) in refused.items()
    )
