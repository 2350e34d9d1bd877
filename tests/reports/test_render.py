"""The statements as the CDSE receives them: email, chart, CSV and XLSX attachments,
preview files (reports/chart.py, tables.py, email.py, members_report.py), from
hand-built models."""

from __future__ import annotations

import ast
import csv
import io
import re
import struct
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
import openpyxl
import pytest

from dcs_mailbox.clock import FixedClock
from dcs_mailbox.config import DEFAULT_TEMPLATES_DIR
from dcs_mailbox.outbound.render import TemplateRenderer
from dcs_mailbox.reports import chart as chart_module
from dcs_mailbox.reports import email as email_module
from dcs_mailbox.reports import members_report as members_module
from dcs_mailbox.reports import tables as tables_module
from dcs_mailbox.reports.chart import render_chart
from dcs_mailbox.reports.email import (
    change_fr,
    compose_report_email,
    hours_fr,
    percent_fr,
    report_base_name,
    statement_context,
    working_days_fr,
    write_report_files,
)
from dcs_mailbox.reports.members_report import (
    MemberUsage,
    MemberUsageReport,
    compute_member_usage,
    member_usage_context,
    member_usage_csv,
)
from dcs_mailbox.reports.model import Count, DelayStats, MonthVolume, Period, PeriodStats
from dcs_mailbox.reports.tables import (
    CSV_HEADER,
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    stats_csv,
    stats_xlsx,
)
from dcs_mailbox.service import Service
from dcs_mailbox.store.models import Request, RequestStatus
from tests.support import at, make_service, make_settings

PARIS = ZoneInfo("Europe/Paris")
NOW = at("2026-10-01 07:00")  # jeudi 1er octobre 2026, 9 h 00 à Paris
MAILBOX = "sec-dcs@interieur.gouv.fr"
SENDER = "Délégation aux coopérations de sécurité"
CDSE = "contact-dcs@cdse.example"
PARTNER = "Club des directeurs de sécurité et de sûreté des entreprises"
MESSAGE_ID = "quarterly.2026-q3.sec-dcs@interieur.gouv.fr"
NBSP = "\u00a0"

Q3 = Period(
    kind="quarter",
    label="2026-Q3",
    title="3e trimestre 2026 (1er juillet – 30 septembre 2026)",
    start=datetime(2026, 7, 1, tzinfo=PARIS),
    end=datetime(2026, 10, 1, tzinfo=PARIS),
)
Q2 = Period(
    kind="quarter",
    label="2026-Q2",
    title="2e trimestre 2026 (1er avril – 30 juin 2026)",
    start=datetime(2026, 4, 1, tzinfo=PARIS),
    end=datetime(2026, 7, 1, tzinfo=PARIS),
)


def count(key: str, label: str, value: int, previous: int | None = None) -> Count:
    return Count(key=key, label=label, count=value, previous=previous)


def make_stats(**changes: Any) -> PeriodStats:
    stats = PeriodStats(
        period=Q3,
        previous_period=Q2,
        generated_at=NOW,
        total=128,
        previous_total=114,
        by_medium=[count("email", "Courriel", 101, 92), count("phone", "Téléphone", 27, 22)],
        by_outcome=[
            count("answered", "Réponse apportée", 84, 70),
            count("referred", "Orientée vers un service compétent", 29, 31),
            count("closed", "Close sans réponse", 6, 8),
            count("open", "En cours", 9, 5),
        ],
        flags=[
            count("out_of_scope", "Hors du champ du point de contact", 21, 25),
            count("personal_data", "Portant sur des données personnelles", 7, 4),
            count("not_member", "Demandeur non membre", 5, 5),
            count("urgent", "Urgente", 2, 0),
        ],
        referred_by_service=[
            count("dgsi", "Direction générale de la sécurité intérieure", 12, 10),
            count("gendarmerie", "Gendarmerie nationale", 17, 21),
        ],
        by_category=[
            count("sites", "Sûreté des sites", 70, 60),
            count("cyber", "Cybersécurité", 58, 54),
        ],
        by_company=[
            count("Zéphyrine Industries", "Zéphyrine Industries", 40, 33),
            count("Quillebœuf Énergies", "Quillebœuf Énergies", 35, None),
            count("non-members", "Demandeurs non membres", 5, 5),
        ],
        by_month=[
            MonthVolume(month="2026-07", label="juillet 2026", email=38, phone=9),
            MonthVolume(month="2026-08", label="août 2026", email=21, phone=6),
            MonthVolume(month="2026-09", label="septembre 2026", email=42, phone=12),
        ],
        acknowledgement=DelayStats(
            count=100,
            pending=1,
            within_24h=97,
            within_24h_share=0.97,
            median_hours=0.4,
            p90_hours=3.25,
            max_hours=30.1,
            median_working_days=0.02,
            p90_working_days=0.14,
        ),
        answer=DelayStats(
            count=113,
            pending=9,
            median_hours=52.5,
            p90_hours=190.0,
            max_hours=410.2,
            median_working_days=2.1,
            p90_working_days=7.6,
        ),
    )
    return stats.model_copy(update=changes)


def make_usage() -> MemberUsageReport:
    return MemberUsageReport(
        period=Q3,
        members=[
            MemberUsage(
                company="Zéphyrine Industries",
                requests=40,
                out_of_scope=6,
                personal_data=2,
                flagged=7,
            ),
            MemberUsage(
                company="Quillebœuf Énergies",
                requests=35,
                out_of_scope=0,
                personal_data=1,
                flagged=1,
            ),
            MemberUsage(
                company="Vauquelin Transports",
                requests=12,
                out_of_scope=0,
                personal_data=0,
                flagged=0,
            ),
        ],
    )


@pytest.fixture
def renderer() -> TemplateRenderer:
    return TemplateRenderer(DEFAULT_TEMPLATES_DIR, PARIS)


def compose(
    renderer: TemplateRenderer,
    stats: PeriodStats,
    *,
    template: str = "quarterly",
    extra: dict[str, object] | None = None,
    quarters: list[Count] | None = None,
) -> EmailMessage:
    base = report_base_name("statistiques-dcs", stats.period.label)
    context = statement_context(
        stats, partner_name=PARTNER, channel_name="CDSE", quarters=quarters or []
    )
    return compose_report_email(
        renderer,
        template,
        {**context, **(extra or {})},
        chart_png=render_chart(stats),
        attachments=[
            (f"{base}.csv", CSV_MEDIA_TYPE, stats_csv(stats)),
            (f"{base}.xlsx", XLSX_MEDIA_TYPE, stats_xlsx(stats)),
        ],
        to=[CDSE],
        message_id=MESSAGE_ID,
        sender_address=MAILBOX,
        sender_name=SENDER,
        now=NOW,
        zone=PARIS,
    )


def parse(message: EmailMessage) -> EmailMessage:
    parsed = message_from_bytes(message.as_bytes(), policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def decoded(message: EmailMessage, name: str) -> str:
    """The header as RFC 2047 §6.2 decodes it, whitespace collapsed. CPython's folding
    and its default-policy parser each add a space around encoded words at a fold (in a
    long display name, before a folded « – »); mail clients show the text unchanged."""
    raw = message_from_bytes(message.as_bytes())[name]
    return " ".join(str(make_header(decode_header(raw))).split())


def attachment(message: EmailMessage, suffix: str) -> bytes:
    for part in message.iter_attachments():
        if (part.get_filename() or "").endswith(suffix):
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return data
    raise AssertionError(f"no {suffix} attachment")


# --- the email ------------------------------------------------------------------------


def test_quarterly_email_parses_back_as_mixed_alternative_related(
    renderer: TemplateRenderer,
) -> None:
    message = parse(compose(renderer, make_stats()))

    structure = [
        (part.get_content_type(), part.get_filename(), part.get_content_disposition())
        for part in message.walk()
    ]
    assert structure == [
        ("multipart/mixed", None, None),
        ("multipart/alternative", None, None),
        ("text/plain", None, None),
        ("multipart/related", None, None),
        ("text/html", None, None),
        ("image/png", "graphique.png", "inline"),
        ("text/csv", "statistiques-dcs-2026-T3.csv", "attachment"),
        (XLSX_MEDIA_TYPE, "statistiques-dcs-2026-T3.xlsx", "attachment"),
    ]


def test_quarterly_email_headers_are_french_automatic_and_deterministic(
    renderer: TemplateRenderer,
) -> None:
    message = parse(compose(renderer, make_stats()))

    assert decoded(message, "Subject") == (
        "Relevé statistique du point de contact CDSE – "
        "3e trimestre 2026 (1er juillet – 30 septembre 2026)"
    )
    assert decoded(message, "From") == f"{SENDER} <{MAILBOX}>"
    assert message["To"] == CDSE
    assert message["Date"] == "Thu, 01 Oct 2026 09:00:00 +0200"
    assert message["Message-ID"] == f"<{MESSAGE_ID}>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "fr"


def test_html_shows_the_chart_through_the_image_parts_content_id(
    renderer: TemplateRenderer,
) -> None:
    message = parse(compose(renderer, make_stats()))
    html = body(message, "html")
    image = next(part for part in message.walk() if part.get_content_type() == "image/png")

    sources = re.findall(r'<img src="cid:([^"]+)"', html)
    assert sources == [image["Content-ID"].strip("<>")]
    assert image["Content-ID"] == f"<graphique.{MESSAGE_ID}>"
    assert image.get_payload(decode=True) == render_chart(make_stats())


def test_text_presents_every_figure_with_the_previous_quarter(
    renderer: TemplateRenderer,
) -> None:
    text = body(parse(compose(renderer, make_stats())), "plain").replace(NBSP, " ")

    assert text.startswith("Madame, Monsieur,\n")
    assert "article 6 du protocole" in text
    assert f"conclu avec le {PARTNER} (CDSE)" in text
    assert "le jeudi 1er octobre 2026 à 9 h 00 (heure de Paris)" in text
    assert "Saisines reçues : 128 – trimestre précédent : 114, ↑ +12 %" in text
    assert "- Courriel : 101 (79 %) – trimestre précédent : 92, ↑ +10 %" in text
    assert (
        "- Orientée vers un service compétent : 29 (23 %) – trimestre précédent : 31, ↓ −6 %"
        in (text)
    )
    assert "- Demandeur non membre : 5 (4 %) – trimestre précédent : 5, stable" in text
    # No percentage for a rise from zero, nor without a previous figure.
    assert "- Urgente : 2 (2 %) – trimestre précédent : 0\n" in text
    assert "- Quillebœuf Énergies : 35 (27 %)\n" in text
    assert "- juillet 2026 : 47 (38 par courriel, 9 par téléphone)" in text
    assert "- dans les 24 heures : 97 (97 %)" in text
    assert "- délai médian : 0,4 h (moins de 0,1 jour ouvré)" in text
    assert "- délai médian : 52,5 h (2,1 jours ouvrés)" in text
    assert "- 90 % des délais inférieurs ou égaux à 190 h (7,6 jours ouvrés)" in text
    assert "- délai le plus long : 410 h." in text
    assert "ne contiennent aucune donnée personnelle" in text
    assert "ont une valeur indicative" in text
    assert "statistiques-dcs-2026-T3.csv, statistiques-dcs-2026-T3.xlsx" in text
    assert text.rstrip().endswith(f"{SENDER}\nMinistère de l'Intérieur")


def test_html_presents_the_same_figures_in_tables(renderer: TemplateRenderer) -> None:
    html = body(parse(compose(renderer, make_stats())), "html").replace(NBSP, " ")

    assert '<html lang="fr">' in html
    assert ">Trimestre précédent</th>" in html
    assert "<td>Zéphyrine Industries</td><td" in html
    assert "↑ +21 %" in html  # 40 against 33
    assert "52,5 h (2,1 jours ouvrés)" in html
    assert "ne contiennent aucune donnée personnelle" in html
    assert "ont une valeur indicative" in html


def test_html_escapes_what_the_model_says(renderer: TemplateRenderer) -> None:
    stats = make_stats(by_company=[count("x", "<b>Dupont & Fils</b>", 3)])

    html = body(parse(compose(renderer, stats)), "html")

    assert "&lt;b&gt;Dupont &amp; Fils&lt;/b&gt;" in html
    assert "<b>Dupont" not in html


def test_first_quarter_has_no_comparison(renderer: TemplateRenderer) -> None:
    stats = make_stats(
        previous_total=0,
        by_medium=[count("email", "Courriel", 101, 0), count("phone", "Téléphone", 27, 0)],
    )

    message = parse(compose(renderer, stats))
    text = body(message, "plain").replace(NBSP, " ")

    assert "Aucune saisine n'ayant été reçue au 2e trimestre 2026" in text
    assert "Saisines reçues : 128\n" in text
    assert "- Courriel : 101 (79 %)\n" in text
    assert "Évolution" not in body(message, "html")


def test_an_empty_quarter_still_renders(renderer: TemplateRenderer) -> None:
    stats = make_stats(
        total=0,
        previous_total=0,
        by_medium=[],
        by_outcome=[],
        flags=[],
        referred_by_service=[],
        by_category=[],
        by_company=[],
        by_month=[MonthVolume(month="2026-07", label="juillet 2026", email=0, phone=0)],
        acknowledgement=DelayStats(count=0, pending=0),
        answer=DelayStats(count=0, pending=0),
    )

    text = body(parse(compose(renderer, stats)), "plain").replace(NBSP, " ")

    assert "Saisines reçues : 0\n" in text
    assert "- accusés de réception envoyés : 0 ; en attente : 0." in text
    assert "- aucune orientation" in text


# --- the attachments --------------------------------------------------------------------


def test_csv_attachment_opens_in_french_excel(renderer: TemplateRenderer) -> None:
    data = attachment(parse(compose(renderer, make_stats())), ".csv")

    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel then reads accents right
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert tuple(rows[0]) == CSV_HEADER
    assert ["Total", "total", "Saisines", "128", "114"] in rows
    assert ["Canal", "phone", "Téléphone", "27", "22"] in rows
    assert ["Entreprises", "Quillebœuf Énergies", "Quillebœuf Énergies", "35", ""] in rows
    assert ["Mois", "2026-08/phone", "août 2026 – téléphone", "6", ""] in rows
    # Decimal comma: French Excel reads « 52,5 » as a number.
    assert ["Délais – réponse", "median_hours", "Délai médian (heures)", "52,5", ""] in rows
    assert [
        "Délais – accusé de réception",
        "within_24h_share",
        "Part traitée sous 24 heures (%)",
        "97,0",
        "",
    ] in rows
    assert all(len(row) == 5 for row in rows)


def test_xlsx_attachment_reads_back_with_the_figures(renderer: TemplateRenderer) -> None:
    data = attachment(parse(compose(renderer, make_stats())), ".xlsx")

    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [
        "Synthèse",
        "Canal",
        "Suite donnée",
        "Caractéristiques",
        "Orientations",
        "Catégories",
        "Entreprises",
        "Mois",
        "Délais",
    ]
    summary = workbook["Synthèse"]
    assert [c.value for c in summary[4]] == [
        "Indicateur",
        "Période",
        "Période précédente",
        "Évolution",
    ]
    assert all(c.font.b for c in summary[4])
    assert [c.value for c in summary[5]][:3] == ["Saisines reçues", 128, 114]
    assert summary["D5"].value == pytest.approx(14 / 114)
    assert summary["D5"].number_format == "+0%;-0%;0%"

    outcomes = workbook["Suite donnée"]
    assert [c.value for c in outcomes[2]][:4] == ["Réponse apportée", 84, 84 / 128, 70]
    assert outcomes["C2"].number_format == "0.0%"
    assert outcomes.column_dimensions["A"].width >= 40

    companies = workbook["Entreprises"]
    assert [c.value for c in companies[3]][:5] == [
        "Quillebœuf Énergies",
        35,
        35 / 128,
        None,
        None,
    ]

    months = workbook["Mois"]
    assert [c.value for c in months[5]] == ["Total", 101, 27, 128]

    delays = workbook["Délais"]
    rows = {row[0].value: row for row in delays.iter_rows(min_row=2, max_row=10)}
    median = rows["Délai médian (heures)"]
    assert (median[1].value, median[2].value) == (0.4, 52.5)
    assert median[1].number_format == "0.0"
    assert rows["Part traitée sous 24 heures"][1].number_format == "0.0%"
    assert rows["Traitées sous 24 heures"][2].value is None


def test_a_label_that_looks_like_a_formula_stays_text() -> None:
    stats = make_stats(by_company=[count("=1+1", '=HYPERLINK("http://x.example")', 3)])

    workbook = openpyxl.load_workbook(io.BytesIO(stats_xlsx(stats)))
    cell = workbook["Entreprises"]["A2"]
    rows = list(csv.reader(io.StringIO(stats_csv(stats).decode("utf-8-sig")), delimiter=";"))

    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x.example")', "s")
    assert ["Entreprises", "'=1+1", '\'=HYPERLINK("http://x.example")', "3", ""] in rows


def test_xlsx_is_dated_by_the_statistics_not_by_the_clock() -> None:
    stats = make_stats()

    data = stats_xlsx(stats)

    assert stats_xlsx(stats) == data
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    generated = NOW.replace(tzinfo=None)
    assert workbook.properties.created == generated
    assert workbook.properties.modified == generated
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {(2026, 10, 1, 7, 0, 0)}


# --- the chart --------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_chart_is_a_png_twice_email_width_under_100_kb() -> None:
    data = render_chart(make_stats())

    assert png_size(data) == (1400, 760)  # shown 700 px wide
    assert 10_000 < len(data) < 100_000
    assert b"matplotlib" not in data  # no Software chunk
    assert render_chart(make_stats()) == data


@pytest.mark.parametrize("months", [0, 1, 12])
def test_chart_draws_any_number_of_months(months: int) -> None:
    volumes = [
        MonthVolume(
            month=f"{2025 + (m + 6) // 12}-{(m + 6) % 12 + 1:02d}", label="", email=m, phone=1
        )
        for m in range(months)
    ]
    stats = make_stats(by_month=volumes, previous_total=0)

    data = render_chart(stats)

    assert png_size(data) == (1400, 760)
    assert len(data) < 100_000


def test_chart_leaves_no_global_matplotlib_state() -> None:
    had_pyplot = "matplotlib.pyplot" in sys.modules
    # dict.items: the raw values; rcParams["backend"] would import pyplot to resolve it.
    settings = dict(dict.items(matplotlib.rcParams))

    render_chart(make_stats())

    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot
    assert dict(dict.items(matplotlib.rcParams)) == settings


def test_charts_drawn_in_parallel_threads_are_the_same_as_one_at_a_time() -> None:
    serial = render_chart(make_stats())

    with ThreadPoolExecutor(max_workers=4) as pool:
        drawn = list(pool.map(lambda _: render_chart(make_stats()), range(8)))

    assert drawn == [serial] * 8


def test_month_labels_show_the_year_only_across_two_years() -> None:
    quarter = make_stats().by_month
    protocol_year = [
        MonthVolume(month=month, label="", email=1, phone=0)
        for month in ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05")
    ]

    assert chart_module.month_labels(quarter) == ["juillet", "août", "septembre"]
    assert chart_module.month_labels(protocol_year)[:4] == [
        "nov.\n2025",
        "déc.",
        "janv.\n2026",
        "févr.",
    ]


# --- French wording ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "previous", "expected"),
    [
        (128, 114, "↑ +12 %"),
        (29, 31, "↓ −6 %"),
        (5, 5, "stable"),
        (1001, 1000, "↑ +0,1 %"),
        (2, 0, None),
        (0, 0, "stable"),
        (3, None, None),
    ],
)
def test_change_is_an_arrow_and_a_rounded_percentage(
    value: int, previous: int | None, expected: str | None
) -> None:
    result = change_fr(value, previous)
    assert (result.replace(NBSP, " ") if result else result) == expected


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(0.4, "0,4 h"), (52.5, "52,5 h"), (24.0, "24 h"), (410.2, "410 h"), (1234.0, "1 234 h")],
)
def test_hours(hours: float, expected: str) -> None:
    assert (hours_fr(hours) or "").replace(NBSP, " ") == expected


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (0.02, "moins de 0,1 jour ouvré"),
        (0.0, "0 jour ouvré"),
        (1.5, "1,5 jour ouvré"),
        (2.0, "2 jours ouvrés"),
        (7.6, "7,6 jours ouvrés"),
    ],
)
def test_working_days_are_singular_below_two(days: float, expected: str) -> None:
    assert (working_days_fr(days) or "").replace(NBSP, " ") == expected


def test_percentages_never_round_a_few_cases_to_zero() -> None:
    assert percent_fr(0.004).replace(NBSP, " ") == "0,4 %"
    assert percent_fr(0.656).replace(NBSP, " ") == "66 %"
    assert percent_fr(0.0).replace(NBSP, " ") == "0 %"


def test_file_names_say_trimestre() -> None:
    assert report_base_name("statistiques-dcs", "2026-Q3") == "statistiques-dcs-2026-T3"
    assert report_base_name("statistiques-dcs", "2026") == "statistiques-dcs-2026"


# --- annual review ----------------------------------------------------------------------


def test_annual_review_recalls_article_8_and_gives_the_quarters(
    renderer: TemplateRenderer,
) -> None:
    year = Period(
        kind="year",
        label="2026",
        title="année 2026",
        start=datetime(2026, 1, 1, tzinfo=PARIS),
        end=datetime(2027, 1, 1, tzinfo=PARIS),
    )
    before = year.model_copy(update={"label": "2025", "title": "année 2025"})
    stats = make_stats(period=year, previous_period=before, total=128, previous_total=100)
    quarters = [
        count("2026-Q1", "1er trimestre 2026", 30),
        count("2026-Q2", "2e trimestre 2026", 34),
        count("2026-Q3", "3e trimestre 2026", 40),
        count("2026-Q4", "4e trimestre 2026", 24),
    ]

    message = parse(compose(renderer, stats, template="annual", quarters=quarters))
    text = body(message, "plain").replace(NBSP, " ")

    assert decoded(message, "Subject") == "Bilan annuel du point de contact CDSE – année 2026"
    assert "L'article 8 du protocole" in text
    assert "comparé à celui de l'année précédente (année 2025)" in text
    assert "- 3e trimestre 2026 : 40 (31 %)" in text
    assert "Saisines reçues : 128 – année précédente : 100, ↑ +28 %" in text
    assert "<td>4e trimestre 2026</td>" in body(message, "html")


# --- members' use (art. 7) --------------------------------------------------------------


def compose_members(renderer: TemplateRenderer, report: MemberUsageReport) -> EmailMessage:
    context = member_usage_context(
        report, partner_name=PARTNER, channel_name="CDSE", generated_at=NOW
    )
    return compose_report_email(
        renderer,
        "members_report",
        context,
        chart_png=None,
        attachments=[("usage-membres-2026-T3.csv", CSV_MEDIA_TYPE, member_usage_csv(report))],
        to=[CDSE],
        message_id="members.2026-q3.sec-dcs@interieur.gouv.fr",
        sender_address=MAILBOX,
        sender_name=SENDER,
        now=NOW,
        zone=PARIS,
    )


def test_members_report_names_the_companies_to_remind(renderer: TemplateRenderer) -> None:
    message = parse(compose_members(renderer, make_usage()))
    text = body(message, "plain").replace(NBSP, " ")
    html = body(message, "html")

    assert decoded(message, "Subject") == (
        "Usage du point de contact CDSE par les entreprises membres – "
        "3e trimestre 2026 (1er juillet – 30 septembre 2026)"
    )
    assert "article 7 du protocole" in text
    assert "3 entreprises membres ont saisi le point de contact (87 saisines)" in text
    assert "Parmi elles, 2 ont adressé au moins une demande de ce type" in text
    assert (
        "- Zéphyrine Industries : 7 saisines sur 40 (18 %), dont 6 hors du champ "
        "et 2 portant sur des données personnelles"
    ) in text
    assert (
        "- Quillebœuf Énergies : 1 saisine sur 35 (3 %), "
        "dont 1 portant sur des données personnelles\n"
    ) in text
    assert "Vauquelin" not in text  # used the contact point as intended
    assert "L'autre entreprise membre a utilisé le point de contact conformément" in text
    assert "ne contient aucune donnée personnelle" in text
    assert "<td>Zéphyrine Industries</td>" in html
    assert not [p for p in message.walk() if p.get_content_type() == "image/png"]
    rows = list(
        csv.reader(io.StringIO(attachment(message, ".csv").decode("utf-8-sig")), delimiter=";")
    )
    assert rows[1:] == [
        ["Zéphyrine Industries", "40", "6", "2", "7"],
        ["Quillebœuf Énergies", "35", "0", "1", "1"],
        ["Vauquelin Transports", "12", "0", "0", "0"],
    ]


def test_members_report_without_misuse_recalls_the_rules(renderer: TemplateRenderer) -> None:
    report = MemberUsageReport(
        period=Q3,
        members=[
            MemberUsage(
                company="Vauquelin Transports",
                requests=1,
                out_of_scope=0,
                personal_data=0,
                flagged=0,
            )
        ],
    )

    text = body(parse(compose_members(renderer, report)), "plain").replace(NBSP, " ")

    assert "Aucune entreprise membre n'a adressé au cours de cette période" in text
    assert "(1 entreprise membre, 1 saisine)" in text
    assert "Pour mémoire, les conditions d'utilisation" in text


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    svc = make_service(make_settings(tmp_path / "data"), FixedClock(NOW))
    yield svc
    svc.close()


def add_request(
    service: Service,
    number: int,
    *,
    received_at: datetime,
    company: str | None,
    scope: str = "in",
    personal_data: bool = False,
    status: RequestStatus = RequestStatus.ANSWERED,
) -> None:
    with service.sessions.begin() as session:
        session.add(
            Request(
                reference=f"CDSE-2026-{number:04d}",
                channel="CDSE",
                year=2026,
                number=number,
                requester_address=f"directeur{number}@example.org",
                requester_name=f"Directeur {number}",
                subject="Palpations sur un site industriel",
                received_at=received_at,
                status=status,
                created_at=received_at,
                updated_at=received_at,
                member=company is not None,
                member_company=company,
                scope=scope,
                personal_data=personal_data,
            )
        )


def test_compute_member_usage_counts_each_member_company(service: Service) -> None:
    july = at("2026-07-15 08:00")
    add_request(service, 1, received_at=july, company="Zéphyrine Industries", scope="out")
    add_request(
        service,
        2,
        received_at=july,
        company="Zéphyrine Industries",
        scope="out",
        personal_data=True,
    )
    add_request(service, 3, received_at=july, company="Zéphyrine Industries")
    add_request(service, 4, received_at=july, company="Quillebœuf Énergies", personal_data=True)
    add_request(service, 5, received_at=july, company="Vauquelin Transports")
    # Left out: not a request, a non-member, before and after the quarter (Paris time).
    add_request(
        service,
        6,
        received_at=july,
        company="Vauquelin Transports",
        scope="out",
        status=RequestStatus.NOT_A_REQUEST,
    )
    add_request(service, 7, received_at=july, company=None, scope="out")
    add_request(
        service, 8, received_at=at("2026-06-30 21:59"), company="Vauquelin Transports", scope="out"
    )
    add_request(
        service, 9, received_at=at("2026-09-30 22:00"), company="Vauquelin Transports", scope="out"
    )
    add_request(service, 10, received_at=at("2026-06-30 22:00"), company="Vauquelin Transports")

    with service.sessions() as session:
        report = compute_member_usage(session, Q3)

    assert report.period == Q3
    assert report.members == [
        MemberUsage(
            company="Zéphyrine Industries", requests=3, out_of_scope=2, personal_data=1, flagged=2
        ),
        MemberUsage(
            company="Quillebœuf Énergies", requests=1, out_of_scope=0, personal_data=1, flagged=1
        ),
        MemberUsage(
            company="Vauquelin Transports", requests=2, out_of_scope=0, personal_data=0, flagged=0
        ),
    ]
    assert [m.company for m in report.flagged_members] == [
        "Zéphyrine Industries",
        "Quillebœuf Énergies",
    ]
    assert report.requests == 6


# --- no personal data -------------------------------------------------------------------

WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> set[str]:
    return {word.casefold() for word in WORD.findall(text)}


def literal_words(module: Any) -> set[str]:
    """Words of the string literals of a module, docstrings left out: the fixed wording."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return {
        word
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
        for word in words(node.value)
    }


def model_words(value: object) -> set[str]:
    if isinstance(value, str):
        return words(value)
    if isinstance(value, dict):
        return set().union(*(model_words(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(model_words(v) for v in value))
    return set()


def fixed_vocabulary() -> set[str]:
    """What the output may say besides the model: the templates, the wording in our code,
    French dates, and the sender, recipient and attachment names."""
    from dcs_mailbox.outbound import french

    vocabulary: set[str] = set()
    for directory in ("quarterly", "annual", "members_report"):
        for path in (DEFAULT_TEMPLATES_DIR / directory).iterdir():
            vocabulary |= words(path.read_text(encoding="utf-8"))
    for module in (email_module, tables_module, members_module, french):
        vocabulary |= literal_words(module)
    return vocabulary | words(
        f"{SENDER} {MAILBOX} {PARTNER} CDSE statistiques-dcs-2026-T3 csv xlsx"
    )


def rendered_words(message: EmailMessage) -> set[str]:
    found = words(decoded(message, "Subject"))
    found |= words(body(message, "plain")) | words(body(message, "html"))
    for part in message.iter_attachments():
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if part.get_content_type() == "text/csv":
            found |= words(data.decode("utf-8-sig"))
        elif part.get_content_type() == XLSX_MEDIA_TYPE:
            workbook = openpyxl.load_workbook(io.BytesIO(data))
            for sheet in workbook:
                found |= words(sheet.title)
                for row in sheet.iter_rows(values_only=True):
                    found |= {w for cell in row if isinstance(cell, str) for w in words(cell)}
    return found


def test_only_the_models_strings_reach_the_statement(renderer: TemplateRenderer) -> None:
    stats = make_stats()
    # A caller handing over more than the model must not leak it either: the templates
    # read no such key.
    leaky: dict[str, object] = {
        "requester_name": "Jeanne Martin",
        "subject": "Licenciement de M. Durand",
    }

    message = parse(compose(renderer, stats, extra=leaky))
    unexplained = rendered_words(message) - fixed_vocabulary() - model_words(stats.model_dump())

    assert unexplained == set()
    assert {"zéphyrine", "quillebœuf"} <= rendered_words(message)  # the model's do reach it
    assert not {"jeanne", "martin", "durand", "licenciement"} & rendered_words(message)


def test_only_the_models_strings_reach_the_members_report(renderer: TemplateRenderer) -> None:
    report = make_usage()

    message = parse(compose_members(renderer, report))
    unexplained = rendered_words(message) - fixed_vocabulary() - model_words(report.model_dump())

    assert unexplained == set()
    assert "zéphyrine" in rendered_words(message)


def test_the_vocabulary_check_catches_a_stray_name(renderer: TemplateRenderer) -> None:
    stats = make_stats(by_company=[count("x", "Jeanne Martin", 3)])

    message = parse(compose(renderer, stats))

    assert {"jeanne", "martin"} <= rendered_words(message) - fixed_vocabulary()


# --- preview files ----------------------------------------------------------------------


def test_write_report_files_puts_the_png_next_to_the_html(
    renderer: TemplateRenderer, tmp_path: Path
) -> None:
    stats = make_stats()
    message = compose(renderer, stats)
    html = body(message, "html")
    png = render_chart(stats)

    paths = write_report_files(
        tmp_path / "apercu",
        "statistiques-dcs-2026-T3",
        message,
        html=html,
        csv=stats_csv(stats),
        xlsx=stats_xlsx(stats),
        png=png,
    )

    assert [p.name for p in paths] == [
        "statistiques-dcs-2026-T3.eml",
        "statistiques-dcs-2026-T3.html",
        "statistiques-dcs-2026-T3.csv",
        "statistiques-dcs-2026-T3.xlsx",
        "statistiques-dcs-2026-T3.png",
    ]
    eml, html_path, csv_path, xlsx_path, png_path = paths
    saved_html = html_path.read_text(encoding="utf-8")
    assert '<img src="statistiques-dcs-2026-T3.png"' in saved_html
    assert "cid:" not in saved_html
    assert png_path.read_bytes() == png
    assert csv_path.read_bytes() == stats_csv(stats)
    assert openpyxl.load_workbook(xlsx_path)["Mois"]["D5"].value == 128
    reread = message_from_bytes(eml.read_bytes(), policy=default)
    assert reread["Message-ID"] == f"<{MESSAGE_ID}>"
    # Written again (a retried run): same files, no error.
    assert (
        write_report_files(
            tmp_path / "apercu",
            "statistiques-dcs-2026-T3",
            message,
            html=html,
            csv=stats_csv(stats),
            xlsx=stats_xlsx(stats),
            png=png,
        )
        == paths
    )


def test_write_report_files_skips_what_a_report_does_not_have(
    renderer: TemplateRenderer, tmp_path: Path
) -> None:
    report = make_usage()
    message = compose_members(renderer, report)

    paths = write_report_files(
        tmp_path,
        "usage-membres-dcs-2026-T3",
        message,
        html=body(message, "html"),
        csv=member_usage_csv(report),
        xlsx=None,
        png=None,
    )

    assert [p.name for p in paths] == [
        "usage-membres-dcs-2026-T3.eml",
        "usage-membres-dcs-2026-T3.html",
        "usage-membres-dcs-2026-T3.csv",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
