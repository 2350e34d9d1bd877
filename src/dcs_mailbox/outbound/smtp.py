"""SMTP submission: one connection per flush, errors sorted into temporary and permanent."""

from __future__ import annotations

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

    def send(self, message: EmailMessage, *, envelope_from: str, recipients: list[str]) -> None:
        if self._smtp is None:
            self.connect()
        assert self._smtp is not None
        try:
            refused = self._smtp.send_message(message, from_addr=envelope_from, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SmtpError(
                f"recipient refused: {_describe_refusals(exc.recipients)}",
                temporary=all(400 <= c < 500 for c in codes),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise SmtpError(
                f"SMTP server answered {exc.smtp_code} {text}", temporary=exc.smtp_code < 500
            ) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SmtpError(f"SMTP exchange failed: {exc}", temporary=True) from exc
        if refused:  # partial refusal: acknowledgements have one recipient, so unreachable
            raise SmtpError(f"recipient refused: {_describe_refusals(refused)}", temporary=False)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None


def _describe_refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt}: {code} {msg.decode('utf-8', 'replace')}" for rcpt, (code, msg) in refused.items()
    )
