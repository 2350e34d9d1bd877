"""The project's one exception hierarchy.

Every message is meant for a person: it says what failed and what to check.
"""


class DcsMailboxError(Exception):
    """Base class of every error dcs-mailbox raises on purpose."""


class ConfigError(DcsMailboxError):
    """The configuration file is missing, unreadable or invalid."""


class StoreError(DcsMailboxError):
    """The database or the raw archive cannot be used."""


class ParseError(DcsMailboxError):
    """A message's bytes cannot be turned into an InboundMessage."""


class MailServerError(DcsMailboxError):
    """An IMAP or SMTP exchange failed."""


class ImapError(MailServerError):
    """The IMAP server refused, dropped or timed out an exchange."""


class SmtpError(MailServerError):
    """The SMTP server refused or could not take a message."""

    def __init__(self, message: str, *, temporary: bool, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        # 4xx replies and connection failures are worth retrying; 5xx are not (RFC 5321 §4.2.1).
        self.temporary = temporary
        # The final "." was sent but no reply came (timeout, disconnection): the server
        # may have accepted the message (RFC 1047). Not to be sent again blind.
        self.maybe_delivered = maybe_delivered


class AlreadyRunningError(DcsMailboxError):
    """Another dcs-mailbox process holds the data directory lock."""
