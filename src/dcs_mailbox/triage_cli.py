"""`dcs-mailbox triage FILE.eml…` and `dcs-mailbox triage train`: triage from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dcs_mailbox.errors import DcsMailboxError, ParseError
from dcs_mailbox.message import InboundMessage
from dcs_mailbox.parse import parse_message
from dcs_mailbox.triage.body import split_body
from dcs_mailbox.triage.classify import TriageContext, triage
from dcs_mailbox.triage.members import MemberRegistry
from dcs_mailbox.triage.resources import load_scope_model
from dcs_mailbox.triage.verdict import Verdict

DEFAULT_CHANNELS = (("CDSE", "Saisine CDSE"),)
OWN_ADDRESS = "sec-dcs@interieur.gouv.fr"


def verdict_record(file: str, verdict: Verdict) -> dict[str, object]:
    return {
        "file": file,
        "tagged": verdict.tagged,
        "channel": verdict.channel,
        "kind": verdict.kind.value,
        "member": verdict.member,
        "member_company": verdict.member_company,
        "in_scope": verdict.in_scope,
        "scope": verdict.scope,
        "personal_data": verdict.personal_data,
        "urgent": verdict.urgent,
        "category": verdict.category,
        "service": verdict.service,
        "no_reply": verdict.no_reply,
        "reasons": [r.model_dump() for r in verdict.reasons],
    }


@dataclass(frozen=True)
class Triaged:
    file: Path
    verdict: Verdict | None
    error: str | None = None


def triage_files(paths: list[Path], context: TriageContext) -> list[Triaged]:
    results = []
    for path in paths:
        try:
            message = parse_message(path.read_bytes())
        except OSError as exc:
            results.append(Triaged(path, None, f"cannot read: {exc.strerror}"))
            continue
        except ParseError as exc:
            results.append(Triaged(path, None, str(exc)))
            continue
        results.append(Triaged(path, triage(message, context)))
    return results


def run_triage(args: argparse.Namespace) -> int:
    from dcs_mailbox.store.members import read_members_csv

    members = MemberRegistry(read_members_csv(args.members)) if args.members else MemberRegistry()
    model = load_scope_model(args.model) if args.model else None
    if args.model and model is None:
        raise DcsMailboxError(f"scope model {args.model} cannot be loaded")
    context = TriageContext(
        channels=DEFAULT_CHANNELS,
        own_addresses=frozenset({OWN_ADDRESS}),
        members=members,
        scope_model=model,
    )
    status = 0
    for result in triage_files(args.files, context):
        if result.verdict is None:
            status = 1
            if args.json:
                print(json.dumps({"file": str(result.file), "error": result.error}))
            else:
                print(f"{result.file}: illisible : {result.error}")
            continue
        if args.json:
            print(json.dumps(verdict_record(str(result.file), result.verdict), ensure_ascii=False))
        else:
            print(describe(str(result.file), result.verdict))
    return status


SCOPE_FR = {"in": "dans le périmètre", "out": "hors périmètre", "uncertain": "incertain"}


def describe(file: str, v: Verdict) -> str:
    yes_no = {True: "oui", False: "non", None: "—"}
    lines = [
        f"{file} : {v.kind.value}{' (mention de saisine)' if v.tagged else ''}",
        f"  membre : {yes_no[v.member]}{f' ({v.member_company})' if v.member_company else ''}"
        f" · périmètre : {SCOPE_FR.get(v.scope or '', '—')}"
        f"{f' [{v.category}]' if v.category else ''}"
        f" · données personnelles : {yes_no[v.personal_data]} · urgent : {yes_no[v.urgent]}",
    ]
    lines += [f"  - {r.detail} [{r.rule}]{f' « {r.evidence} »' if r.evidence else ''}"
              for r in v.reasons]  # fmt: skip
    return "\n".join(lines)


def run_train(args: argparse.Namespace) -> int:
    from dcs_mailbox.config import load_settings
    from dcs_mailbox.learn import train_scope_model
    from dcs_mailbox.store.archive import RawArchive
    from dcs_mailbox.store.corrections import scope_labels
    from dcs_mailbox.store.db import make_engine, make_session_factory, require_current_schema

    settings = load_settings(args.config)
    engine = make_engine(settings.database_url)
    examples: list[tuple[str, bool]] = []
    try:
        require_current_schema(engine)
        archive = RawArchive(settings.service.data_dir / "archive")
        with make_session_factory(engine)() as session:
            for sha, in_scope in scope_labels(session):
                message = parse_message(archive.load(sha))
                examples.append((training_text(message), in_scope))
    finally:
        engine.dispose()
    from_db = len(examples)
    if args.labels:
        eml_dir = args.eml_dir or args.labels.parent
        for line in args.labels.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("in_scope") is None:
                continue
            message = parse_message((eml_dir / row["file"]).read_bytes())
            examples.append((training_text(message), bool(row["in_scope"])))
    if len({label for _, label in examples}) < 2:
        print(
            f"not enough labels to train: {len(examples)} example(s), both « in » and « out » "
            "are needed (agents' corrections with `requests set --scope`, or --labels)",
            file=sys.stderr,
        )
        return 1
    model, report = train_scope_model(examples, created_at=datetime.now(UTC))
    output = args.output or settings.scope_model_path
    model.save(output)
    print(f"trained on {len(examples)} examples ({from_db} from agents' corrections)")
    print(f"cross-validated accuracy: {report.cv_accuracy:.3f} ({report.folds} folds)")
    print(f"model written to {output}")
    return 0


def training_text(message: InboundMessage) -> str:
    """What the scope model reads: the subject and the requester's own words."""
    return f"{message.subject}\n{split_body(message.text, message.sender).own}"
