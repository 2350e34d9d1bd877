"""The command-line contract (db upgrade, ingest, requests, check, demo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from dcs_mailbox.cli import main
from dcs_mailbox.errors import AlreadyRunningError
from dcs_mailbox.service import DataDirLock
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import CHANNEL, build_eml

ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, **sections: Any) -> Path:
    lines = [
        "[service]",
        f'data_dir = "{tmp_path / "data"}"',
        "[mailbox]",
        'address = "sec-dcs@interieur.gouv.fr"',
    ]
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    lines.append("[[channels]]")
    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in CHANNEL.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tomllib.loads(path.read_text())  # the test's own TOML must be valid
    return path


def test_commands_refuse_a_database_that_was_not_upgraded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["requests", "list", "--config", str(config)]) == 2
    assert "run `dcs-mailbox db upgrade" in capsys.readouterr().err


def test_invalid_configuration_exits_with_the_key_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, intake={"max_attempts": 0})
    assert main(["requests", "list", "--config", str(config)]) == 2
    assert "intake.max_attempts" in capsys.readouterr().err


def test_ingest_records_sends_and_lists(
    tmp_path: Path, smtp_server: SmtpCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path, smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"}
    )
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    request = tmp_path / "request.eml"
    request.write_bytes(build_eml())
    untagged = tmp_path / "untagged.eml"
    untagged.write_bytes(build_eml(subject="Bonjour", message_id="other@x.example"))
    capsys.readouterr()
    assert main(["ingest", "--config", str(config), str(request), str(untagged)]) == 0
    out = capsys.readouterr().out
    assert "new_request CDSE-2026-0001" in out and "not_a_request" in out
    assert "acknowledgements: 1 sent" in out
    assert len(smtp_server.wait_for(1)) == 1

    assert main(["ingest", "--config", str(config), str(request)]) == 0
    assert "déjà enregistré" in capsys.readouterr().out
    assert len(smtp_server.messages) == 1

    assert main(["requests", "list", "--config", str(config), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["reference"].startswith("CDSE-") and row["status"] == "acknowledged"

    assert main(["requests", "show", row["reference"], "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "Accusé de réception envoyé" in shown and "Saisine reçue" in shown

    assert main(["requests", "show", "CDSE-1999-0001", "--config", str(config)]) == 1


def test_check_reports_each_part_against_real_servers(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp_server: SmtpCapture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    password = tmp_path / "pw"
    password.write_text("secret")
    imap = {
        "host": dovecot.host,
        "port": dovecot.imaps_port,
        "security": "tls",
        "ca_file": str(dovecot.cert_path),
        "username": "sec-dcs",
        "password_file": str(password),
    }
    config = write_config(
        tmp_path,
        imap=imap,
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )
    main(["db", "upgrade", "--config", str(config)])
    capsys.readouterr()
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "[ ok ] IMAP: logged in" in out and "Sent folder 'Sent'" in out
    assert "[ ok ] SMTP: connected" in out

    password.write_text("wrong")
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] IMAP: IMAP login refused" in out and "wrong" not in out


def test_tls_certificate_is_verified_by_default(
    tmp_path: Path, dovecot: DovecotServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        imap={
            "host": dovecot.host,
            "port": dovecot.imaps_port,
            "username": "sec-dcs",
            "password_env": "DCS_TEST_UNUSED",
        },
    )
    os.environ["DCS_TEST_UNUSED"] = "secret"
    try:
        main(["db", "upgrade", "--config", str(config)])
        capsys.readouterr()
        assert main(["check", "--config", str(config)]) == 1
    finally:
        del os.environ["DCS_TEST_UNUSED"]
    assert "certificate" in capsys.readouterr().out.lower()


def test_a_second_process_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    with (
        DataDirLock(tmp_path),
        pytest.raises(AlreadyRunningError, match="another dcs-mailbox"),
        DataDirLock(tmp_path),
    ):
        pass
    with DataDirLock(tmp_path):  # released: usable again
        pass


def test_demo_runs_with_nothing_configured() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dcs_mailbox", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "Demo finished: 6 request(s) acknowledged once each, 1 urgent alert(s) sent"
        in result.stdout
    )
    assert "second flush: 0 sent" in result.stdout
