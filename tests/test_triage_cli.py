"""`dcs-mailbox triage`, `members`, `requests set` and `triage train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcs_mailbox.cli import main
from tests.support import build_eml
from tests.test_cli import write_config

MEMBERS = (
    "company,domain,director_name,director_email\n"
    "Acte Industrie,acme-industrie.example,Jeanne Martin,j.martin@acme-industrie.example\n"
)


def test_triage_prints_one_json_object_per_file_without_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    request = tmp_path / "request.eml"
    request.write_bytes(build_eml())
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    status = main(["triage", "--members", str(members), "--json", str(request), str(empty)])
    assert status == 1  # one file could not be read as a message
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["file"] == str(request)
    assert first["tagged"] is True and first["kind"] == "request" and first["member"] is True
    assert first["in_scope"] in (True, False, None)
    assert {"personal_data", "urgent", "category", "reasons"} <= first.keys()
    assert any(r["rule"] == "tag.subject" for r in first["reasons"])
    assert second == {"file": str(empty), "error": "empty message: no header and no body"}


def test_triage_text_output_is_french_for_agents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = tmp_path / "r.eml"
    request.write_bytes(build_eml())
    assert main(["triage", str(request)]) == 0
    out = capsys.readouterr().out
    assert "membre : non" in out and "données personnelles" in out


def _recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    config = write_config(tmp_path)
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    members = tmp_path / "members.csv"
    members.write_text(MEMBERS, encoding="utf-8")
    assert main(["members", "import", str(members), "--config", str(config)]) == 0
    request = tmp_path / "r.eml"
    request.write_bytes(build_eml())
    assert main(["ingest", "--no-send", "--config", str(config), str(request)]) == 0
    capsys.readouterr()
    assert main(["requests", "list", "--json", "--config", str(config)]) == 0
    [row] = json.loads(capsys.readouterr().out)
    return config, row["reference"]


def test_members_import_makes_the_sender_a_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, reference = _recorded(tmp_path, capsys)
    assert main(["requests", "show", reference, "--json", "--config", str(config)]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["member"] is True and summary["member_company"] == "Acte Industrie"
    assert main(["members", "list", "--config", str(config)]) == 0
    assert "1 member companies" in capsys.readouterr().out


def test_an_agent_correction_is_kept_with_the_first_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, reference = _recorded(tmp_path, capsys)
    command = ["requests", "set", reference, "--config", str(config)]
    assert main([*command, "--scope", "out", "--personal-data", "yes", "--reason", "RGPD",
                 "--agent", "agent.dupont"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "scope" in out and "→ out" in out and "personal_data no → yes" in out
    assert main([*command, "--scope", "out", "--reason", "encore"]) == 0
    assert "déjà à jour" in capsys.readouterr().out
    assert main(["requests", "show", reference, "--config", str(config)]) == 0
    shown = capsys.readouterr().out
    assert "Périmètre : hors périmètre" in shown
    assert "Correction par un agent (agent.dupont)" in shown and "« RGPD »" in shown

    from dcs_mailbox.config import load_settings
    from dcs_mailbox.store.db import make_engine, make_session_factory
    from dcs_mailbox.store.models import VerdictCorrection

    engine = make_engine(load_settings(config).database_url)
    with make_session_factory(engine)() as session:
        rows = session.query(VerdictCorrection).order_by(VerdictCorrection.field).all()
    engine.dispose()
    assert [(r.field, r.agent_value, r.source) for r in rows] == [
        ("personal_data", "yes", "cli"),
        ("scope", "out", "cli"),
    ]
    assert rows[1].machine_value in ("in", "uncertain")


def test_correcting_an_unknown_request_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    main(["db", "upgrade", "--config", str(config)])
    assert main(["requests", "set", "CDSE-2020-0001", "--scope", "in", "--reason", "x",
                 "--config", str(config)]) == 2  # fmt: skip
    assert "no request with reference CDSE-2020-0001" in capsys.readouterr().err


def test_train_refuses_without_both_labels_then_learns_from_corrections_and_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, reference = _recorded(tmp_path, capsys)
    assert main(["triage", "train", "--config", str(config)]) == 1
    assert "not enough labels" in capsys.readouterr().err
    main(
        ["requests", "set", reference, "--scope", "out", "--reason", "ok", "--config", str(config)]
    )
    labels = tmp_path / "labels" / "labels.jsonl"
    labels.parent.mkdir()
    lines = []
    questions = [
        ("out", "Saisine CDSE - TVA", "Comment récupérer la TVA de notre filiale ?"),
        ("out", "Saisine CDSE - impôts", "Quel taux d'impôt sur les sociétés appliquer ?"),
        ("out", "Saisine CDSE - URSSAF", "Comment calculer nos cotisations URSSAF ?"),
        ("in", "Saisine CDSE - vidéoprotection", "Faut-il une autorisation pour nos caméras ?"),
        ("in", "Saisine CDSE - palpations", "Nos agents peuvent-ils faire des palpations ?"),
        ("in", "Saisine CDSE - Vigipirate", "Quelle posture Vigipirate pour nos sites ?"),
    ]
    for i, (label, subject, body) in enumerate(questions * 2):
        name = f"{i}.eml"
        (labels.parent / name).write_bytes(
            build_eml(subject=subject, body=body, message_id=f"{i}@x.example")
        )
        lines.append(json.dumps({"file": name, "in_scope": label == "in"}))
    labels.write_text("\n".join(lines) + "\n")
    output = tmp_path / "model.json"
    assert main(["triage", "train", "--config", str(config), "--labels", str(labels),
                 "--output", str(output)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "trained on 13 examples (1 from agents' corrections)" in out
    assert "cross-validated accuracy" in out
    assert json.loads(output.read_text())["training_size"] == 13
