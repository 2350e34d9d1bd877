"""Request reference numbers: PREFIX-YEAR-NNNN, e.g. CDSE-2026-0042."""

from __future__ import annotations

import re

REFERENCE = re.compile(r"\b([A-Z0-9]{2,16})-(\d{4})-(\d{4,})\b")


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:04d}"


def references_in(text: str, prefixes: frozenset[str]) -> tuple[str, ...]:
    """Reference numbers of known channels quoted in `text` (a reply's subject)."""
    found = (m.group(0) for m in REFERENCE.finditer(text.upper()))
    return tuple(dict.fromkeys(ref for ref in found if ref.split("-", 1)[0] in prefixes))
