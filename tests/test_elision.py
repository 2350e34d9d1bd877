"""Large attachment bodies set aside before parsing: the same reading, a fraction of the memory."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

import pytest

from dcs_mailbox import elision
from dcs_mailbox.elision import elide_attachment_bodies
from dcs_mailbox.errors import ParseError
from dcs_mailbox.message import InboundMessage
from dcs_mailbox.parse import parse_message
from tests.shared import corpus_files
from tests.support import MAILBOX

HEAD = (
    b"From: Jeanne Martin <j.martin@acme-industrie.example>\r\n"
    b"To: " + MAILBOX.encode() + b"\r\n"
    b"Subject: Saisine CDSE - plans du site\r\n"
    b"Message-ID: <plans@acme-industrie.example>\r\nMIME-Version: 1.0\r\n"
)
TEXT_PART = (
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    + "Bonjour,\r\nVoici les plans en pièce jointe.\r\n".encode()
)


def base64_lines(size: int, seed: int = 1) -> bytes:
    data = random.Random(seed).randbytes(size)
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def attachment(content_type: bytes, filename: bytes, size: int, seed: int = 1) -> bytes:
    return (
        b"Content-Type: " + content_type + b"\r\n"
        b'Content-Disposition: attachment; filename="' + filename + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64_lines(size, seed)
    )


def multipart(boundary: bytes, parts: list[bytes], subtype: bytes = b"mixed") -> bytes:
    head = b"Content-Type: multipart/" + subtype + b'; boundary="' + boundary + b'"\r\n\r\n'
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return head + body + b"--" + boundary + b"--\r\n"


@pytest.fixture
def always_elide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elision, "ELIDE_FROM", 0)
    monkeypatch.setattr(elision, "MIN_ELIDED", 1)


@pytest.fixture
def never_elide(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(elision, "ELIDE_FROM", 2**62)
    yield


def parse_without_elision(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> InboundMessage:
    with monkeypatch.context() as patch:
        patch.setattr(elision, "ELIDE_FROM", 2**62)
        return parse_message(raw)


def test_small_messages_are_parsed_as_they_are() -> None:
    raw = HEAD + multipart(b"b", [TEXT_PART, attachment(b"application/pdf", b"a.pdf", 200_000)])
    assert elide_attachment_bodies(raw).raw is raw


def test_a_large_attachment_is_set_aside_and_its_size_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = HEAD + multipart(
        b"=_b", [TEXT_PART, attachment(b"application/pdf; name=plans.pdf", b"plans.pdf", 3 << 20)]
    )
    elided = elide_attachment_bodies(raw)
    assert len(elided.raw) < 2_000 and len(elided.missing) == 1

    message = parse_message(raw)
    assert message == parse_without_elision(raw, monkeypatch)
    assert message.subject == "Saisine CDSE - plans du site"
    assert message.text.strip() == "Bonjour,\r\nVoici les plans en pièce jointe."
    (pdf,) = message.attachments
    assert (pdf.filename, pdf.content_type) == ("plans.pdf", "application/pdf")
    assert 3 << 20 <= pdf.size < (3 << 20) * 1.03  # encoded size, 3/4 of the base64


def test_text_parts_are_never_set_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ("Ligne de texte assez longue pour peser, sans espace ni fin. " * 40_000).encode()
    encoded = base64.encodebytes(text).replace(b"\n", b"\r\n")
    raw = HEAD + multipart(
        b"b",
        [
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded,
            attachment(b"image/png", b"plan.png", 2 << 20),
        ],
    )
    elided = elide_attachment_bodies(raw)
    assert len(elided.missing) == 1 and len(elided.raw) > len(encoded)
    message = parse_message(raw)
    assert message == parse_without_elision(raw, monkeypatch)
    assert message.text.startswith("Ligne de texte assez longue")


def test_attachments_in_nested_and_forwarded_messages_keep_their_sizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forwarded = (
        b"Content-Type: message/rfc822\r\n\r\n"
        b"From: b@fournisseur.example\r\nSubject: Devis\r\nMIME-Version: 1.0\r\n"
        + multipart(b"inner-fwd", [TEXT_PART, attachment(b"application/zip", b"d.zip", 1 << 20, 2)])
    )
    alternative = multipart(
        b"alt", [TEXT_PART, b"Content-Type: text/html\r\n\r\n<p>Bonjour</p>"], b"alternative"
    )
    raw = HEAD + multipart(
        b"outer",
        [alternative, forwarded, attachment(b"application/octet-stream", b"x.bin", 1 << 20, 3)],
    )
    assert len(elide_attachment_bodies(raw).missing) == 2
    message = parse_message(raw)
    assert message == parse_without_elision(raw, monkeypatch)
    assert [a.filename for a in message.attachments] == ["", "x.bin"]
    assert all(a.size > 1 << 20 for a in message.attachments)


def test_only_base64_lines_are_set_aside(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stray lines after the base64 (a signature, a broken encoder) stay where they were.
    body = attachment(b"application/pdf", b"a.pdf", 2 << 20) + b"-- \r\nnot base64!\r\n"
    raw = HEAD + multipart(b"b", [TEXT_PART, body])
    elided = elide_attachment_bodies(raw)
    assert b"not base64!" in elided.raw and len(elided.missing) == 1
    assert parse_message(raw) == parse_without_elision(raw, monkeypatch)


def test_a_single_part_attachment_without_multipart_is_set_aside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = HEAD + attachment(b"application/pdf", b"scan.pdf", 2 << 20)
    assert len(elide_attachment_bodies(raw).missing) == 1
    message = parse_message(raw)
    assert message == parse_without_elision(raw, monkeypatch)
    assert message.attachments[0].filename == "scan.pdf"


@pytest.mark.parametrize(
    "broken",
    [
        b"X-Header: one\rlone carriage return\r\n",  # the parser's lines would differ
        b"not a header line\r\n",  # where the body starts is the parser's guess
    ],
)
def test_unreadable_header_blocks_leave_the_part_untouched(broken: bytes) -> None:
    raw = HEAD + multipart(
        b"b", [broken + attachment(b"application/pdf", b"a.pdf", 2 << 20), TEXT_PART]
    )
    assert elide_attachment_bodies(raw).missing == ()


def test_a_forged_placeholder_counts_for_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    forged = b"Content-Type: application/octet-stream\r\n\r\ndcselided0123456789abcdefn0\r\n"
    raw = HEAD + multipart(
        b"b", [TEXT_PART, forged, attachment(b"application/pdf", b"a.pdf", 2 << 20)]
    )
    message = parse_message(raw)
    assert message == parse_without_elision(raw, monkeypatch)
    assert message.attachments[0].size < 100


def test_forced_elision_reads_the_generated_monsters_the_same(
    always_elide: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_hostile import MONSTERS

    for name, build in MONSTERS.items():
        if name in ("30MB-attachment",):
            continue  # covered above, and by the memory test
        raw = build()
        try:
            elided = parse_message(raw)
        except ParseError:
            with pytest.raises(ParseError):
                parse_without_elision(raw, monkeypatch)
            continue
        assert elided == parse_without_elision(raw, monkeypatch), name


@pytest.mark.shared
def test_forced_elision_reads_the_whole_corpus_the_same(
    always_elide: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    elided_somewhere = 0
    for path in corpus_files():
        raw = path.read_bytes()
        elided_somewhere += bool(elide_attachment_bodies(raw).missing)
        try:
            message = parse_message(raw)
        except ParseError:
            continue
        assert message == parse_without_elision(raw, monkeypatch), path
    assert elided_somewhere > 10  # the corpus has attachments: the path was exercised
