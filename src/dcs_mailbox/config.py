"""One TOML file, validated by pydantic; secrets come from files or the environment.

Every model forbids unknown keys, so a typo fails at start with the key's dotted path
instead of being silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from dcs_mailbox.errors import ConfigError

# Deliberately loose (RFC 5321 addr-spec shape): the ministry's internal domains must pass.
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s<>]+@[^@\s<>]+$", max_length=254)]

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Security(StrEnum):
    TLS = "tls"  # implicit TLS (IMAPS 993, SMTPS 465)
    STARTTLS = "starttls"
    PLAIN = "plain"  # loopback tests only: credentials cross the wire in clear


class Secret(_Section):
    """Where a password comes from: a file (systemd LoadCredential=), or an environment variable."""

    password_file: Path | None = None
    password_env: str | None = None
    # Name of a systemd credential: read from $CREDENTIALS_DIRECTORY/<name>.
    password_credential: str | None = None

    def resolve(self, what: str) -> SecretStr | None:
        sources = [
            s for s in (self.password_file, self.password_env, self.password_credential) if s
        ]
        if len(sources) > 1:
            raise ConfigError(
                f"[{what}] sets more than one of password_file, password_env, "
                "password_credential: keep one"
            )
        if self.password_file is not None:
            return SecretStr(_read_secret_file(self.password_file, f"[{what}].password_file"))
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"[{what}].password_env names {self.password_env}, which is not set "
                    "in the environment"
                )
            return SecretStr(value)
        if self.password_credential is not None:
            directory = os.environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                raise ConfigError(
                    f"[{what}].password_credential is set but $CREDENTIALS_DIRECTORY is not: "
                    "run under systemd with LoadCredential=, or use password_file"
                )
            path = Path(directory) / self.password_credential
            return SecretStr(_read_secret_file(path, f"[{what}].password_credential"))
        return None


def _read_secret_file(path: Path, key: str) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from exc


class ServerEndpoint(Secret):
    host: str
    port: Annotated[int, Field(gt=0, lt=65536)]
    security: Security = Security.TLS
    verify_certificate: bool = True
    ca_file: Path | None = None  # extra CA bundle, e.g. the ministry's internal CA
    username: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0)] = 30.0

    @model_validator(mode="after")
    def _refuse_insecure_remote(self) -> Self:
        loopback = self.host in ("127.0.0.1", "::1", "localhost")
        if self.security is Security.PLAIN and self.username and not loopback:
            raise ValueError(
                'security = "plain" would send the password in clear to '
                f'{self.host}: use "tls" or "starttls" (plain is for loopback tests)'
            )
        return self


class ImapSettings(ServerEndpoint):
    port: Annotated[int, Field(gt=0, lt=65536)] = 993
    inbox: str = "INBOX"
    # Empty: found through SPECIAL-USE \Sent (RFC 6154), then the usual names.
    sent_folder: str = ""
    idle: bool = True
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 60.0
    # RFC 2177 §3: servers may drop an IDLE after 30 minutes; renew well before. Each
    # renewal also re-scans the folder, which bounds the delay of a push the server
    # announced in a reply to another command (a race of microseconds).
    idle_renew_seconds: Annotated[float, Field(gt=0, le=1740)] = 120.0
    fetch_batch_size: Annotated[int, Field(gt=0, le=5000)] = 200
    # Outlook shows no IMAP keywords: when set, a copy of each flagged message is also
    # filed in "<folder_view>/<flag>" (e.g. "Tri DCS/URGENT"). The original stays in the
    # INBOX. Empty: off.
    folder_view: str = ""
    reconnect_max_seconds: Annotated[float, Field(gt=0)] = 300.0
    # One daemon per mailbox (intake/lease.py): a lease message in this folder, created
    # unsubscribed. Empty: off (only the data directory is locked).
    lease_folder: str = "dcs-mailbox-lease"
    # A lease not renewed for this long is stale (renewed every fifth of it). After a
    # crash on another machine, a new daemon is refused until this long has passed.
    lease_timeout_seconds: Annotated[float, Field(ge=30, le=3600)] = 300.0


class SmtpSettings(ServerEndpoint):
    port: Annotated[int, Field(gt=0, lt=65536)] = 587
    security: Security = Security.STARTTLS


class MailboxSettings(_Section):
    address: EmailAddress  # the functional mailbox (sec-dcs): From of what we send
    display_name: str = "Délégation aux coopérations de sécurité"
    # Other addresses that are ours (aliases): mail from them is never acknowledged.
    aliases: tuple[EmailAddress, ...] = ()

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(a.lower() for a in (self.address, *self.aliases))


class IntakeSettings(_Section):
    # Messages that arrived more than this before the first start are history:
    # recorded, never acknowledged (answering years-old mail is a flood).
    history_horizon_hours: Annotated[float, Field(ge=0)] = 24.0
    # A message whose processing fails this many times is quarantined.
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3

    @property
    def history_horizon(self) -> timedelta:
        return timedelta(hours=self.history_horizon_hours)


class AcknowledgementSettings(_Section):
    # Mailman's autoresponse limit idea: one sender cannot make us mail them endlessly.
    max_per_sender_per_day: Annotated[int, Field(ge=1)] = 5
    retry_initial_seconds: Annotated[float, Field(gt=0)] = 30.0
    retry_max_seconds: Annotated[float, Field(gt=0)] = 1800.0
    # Proof of delivery against the one crash SMTP leaves ambiguous (killed after the
    # server accepted a message, before we recorded it): every message we send is also
    # addressed (envelope only) to the mailbox itself; the copy the mail server delivers
    # back proves the acceptance, and the daemon removes it from the INBOX at once.
    # After such a crash, a message is sent again only if no copy arrived within
    # proof_grace_seconds (docs/architecture.md).
    proof_copy: bool = False
    proof_grace_seconds: Annotated[float, Field(gt=0)] = 300.0


class TriageSettings(_Section):
    # JSON artefact written by `dcs-mailbox triage train`. Empty: <data_dir>/scope-model.json.
    # Used when the file exists; rules alone otherwise.
    scope_model: Path | None = None
    # Directory of competent services suggested for out-of-scope requests (TOML).
    # Empty: the bundled resources/services.toml; copy it to edit.
    services_file: Path | None = None


class AlertSettings(_Section):
    # Urgent requests (imminent threat) are announced to these addresses at once.
    duty_addresses: tuple[EmailAddress, ...] = ()
    # An acknowledgement still waiting this long after its request arrived (SMTP server
    # down or refusing) puts a flagged notice in the INBOX, once per incident
    # (store/ack_delay.py): well before the 24 h promise of protocol art. 3.
    ack_delay_minutes: Annotated[float, Field(gt=0, lt=1440)] = 60.0


class DigestSettings(_Section):
    """The agents' daily digest of requests waiting for an answer."""

    # Local time ([service].timezone) at which it is sent, every day.
    time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "08:30"
    # Empty: no digest.
    recipients: tuple[EmailAddress, ...] = ()
    # An acknowledgement still unsent this long after the request is listed with its
    # reason (protocol art. 3 promises one within 24 h).
    ack_overdue_minutes: Annotated[int, Field(ge=1)] = 60

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)


class ReportSettings(_Section):
    """Statistics for the CDSE (protocol art. 6–9)."""

    # Quarterly statistics, per-member use and the annual review go to these addresses
    # (the CDSE contact). Empty: reports are computed on demand only (`report`).
    recipients: tuple[EmailAddress, ...] = ()
    # Local time on the first working day after a period ends.
    time: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "09:00"
    # "calendar": Jan–Mar, Apr–Jun...; "protocol": quarters of the protocol year, counted
    # from protocol_start (art. 8).
    periods: Literal["calendar", "protocol"] = "calendar"
    # Signature date of the protocol: start of the one-year experiment (art. 8).
    protocol_start: date | None = None
    # Flood alert (art. 9): requests of a rolling week above this number, or above this
    # multiple of the trailing 8-week weekly average, alert the managers once per episode.
    flood_weekly_threshold: Annotated[int, Field(ge=1)] = 50
    flood_multiple: Annotated[float, Field(gt=1)] = 3.0
    flood_recipients: tuple[EmailAddress, ...] = ()

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.split(":")
        return int(hour), int(minute)

    @model_validator(mode="after")
    def _protocol_needs_start(self) -> Self:
        if self.periods == "protocol" and self.protocol_start is None:
            raise ValueError('periods = "protocol" needs protocol_start (the signature date)')
        return self


class RetentionSettings(_Section):
    """People's mail is kept no longer than needed (GDPR art. 5(1)(e))."""

    # After this many days, a request's raw messages are deleted from the archive and
    # its personal fields (names, addresses, subjects, triage evidence, event details)
    # are blanked; the statistics keep their aggregates. 0: keep everything.
    days: Annotated[int, Field(ge=0)] = 730


class ChannelSettings(_Section):
    """A partnership served by the mailbox: CDSE first; USP, SNES, CNCC... may follow."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    tag: Annotated[str, Field(min_length=3)]  # searched in the subject
    partner_name: str
    reference_prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,16}$")]
    keyword: Annotated[str, Field(pattern=r"^\$?[A-Za-z0-9_]{1,64}$")]
    emergency_phone: Annotated[str, Field(min_length=4)]
    template: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] = "acknowledgement"

    @field_validator("keyword")
    @classmethod
    def _lower_case_keyword(cls, value: str) -> str:
        # Thunderbird's tag keys are lower case (docs/keywords.md): match them.
        return value.lower()


class ServiceSettings(_Section):
    data_dir: Path
    timezone: str = "Europe/Paris"
    templates_dir: Path = DEFAULT_TEMPLATES_DIR
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseSettings(_Section):
    # Empty: SQLite file in data_dir. PostgreSQL: postgresql+psycopg://user@host/db
    url: str = ""
    # SQLite: how long a write waits for another writer (a CLI command, a backup) before
    # the daemon's pass fails with "database is locked" and is retried after a backoff.
    busy_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0


class Settings(_Section):
    service: ServiceSettings
    database: DatabaseSettings = DatabaseSettings()
    mailbox: MailboxSettings
    imap: ImapSettings | None = None
    smtp: SmtpSettings | None = None
    intake: IntakeSettings = IntakeSettings()
    acknowledgement: AcknowledgementSettings = AcknowledgementSettings()
    triage: TriageSettings = TriageSettings()
    alerts: AlertSettings = AlertSettings()
    digest: DigestSettings = DigestSettings()
    reports: ReportSettings = ReportSettings()
    retention: RetentionSettings = RetentionSettings()
    channels: Annotated[tuple[ChannelSettings, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_channels(self) -> Self:
        for attr in ("name", "reference_prefix", "keyword"):
            values = [getattr(c, attr).lower() for c in self.channels]
            if len(values) != len(set(values)):
                raise ValueError(f"two channels share the same {attr}")
        return self

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.service.data_dir / 'dcs-mailbox.sqlite3'}"

    @property
    def scope_model_path(self) -> Path:
        return self.triage.scope_model or self.service.data_dir / "scope-model.json"

    def channel(self, name: str) -> ChannelSettings:
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise ConfigError(f"no channel named {name!r} in [[channels]]")


def load_settings(path: Path) -> Settings:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return settings_from_dict(data, source=str(path))


def settings_from_dict(data: dict[str, object], *, source: str = "configuration") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        elif error["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)
