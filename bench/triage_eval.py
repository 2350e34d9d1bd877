"""Score triage against the labelled requests (../shared/requests/labels.jsonl).

Runs the same code as `dcs-mailbox triage --members members.csv --json` (rules only,
unless --model is given), then prints per-flag precision/recall, the confusion of
`kind`, the scope figures the project targets, and per-message latency.

    .venv/bin/python -m bench.triage_eval [--requests ../shared/requests] [--model M.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from dcs_mailbox.parse import parse_message
from dcs_mailbox.store.members import read_members_csv
from dcs_mailbox.triage.classify import TriageContext, triage
from dcs_mailbox.triage.members import MemberRegistry
from dcs_mailbox.triage.resources import load_scope_model
from dcs_mailbox.triage.verdict import Verdict
from dcs_mailbox.triage_cli import DEFAULT_CHANNELS, OWN_ADDRESS, verdict_record

DEFAULT_REQUESTS = Path(__file__).resolve().parents[1].parent / "shared" / "requests"


def precision_recall(pairs: list[tuple[bool, bool]]) -> tuple[float, float, int, int, int]:
    tp = sum(1 for truth, got in pairs if truth and got)
    fp = sum(1 for truth, got in pairs if not truth and got)
    fn = sum(1 for truth, got in pairs if truth and not got)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp, fn


def evaluate(requests_dir: Path, model_path: Path | None) -> dict[str, object]:
    labels = [
        json.loads(line)
        for line in (requests_dir / "labels.jsonl").read_text().splitlines()
        if line.strip()
    ]
    context = TriageContext(
        channels=DEFAULT_CHANNELS,
        own_addresses=frozenset({OWN_ADDRESS}),
        members=MemberRegistry(read_members_csv(requests_dir / "members.csv")),
        scope_model=load_scope_model(model_path) if model_path else None,
    )
    rows: list[tuple[dict[str, object], dict[str, object]]] = []
    latencies: list[float] = []
    for label in labels:
        raw = (requests_dir / label["file"]).read_bytes()
        start = time.perf_counter()
        verdict: Verdict = triage(parse_message(raw), context)
        latencies.append((time.perf_counter() - start) * 1000)
        rows.append((label, verdict_record(label["file"], verdict)))
    return {"rows": rows, "latencies": latencies}


def report(result: dict[str, object]) -> int:
    rows = result["rows"]
    latencies = result["latencies"]
    assert isinstance(rows, list) and isinstance(latencies, list)
    out: list[str] = [f"{len(rows)} labelled messages"]
    failures: list[str] = []
    for flag in ("tagged", "member", "urgent"):
        pairs = [(bool(lab[flag]), bool(got[flag])) for lab, got in rows]
        p, r, tp, fp, fn = precision_recall(pairs)
        exact = sum(1 for truth, got in pairs if truth == got)
        out.append(
            f"{flag:<14} exact {exact}/{len(pairs)}  P {p:.2f} R {r:.2f} (tp {tp} fp {fp} fn {fn})"
        )
        if flag in ("tagged", "member") and exact != len(pairs):
            failures.append(f"{flag} not exact")
    pd_pairs = [
        (bool(lab["personal_data"]), bool(got["personal_data"]))
        for lab, got in rows
        if lab["personal_data"] is not None
    ]
    p, r, tp, fp, fn = precision_recall(pd_pairs)
    out.append(
        f"personal_data  P {p:.2f} R {r:.2f} (tp {tp} fp {fp} fn {fn}; {len(pd_pairs)} labelled)"
    )
    if r < 0.95 or p < 0.85:
        failures.append("personal data below target (R >= 0.95 at P >= 0.85)")

    kinds = Counter((lab["kind"], got["kind"]) for lab, got in rows)
    names = ["request", "followup", "auto_reply", "bounce", "other"]
    out.append("kind confusion (rows: label, columns: triage)")
    out.append("  " + " " * 11 + "".join(f"{n[:9]:>10}" for n in names))
    for truth in names:
        out.append(f"  {truth:<11}" + "".join(f"{kinds[(truth, got)]:>10}" for got in names))
    kind_exact = sum(v for (a, b), v in kinds.items() if a == b)
    out.append(f"  exact {kind_exact}/{len(rows)}")
    if kind_exact != len(rows):
        failures.append("kind not exact")

    scoped = [
        (lab["in_scope"], got["in_scope"]) for lab, got in rows if lab["in_scope"] is not None
    ]
    decided = [(truth, got) for truth, got in scoped if got is not None]
    right = sum(1 for truth, got in decided if truth == got)
    outs = [(truth, got) for truth, got in decided if got is False]
    wrong_outs = sum(1 for truth, _ in outs if truth is True)
    uncertain = len(scoped) - len(decided)
    accuracy = right / len(decided) if decided else 0.0
    out.append(
        f"scope          {len(scoped)} labelled: decided {len(decided)} (right {right}, "
        f"{accuracy:.0%}), uncertain {uncertain} ({uncertain / len(scoped):.0%}), "
        f"out verdicts {len(outs)} of which wrong {wrong_outs}"
    )
    if accuracy < 0.9 or uncertain / len(scoped) > 0.4 or (outs and wrong_outs / len(outs) > 0.1):
        failures.append("scope below target")
    ms = sorted(latencies)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    out.append(
        f"latency        median {statistics.median(ms):.2f} ms, p99 {p99:.2f} ms per message"
    )
    print("\n".join(out))
    for lab, got in rows:
        mismatches = [
            f"{k}: label {lab[k]} got {got[k]}"
            for k in ("kind", "tagged", "member", "urgent", "personal_data", "in_scope")
            if lab[k] != got[k] and not (k == "in_scope" and got[k] is None)
        ]
        if mismatches:
            print(f"  {lab['file']}: " + "; ".join(mismatches))
    if failures:
        print("BELOW TARGET: " + "; ".join(failures))
        return 1
    print("all targets met")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=Path, default=DEFAULT_REQUESTS)
    parser.add_argument("--model", type=Path)
    parser.add_argument(
        "--train-cv", action="store_true", help="also cross-validate the scope classifier"
    )
    args = parser.parse_args()
    if not (args.requests / "labels.jsonl").exists():
        print(f"{args.requests}/labels.jsonl not found", file=sys.stderr)
        return 2
    status = report(evaluate(args.requests, args.model))
    if args.train_cv:
        cross_validate_classifier(args.requests)
    return status


def cross_validate_classifier(requests_dir: Path) -> None:
    from datetime import UTC, datetime

    from dcs_mailbox.learn import train_scope_model
    from dcs_mailbox.triage_cli import training_text

    examples = []
    for line in (requests_dir / "labels.jsonl").read_text().splitlines():
        label = json.loads(line)
        if label["in_scope"] is None:
            continue
        message = parse_message((requests_dir / label["file"]).read_bytes())
        examples.append((training_text(message), bool(label["in_scope"])))
    model, training = train_scope_model(examples, created_at=datetime.now(UTC))
    majority = max(sum(lab for _, lab in examples), sum(not lab for _, lab in examples))
    print(
        f"scope classifier: {len(examples)} examples, {training.folds}-fold cross-validated "
        f"accuracy {training.cv_accuracy:.3f} (always the majority class: "
        f"{majority / len(examples):.3f}); threshold {model.threshold:.2f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
