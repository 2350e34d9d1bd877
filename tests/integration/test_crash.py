"""The crash harness (bench/crash.py) at a small scale: SIGKILL the real daemon process
over and over while it records and acknowledges, then count what survived."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from bench.crash import run_crash_harness

from tests.shared import shared_dir


@pytest.mark.shared
def test_sigkill_loses_no_message_and_sends_no_acknowledgement_twice(dovecot_binary: str) -> None:
    # dovecot_binary: fails when Dovecot is missing, and reaps the server at session end.
    shared_dir("requests")
    shared_dir("corpus")
    # Not tmp_path: a pytest session starting meanwhile (another checkout, another
    # engineer) resets /tmp/pytest-of-<user> to 0700, and Dovecot's unprivileged
    # processes then lose the traversal right granted at start, for the whole 10 s run.
    with tempfile.TemporaryDirectory(prefix="dcs-crash-") as work:
        report = run_crash_harness(Path(work), messages=120, kills=6, seed=7, completion_timeout=25)
    summary = "\n".join([*report.lines(), *(kill.describe() for kill in report.kills.kills)])
    assert report.messages == 120, summary
    assert report.lost == [] and report.twice_recorded == [], summary
    assert report.recorded + report.quarantined == report.distinct, summary
    assert report.missing_acks == [], summary
    assert report.unexpected_acks == [], summary
    # A kill between the server's acceptance and the commit of `sent` may send one twice
    # (docs/architecture.md, "Exactly one acknowledgement per request"); nothing else may.
    assert report.unexplained_duplicates == {}, summary
    assert report.kills.total == 6, summary
