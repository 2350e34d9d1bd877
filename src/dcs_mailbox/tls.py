"""TLS client contexts: certificate verification on unless the configuration turns it off."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(verify: bool, ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not verify:
        # Only for loopback tests with a self-signed certificate: the config says so.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
