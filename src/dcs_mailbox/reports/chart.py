"""The statement's chart: monthly volume by medium and the outcome split, as one PNG.

A `Figure` drawn on its own Agg canvas: no pyplot, no display, no global state touched
(rcParams are read, never written), so reports may render in any thread. The font is
named on every text: DejaVu Sans ships with matplotlib and has every French glyph, so no
font-fallback warning depends on what the server has installed.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from dcs_mailbox.outbound.french import MONTHS
from dcs_mailbox.reports.model import Count, MonthVolume, PeriodStats

FONT = "DejaVu Sans"
# 7 × 3.8 in at 200 dpi: 1400 × 760 px, which the templates show 700 px wide (sharp on
# high-density screens, under 100 KB for flat colours).
SIZE_INCHES = (7.0, 3.8)
DPI = 200

# Marianne palette (French State design system): blue for email, its light tint for phone.
MEDIUM_COLOURS = {"email": "#000091", "phone": "#8585F6"}
OUTCOME_COLOURS = {
    "answered": "#18753C",  # green: answered
    "referred": "#0063CB",  # blue: sent to a competent service
    "closed": "#929292",  # grey: closed without answer
    "open": "#B34000",  # orange: still open
}
FALLBACK_COLOURS = ("#6E445A", "#695240", "#3A3A3A", "#A558A0")
TEXT = "#1E1E1E"
MUTED = "#666666"
_PLAIN: dict[str, Any] = {"fontfamily": FONT, "color": TEXT}
_BOLD: dict[str, Any] = {**_PLAIN, "fontweight": "bold"}
_MUTED: dict[str, Any] = {**_PLAIN, "color": MUTED}

_PREVIOUS = {"quarter": "le trimestre précédent", "year": "l'année précédente"}
_MONTHS = MONTHS
_MONTHS_SHORT = (
    "janv.", "févr.", "mars", "avr.", "mai", "juin",
    "juil.", "août", "sept.", "oct.", "nov.", "déc.",
)  # fmt: skip


def render_chart(stats: PeriodStats) -> bytes:
    """The PNG: volume per month (stacked email/phone) beside the outcome split."""
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.text(0.02, 0.96, stats.period.title, fontsize=11.5, va="top", **_BOLD)
    figure.text(0.02, 0.885, total_line(stats), fontsize=9, va="top", **_MUTED)
    # A year's twelve months need more width than a quarter's three.
    split = 0.62 if len(stats.by_month) > 6 else 0.54
    for x, heading in ((0.02, "Saisines par mois"), (split + 0.02, "Suite donnée aux saisines")):
        figure.text(x, 0.79, heading, fontsize=9.5, va="top", **_PLAIN)
    months = figure.add_axes((0.06, 0.10, split - 0.10, 0.56))
    outcomes = figure.add_axes((split + 0.02, 0.03, 0.96 - split, 0.68))
    _draw_months(months, stats)
    _draw_outcomes(outcomes, stats.by_outcome, stats.total)
    buffer = BytesIO()
    # No "Software" chunk (matplotlib's version) and no date: the same stats give the
    # same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def total_line(stats: PeriodStats) -> str:
    """« 128 saisines, contre 114 le trimestre précédent (+12 %) »."""
    noun = "saisine" if stats.total < 2 else "saisines"
    before = _PREVIOUS.get(stats.period.kind, "la période précédente")
    if not stats.previous_total:
        return f"{_int(stats.total)} {noun}, contre aucune {before}"
    change = round((stats.total - stats.previous_total) * 100 / stats.previous_total)
    sign = "+" if change > 0 else "−" if change < 0 else "±"
    return (
        f"{_int(stats.total)} {noun}, contre {_int(stats.previous_total)} {before} "
        f"({sign}{abs(change)} %)"
    )


def _draw_months(axes: Axes, stats: PeriodStats) -> None:
    volumes = stats.by_month
    positions = list(range(len(volumes)))
    email = [v.email for v in volumes]
    phone = [v.phone for v in volumes]
    labels = {c.key: c.label for c in stats.by_medium}
    axes.bar(
        positions,
        email,
        width=0.62,
        color=MEDIUM_COLOURS["email"],
        label=labels.get("email", "Courriel"),
    )
    axes.bar(
        positions,
        phone,
        width=0.62,
        bottom=email,
        color=MEDIUM_COLOURS["phone"],
        label=labels.get("phone", "Téléphone"),
    )
    highest = max((v.email + v.phone for v in volumes), default=0)
    size = 8.5 if len(volumes) <= 6 else 6.5
    for x, volume in zip(positions, volumes, strict=True):
        top = volume.email + volume.phone
        axes.text(
            x, top + highest * 0.02, _int(top), ha="center", va="bottom", fontsize=size, **_BOLD
        )
    if not highest:
        axes.text(
            0.5,
            0.5,
            "Aucune saisine sur la période",
            transform=axes.transAxes,
            ha="center",
            va="center",
            fontsize=9,
            **_MUTED,
        )
    axes.set_xticks(positions, month_labels(volumes))
    axes.set_ylim(0, max(highest * 1.18, 1))
    axes.set_xlim(-0.6, max(len(volumes), 1) - 0.4)
    axes.legend(
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=2,
        frameon=False,
        prop={"family": FONT, "size": 8},
        handlelength=1.0,
        borderaxespad=0.2,
        columnspacing=1.2,
    )
    axes.tick_params(labelfontfamily=FONT, labelsize=size - 0.5, colors=MUTED, length=0)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 5, 10]))
    axes.grid(axis="y", color="#DDDDDD", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.spines["bottom"].set_color("#BBBBBB")


def month_labels(volumes: list[MonthVolume]) -> list[str]:
    """Full month names for a quarter, abbreviations for a year. The title gives the year;
    a period across two years (a protocol year) shows it under its first month and under
    January."""
    names = _MONTHS if len(volumes) <= 6 else _MONTHS_SHORT
    across_years = len({volume.month[:4] for volume in volumes}) > 1
    labels = []
    for index, volume in enumerate(volumes):
        year, month = volume.month.split("-")
        label = names[int(month) - 1]
        if across_years and (index == 0 or month == "01"):
            label += f"\n{year}"
        labels.append(label)
    return labels


def _draw_outcomes(axes: Axes, outcomes: list[Count], total: int) -> None:
    """One thin bar per outcome with its label above: long French labels need no margin."""
    highest = max((c.count for c in outcomes), default=0) or 1
    for row, outcome in enumerate(outcomes):
        colour = OUTCOME_COLOURS.get(outcome.key, FALLBACK_COLOURS[row % len(FALLBACK_COLOURS)])
        axes.barh(row, outcome.count, height=0.38, color=colour)
        axes.text(0, row - 0.29, outcome.label, ha="left", va="bottom", fontsize=8, **_PLAIN)
        value = _int(outcome.count) + (f" ({_percent(outcome.count, total)})" if total else "")
        axes.text(
            outcome.count + highest * 0.02,
            row,
            value,
            ha="left",
            va="center",
            fontsize=8,
            **_BOLD,
        )
    axes.set_xlim(0, highest * 1.45)
    axes.set_ylim(max(len(outcomes), 1) - 0.5, -0.75)
    axes.set_axis_off()


def _int(value: int) -> str:
    # French thousands separator: narrow no-break space (present in DejaVu Sans).
    return f"{value:,}".replace(",", "\u202f")


def _percent(part: int, whole: int) -> str:
    percent = part * 100 / whole
    return "< 1 %" if 0 < percent < 1 else f"{round(percent)} %"
