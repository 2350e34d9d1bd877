"""The test servers themselves, exercised over real loopback sockets."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from . import dovecot as dovecot_module
from .dovecot import DovecotServer, DovecotStartError, make_self_signed_cert
from .smtp import SmtpCapture

# Every test here talks to real servers over loopback, including those that build their
# own server instead of using the dovecot/smtp_server fixtures.
pytestmark = pytest.mark.integration

ADDRESS = "sec-dcs@interieur.gouv.fr"
KEYWORD = "$saisine_cdse"


def make_message(subject: str = "Saisine CDSE n° 42", body: str = "Bonjour,\n") -> bytes:
    message = EmailMessage()
    message["From"] = "Citoyen <citoyen@example.org>"
    message["To"] = ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = f"<{time.monotonic_ns()}@example.org>"
    message.set_content(body)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def trusting(server: DovecotServer) -> ssl.SSLContext:
    """A client context that trusts only the server's self-signed certificate."""
    context = ssl.create_default_context(cafile=str(server.cert_path))
    # Python 3.13 turns this on by default; the certificate must pass it already.
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


# -- Dovecot: IMAP ------------------------------------------------------------------------


def test_imap_login_append_fetch_round_trip(dovecot: DovecotServer) -> None:
    raw = make_message()
    uid = dovecot.append("INBOX", raw, flags=[KEYWORD])

    [stored] = dovecot.fetch_all("INBOX")
    assert stored.uid == uid
    assert stored.raw == raw
    assert KEYWORD in stored.flags
    assert "\\Seen" not in stored.flags  # BODY.PEEK[] leaves the message unread

    # The full address logs in as the same user (auth_username_format = %Ln).
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        client.login(ADDRESS, "secret")
        status = client.select_folder("INBOX", readonly=True)
        assert status[b"EXISTS"] == 1
        assert status[b"UIDNEXT"] == uid + 1
        assert client.search(["UID", str(uid)]) == [uid]


def test_wrong_passwords_are_refused_without_penalty(dovecot: DovecotServer) -> None:
    # Stock Dovecot waits 2 s, then up to 15 s per repeated failure from the same IP; here
    # only the auth process's 0.5 s failure-flush tick remains.
    for _ in range(2):
        started = time.monotonic()
        with (
            IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client,
            pytest.raises(LoginError),
        ):
            client.login("sec-dcs", "wrong")
        assert time.monotonic() - started < 1.5


def test_capabilities_and_special_use_folders(dovecot: DovecotServer) -> None:
    with dovecot.imap() as client:
        capabilities = set(client.capabilities())
        for needed in (b"IDLE", b"CONDSTORE", b"QRESYNC", b"SPECIAL-USE", b"MOVE",
                       b"MULTIAPPEND", b"UIDPLUS", b"ENABLE"):  # fmt: skip
            assert needed in capabilities
        special = {
            name: flag.decode()
            for flags, _delimiter, name in client.list_folders()
            for flag in flags
            if flag in (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk")
        }
        subscribed = {name for _flags, _delimiter, name in client.list_sub_folders()}
    assert special == {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
                       "Junk": "\\Junk"}  # fmt: skip
    assert set(special) <= subscribed


def test_multiappend_move_and_qresync(dovecot: DovecotServer) -> None:
    uids = dovecot.append_many("INBOX", [make_message(f"n° {n}") for n in range(5)])
    assert uids == [1, 2, 3, 4, 5]
    with dovecot.imap() as client:
        client.enable("QRESYNC")  # must come before SELECT
        status = client.select_folder("INBOX")
        assert status[b"HIGHESTMODSEQ"] > 0
        client.add_flags([uids[0]], [KEYWORD])
        client.move([uids[0]], "Junk")
    [moved] = dovecot.fetch_all("Junk")
    assert KEYWORD in moved.flags  # MOVE keeps keywords
    assert len(dovecot.fetch_all("INBOX")) == 4


def test_custom_keyword_persists_and_is_searchable(dovecot: DovecotServer) -> None:
    uid = dovecot.append("INBOX", make_message())
    other = dovecot.append("INBOX", make_message("autre"))
    with dovecot.imap(folder="INBOX") as client:
        status = client.select_folder("INBOX")
        assert b"\\*" in status[b"PERMANENTFLAGS"]  # arbitrary keywords allowed
        client.add_flags([uid], [KEYWORD])

    # A new connection sees it: it is stored, not a session-only flag.
    assert dovecot.keywords("INBOX", uid) == {KEYWORD}
    assert dovecot.keywords("INBOX", other) == set()
    with dovecot.imap(folder="INBOX", readonly=True) as client:
        assert client.search(["KEYWORD", KEYWORD]) == [uid]
        assert client.search(["UNKEYWORD", KEYWORD]) == [other]

    # Still there after a crash and a fresh start (kill + start: restart() takes 1 s).
    dovecot.kill()
    dovecot.start()
    assert dovecot.keywords("INBOX", uid) == {KEYWORD}


def test_starttls_verifies_the_certificate(dovecot: DovecotServer) -> None:
    with IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=5) as client:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(trusting(dovecot))  # hostname 127.0.0.1 matched by the IP SAN
        client.login("sec-dcs", "secret")
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_imaps_verifies_the_certificate(dovecot: DovecotServer) -> None:
    context = trusting(dovecot)
    with IMAPClient(
        dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=context, timeout=5
    ) as client:
        client.login("sec-dcs", "secret")
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_imaps_with_the_system_trust_store_is_refused(dovecot: DovecotServer) -> None:
    # Proves the two tests above really verify something.
    context = ssl.create_default_context()
    with (
        socket.create_connection((dovecot.host, dovecot.imaps_port), timeout=5) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname=dovecot.host)


def test_idle_push_arrives_after_append_from_another_connection(dovecot: DovecotServer) -> None:
    with dovecot.imap(folder="INBOX") as watcher:
        watcher.idle()
        appended_at = time.monotonic()
        dovecot.append("INBOX", make_message())
        responses: list[tuple[object, ...]] = []
        deadline = appended_at + 3.0
        while time.monotonic() < deadline and not any(b"EXISTS" in r for r in responses):
            responses.extend(watcher.idle_check(timeout=max(0.0, deadline - time.monotonic())))
        watcher.idle_done()
    assert (1, b"EXISTS") in responses, f"no EXISTS push within 3 s: {responses}"


# -- Dovecot: LMTP ------------------------------------------------------------------------


def test_lmtp_delivery_lands_in_inbox(dovecot: DovecotServer) -> None:
    dovecot.add_user("bob", "bobpw")
    raw = make_message()
    dovecot.deliver_lmtp([ADDRESS, "bob@example.org"], raw)

    [delivered] = dovecot.fetch_all("INBOX")
    assert delivered.raw.endswith(raw)  # Dovecot prepends Return-Path, Delivered-To...
    assert b"Delivered-To: " + ADDRESS.encode() in delivered.raw
    assert len(dovecot.fetch_all("INBOX", user="bob")) == 1
    assert (dovecot.maildir_of("sec-dcs") / "new").is_dir()


def test_lmtp_refuses_unknown_recipient(dovecot: DovecotServer) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        dovecot.deliver_lmtp("nobody-here@example.org", make_message())
    [(code, _text)] = refused.value.recipients.values()
    assert code == 550


# -- Dovecot: lifecycle -------------------------------------------------------------------


def test_restart_comes_back_on_the_same_ports(dovecot: DovecotServer) -> None:
    uid = dovecot.append("INBOX", make_message())
    ports = (dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port)

    dovecot.restart()

    assert (dovecot.imap_port, dovecot.imaps_port, dovecot.lmtp_port) == ports
    assert [m.uid for m in dovecot.fetch_all("INBOX")] == [uid]


def test_kill_is_an_outage_until_start(dovecot: DovecotServer) -> None:
    dovecot.append("INBOX", make_message())
    with dovecot.imap(folder="INBOX") as client:
        dovecot.kill()
        # The open session is cut and new connections are refused.
        with pytest.raises((OSError, IMAPClient.AbortError)):
            client.noop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dovecot.host, dovecot.imap_port), timeout=2).close()

    dovecot.start()
    assert len(dovecot.fetch_all("INBOX")) == 1


def test_first_start_takes_other_ports_when_one_is_taken(
    tmp_path: Path, dovecot_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_free_ports = dovecot_module._free_ports
    calls: list[int] = []
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = int(squatter.getsockname()[1])

        def first_one_taken(count: int) -> list[int]:
            calls.append(count)
            ports = real_free_ports(count)
            return [taken, *ports[1:]] if len(calls) == 1 else ports

        monkeypatch.setattr(dovecot_module, "_free_ports", first_one_taken)
        server = DovecotServer(tmp_path / "dovecot", dovecot_binary=dovecot_binary).start()
        try:
            assert server.imap_port != taken
            assert server.append("INBOX", make_message()) == 1
        finally:
            server.stop(wait=False)
    assert len(calls) == 2


def test_start_failure_reports_the_reason(tmp_path: Path, dovecot_binary: str) -> None:
    # /bin/false stands in for a dovecot that dies at once (bad config, missing module...).
    broken = DovecotServer(tmp_path / "broken", dovecot_binary="/bin/false", start_timeout=5)
    with pytest.raises(DovecotStartError, match=r"exited with 1(.|\n)*dovecot\.log"):
        broken.start()
    assert not broken.running


# -- SMTP capture -------------------------------------------------------------------------


def send(server: SmtpCapture, raw: bytes, rcpts: list[str]) -> None:
    with smtplib.SMTP(server.host, server.port, local_hostname="localhost", timeout=5) as smtp:
        smtp.sendmail("agent@interieur.gouv.fr", rcpts, raw)


def test_smtp_capture_receives_a_message(smtp_server: SmtpCapture) -> None:
    raw = make_message()
    before = time.monotonic()
    send(smtp_server, raw, ["citoyen@example.org", "copie@example.org"])

    [message] = smtp_server.wait_for(1, timeout=2)
    assert message.mail_from == "agent@interieur.gouv.fr"
    assert message.rcpt_tos == ("citoyen@example.org", "copie@example.org")
    assert message.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert message.parse()["Subject"] == "Saisine CDSE n° 42"
    assert before <= message.received_monotonic <= time.monotonic()
    assert message.received_at.tzinfo is not None
    assert message.auth_login is None and not message.tls


def test_smtp_fail_with_answers_temporary_failures(smtp_server: SmtpCapture) -> None:
    smtp_server.fail_with = (451, "4.3.0 try later")
    with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)) as failure:
        send(smtp_server, make_message(), ["citoyen@example.org"])
    error = failure.value
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        assert [code for code, _ in error.recipients.values()] == [451]
    else:
        assert isinstance(error, smtplib.SMTPDataError)
        assert error.smtp_code == 451
    assert smtp_server.messages == []

    smtp_server.fail_with = None
    send(smtp_server, make_message(), ["citoyen@example.org"])
    assert len(smtp_server.wait_for(1, timeout=2)) == 1


def test_smtp_wait_for_times_out_with_a_clear_message(smtp_server: SmtpCapture) -> None:
    with pytest.raises(AssertionError, match=r"received 0 message\(s\) within 0.1 s, expected 1"):
        smtp_server.wait_for(1, timeout=0.1)


def test_smtp_stop_and_start_on_the_same_port(smtp_server: SmtpCapture) -> None:
    port = smtp_server.port
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((smtp_server.host, port), timeout=2).close()

    smtp_server.start()
    assert smtp_server.port == port
    send(smtp_server, make_message(), ["citoyen@example.org"])
    smtp_server.wait_for(1, timeout=2)


def test_smtp_auth_and_starttls(tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    with SmtpCapture(
        credentials={"relay": "relaypw"}, auth_required=True, tls_cert=(cert, key)
    ) as server:
        with smtplib.SMTP(server.host, server.port, local_hostname="localhost") as smtp:
            smtp.starttls(context=context)
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("relay", "wrong")
            smtp.login("relay", "relaypw")
            smtp.sendmail("agent@interieur.gouv.fr", ["citoyen@example.org"], make_message())
        # Without TLS AUTH works too (auth_require_tls is off), but MAIL needs AUTH.
        with smtplib.SMTP(server.host, server.port, local_hostname="localhost") as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused):
                smtp.sendmail("agent@interieur.gouv.fr", ["x@example.org"], make_message())
            smtp.login("relay", "relaypw")
            smtp.sendmail("agent@interieur.gouv.fr", ["x@example.org"], make_message())
        first, second = server.wait_for(2, timeout=2)
    assert (first.auth_login, first.tls) == ("relay", True)
    assert (second.auth_login, second.tls) == ("relay", False)
    # smtplib.login() tries PLAIN, then LOGIN, before giving up on a wrong password.
    assert [accepted for _login, accepted in server.auth_attempts] == [False, False, True, True]
