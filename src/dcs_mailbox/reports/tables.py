"""The statement's figures as attachments: CSV and XLSX, for the CDSE's spreadsheets.

Both carry every figure of `PeriodStats` and nothing else. The CSV is shaped for French
Excel (UTF-8 with BOM, `;` separator, decimal comma); the XLSX holds real numbers with
number formats, so the reader can compute with them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.xml.functions import tostring

from dcs_mailbox.reports.model import Count, DelayStats, PeriodStats

CSV_HEADER = ("section", "clé", "libellé", "valeur", "période précédente")
CSV_MEDIA_TYPE = "text/csv"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

COUNT_FORMAT = "#,##0"
SHARE_FORMAT = "0.0%"
CHANGE_FORMAT = "+0%;-0%;0%"
DELAY_FORMAT = "0.0"


@dataclass(frozen=True)
class Breakdown:
    """One list of `Count`s of the statement: a CSV section and an XLSX sheet."""

    section: str  # French, also the sheet name (≤ 31 characters)
    heading: str  # the label column's header
    counts: list[Count]


@dataclass(frozen=True)
class DelayFigure:
    """One line of the delay table: the field, its French label, its unit."""

    field: str
    label: str
    kind: str  # "count", "share" or "delay"


DELAY_FIGURES = (
    DelayFigure("count", "Saisines ayant atteint l'étape", "count"),
    DelayFigure("pending", "Saisines de la période en attente", "count"),
    DelayFigure("within_24h", "Traitées sous 24 heures", "count"),
    DelayFigure("within_24h_share", "Part traitée sous 24 heures", "share"),
    DelayFigure("median_hours", "Délai médian (heures)", "delay"),
    DelayFigure("p90_hours", "Délai du 90e centile (heures)", "delay"),
    DelayFigure("max_hours", "Délai maximal (heures)", "delay"),
    DelayFigure("median_working_days", "Délai médian (jours ouvrés)", "delay"),
    DelayFigure("p90_working_days", "Délai du 90e centile (jours ouvrés)", "delay"),
)
DELAY_PHASES = (
    ("acknowledgement", "Accusé de réception"),
    ("answer", "Réponse"),
)
DELAY_NOTE = (
    "Heures réelles ; jours ouvrés hors samedis, dimanches et jours fériés. "
    "L'accusé de réception ne concerne que les saisines par courriel "
    "(un appel est pris en compte en direct)."
)


def breakdowns(stats: PeriodStats) -> list[Breakdown]:
    return [
        Breakdown("Canal", "Canal", stats.by_medium),
        Breakdown("Suite donnée", "Suite donnée", stats.by_outcome),
        Breakdown("Caractéristiques", "Caractéristique", stats.flags),
        Breakdown("Orientations", "Service compétent", stats.referred_by_service),
        Breakdown("Catégories", "Catégorie", stats.by_category),
        Breakdown("Entreprises", "Entreprise", stats.by_company),
    ]


def delay_value(delays: DelayStats, figure: DelayFigure) -> float | int | None:
    value: float | int | None = getattr(delays, figure.field)
    return value


# --- CSV -------------------------------------------------------------------------------


def stats_csv(stats: PeriodStats) -> bytes:
    """section;clé;libellé;valeur;période précédente — one row per figure."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(_csv_rows(stats))
    # The BOM tells Excel the file is UTF-8: without it, accents come out garbled.
    return buffer.getvalue().encode("utf-8-sig")


def _csv_rows(stats: PeriodStats) -> Iterator[tuple[str, str, str, str, str]]:
    yield (
        "Période",
        "période",
        stats.period.title,
        stats.period.label,
        stats.previous_period.label,
    )
    yield "Total", "total", "Saisines", str(stats.total), str(stats.previous_total)
    for breakdown in breakdowns(stats):
        for count in breakdown.counts:
            previous = "" if count.previous is None else str(count.previous)
            yield (
                breakdown.section,
                csv_text(count.key),
                csv_text(count.label),
                str(count.count),
                previous,
            )
    for volume in stats.by_month:
        yield "Mois", f"{volume.month}/email", f"{volume.label} – courriel", str(volume.email), ""
        yield "Mois", f"{volume.month}/phone", f"{volume.label} – téléphone", str(volume.phone), ""
    for phase, title in DELAY_PHASES:
        delays: DelayStats = getattr(stats, phase)
        for figure in DELAY_FIGURES:
            label = figure.label + (" (%)" if figure.kind == "share" else "")
            yield (
                f"Délais – {title.lower()}",
                figure.field,
                label,
                _csv_number(delay_value(delays, figure), figure.kind),
                "",
            )


def csv_text(value: str) -> str:
    """A label Excel would take for a formula (« =… », « +… », « -… », « @… ») is
    quoted with a leading apostrophe (OWASP, CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def _csv_number(value: float | int | None, kind: str) -> str:
    """French Excel reads « 12,5 » as a number, « 12.5 » as text."""
    if value is None:
        return ""
    if kind == "count":
        return str(value)
    if kind == "share":
        value = value * 100
    return f"{value:.1f}".replace(".", ",")


# --- XLSX ------------------------------------------------------------------------------

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=13)
_NOTE = Font(italic=True, color="666666")
_HEADER_FILL = PatternFill("solid", fgColor="E3E3FD")  # Marianne blue, lightest tint


def stats_xlsx(stats: PeriodStats) -> bytes:
    """« Synthèse », then one sheet per breakdown, « Mois » and « Délais »."""
    workbook = Workbook()
    summary = workbook.active
    assert summary is not None  # a new workbook always has one sheet
    summary.title = "Synthèse"
    _summary_sheet(summary, stats)
    for breakdown in breakdowns(stats):
        _breakdown_sheet(workbook.create_sheet(breakdown.section), breakdown, stats.total)
    _months_sheet(workbook.create_sheet("Mois"), stats)
    _delays_sheet(workbook.create_sheet("Délais"), stats)
    return _deterministic_save(workbook, stats)


def _summary_sheet(sheet: Worksheet, stats: PeriodStats) -> None:
    sheet["A1"] = f"Statistiques du point de contact – {stats.period.title}"
    sheet["A1"].font = _TITLE
    sheet["A2"] = f"Période précédente : {stats.previous_period.title}"
    sheet["A2"].font = _NOTE
    rows: list[tuple[str, float | int | None, float | int | None, str]] = [
        ("Saisines reçues", stats.total, stats.previous_total, COUNT_FORMAT),
    ]
    for breakdown in breakdowns(stats)[:3]:  # medium, outcome, flags: the key figures
        rows += [
            (f"{breakdown.heading} : {c.label}", c.count, c.previous, COUNT_FORMAT)
            for c in breakdown.counts
        ]
    for phase, title in DELAY_PHASES:
        delays: DelayStats = getattr(stats, phase)
        for figure in DELAY_FIGURES:
            if figure.field in ("within_24h_share", "median_hours", "median_working_days"):
                rows.append(
                    (
                        f"{title} : {figure.label[0].lower()}{figure.label[1:]}",
                        delay_value(delays, figure),
                        None,
                        SHARE_FORMAT if figure.kind == "share" else DELAY_FORMAT,
                    )
                )
    _header(sheet, 4, ("Indicateur", "Période", "Période précédente", "Évolution"))
    for offset, (label, value, previous, number_format) in enumerate(rows):
        row = 5 + offset
        _text(sheet, row, 1, label)
        _number(sheet, row, 2, value, number_format)
        _number(sheet, row, 3, previous, number_format)
        _number(sheet, row, 4, _change(value, previous), CHANGE_FORMAT)
    sheet.cell(6 + len(rows), 1, DELAY_NOTE).font = _NOTE
    _widths(sheet, (62, 12, 20, 12))
    sheet.freeze_panes = "A5"


def _breakdown_sheet(sheet: Worksheet, breakdown: Breakdown, total: int) -> None:
    _header(
        sheet,
        1,
        (breakdown.heading, "Nombre", "Part", "Période précédente", "Évolution", "Clé"),
    )
    for row, count in enumerate(breakdown.counts, start=2):
        _text(sheet, row, 1, count.label)
        _number(sheet, row, 2, count.count, COUNT_FORMAT)
        _number(sheet, row, 3, count.count / total if total else None, SHARE_FORMAT)
        _number(sheet, row, 4, count.previous, COUNT_FORMAT)
        _number(sheet, row, 5, _change(count.count, count.previous), CHANGE_FORMAT)
        _text(sheet, row, 6, count.key)
    note = "Part : rapportée au nombre total de saisines de la période."
    if breakdown.section == "Caractéristiques":
        note += " Une saisine peut présenter plusieurs caractéristiques."
    sheet.cell(len(breakdown.counts) + 3, 1, note).font = _NOTE
    label_width = max([40, *(len(c.label) + 2 for c in breakdown.counts)])
    _widths(sheet, (label_width, 10, 9, 19, 11, 18))
    sheet.freeze_panes = "A2"


def _months_sheet(sheet: Worksheet, stats: PeriodStats) -> None:
    _header(sheet, 1, ("Mois", "Courriel", "Téléphone", "Total"))
    for row, volume in enumerate(stats.by_month, start=2):
        _text(sheet, row, 1, volume.label)
        for column, value in enumerate((volume.email, volume.phone, volume.email + volume.phone)):
            _number(sheet, row, 2 + column, value, COUNT_FORMAT)
    last = len(stats.by_month) + 2
    sheet.cell(last, 1, "Total").font = _BOLD
    sums = (
        sum(v.email for v in stats.by_month),
        sum(v.phone for v in stats.by_month),
        sum(v.email + v.phone for v in stats.by_month),
    )
    for column, value in enumerate(sums, start=2):
        _number(sheet, last, column, value, COUNT_FORMAT).font = _BOLD
    _widths(sheet, (20, 11, 11, 11))
    sheet.freeze_panes = "A2"


def _delays_sheet(sheet: Worksheet, stats: PeriodStats) -> None:
    _header(sheet, 1, ("Indicateur", *(title for _, title in DELAY_PHASES)))
    formats = {"count": COUNT_FORMAT, "share": SHARE_FORMAT, "delay": DELAY_FORMAT}
    for row, figure in enumerate(DELAY_FIGURES, start=2):
        sheet.cell(row, 1, figure.label)
        for column, (phase, _) in enumerate(DELAY_PHASES, start=2):
            delays: DelayStats = getattr(stats, phase)
            _number(sheet, row, column, delay_value(delays, figure), formats[figure.kind])
    sheet.cell(len(DELAY_FIGURES) + 3, 1, DELAY_NOTE).font = _NOTE
    _widths(sheet, (40, 21, 12))
    sheet.freeze_panes = "A2"


def _header(sheet: Worksheet, row: int, titles: Sequence[str]) -> None:
    for column, title in enumerate(titles, start=1):
        cell = sheet.cell(row, column, title)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center")


def _text(sheet: Worksheet, row: int, column: int, value: str) -> Cell:
    """Always a string: openpyxl would store « =… » as a formula, and a company name
    from the registry must never run in the reader's spreadsheet."""
    cell = sheet.cell(row, column, value)
    cell.data_type = "s"
    return cell


def _number(
    sheet: Worksheet, row: int, column: int, value: float | int | None, number_format: str
) -> Cell:
    cell = sheet.cell(row, column, value)
    cell.number_format = number_format
    return cell


def _change(value: float | int | None, previous: float | int | None) -> float | None:
    if value is None or not previous:
        return None
    return (value - previous) / previous


def _widths(sheet: Worksheet, widths: Sequence[float]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _deterministic_save(workbook: Workbook, stats: PeriodStats) -> bytes:
    """The same statistics give the same bytes: dated by `generated_at`, not by the clock.

    openpyxl stamps docProps/core.xml with the time of saving and each zip entry with the
    local time: both are rewritten here.
    """
    moment = stats.generated_at.astimezone(UTC).replace(tzinfo=None)
    properties = workbook.properties
    properties.creator = "dcs-mailbox"
    properties.lastModifiedBy = "dcs-mailbox"
    properties.title = f"Statistiques du point de contact – {stats.period.title}"
    properties.language = "fr-FR"
    properties.created = moment
    saved = io.BytesIO()
    workbook.save(saved)
    properties.modified = moment  # save() set it to now
    core = tostring(properties.to_tree())
    output = io.BytesIO()
    with (
        zipfile.ZipFile(saved) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            data = core if entry.filename == "docProps/core.xml" else source.read(entry)
            info = zipfile.ZipInfo(entry.filename, date_time=moment.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)
    return output.getvalue()
