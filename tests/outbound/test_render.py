from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dcs_mailbox.config import DEFAULT_TEMPLATES_DIR
from dcs_mailbox.outbound.french import date_fr
from dcs_mailbox.outbound.render import Acknowledgement, TemplateRenderer
from tests.support import make_settings


def _render(tmp_path: Path) -> str:
    settings = make_settings(tmp_path)
    renderer = TemplateRenderer(DEFAULT_TEMPLATES_DIR, settings.service.zone)
    message = renderer.acknowledgement(
        Acknowledgement(
            reference="CDSE-2026-0042",
            received_at=datetime(2026, 12, 1, 8, 5, tzinfo=UTC),
            subject="Saisine CDSE – palpations <script>",
            recipient="j.martin@acme-industrie.example",
            message_id="cdse-2026-0042.accuse.abc@interieur.gouv.fr",
            in_reply_to="req-1@acme-industrie.example",
            channel=settings.channels[0],
        ),
        sender_address="sec-dcs@interieur.gouv.fr",
        sender_name="Délégation aux coopérations de sécurité",
        now=datetime(2026, 12, 1, 8, 6, tzinfo=UTC),
    )
    return message.as_string()


def test_french_date_uses_premier_and_hours() -> None:
    assert date_fr(datetime(2026, 12, 1, 9, 5)) == "le mardi 1er décembre 2026 à 9 h 05"


def test_acknowledgement_headers_follow_rfc_3834_and_thread(tmp_path: Path) -> None:
    text = _render(tmp_path)
    assert "Auto-Submitted: auto-replied" in text
    assert "In-Reply-To: <req-1@acme-industrie.example>" in text
    assert "Message-ID: <cdse-2026-0042.accuse.abc@interieur.gouv.fr>" in text
    assert "X-Auto-Response-Suppress: All" in text


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
