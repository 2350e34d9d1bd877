from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dcs_mailbox.config import DEFAULT_TEMPLATES_DIR
from dcs_mailbox.outbound.french import date_fr
from dcs_mailbox.outbound.render import Envelope, TemplateRenderer
from tests.support import make_settings


def _render(tmp_path: Path, **flags: object) -> str:
    settings = make_settings(tmp_path)
    renderer = TemplateRenderer(DEFAULT_TEMPLATES_DIR, settings.service.zone)
    channel = settings.channels[0]
    context: dict[str, object] = {
        "reference": "CDSE-2026-0042",
        "received_at": datetime(2026, 12, 1, 8, 5, tzinfo=UTC),
        "subject": "Saisine CDSE – palpations <script>",
        "partner_name": channel.partner_name,
        "emergency_phone": channel.emergency_phone,
        "member": True,
        "out_of_scope": False,
        "personal_data": False,
        "urgent": False,
        "service_name": None,
        "service_url": None,
        **flags,
    }
    message = renderer.compose(
        channel.template,
        context,
        Envelope(
            to="j.martin@acme-industrie.example",
            message_id="cdse-2026-0042.accuse.abc@interieur.gouv.fr",
            in_reply_to="req-1@acme-industrie.example",
        ),
        sender_address="sec-dcs@interieur.gouv.fr",
        sender_name="Délégation aux coopérations de sécurité",
        now=datetime(2026, 12, 1, 8, 6, tzinfo=UTC),
    )
    return message.as_string()


def _plain(text: str) -> str:
    from email import message_from_string
    from email.policy import default

    msg = message_from_string(text, policy=default)
    return str(msg.get_body(("plain",)).get_content())  # type: ignore[attr-defined, union-attr]


def test_french_date_uses_premier_and_hours() -> None:
    assert date_fr(datetime(2026, 12, 1, 9, 5)) == "le mardi 1er décembre 2026 à 9 h 05"


def test_acknowledgement_headers_follow_rfc_3834_and_thread(tmp_path: Path) -> None:
    text = _render(tmp_path)
    assert "Auto-Submitted: auto-replied" in text
    assert "In-Reply-To: <req-1@acme-industrie.example>" in text
    assert "Message-ID: <cdse-2026-0042.accuse.abc@interieur.gouv.fr>" in text
    assert "X-Auto-Response-Suppress: All" in text
    assert "Content-Language: fr" in text


def test_acknowledgement_says_reference_paris_time_and_protocol_rules(tmp_path: Path) -> None:
    from email import message_from_string
    from email.policy import default

    msg = message_from_string(_render(tmp_path), policy=default)
    assert "[CDSE-2026-0042] Accusé de réception" in str(msg["Subject"])
    plain = msg.get_body(("plain",)).get_content()  # type: ignore[attr-defined, union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[attr-defined, union-attr]
    # 08:05 UTC on 1 December is 09:05 in Paris (CET).
    assert "le mardi 1er décembre 2026 à 9 h 05 (heure de Paris)" in plain
    assert "référence CDSE-2026-0042" in plain
    assert "données personnelles de personnes physiques ou morales" in plain
    assert "valeur indicative" in plain
    assert "01 99 00 12 34" in plain and "01 99 00 12 34" in html
    # The requester's subject is escaped in HTML, never interpreted.
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_plain_acknowledgement_has_no_flag_paragraph(tmp_path: Path) -> None:
    plain = _plain(_render(tmp_path))
    assert "situation d'urgence" not in plain
    assert "ne pas relever du champ" not in plain
    assert "personne physique ou morale identifiée" not in plain
    assert "réservé aux directeurs" not in plain


def test_out_of_scope_acknowledgement_names_the_competent_service_without_refusing(
    tmp_path: Path,
) -> None:
    plain = _plain(
        _render(
            tmp_path,
            out_of_scope=True,
            service_name="Commission nationale de l'informatique et des libertés (CNIL)",
            service_url="https://www.cnil.fr",
        )
    )
    assert "semble ne pas relever du champ du point de contact" in plain
    assert "Un agent l'examinera" in plain
    assert (
        "(a priori : Commission nationale de l'informatique et des libertés (CNIL), https://www.cnil.fr)"
        in plain
    )


def test_urgent_acknowledgement_puts_the_emergency_line_first(tmp_path: Path) -> None:
    plain = _plain(_render(tmp_path, urgent=True))
    assert plain.index("01 99 00 12 34 ou composez le 17") < plain.index("accuse réception")


def test_non_member_and_personal_data_paragraphs(tmp_path: Path) -> None:
    plain = _plain(_render(tmp_path, member=False, personal_data=True))
    assert "réservé aux directeurs de la sécurité des entreprises membres du Club" in plain
    assert (
        "aucune information relative aux données personnelles ne peut être communiquée par ce point"
        in plain
    )
