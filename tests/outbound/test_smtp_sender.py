"""SmtpSender against a real SMTP server on loopback: transactions, refusals, RFC 1047."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from dcs_mailbox.config import SmtpSettings
from dcs_mailbox.errors import SmtpError
from dcs_mailbox.outbound.smtp import SmtpSender
from tests.servers.smtp import SmtpCapture

REQUESTER = "j.martin@acme-industrie.example"
MAILBOX = "sec-dcs@interieur.gouv.fr"


def sender(server: SmtpCapture, timeout: float = 5) -> SmtpSender:
    settings = SmtpSettings(
        host=server.host, port=server.port, security="plain", timeout_seconds=timeout
    )
    return SmtpSender(settings, None)


def message(body: str = "Bonjour.\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = MAILBOX
    msg["To"] = REQUESTER
    msg["Subject"] = "Accusé de réception"
    msg.set_content(body)
    return msg


def test_all_or_nothing_sends_no_copy_when_the_requester_is_refused(
    smtp_server: SmtpCapture,
) -> None:
    smtp_server.refuse_recipients[REQUESTER] = (450, "4.2.0 mailbox busy")
    with sender(smtp_server) as smtp, pytest.raises(SmtpError) as refused:
        smtp.send(
            message(), envelope_from=MAILBOX, recipients=[REQUESTER, MAILBOX], all_or_nothing=True
        )
    assert refused.value.temporary and not refused.value.maybe_delivered
    assert smtp_server.messages == []  # the mailbox's copy did not go alone


def test_otherwise_the_accepted_recipients_get_it_and_the_refusal_is_final(
    smtp_server: SmtpCapture,
) -> None:
    smtp_server.refuse_recipients["chef@interieur.gouv.fr"] = (550, "5.1.1 no such user")
    with sender(smtp_server) as smtp, pytest.raises(SmtpError) as refused:
        smtp.send(message(), envelope_from=MAILBOX, recipients=["chef@interieur.gouv.fr", MAILBOX])
    assert not refused.value.temporary and "chef@interieur.gouv.fr: 550" in str(refused.value)
    assert [m.rcpt_tos for m in smtp_server.messages] == [(MAILBOX,)]


def test_no_reply_to_the_final_dot_may_mean_delivered(smtp_server: SmtpCapture) -> None:
    smtp_server.reply_delay = 2.0
    with sender(smtp_server, timeout=0.5) as smtp, pytest.raises(SmtpError) as lost:
        smtp.send(message(), envelope_from=MAILBOX, recipients=[REQUESTER])
    assert lost.value.temporary and lost.value.maybe_delivered
    assert "after the final dot" in str(lost.value)
    smtp_server.wait_for(1)  # the server did take it


def test_dot_stuffing_and_line_ends(smtp_server: SmtpCapture) -> None:
    body = ".\n.ligne qui commence par un point\nfin\n"
    with sender(smtp_server) as smtp:
        smtp.send(message(body), envelope_from=MAILBOX, recipients=[REQUESTER])
        smtp.send(message("second"), envelope_from=MAILBOX, recipients=[REQUESTER])
    first, second = smtp_server.wait_for(2)
    assert first.parse().get_content().replace("\r\n", "\n") == body  # dots unstuffed back
    assert second.parse().get_content().replace("\r\n", "\n") == "second\n"
