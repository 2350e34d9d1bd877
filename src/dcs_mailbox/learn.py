"""Training the scope classifier (`dcs-mailbox triage train`); needs the `train` extra.

Labels come from agents' corrections (and optionally a labelled file): each is a text
(subject + the requester's own words) and whether it was within the protocol's remit.
The result is exported to the JSON artefact `triage/scope_model.py` reads in pure Python;
the daemon never imports this module.

Why these choices, with tens to hundreds of examples: TF-IDF over word 1–2-grams and
in-word character 3–5-grams (`scope_model.features`: robust to inflection and typos), and
an L2-regularised logistic regression with balanced class weights (out-of-scope mail is
the minority). The threshold is chosen on cross-validated predictions, over the examples
the rules leave uncertain (the only ones `assess_scope` asks the model about, and the
hardest), so that what the model decides meets the project's scope targets (≥ 90 % right,
an "out" wrong at most 1 time in 10). With too few labels no threshold qualifies and the
model stays silent (threshold 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from dcs_mailbox.triage.scope import Scope, assess_scope
from dcs_mailbox.triage.scope_model import FeatureSpec, ScopeModel, ScopeModelError, features

MIN_DF = 2  # a feature seen in one message only is a name, a number or a typo
C = 1.0
TARGET_ACCURACY = 0.9  # project target for decided scope verdicts
MAX_WRONG_OUT = 0.1  # project target: an "out" wrong at most 1 time in 10
MIN_DECIDED = 5  # fewer confident predictions than this say nothing about a threshold
NEVER = 1.0
_CANDIDATES = tuple(round(0.5 + i / 100, 2) for i in range(50))


@dataclass(frozen=True)
class TrainingReport:
    training_size: int
    label_counts: dict[str, int]
    folds: int
    cv_accuracy: float  # stratified k-fold, every prediction counted
    majority_baseline: float  # accuracy of always answering the commoner label
    rule_uncertain: int  # examples the rules leave uncertain: where the threshold is chosen
    threshold: float
    cv_coverage_at_threshold: float  # share of those the model would decide
    cv_accuracy_at_threshold: float | None  # accuracy on those (None: it decides none)
    vocabulary_size: int

    def summary(self) -> str:
        decided = (
            f"decides {self.cv_coverage_at_threshold:.0%} of messages, "
            f"{self.cv_accuracy_at_threshold:.0%} right"
            if self.cv_accuracy_at_threshold is not None
            else "decides nothing: too few labels for a reliable threshold"
        )
        return (
            f"{self.training_size} examples ({self.label_counts['in']} in, "
            f"{self.label_counts['out']} out); {self.folds}-fold cross-validated accuracy "
            f"{self.cv_accuracy:.3f} (always-the-commoner-label {self.majority_baseline:.3f}); "
            f"threshold {self.threshold:.2f} (over the {self.rule_uncertain} examples the rules "
            f"leave uncertain): {decided}; {self.vocabulary_size} features"
        )


def fit_pipeline(
    texts: Sequence[str], labels: Sequence[bool], *, seed: int = 0, spec: FeatureSpec | None = None
) -> Pipeline:
    """The scikit-learn pipeline the artefact is exported from, fitted on all examples."""
    pipeline = _pipeline(seed, spec or FeatureSpec())
    pipeline.fit(list(texts), np.asarray(labels, dtype=bool))
    return pipeline


def train_scope_model(
    examples: Sequence[tuple[str, bool]],
    *,
    created_at: datetime,
    folds: int = 5,
    seed: int = 0,
) -> tuple[ScopeModel, TrainingReport]:
    if created_at.tzinfo is None:
        raise ScopeModelError("created_at must be timezone-aware (UTC inside dcs-mailbox)")
    texts = [text for text, _ in examples]
    labels = np.asarray([label for _, label in examples], dtype=bool)
    counts = {"in": int(labels.sum()), "out": int((~labels).sum())}
    smallest = min(counts.values())
    if smallest < 2:
        raise ScopeModelError(
            f"cannot train the scope model on {counts['in']} « in » and {counts['out']} "
            "« out » examples: at least 2 of each are needed"
        )
    folds = min(folds, smallest)
    spec = FeatureSpec()
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probability_in = cross_val_predict(
        _pipeline(seed, spec), texts, labels, cv=splitter, method="predict_proba"
    )[:, 1]
    predicted = probability_in >= 0.5
    confidence = np.where(predicted, probability_in, 1.0 - probability_in)
    # The examples' subject and body are joined: a rule reading the subject alone sees
    # the whole text here, close enough to find what the rules leave open.
    open_ = np.asarray([assess_scope("", text).scope is Scope.UNCERTAIN for text in texts])
    threshold, coverage, decided_accuracy = _threshold(
        labels[open_], predicted[open_], confidence[open_]
    )

    fitted = fit_pipeline(texts, [label for _, label in examples], seed=seed, spec=spec)
    intercept, terms = _weights(fitted)
    cv_accuracy = float(np.mean(predicted == labels))
    model = ScopeModel(
        created_at=created_at,
        training_size=len(examples),
        label_counts=counts,
        cv_folds=folds,
        cv_accuracy=cv_accuracy,
        threshold=threshold,
        features=spec,
        intercept=intercept,
        terms=terms,
    )
    report = TrainingReport(
        training_size=len(examples),
        label_counts=counts,
        folds=folds,
        cv_accuracy=cv_accuracy,
        majority_baseline=max(counts.values()) / len(examples),
        rule_uncertain=int(open_.sum()),
        threshold=threshold,
        cv_coverage_at_threshold=coverage,
        cv_accuracy_at_threshold=decided_accuracy,
        vocabulary_size=len(model.terms),
    )
    return model, report


def _pipeline(seed: int, spec: FeatureSpec) -> Pipeline:
    vectorizer = TfidfVectorizer(
        analyzer=partial(features, spec=spec),
        lowercase=False,  # features() folds
        min_df=MIN_DF,
        sublinear_tf=True,
        smooth_idf=True,
        norm="l2",
        dtype=np.float64,
    )
    classifier = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, random_state=seed)
    return Pipeline([("tfidf", vectorizer), ("classifier", classifier)])


def _threshold(
    labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray
) -> tuple[float, float, float | None]:
    """Lowest confidence from which cross-validated predictions meet the scope targets."""
    for candidate in _CANDIDATES:
        chosen = confidence >= candidate
        decided = int(chosen.sum())
        if decided < MIN_DECIDED:
            break  # higher thresholds decide even fewer
        right = predicted[chosen] == labels[chosen]
        outs = chosen & ~predicted
        wrong_out = int((outs & labels).sum())
        if right.mean() >= TARGET_ACCURACY and wrong_out <= MAX_WRONG_OUT * int(outs.sum()):
            return candidate, decided / max(len(labels), 1), float(right.mean())
    return NEVER, 0.0, None


def _weights(pipeline: Pipeline) -> tuple[float, dict[str, tuple[float, float]]]:
    """The intercept and, per feature, its idf and weight (the artefact's `terms`)."""
    vectorizer: TfidfVectorizer = pipeline.named_steps["tfidf"]
    classifier: LogisticRegression = pipeline.named_steps["classifier"]
    if list(classifier.classes_) != [False, True]:  # pragma: no cover - both labels checked
        raise ScopeModelError(f"unexpected classes {classifier.classes_!r}")
    weights = classifier.coef_[0]
    idf = vectorizer.idf_
    terms = {
        str(term): (float(idf[column]), float(weights[column]))
        for term, column in vectorizer.vocabulary_.items()
    }
    return float(classifier.intercept_[0]), terms
