from __future__ import annotations

from pathlib import Path

import pytest

from dcs_mailbox.config import load_settings, settings_from_dict
from dcs_mailbox.errors import ConfigError
from tests.support import settings_dict

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def test_example_configuration_is_valid() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.channels[0].reference_prefix == "CDSE"
    assert settings.imap is not None and settings.imap.verify_certificate


def test_unknown_key_is_named(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data["intake"] = {"history_horizon_hour": 3}
    with pytest.raises(ConfigError, match=r"intake\.history_horizon_hour: unknown key"):
        settings_from_dict(data)


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    del data["mailbox"]
    with pytest.raises(ConfigError, match=r"mailbox: required key is missing"):
        settings_from_dict(data)


def test_invalid_value_is_named_with_its_problem(tmp_path: Path) -> None:
    data = settings_dict(tmp_path, imap={"host": "imap.example", "port": 70000})
    with pytest.raises(ConfigError, match=r"imap\.port: Input should be less than 65536"):
        settings_from_dict(data)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[service\n")
    with pytest.raises(ConfigError, match=r"bad\.toml is not valid TOML"):
        load_settings(path)


def test_password_comes_from_a_file_and_is_not_printed(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cr3t-value\n")
    data = settings_dict(
        tmp_path,
        imap={"host": "imap.example", "username": "sec-dcs", "password_file": str(secret)},
    )
    settings = settings_from_dict(data)
    assert settings.imap is not None
    password = settings.imap.resolve("imap")
    assert password is not None and password.get_secret_value() == "s3cr3t-value"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(password)


def test_password_from_missing_environment_variable_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DCS_TEST_PW", raising=False)
    data = settings_dict(
        tmp_path, smtp={"host": "smtp.example", "username": "u", "password_env": "DCS_TEST_PW"}
    )
    settings = settings_from_dict(data)
    assert settings.smtp is not None
    with pytest.raises(ConfigError, match="DCS_TEST_PW, which is not set"):
        settings.smtp.resolve("smtp")


def test_systemd_credential_is_read_from_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "imap-password").write_text("from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    data = settings_dict(
        tmp_path,
        imap={"host": "h.example", "username": "u", "password_credential": "imap-password"},
    )
    imap = settings_from_dict(data).imap
    assert imap is not None
    password = imap.resolve("imap")
    assert password is not None and password.get_secret_value() == "from-systemd"


def test_plain_imap_with_a_password_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    data = settings_dict(
        tmp_path, imap={"host": "imap.interieur.gouv.fr", "security": "plain", "username": "u"}
    )
    with pytest.raises(ConfigError, match=r"password in clear"):
        settings_from_dict(data)


def test_channels_must_not_share_a_reference_prefix(tmp_path: Path) -> None:
    data = settings_dict(tmp_path)
    data["channels"] = [data["channels"][0], {**data["channels"][0], "name": "USP"}]
    with pytest.raises(ConfigError, match="same reference_prefix"):
        settings_from_dict(data)
