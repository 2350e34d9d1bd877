"""The real-world corpus through real IMAP: each message recorded or quarantined, never lost."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from dcs_mailbox.store.models import MailboxItem, Message, MessageStatus
from tests.integration.harness import RunningDaemon, daemon_settings, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.shared import corpus_files


@pytest.mark.shared
def test_every_corpus_message_is_recorded_or_quarantined_with_a_reason(
    tmp_path: Path, dovecot: DovecotServer, smtp_server: SmtpCapture
) -> None:
    raws = [p.read_bytes() for p in corpus_files()]
    # Dovecot refuses zero-byte APPENDs: those never reach a mailbox, so they are not ours.
    appendable = [r for r in raws if r]
    for start in range(0, len(appendable), 200):
        dovecot.append_many("INBOX", appendable[start : start + 200])
    stored = dovecot.fetch_all("INBOX")
    assert len(stored) == len(appendable)
    distinct = {hashlib.sha256(m.raw).hexdigest() for m in stored}

    settings = daemon_settings(tmp_path, dovecot, smtp_server)
    with RunningDaemon(settings) as running:
        wait_until(
            lambda: running.count(MailboxItem) == len(stored), "every UID recorded", timeout=180
        )
        running.wait_cycles()
        with running.service.sessions() as session:
            rows = session.scalars(select(Message)).all()
            quarantined = [r for r in rows if r.status == MessageStatus.QUARANTINED]
            uids = set(session.scalars(select(MailboxItem.uid)))
    assert {r.sha256 for r in rows} == distinct
    assert uids == {m.uid for m in stored}
    assert all(r.error for r in quarantined), "a quarantined message must say why"
    # Old corpus mail is history or machine mail: nothing in it deserves an acknowledgement.
    assert smtp_server.messages == []
    print(f"{len(stored)} messages, {len(distinct)} distinct, {len(quarantined)} quarantined")
