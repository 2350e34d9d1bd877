"""French date formatting for templates (no locale dependency: servers run with C.UTF-8)."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def duration_fr(delta: timedelta) -> str:
    """« 2 jours 5 h », « 1 jour », « 3 h 20 min », « 45 min » (rounded down to the minute)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        text = f"{days} jour{'s' if days > 1 else ''}"
        return f"{text} {hours} h" if hours else text
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"
