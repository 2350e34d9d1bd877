"""A small linear scope classifier, read from a versioned JSON artefact, run in pure Python.

`dcs-mailbox triage train` fits it with scikit-learn (`learn.py`) on agents' corrections;
the daemon only reads the JSON it writes: no scikit-learn and no pickle at run time (an
unpickled file can run any code). `predict` recomputes scikit-learn's decision exactly:
TF-IDF over the features of `features()` (sublinear tf, smoothed idf, L2 norm), a dot
product with the logistic regression's weights, and a sigmoid.

Artefact (format version 1), a JSON object:
    format          "dcs-mailbox/scope-model"
    format_version  1
    created_at      ISO 8601 with offset (passed in by the caller, never read from a clock)
    training_size, label_counts {"in": n, "out": n}
    cv_folds, cv_accuracy      stratified k-fold cross-validated accuracy
    threshold       confidence (probability of the predicted label) from which
                    `assess_scope` takes the model's word; 1.0 means practically never
    features        {"word_ngrams": [lo, hi], "char_ngrams": [lo, hi]}
    intercept       decision intercept; positive decisions mean "in"
    terms           {feature: [idf, weight]}
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dcs_mailbox.errors import DcsMailboxError
from dcs_mailbox.text import fold
from dcs_mailbox.triage.scope import Scope

FORMAT = "dcs-mailbox/scope-model"
FORMAT_VERSION = 1
MAX_ARTEFACT_BYTES = 64 * 1024 * 1024  # a model of a few thousand messages is a few MB

_WORDS = re.compile(r"\w\w+")
_DIGIT = re.compile(r"\d")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


class ScopeModelError(DcsMailboxError, ValueError):
    """A scope model artefact cannot be used (unreadable, unknown format, inconsistent)."""


@dataclass(frozen=True)
class FeatureSpec:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (3, 5)  # within words, padded with a space each side


def features(text: str, spec: FeatureSpec) -> list[str]:
    """Word n-grams ("w …") and in-word character n-grams ("c …") of the folded text.

    Digits become 0: dates, amounts and phone numbers are never a topic.
    """
    folded = _DIGIT.sub("0", fold(text).translate(_APOSTROPHES))
    words = _WORDS.findall(folded)
    found: list[str] = []
    low, high = spec.word_ngrams
    for n in range(low, high + 1):
        found.extend("w " + " ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    low, high = spec.char_ngrams
    for word in words:
        padded = f" {word} "
        for n in range(low, high + 1):
            found.extend("c " + padded[i : i + n] for i in range(len(padded) - n + 1))
    return found


@dataclass(frozen=True)
class ScopeModel:
    created_at: datetime
    training_size: int
    label_counts: Mapping[str, int]
    cv_folds: int
    cv_accuracy: float
    threshold: float
    features: FeatureSpec
    intercept: float
    terms: Mapping[str, tuple[float, float]] = field(repr=False)  # feature -> (idf, weight)

    def decision(self, text: str) -> float:
        """The linear decision (log-odds of "in"), as scikit-learn's decision_function."""
        counts = Counter(f for f in features(text, self.features) if f in self.terms)
        dot = 0.0
        squares = 0.0
        for term, count in counts.items():
            idf, weight = self.terms[term]
            value = (1.0 + math.log(count)) * idf
            dot += value * weight
            squares += value * value
        if squares == 0.0:
            return self.intercept
        return dot / math.sqrt(squares) + self.intercept

    def predict(self, text: str) -> tuple[Scope, float]:
        """The predicted scope (never "uncertain") and the probability of that prediction."""
        probability_in = _sigmoid(self.decision(text))
        if probability_in >= 0.5:
            return Scope.IN, probability_in
        return Scope.OUT, 1.0 - probability_in

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at.isoformat(),
            "training_size": self.training_size,
            "label_counts": dict(self.label_counts),
            "cv_folds": self.cv_folds,
            "cv_accuracy": self.cv_accuracy,
            "threshold": self.threshold,
            "features": {
                "word_ngrams": list(self.features.word_ngrams),
                "char_ngrams": list(self.features.char_ngrams),
            },
            "intercept": self.intercept,
            "terms": {term: [idf, weight] for term, (idf, weight) in sorted(self.terms.items())},
        }

    def save(self, path: Path) -> None:
        """Write the artefact atomically (a half-written model must never be read)."""
        text = json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":"))
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text + "\n", encoding="utf-8")
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> ScopeModel:
        try:
            if path.stat().st_size > MAX_ARTEFACT_BYTES:
                raise ScopeModelError(
                    f"scope model {path} is larger than {MAX_ARTEFACT_BYTES} bytes: "
                    "not a model written by `dcs-mailbox triage train`"
                )
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScopeModelError(f"scope model {path} cannot be read: {exc.strerror}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ScopeModelError(f"scope model {path} is not UTF-8 JSON: {exc}") from exc
        return cls.from_json(data, origin=str(path))

    @classmethod
    def from_json(cls, data: object, *, origin: str = "scope model") -> ScopeModel:
        where = f"scope model {origin}"
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ScopeModelError(
                f'{where} is not a dcs-mailbox scope model (no "format": "{FORMAT}")'
            )
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ScopeModelError(
                f"{where} has format version {version!r}; this dcs-mailbox reads version "
                f"{FORMAT_VERSION}: retrain it with `dcs-mailbox triage train`"
            )
        try:
            return _parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ScopeModelError(
                f"{where} is damaged ({exc.__class__.__name__}: {exc}): "
                "retrain it with `dcs-mailbox triage train`"
            ) from exc


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"expected a count, got {value!r}")
    return value


def _range(value: object) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise TypeError(f"expected [low, high], got {value!r}")
    low, high = _count(value[0]), _count(value[1])
    if not 1 <= low <= high <= 10:
        raise ValueError(f"n-gram range {value!r} out of bounds")
    return low, high


def _parse(data: dict[str, Any]) -> ScopeModel:
    created_at = datetime.fromisoformat(data["created_at"])
    if created_at.tzinfo is None:
        raise ValueError("created_at has no UTC offset")
    counts = data["label_counts"]
    if not isinstance(counts, dict):
        raise TypeError("label_counts is not an object")
    threshold = _number(data["threshold"])
    if not 0.5 <= threshold <= 1.0:
        raise ValueError(f"threshold {threshold} outside [0.5, 1]")
    raw_terms = data["terms"]
    if not isinstance(raw_terms, dict) or not raw_terms:
        raise TypeError("terms is not a non-empty object")
    terms: dict[str, tuple[float, float]] = {}
    for term, pair in raw_terms.items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise TypeError(f"term {term!r}: expected [idf, weight]")
        terms[term] = (_number(pair[0]), _number(pair[1]))
    spec = data["features"]
    return ScopeModel(
        created_at=created_at,
        training_size=_count(data["training_size"]),
        label_counts={str(label): _count(n) for label, n in counts.items()},
        cv_folds=_count(data["cv_folds"]),
        cv_accuracy=_number(data["cv_accuracy"]),
        threshold=threshold,
        features=FeatureSpec(_range(spec["word_ngrams"]), _range(spec["char_ngrams"])),
        intercept=_number(data["intercept"]),
        terms=terms,
    )
