"""The scope classifier: trained with scikit-learn, read and run in pure Python."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from dcs_mailbox.learn import fit_pipeline, train_scope_model
from dcs_mailbox.triage.scope import Scope
from dcs_mailbox.triage.scope_model import FORMAT_VERSION, ScopeModel, ScopeModelError

CREATED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

IN = [
    "Autorisation préfectorale pour les caméras de vidéoprotection de nos agences",
    "Palpations de sécurité à l'entrée de notre siège par des agents privés",
    "Renouvellement des cartes professionnelles de nos agents auprès du CNAPS",
    "Posture Vigipirate : mesures pour nos centres commerciaux",
    "Conduite à tenir face à un colis suspect dans le hall, évacuation du personnel",
    "Un drone survole notre site industriel la nuit, que pouvons-nous faire ?",
    "Sensibilisation de nos salariés à la menace terroriste",
    "Nos agents de sûreté peuvent-ils porter des bâtons de défense ?",
    "Déclaration d'un grand rassemblement festif en préfecture",
    "Signalement d'une cyberattaque par rançongiciel sur nos serveurs",
    "Inspection visuelle des sacs à l'entrée d'un concert",
    "Radicalisation d'un collaborateur : procédure générale de signalement",
]
OUT = [
    "Quel taux de TVA sur la refacturation de nos prestations ?",
    "Cotisations URSSAF sur les primes versées à nos salariés",
    "Durée de conservation des données personnelles de nos clients selon le RGPD",
    "Notre facture reste impayée, à qui nous adresser pour le paiement ?",
    "Candidature spontanée pour un stage de six mois dans votre délégation",
    "Je serais heureux de vous présenter notre solution lors d'une démonstration",
    "Délai de délivrance d'un visa de long séjour pour un salarié étranger",
    "Extrait de casier judiciaire pour une embauche",
]
EXAMPLES = [(text, True) for text in IN] + [(text, False) for text in OUT]
UNSEEN = [
    "Vidéoprotection et palpations lors de notre salon professionnel",
    "Le remboursement de la TVA tarde, que faire ?",
    "Bonjour",
    "",
    "zzz qqq",  # no known feature at all: the decision is the intercept
]


@pytest.fixture(scope="module")
def trained() -> ScopeModel:
    model, _ = train_scope_model(EXAMPLES, created_at=CREATED, folds=4, seed=3)
    return model


def test_pure_python_predictions_equal_scikit_learn(trained: ScopeModel) -> None:
    texts = [text for text, _ in EXAMPLES] + UNSEEN
    labels = [label for _, label in EXAMPLES]
    pipeline = fit_pipeline([text for text, _ in EXAMPLES], labels, seed=3)
    expected = pipeline.decision_function(texts)
    got = np.array([trained.decision(text) for text in texts])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    probabilities = pipeline.predict_proba(texts)[:, 1]
    for text, probability in zip(texts, probabilities, strict=True):
        scope, confidence = trained.predict(text)
        assert scope is (Scope.IN if probability >= 0.5 else Scope.OUT)
        assert confidence == pytest.approx(max(probability, 1 - probability), abs=1e-6)


def test_the_model_learns_the_training_labels(trained: ScopeModel) -> None:
    right = sum((trained.predict(text)[0] is Scope.IN) == label for text, label in EXAMPLES)
    assert right == len(EXAMPLES)


def test_save_and_load_round_trip(trained: ScopeModel, tmp_path: Path) -> None:
    path = tmp_path / "scope-model.json"
    trained.save(path)
    loaded = ScopeModel.load(path)
    assert loaded == trained
    for text in UNSEEN:
        assert loaded.predict(text) == trained.predict(text)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format_version"] == FORMAT_VERSION
    assert data["created_at"] == "2026-03-02T09:30:00+00:00"
    assert data["training_size"] == len(EXAMPLES)
    assert data["label_counts"] == {"in": len(IN), "out": len(OUT)}
    assert not list(tmp_path.glob("*.partial"))


def test_the_report_states_the_cross_validated_figures() -> None:
    model, report = train_scope_model(EXAMPLES, created_at=CREATED, folds=5, seed=0)
    assert report.training_size == len(EXAMPLES)
    assert report.label_counts == {"in": len(IN), "out": len(OUT)}
    assert report.folds == 5
    assert 0.0 <= report.cv_accuracy <= 1.0
    assert report.majority_baseline == pytest.approx(len(IN) / len(EXAMPLES))
    assert 0.5 <= report.threshold <= 1.0
    assert model.cv_accuracy == report.cv_accuracy and model.threshold == report.threshold
    assert "cross-validated accuracy" in report.summary()


def test_folds_shrink_to_the_rarer_label() -> None:
    examples = EXAMPLES[:6] + [(text, False) for text in OUT[:3]]
    _, report = train_scope_model(examples, created_at=CREATED, folds=5)
    assert report.folds == 3


def test_training_needs_both_labels() -> None:
    with pytest.raises(ScopeModelError, match="at least 2 of each"):
        train_scope_model([(text, True) for text in IN] + [(OUT[0], False)], created_at=CREATED)


def test_training_needs_an_aware_time() -> None:
    with pytest.raises(ScopeModelError, match="timezone-aware"):
        train_scope_model(EXAMPLES, created_at=datetime(2026, 3, 2))


def test_an_unknown_format_version_is_refused(trained: ScopeModel, tmp_path: Path) -> None:
    data = trained.to_json()
    data["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScopeModelError) as caught:
        ScopeModel.load(path)
    message = str(caught.value)
    assert f"format version {FORMAT_VERSION + 1}" in message
    assert "dcs-mailbox triage train" in message and str(path) in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not UTF-8 JSON"),
        ('{"weights": [1, 2]}', "is not a dcs-mailbox scope model"),
        (b"\x80\x81", "is not UTF-8 JSON"),
    ],
)
def test_a_file_that_is_no_model_is_refused(
    tmp_path: Path, content: str | bytes, message: str
) -> None:
    path = tmp_path / "model.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ScopeModelError, match=message):
        ScopeModel.load(path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold", 1.5),
        ("intercept", "0.3"),
        ("created_at", "2026-03-02T09:30:00"),
        ("terms", {"w vigipirate": [1.0]}),
        ("features", {"word_ngrams": [2, 1], "char_ngrams": [3, 5]}),
    ],
)
def test_a_damaged_model_is_refused(
    trained: ScopeModel, tmp_path: Path, field: str, value: object
) -> None:
    data = trained.to_json()
    data[field] = value
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ScopeModelError, match="is damaged"):
        ScopeModel.load(path)


def test_a_missing_model_is_refused_with_its_path(tmp_path: Path) -> None:
    # ScopeModelError is also a ValueError: callers that keep running on rules alone
    # when the artefact is unusable catch it as such.
    with pytest.raises(ValueError, match="cannot be read"):
        ScopeModel.load(tmp_path / "absent.json")
