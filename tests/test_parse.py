from __future__ import annotations

import pytest

from dcs_mailbox.errors import ParseError
from dcs_mailbox.parse import html_to_text, parse_message
from tests.support import build_eml


def test_utf8_q_encoded_subject_is_decoded() -> None:
    raw = (
        b"From: a@b.example\r\n"
        b"Subject: =?UTF-8?Q?Saisine_CDSE_=E2=80=93_vid=C3=A9oprotection?=\r\n\r\nx"
    )
    assert parse_message(raw).subject == "Saisine CDSE – vidéoprotection"


def test_iso_8859_1_b_encoded_subject_is_decoded() -> None:
    raw = b"From: a@b.example\r\nSubject: =?ISO-8859-1?B?U2Fpc2luZSBDRFNFIC0gZOlw9HQ=?=\r\n\r\nx"
    assert parse_message(raw).subject == "Saisine CDSE - dépôt"


def test_raw_windows_1252_subject_is_decoded() -> None:
    raw = "From: a@b.example\r\nSubject: Saisine CDSE – sécurité\r\n\r\nx".encode("cp1252")
    assert parse_message(raw).subject == "Saisine CDSE – sécurité"


def test_raw_utf8_subject_is_decoded() -> None:
    raw = "From: a@b.example\r\nSubject: Saisine CDSE – sécurité\r\n\r\nx".encode()
    assert parse_message(raw).subject == "Saisine CDSE – sécurité"


def test_folded_subject_whitespace_is_collapsed() -> None:
    raw = b"From: a@b.example\r\nSubject: Saisine\r\n   CDSE  -\tx\r\n\r\nx"
    assert parse_message(raw).subject == "Saisine CDSE - x"


def test_latin1_quoted_printable_body_is_decoded() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nS=E9curit=E9 priv=E9e\r\n"
    )
    assert parse_message(raw).text.strip() == "Sécurité privée"


def test_html_only_body_becomes_text() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><head><style>p{}</style></head><body><p>Bonjour&nbsp;!</p><p>Ligne 2</p></body>"
    )
    assert parse_message(raw).text == "Bonjour !\nLigne 2"


def test_addresses_thread_ids_and_dates_are_read() -> None:
    raw = build_eml(
        headers={
            "In-Reply-To": "<ack-1@interieur.gouv.fr>",
            "References": "<req-0@x.example> <ack-1@interieur.gouv.fr>",
            "Reply-To": "Secrétariat <secretariat@acme-industrie.example>",
        }
    )
    message = parse_message(raw)
    assert message.sender is not None
    assert message.sender.address == "j.martin@acme-industrie.example"
    assert message.sender.name == "Jeanne Martin"
    assert message.reply_to is not None and message.reply_to.name == "Secrétariat"
    assert message.message_id == "req-1@acme-industrie.example"
    assert message.thread_ids == ("ack-1@interieur.gouv.fr", "req-0@x.example")
    assert message.date is not None and message.date.tzinfo is not None


def test_null_return_path_is_distinguished_from_absent() -> None:
    assert parse_message(b"Return-Path: <>\r\nFrom: a@b.example\r\n\r\nx").return_path == ""
    assert parse_message(b"From: a@b.example\r\n\r\nx").return_path is None


def test_attachments_are_listed_without_being_decoded_into_the_text() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\ncorps\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="../../etc/passwd.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    )
    message = parse_message(raw)
    assert message.text.strip() == "corps"
    assert [a.filename for a in message.attachments] == ["../../etc/passwd.pdf"]
    assert message.attachments[0].content_type == "application/pdf"


def test_text_without_headers_is_recorded_with_a_defect() -> None:
    message = parse_message(b"Hi there,\n\nthis has no header at all.\n")
    assert "no header fields" in message.defects
    assert message.sender is None


def test_empty_bytes_are_not_a_message() -> None:
    with pytest.raises(ParseError, match="empty"):
        parse_message(b"\r\n  \r\n")


def test_undeclared_charset_falls_back_without_failing() -> None:
    raw = b"From: a@b.example\r\nContent-Type: text/plain; charset=x-unknown-zz\r\n\r\n\xe9t\xe9"
    assert parse_message(raw).text == "été"


def test_html_to_text_drops_scripts() -> None:
    assert html_to_text("<script>alert(1)</script><div>ok</div>") == "ok"


def test_space_at_a_fold_next_to_an_encoded_word_is_kept() -> None:
    raw = (
        b"From: a@b.example\r\n"
        b"Subject: Saisine CDSE - conservation des =?UTF-8?Q?donn=C3=A9es?= de\r\n"
        b" badgeage\r\n\r\nx"
    )
    assert parse_message(raw).subject == "Saisine CDSE - conservation des données de badgeage"


def test_sender_without_domain_keeps_its_name_and_gets_no_acknowledgement() -> None:
    message = parse_message(b"From: Mail Delivery Subsystem <MAILER-DAEMON>\r\n\r\nx")
    assert message.sender is not None
    assert message.sender.name == "Mail Delivery Subsystem"
    assert message.sender.address == "mailer-daemon"


def test_leading_utf8_bom_does_not_hide_the_headers() -> None:
    assert parse_message(b"\xef\xbb\xbfFrom: a@b.example\r\nSubject: hi\r\n\r\nx").subject == "hi"


def test_empty_return_path_header_is_not_the_null_path() -> None:
    assert parse_message(b"Return-Path:\r\nFrom: a@b.example\r\n\r\nx").return_path is None
