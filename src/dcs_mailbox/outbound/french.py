"""French date formatting for templates (no locale dependency: servers run with C.UTF-8)."""

from __future__ import annotations

from datetime import datetime

DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def date_fr(moment: datetime) -> str:
    """« le lundi 1er décembre 2025 à 9 h 05 » — in the datetime's own zone."""
    day = "1er" if moment.day == 1 else str(moment.day)
    return (
        f"le {DAYS[moment.weekday()]} {day} {MONTHS[moment.month - 1]} {moment.year} "
        f"à {moment.hour} h {moment.minute:02d}"
    )


def day_fr(moment: datetime) -> str:
    """« 1er décembre 2025 »."""
    day = "1er" if moment.day == 1 else str(moment.day)
    return f"{day} {MONTHS[moment.month - 1]} {moment.year}"


def long_day_fr(moment: datetime) -> str:
    """« mardi 24 novembre 2026 », « lundi 1er décembre 2025 » (in the datetime's zone)."""
    day = "1er" if moment.day == 1 else str(moment.day)
    return f"{DAYS[moment.weekday()]} {day} {MONTHS[moment.month - 1]} {moment.year}"
