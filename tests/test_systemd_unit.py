"""deploy/dcs-mailbox.service: the directives operators rely on, and `systemd-analyze
verify` finding nothing to say about it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "dcs-mailbox.service"
INSTALLED_BINARY = "/opt/dcs-mailbox/.venv/bin/dcs-mailbox"


def directives(text: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) → values in order; systemd keys may repeat (LoadCredential=)."""
    found: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        found.setdefault((section, key.strip()), []).append(value.strip())
    return found


def test_unit_declares_supervision_identity_credentials_and_hardening() -> None:
    unit = directives(UNIT.read_text())

    def one(key: str, section: str = "Service") -> str:
        values = unit.get((section, key))
        assert values is not None and len(values) == 1, f"{key}= missing or repeated"
        return values[0]

    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("ExecStart") == f"{INSTALLED_BINARY} run --config /etc/dcs-mailbox/config.toml"
    assert one("Restart") == "on-failure"
    assert int(one("WatchdogSec")) >= 180  # 120 s IDLE + 2 × 30 s timeout: see the unit
    assert one("User") == one("Group") == "dcs-mailbox"
    assert one("StateDirectory") == "dcs-mailbox"
    assert one("StateDirectoryMode") == "0700"
    assert one("UMask") == "0077"
    assert unit[("Service", "LoadCredential")] == [
        "imap-password:/etc/dcs-mailbox/imap-password",
        "smtp-password:/etc/dcs-mailbox/smtp-password",
    ]
    hardening = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "RestrictNamespaces": "yes",
        "LockPersonality": "yes",
        "SystemCallFilter": "@system-service",
    }
    assert {key: one(key) for key in hardening} == hardening
    assert one("WantedBy", "Install") == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze missing: run scripts/install-test-deps.sh"
    # verify checks that ExecStart= exists: point it at this venv's real entry point.
    binary = Path(sys.executable).parent / "dcs-mailbox"
    if not binary.exists():
        pytest.fail(f"{binary} missing: install the project into the venv (pip install -e .)")
    copy = tmp_path / "dcs-mailbox.service"
    text = UNIT.read_text()
    assert INSTALLED_BINARY in text
    copy.write_text(text.replace(INSTALLED_BINARY, str(binary)))

    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )

    # verify exits 0 on unknown keys and unparsable values: any message is a failure.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr
