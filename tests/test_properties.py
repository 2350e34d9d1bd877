"""Property tests: parse never raises but ParseError; tag matching and triage hold
their invariants on any input. Complements tests/triage/test_tag.py."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcs_mailbox.errors import ParseError
from dcs_mailbox.message import InboundMessage
from dcs_mailbox.parse import parse_message
from dcs_mailbox.triage.classify import TriageContext, triage
from dcs_mailbox.triage.tag import find_tag
from dcs_mailbox.triage.verdict import Kind
from tests.support import build_eml

CHANNELS = (("CDSE", "Saisine CDSE"),)
CONTEXT = TriageContext(channels=CHANNELS, own_addresses=frozenset({"sec-dcs@interieur.gouv.fr"}))
SEED = build_eml(
    headers={
        "Reply-To": "=?utf-8?q?Secr=C3=A9tariat?= <s@acme.example>",
        "In-Reply-To": "<a@b>",
        "Auto-Submitted": "no",
    }
)
MULTIPART_SEED = (
    b"From: a@b.example\r\nSubject: =?utf-8?B?U2Fpc2luZSBDRFNF?=\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nS=C3=A9curit=C3=A9\r\n"
    b"--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"
    b'--b\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n"
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_or_none(raw: bytes) -> InboundMessage | None:
    try:
        return parse_message(raw)
    except ParseError:
        return None


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real message after random insertions, deletions, header duplication and CR/LF
    mangling: what broken relays and hand-edited .eml files look like."""
    data = bytearray(draw(st.sampled_from([SEED, MULTIPART_SEED])))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.sampled_from(["insert", "delete", "duplicate", "crlf", "flip"]))
        at = draw(st.integers(0, len(data)))
        if op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 20))]
        elif op == "duplicate":
            lines = bytes(data).split(b"\r\n")
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            lines.insert(i, lines[i] if lines else b"")
            data = bytearray(b"\r\n".join(lines))
        elif op == "crlf":
            old, new = draw(
                st.sampled_from([(b"\r\n", b"\n"), (b"\r\n", b"\r"), (b"\n", b"\r\n\r\n")])
            )
            data = bytearray(bytes(data).replace(old, new, draw(st.integers(1, 5))))
        else:
            if at < len(data):
                data[at] ^= draw(st.integers(1, 255))
    return bytes(data)


@FAST
@given(st.binary(max_size=2_000))
def test_parse_raises_only_parse_error_on_arbitrary_bytes(raw: bytes) -> None:
    parse_or_none(raw)


@FAST
@given(mutated())
def test_parse_raises_only_parse_error_on_mutated_real_messages(raw: bytes) -> None:
    message = parse_or_none(raw)
    if message is not None:
        assert "\x00" not in message.subject + message.text


@FAST
@given(mutated())
def test_triage_never_raises_and_machine_mail_carries_no_assessment(raw: bytes) -> None:
    message = parse_or_none(raw)
    if message is None:
        return
    verdict = triage(message, CONTEXT)
    assert verdict.kind in set(Kind)
    assert verdict.reasons and all(r.rule for r in verdict.reasons)
    if verdict.kind in (Kind.AUTO_REPLY, Kind.BOUNCE):
        assert verdict.no_reply
    if verdict.kind in (Kind.AUTO_REPLY, Kind.BOUNCE, Kind.OTHER):
        # Scope and personal data are assessed only where a person asks something.
        assert verdict.scope is None and verdict.personal_data is None


machine_headers = st.sampled_from(
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated"},
        {"Precedence": "bulk"},
        {"X-Autoreply": "yes"},
        {"List-Id": "<liste.example>"},
    ]
)


@FAST
@given(machine_headers, st.text(max_size=200))
def test_machine_mail_is_never_assessed_for_scope_or_personal_data(
    headers: dict[str, str], body: str
) -> None:
    raw = build_eml(headers=headers, body=body + "\nMon numéro : 06 12 34 56 78\n")
    verdict = triage(parse_message(raw), CONTEXT)
    assert verdict.kind is not Kind.REQUEST
    assert verdict.scope is None and verdict.personal_data is None
    assert all(r.rule for r in verdict.reasons)


# --- tag: extends tests/triage/test_tag.py ---------------------------------------------

accented = st.sampled_from(["Saisine CDSE", "Saïsine CDSE", "Saísine CDSÉ", "SAÎSINE CDSE"])
prefix_chain = st.lists(
    st.sampled_from(["RE:", "Re :", "TR:", "Fwd:", "FW:", "AW:", "WG:", "RE[2]:", "[EXT]"]),
    max_size=4,
).map(" ".join)
runs = st.text(alphabet=" \t\u00a0\u2009\u3000", min_size=1, max_size=5)


@FAST
@given(prefix_chain, accented, runs, st.text(max_size=30))
def test_tag_survives_prefix_chains_accents_and_unicode_space_runs(
    prefix: str, tag: str, space: str, tail: str
) -> None:
    subject = prefix + " " + tag.replace(" ", space) + " - " + tail
    assert find_tag(subject, CHANNELS) is not None


@FAST
@given(st.text(max_size=80))
def test_tag_verdict_is_invariant_under_case_and_accent_stripping(subject: str) -> None:
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", subject) if not unicodedata.combining(c)
    )
    found = find_tag(subject, CHANNELS) is not None
    assert (find_tag(subject.upper(), CHANNELS) is not None) == found or "ß" in subject.lower()
    assert (find_tag(stripped, CHANNELS) is not None) == found
