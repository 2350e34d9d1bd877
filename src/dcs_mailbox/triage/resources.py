"""Loading the data files triage uses (the only I/O near triage; triage itself stays pure)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from dcs_mailbox.errors import ConfigError
from dcs_mailbox.triage.scope import DEFAULT_SERVICES, Service, load_services
from dcs_mailbox.triage.scope_model import ScopeModel

log = logging.getLogger(__name__)


def load_scope_model(path: Path) -> ScopeModel | None:
    if not path.exists():
        return None
    try:
        return ScopeModel.load(path)
    except (OSError, ValueError) as exc:
        # A broken artefact must not stop intake: rules alone still triage.
        log.error("scope model %s unusable, rules only: %s", path, exc)
        return None


def load_services_setting(path: Path | None) -> Mapping[str, Service]:
    if path is None:
        return DEFAULT_SERVICES
    try:
        return load_services(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"[triage].services_file {path}: {exc}") from exc
