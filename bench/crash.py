"""Crash harness: SIGKILL the real daemon over and over, then count what survived.

Loads a private Dovecot INBOX with a mix of messages (../shared/requests, a sample of
../shared/corpus, generated tagged requests), MULTIAPPENDed with a recent INTERNALDATE
(so none is "history"); a few more arrive by LMTP while the daemon runs. Then, `--kills`
times: start `python -m dcs_mailbox run --config F` (a new process, the real CLI), let it
work for a random moment (seeded), SIGKILL it. Some kills wait for "sent to" lines in the
log so that they land during the outbox flush. After the last kill the daemon runs to
completion (every INBOX UID recorded, no outbox row pending or sending) and is stopped with
SIGTERM. The database is only ever read read-only (sqlite3 `mode=ro`).

Verified at the end (the exit status is 1 when one of them is not zero): lost messages
(INBOX UIDs without a mailbox_items row, or distinct contents not recorded or quarantined
exactly once), duplicate acknowledgements (the same deterministic Message-ID received
twice by the SMTP server), missing ones (an outbox row that is not `failed` and never
reached the server). A duplicate whose row a kill left `sending` while the server already
had it is the residual window of docs/architecture.md ("Exactly one acknowledgement per
request"): it is listed with its kill, and fails the run only with `--strict`.

    .venv/bin/python -m bench.crash --messages 1000 --kills 20 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path

from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpCapture
from tests.support import CHANNEL, MAILBOX

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
ROOT = Path(__file__).resolve().parents[1]
# Share of the mailbox that arrives by LMTP while the daemon runs and is killed.
LMTP_SHARE = 0.05
_SENT_LINE = re.compile(
    r"^(?P<at>\S+ \S+) INFO dcs_mailbox\.outbound\.dispatch: acknowledgement "
    r"(?P<reference>\S+) sent to ",
    re.MULTILINE,
)
# Generated requesters: unique addresses, well under the per-sender daily limit of 5.
GENERATED_DOMAIN = "membre-crash.example"


@dataclass(frozen=True)
class MailboxPlan:
    """What goes into the INBOX: appended at once, then delivered during the run."""

    appended: list[bytes]
    delivered: list[bytes]
    labelled_tagged: set[str]  # Message-IDs (without <>) that a person labelled tagged
    generated_tagged: set[str]  # Message-IDs of the generated requests


@dataclass(frozen=True)
class Kill:
    """One SIGKILL and what the database and the SMTP server held right after it."""

    number: int
    at: datetime
    aim: str  # "startup", "random" or "flush"
    after_seconds: float  # from the start of the process
    sent_lines: int  # "sent to" lines the process logged
    connected: bool
    sending: tuple[str, ...]  # outbox rows left `sending`
    received: frozenset[str]  # Message-IDs the SMTP server had received by then

    def describe(self) -> str:
        return (
            f"kill {self.number} at {self.at:%H:%M:%S.%f} ({self.aim}, "
            f"{self.after_seconds:.2f} s after start, {self.sent_lines} sent, "
            f"{'connected' if self.connected else 'not connected'}): "
            f"sending={list(self.sending)}"
            + "".join(f" [{mid} already at SMTP]" for mid in self.sending if mid in self.received)
        )


@dataclass
class KillLog:
    kills: list[Kill] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.kills)

    @property
    def in_flight(self) -> int:
        """Kills that left a row `sending` which the previous kill had not left so."""
        before: set[str] = set()
        count = 0
        for kill in self.kills:
            count += bool(set(kill.sending) - before)
            before = set(kill.sending)
        return count

    @property
    def during_flush(self) -> int:
        return sum(k.sent_lines > 0 for k in self.kills)

    @property
    def before_connect(self) -> int:
        return sum(not k.connected for k in self.kills)

    def in_window(self, message_id: str) -> Kill | None:
        """The kill that hit *message_id* after the server accepted it and before the
        commit of `sent`: the residual window of docs/architecture.md."""
        for kill in self.kills:
            if message_id in kill.sending and message_id in kill.received:
                return kill
        return None


@dataclass
class CrashReport:
    messages: int
    distinct: int  # distinct contents (sha256) among them
    recorded: int
    quarantined: int
    lost: list[int]
    twice_recorded: list[int]
    requests: int
    tagged_expected: int
    labelled_tagged_untagged: int
    acks_owed: int
    withheld: int
    acks_received: int
    missing_acks: list[str]
    duplicate_acks: dict[str, int]
    window_duplicates: dict[str, Kill]  # explained by the documented residual window
    window_ms: list[float]  # server's acceptance → `sent_at`, per acknowledgement
    unexpected_acks: list[str]
    settled_by_proof: int  # `sending` rows a proof copy settled after a kill
    kills: KillLog
    seconds: float

    @property
    def unexplained_duplicates(self) -> dict[str, int]:
        return {m: n for m, n in self.duplicate_acks.items() if m not in self.window_duplicates}

    def ok(self, *, strict: bool = False) -> bool:
        duplicates = self.duplicate_acks if strict else self.unexplained_duplicates
        return self.recorded + self.quarantined == self.distinct and not (
            self.lost
            or self.twice_recorded
            or self.missing_acks
            or duplicates
            or self.unexpected_acks
        )

    def lines(self) -> list[str]:
        k = self.kills
        return [
            f"messages in the mailbox:            {self.messages}",
            f"  distinct contents (sha256):       {self.distinct}",
            f"recorded (distinct sha256, inbound): {self.recorded}",
            f"quarantined:                        {self.quarantined}",
            f"lost (INBOX UID without a row):     {len(self.lost)} {self.lost[:10]}",
            f"UIDs recorded twice:                {len(self.twice_recorded)}",
            f"tagged requests expected (triage):  {self.tagged_expected}",
            f"requests in the database:           {self.requests}",
            f"labelled tagged, not tagged:        {self.labelled_tagged_untagged} (triage's call)",
            f"acknowledgements owed (outbox):     {self.acks_owed}"
            f" (+{self.withheld} requests without one: sender limit, auto-reply...)",
            f"acknowledgements at SMTP:           {self.acks_received}",
            f"owed but never received:            {len(self.missing_acks)} {self.missing_acks[:5]}",
            f"received twice or more:             {len(self.duplicate_acks)}"
            f" {dict(list(self.duplicate_acks.items())[:5])}",
            f"  inside the documented window:     {len(self.window_duplicates)}"
            " (killed after the server accepted it, before `sent` was committed)",
            *(f"    {mid}: {kill.describe()}" for mid, kill in self.window_duplicates.items()),
            f"  unexplained:                      {len(self.unexplained_duplicates)}",
            "window (server accepted → logged):   "
            + (
                f"median {statistics.median(self.window_ms):.1f} ms, "
                f"p99 {sorted(self.window_ms)[int(len(self.window_ms) * 0.99)]:.1f} ms, "
                f"max {max(self.window_ms):.1f} ms"
                if self.window_ms
                else "n/a"
            ),
            f"received but not in the outbox:     {len(self.unexpected_acks)}",
            f"settled by a proof copy after a kill: {self.settled_by_proof}",
            f"kills (SIGKILL):                    {k.total}",
            f"  with an acknowledgement in flight: {k.in_flight}"
            " (a new row `sending` after the kill)",
            f"  during the outbox flush:          {k.during_flush}",
            f"  before the IMAP connection:       {k.before_connect}",
            f"wall time:                          {self.seconds:.1f} s",
            f"RESULT: {'OK' if self.ok() else 'FAILED'}"
            + ("" if self.ok(strict=True) else " (strict: duplicates in the window)"),
        ]


# --- the mailbox -------------------------------------------------------------------


def _message_id(raw: bytes) -> str | None:
    value: object = BytesHeaderParser(policy=SMTP).parsebytes(raw).get("Message-ID")
    return str(value).strip().strip("<>") if value else None


def generated_request(index: int, now: datetime) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = f"Agent {index} <agent{index}@{GENERATED_DOMAIN}>"
    message["To"] = MAILBOX
    message["Subject"] = f"{CHANNEL['tag']} - question n° {index} sur le contrôle d'accès"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = f"<crash-{index}@{GENERATED_DOMAIN}>"
    message.set_content(
        f"Bonjour,\n\nQuelles règles s'appliquent au contrôle d'accès du site {index} ?\n\n"
        f"Agent {index}\n"
    )
    return message.as_bytes()


def _shared_files(name: str) -> list[Path]:
    root = SHARED / name
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is missing: the harness reads the shared material")
    skip = {"MANIFEST.tsv", "SOURCES.md", "labels.jsonl"}
    # An IMAP server refuses to store an empty message ("Can't save a zero byte message"):
    # no mailbox can hold one, so the daemon never meets it.
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name not in skip and p.stat().st_size > 0
    )


def plan_mailbox(count: int, rng: random.Random, now: datetime) -> MailboxPlan:
    """All labelled requests (fewer if *count* is small), about half of the rest from the
    corpus, the remainder generated tagged requests."""
    requests_dir = SHARED / "requests"
    labels = [
        json.loads(line)
        for line in (requests_dir / "labels.jsonl").read_text().splitlines()
        if line.strip()
    ]
    labelled = [(requests_dir / row["file"], bool(row["tagged"])) for row in labels]
    if len(labelled) > count:
        labelled = rng.sample(labelled, count)
    corpus = _shared_files("corpus")
    corpus_count = min(len(corpus), (count - len(labelled)) // 2)
    raws: list[bytes] = []
    labelled_tagged: set[str] = set()
    for path, tagged in labelled:
        raw = path.read_bytes()
        raws.append(raw)
        message_id = _message_id(raw)
        if tagged and message_id:
            labelled_tagged.add(message_id)
    raws += [p.read_bytes() for p in rng.sample(corpus, corpus_count)]
    generated_tagged: set[str] = set()
    for index in range(count - len(raws)):
        generated_tagged.add(f"crash-{index}@{GENERATED_DOMAIN}")
        raws.append(generated_request(index, now))
    rng.shuffle(raws)
    late = max(1, round(len(raws) * LMTP_SHARE))
    return MailboxPlan(raws[:-late], raws[-late:], labelled_tagged, generated_tagged)


# --- the daemon as a process ---------------------------------------------------------


def write_config(
    work: Path, dovecot: DovecotServer, smtp: SmtpCapture, *, proof_copy: bool = True
) -> Path:
    password = work / "imap-password"
    password.write_text(dovecot.password_of("sec-dcs"))
    sections: dict[str, dict[str, object]] = {
        "service": {"data_dir": str(work / "data")},
        "mailbox": {"address": MAILBOX},
        "imap": {
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "security": "plain",
            "username": "sec-dcs",
            "password_file": str(password),
            "timeout_seconds": 5,
            "reconnect_max_seconds": 1,
            "fetch_batch_size": 50,
        },
        "smtp": {"host": smtp.host, "port": smtp.port, "security": "plain", "timeout_seconds": 5},
        "acknowledgement": {
            "retry_initial_seconds": 0.5,
            "retry_max_seconds": 1,
            "proof_copy": proof_copy,
            # 300 s in production; short here so that a run waits little for copies that
            # cannot come (kills before the server accepted).
            "proof_grace_seconds": 3,
        },
    }
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    lines.append("[[channels]]")
    lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in CHANNEL.items()]
    path = work / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dcs_mailbox", *args, "--config", str(config)]


@contextmanager
def daemon_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon, its output appended to *log*; SIGKILLed if still running at exit."""
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            _cli(config, "run"), stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class Database:
    """Read-only views of the daemon's SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)) as db:
            return list(db.execute(sql, params))

    def count(self, sql: str, *params: object) -> int:
        value = self.query(sql, *params)[0][0]
        assert isinstance(value, int)
        return value

    def recorded_uids(self) -> set[int]:
        rows = self.query("SELECT uid FROM mailbox_items WHERE folder = 'INBOX'")
        return {int(str(uid)) for (uid,) in rows}

    def unfinished_outbox(self) -> int:
        return self.count("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")


class CrashRun:
    def __init__(
        self, work: Path, dovecot: DovecotServer, smtp: SmtpCapture, *, proof_copy: bool
    ) -> None:
        self.work = work
        self.dovecot = dovecot
        self.smtp = smtp
        self.config = write_config(work, dovecot, smtp, proof_copy=proof_copy)
        self.db = Database(work / "data" / "dcs-mailbox.sqlite3")
        self.kills = KillLog()

    def prepare(self, plan: MailboxPlan) -> None:
        subprocess.run(_cli(self.config, "db", "upgrade"), check=True, capture_output=True)
        for start in range(0, len(plan.appended), 200):
            self.dovecot.append_many("INBOX", plan.appended[start : start + 200])

    def _log_text(self, offset: int) -> str:
        with (self.work / "daemon.log").open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")

    def kill_once(self, rng: random.Random, deliveries: list[bytes]) -> Kill:
        log = self.work / "daemon.log"
        offset = log.stat().st_size if log.exists() else 0
        started = time.monotonic()
        with daemon_process(self.config, log) as process:
            for raw in deliveries:
                self.dovecot.deliver_lmtp(MAILBOX, raw)
            draw = rng.random()
            if draw < 0.1:
                aim = "startup"
                time.sleep(rng.uniform(0.05, 0.5))
            else:
                _wait(lambda: "connected (" in self._log_text(offset), 15)
                if draw < 0.55:
                    aim = "random"
                    time.sleep(rng.uniform(0.05, 1.5))
                else:
                    # Aim at the outbox flush: wait for acknowledgements to be going out.
                    aim = "flush"
                    _wait(lambda: " sent to " in self._log_text(offset), 4)
                    time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            at = datetime.now(UTC)
            process.wait()
        text = self._log_text(offset)
        sending = self.db.query("SELECT message_id_header FROM outbox WHERE state = 'sending'")
        kill = Kill(
            number=self.kills.total + 1,
            at=at,
            aim=aim,
            after_seconds=time.monotonic() - started,
            sent_lines=text.count(" sent to "),
            connected="connected (" in text,
            sending=tuple(str(mid).strip("<>") for (mid,) in sending),
            received=frozenset(_message_id(m.raw) or "" for m in self.smtp.messages),
        )
        self.kills.kills.append(kill)
        return kill

    def _window_ms(self) -> list[float]:
        """Per acknowledgement: from its arrival at the server to the daemon's "sent to"
        line, logged once `sent` is committed: the residual window (with millisecond log
        timestamps, and the logging itself, included)."""
        arrived: dict[str, datetime] = {}
        twice: set[str] = set()  # a kill split them: their first arrival says nothing
        for message in self.smtp.messages:
            mid = _message_id(message.raw)
            if mid:
                reference = mid.partition(".")[0]
                if reference in arrived:
                    twice.add(reference)
                arrived.setdefault(reference, message.received_at)
        for reference in twice:
            del arrived[reference]
        window = []
        for match in _SENT_LINE.finditer(self._log_text(0)):
            reference = match.group("reference").lower()
            if reference in arrived:
                # asctime is local time; astimezone() reads a naive datetime as local.
                logged = datetime.strptime(match.group("at"), "%Y-%m-%d %H:%M:%S,%f")
                delta = logged.astimezone(UTC) - arrived[reference]
                window.append(delta.total_seconds() * 1000)
        return window

    def run_to_completion(self, expected_uids: set[int], timeout: float) -> bool:
        log = self.work / "daemon.log"
        with daemon_process(self.config, log) as process:
            done = _wait(
                lambda: (
                    expected_uids | self._inbox_uids() <= self.db.recorded_uids()
                    and self.db.unfinished_outbox() == 0
                ),
                timeout,
                step=0.2,
            )
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        return done

    def _inbox_uids(self) -> set[int]:
        """What the INBOX holds now: proof copies of the last acknowledgements arrive
        during the final run, and must be handled (recorded, removed) before it ends."""
        with self.dovecot.imap(folder="INBOX", readonly=True) as client:
            return set(client.search(["ALL"]))

    def verify(self, plan: MailboxPlan, started: float) -> CrashReport:
        stored = self.dovecot.fetch_all("INBOX")
        uid_rows = Counter(
            int(str(uid))
            for (uid,) in self.db.query("SELECT uid FROM mailbox_items WHERE folder = 'INBOX'")
        )
        status = {
            str(name): int(str(count))
            for name, count in self.db.query(
                # Proof copies of our own messages (removed from the INBOX) are not part
                # of the mailbox being checked.
                "SELECT status, count(DISTINCT sha256) FROM messages "
                "WHERE direction = 'inbound' AND (message_id_header IS NULL OR "
                "message_id_header NOT IN (SELECT message_id_header FROM outbox)) "
                "GROUP BY status"
            )
        }
        tagged_ids = {
            str(mid).strip("<>")
            for (mid,) in self.db.query(
                "SELECT message_id_header FROM messages WHERE tagged AND direction = 'inbound' "
                "AND message_id_header IS NOT NULL"
            )
        }
        owed = {
            str(mid).strip("<>"): str(state)
            for mid, state in self.db.query("SELECT message_id_header, state FROM outbox")
        }
        received = Counter(_message_id(m.raw) or "(none)" for m in self.smtp.messages)
        duplicates = {mid: n for mid, n in received.items() if n > 1}
        window_duplicates = {
            mid: kill for mid in duplicates if (kill := self.kills.in_window(mid)) is not None
        }
        requests = self.db.count("SELECT count(*) FROM requests")
        with_ack = self.db.count(
            "SELECT count(DISTINCT request_id) FROM outbox WHERE kind = 'acknowledgement'"
        )
        return CrashReport(
            messages=len(stored),
            distinct=len({hashlib.sha256(m.raw).hexdigest() for m in stored}),
            recorded=status.get("recorded", 0),
            quarantined=status.get("quarantined", 0),
            lost=sorted(m.uid for m in stored if m.uid not in uid_rows),
            twice_recorded=sorted(uid for uid, n in uid_rows.items() if n > 1),
            requests=requests,
            tagged_expected=self.db.count(
                "SELECT count(*) FROM messages WHERE tagged AND kind = 'request' "
                "AND direction = 'inbound'"
            ),
            labelled_tagged_untagged=len(
                (plan.labelled_tagged | plan.generated_tagged) - tagged_ids
            ),
            acks_owed=sum(state != "failed" for state in owed.values()),
            withheld=requests - with_ack,
            acks_received=sum(received.values()),
            missing_acks=sorted(
                mid for mid, state in owed.items() if state != "failed" and not received[mid]
            ),
            duplicate_acks=duplicates,
            window_duplicates=window_duplicates,
            window_ms=self._window_ms(),
            unexpected_acks=sorted(mid for mid in received if mid not in owed),
            settled_by_proof=self.db.count(
                "SELECT count(*) FROM request_events WHERE detail LIKE '%copie de contr%'"
            ),
            kills=self.kills,
            seconds=time.monotonic() - started,
        )


def run_crash_harness(
    work: Path,
    *,
    messages: int,
    kills: int,
    seed: int,
    completion_timeout: float = 300.0,
    proof_copy: bool = True,
) -> CrashReport:
    """The whole harness in *work*: servers, mailbox, kills, completion, verification."""
    started = time.monotonic()
    rng = random.Random(seed)
    plan = plan_mailbox(messages, rng, datetime.now(UTC))
    with (
        DovecotServer(work / "dovecot") as dovecot,
        SmtpCapture() as smtp,
    ):
        if proof_copy:
            # As a real server does for its own domain: the mailbox's copy is delivered.
            smtp.local_delivery = (
                frozenset({MAILBOX}),
                lambda rcpt, raw: dovecot.deliver_lmtp(rcpt, raw),
            )
        run = CrashRun(work, dovecot, smtp, proof_copy=proof_copy)
        run.prepare(plan)
        late = list(plan.delivered)
        per_round = -(-len(late) // max(kills, 1))
        for _ in range(kills):
            batch, late = late[:per_round], late[per_round:]
            run.kill_once(rng, batch)
        for raw in late:
            dovecot.deliver_lmtp(MAILBOX, raw)
        uids = {m.uid for m in dovecot.fetch_all("INBOX")}
        if not run.run_to_completion(uids, completion_timeout):
            print(f"the daemon did not finish within {completion_timeout:.0f} s", file=sys.stderr)
        return run.verify(plan, started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work directory to keep (default: a temp dir)")
    parser.add_argument("--verbose", action="store_true", help="print one line per kill")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="also fail on duplicates inside the documented residual window",
    )
    parser.add_argument(
        "--no-proof-copy",
        dest="proof_copy",
        action="store_false",
        help="run without [acknowledgement].proof_copy (the server delivers no copy back)",
    )
    args = parser.parse_args(argv)
    options = {
        "messages": args.messages,
        "kills": args.kills,
        "seed": args.seed,
        "proof_copy": args.proof_copy,
    }
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        report = run_crash_harness(args.keep, **options)
    else:
        with tempfile.TemporaryDirectory(prefix="dcs-crash-") as tmp:
            report = run_crash_harness(Path(tmp), **options)
    print(f"proof copies: {'on' if args.proof_copy else 'off'}")
    if args.verbose:
        print("\n".join(kill.describe() for kill in report.kills.kills))
    print("\n".join(report.lines()))
    return 0 if report.ok(strict=args.strict) else 1


if __name__ == "__main__":
    sys.exit(main())
