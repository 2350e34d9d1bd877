"""IMAP sessions (intake/imap.py) against a real Dovecot: what a fetch holds in memory."""

from __future__ import annotations

import base64
import random
import tracemalloc
from pathlib import Path

from dcs_mailbox.config import ImapSettings
from dcs_mailbox.intake.imap import ImapSession, connect
from tests.servers.dovecot import DovecotServer
from tests.support import build_eml


def open_session(dovecot: DovecotServer, tmp_path: Path) -> ImapSession:
    password = tmp_path / "imap-password"
    password.write_text(dovecot.password_of("sec-dcs"))
    settings = ImapSettings(
        host=dovecot.host,
        port=dovecot.imap_port,
        security="plain",
        username="sec-dcs",
        password_file=password,
    )
    return ImapSession(connect(settings, settings.resolve("imap")), "test")


def with_attachment(megabytes: float) -> bytes:
    data = random.Random(1).randbytes(int(megabytes * 1024 * 1024))
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        b"From: a@membre.example\r\nSubject: Saisine CDSE - plans\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + encoded
    )


def test_fetch_batches_bound_the_bytes_held_at_once(dovecot: DovecotServer, tmp_path: Path) -> None:
    small = build_eml()
    messages = [small, small, with_attachment(0.2), small, small, small]
    uids = dovecot.append_many("INBOX", messages)
    with open_session(dovecot, tmp_path) as session:
        session.select("INBOX")
        batches = list(session.fetch_batches(uids, 4, max_bytes=100_000))
    # Four at most; the large one alone; the small ones grouped up to the byte bound.
    assert batches == [uids[0:2], uids[2:3], uids[3:4], uids[4:6]]


def test_a_fetched_message_is_held_once_not_copied_into_log_lines(
    dovecot: DovecotServer, tmp_path: Path
) -> None:
    raw = with_attachment(4)
    (uid,) = dovecot.append_many("INBOX", [raw])
    with open_session(dovecot, tmp_path) as session:
        session.select("INBOX")
        tracemalloc.start()
        try:
            (fetched,) = session.fetch([uid])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert fetched.raw == raw
    # imapclient turns imaplib's debug output on, which formatted the repr of the whole
    # response (twice the message) before any logger could drop it: 3.3x, now 1.0x.
    assert peak < 1.5 * len(raw)
