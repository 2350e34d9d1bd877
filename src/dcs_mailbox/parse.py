"""Bytes in, InboundMessage out: the one place that reads MIME.

Robustness first: real mail has undeclared 8-bit headers, unknown charsets, broken
encoded words, missing boundaries and absurd nesting. Each repair is listed in
`InboundMessage.defects`; only bytes that are not a message at all raise ParseError.

The standard library's compat32 parser is used rather than `policy.default` or
mail-parser: it never raises while reading headers, it does not decode attachments
(mail-parser base64-encodes every attachment into memory), and it is several times
faster on header access (see ../shared/notes/real-mail-servers.md). It is fed the
message in slices, and large attachment bodies are set aside first (elision.py): a 30 MB
attachment would otherwise cost ~400 MB (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.errors import HeaderParseError, MessageDefect
from email.feedparser import BytesFeedParser
from email.header import decode_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from dcs_mailbox.elision import Elided, elide_attachment_bodies
from dcs_mailbox.errors import ParseError
from dcs_mailbox.message import Address, Attachment, AutomationHeaders, InboundMessage

MAX_TEXT_CHARS = 200_000  # triage reads the start of a message; a novel is not a request
MAX_SUBJECT_CHARS = 2_000
MAX_PARTS = 500  # bounds work on "MIME bombs" (thousands of parts, deep nesting)
FEED_CHUNK = 64 * 1024

_MSGID = re.compile(r"<([^<>\s]+)>")
_WS = re.compile(r"\s+")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# RFC 5322 §2.1.1 caps a line at 998 characters; no word of human text comes close.
MAX_WORD_CHARS = 998
_OVERLONG_WORD = re.compile(r"\S{" + str(MAX_WORD_CHARS) + r"}(?=\S)")
# C0 controls but tab, LF, CR (folded as whitespace), and DEL. NUL cannot be stored in a
# PostgreSQL text column (the record would fail, retry, then quarantine a good message),
# and a control character in a subject or file name forges log lines and keyword values.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_message(raw: bytes) -> InboundMessage:
    # A UTF-8 BOM before the first header would hide every header.
    raw_for_parser = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    # Not `.strip()`: that copies the whole message (41 MB for a 30 MB attachment).
    if not raw_for_parser or raw_for_parser.isspace():
        raise ParseError("empty message: no header and no body")
    defects: list[str] = []
    elided = elide_attachment_bodies(raw_for_parser)
    try:
        msg = _read_mime(elided.raw)
    except RecursionError:
        # The feed parser recurses once per multipart level (a few hundred levels exhaust
        # the stack: tests/test_hostile.py nests 2,000). The headers still say who asks
        # what: record them, with the body left to an agent, rather than quarantine.
        msg = BytesHeaderParser(policy=compat32).parsebytes(elided.raw)
        msg.set_payload("")
        defects.append("MIME structure nested too deep: body not read")
    except MemoryError as exc:  # pragma: no cover - depends on the host
        raise ParseError(f"message structure cannot be parsed: {exc.__class__.__name__}") from exc
    defects.extend(_defect_names(msg.defects))
    headers = _raw_headers(msg)
    if not headers:
        # Still recorded (as a message with no sender): an agent can look at it.
        defects.append("no header fields")

    def first(name: str) -> str | None:
        values = headers.get(name.lower())
        return values[0] if values else None

    def every(name: str) -> list[str]:
        return headers.get(name.lower(), [])

    subject = _fold(decode_text_header(first("Subject") or "", defects))
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[:MAX_SUBJECT_CHARS]
        defects.append("subject truncated")
    text, attachments, content_type = _body(msg, defects, elided)
    return InboundMessage(
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        message_id=_first_msgid(first("Message-ID")),
        in_reply_to=_msgids(every("In-Reply-To")),
        references=_msgids(every("References")),
        subject=subject,
        sender=_first_address(every("From"), defects),
        reply_to=_first_address(every("Reply-To"), defects),
        to=_addresses(every("To"), defects),
        cc=_addresses(every("Cc"), defects),
        return_path=_return_path(first("Return-Path")),
        date=_date(first("Date"), defects),
        content_type=content_type,
        report_type=_param(msg, "report-type", defects),
        automation=AutomationHeaders(
            auto_submitted=_plain(first("Auto-Submitted")),
            precedence=_plain(first("Precedence")),
            x_autoreply=_plain(first("X-Autoreply")),
            x_autorespond=_plain(first("X-Autorespond")),
            x_auto_response_suppress=_plain(first("X-Auto-Response-Suppress")),
            list_id=_plain(first("List-Id")),
            list_unsubscribe=_plain(first("List-Unsubscribe")),
            feedback_id=_plain(first("Feedback-ID")),
        ),
        text=text,
        attachments=tuple(attachments),
        defects=tuple(dict.fromkeys(defects)),
    )


def _read_mime(raw: bytes) -> Message:
    # message_from_bytes decodes the whole message into one str, then copies it into a
    # StringIO, which holds 4 bytes per character once read: 6x the message at once.
    # Fed in slices, the parser holds only what it has parsed (same result: the bytes
    # are decoded one by one, ASCII with surrogateescape, either way).
    parser = BytesFeedParser(policy=compat32)
    for start in range(0, len(raw), FEED_CHUNK):
        parser.feed(raw[start : start + FEED_CHUNK])
    return parser.close()


# --- headers -------------------------------------------------------------------------

MAX_ADDRESSES = 1_000  # per header: enough for any real To/Cc, bounded for 10,000-recipient spam
MAX_ADDRESS_HEADER_CHARS = 100_000


def _raw_headers(msg: Message) -> dict[str, list[str]]:
    # raw_items() gives the header text as received; Message.get() would hand back
    # email.header.Header objects for 8-bit values, which the rest of the stdlib then
    # trips over (AttributeError deep inside get_param).
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.lower(), []).append(str(value))
    return headers


def _raw_header(part: Message, name: str) -> str:
    for key, value in part.raw_items():
        if key.lower() == name:
            return str(value)
    return ""


def decode_text_header(value: object, defects: list[str] | None = None) -> str:
    """Decode an unstructured header: raw 8-bit bytes and RFC 2047 encoded words, any charset."""
    if value is None:
        return ""
    # Unfold first (RFC 5322 §2.2.3): decode_header would otherwise eat the space of a
    # folded line next to an encoded word ("des =?UTF-8?Q?donn=C3=A9es?= de\r\n badgeage").
    text = _FOLD.sub("", _undo_surrogates(str(value), defects))
    if "=?" not in text:
        return text
    try:
        chunks = decode_header(text)
    # HeaderParseError is no ValueError: "=?utf-8?B?]2Fp...?=" (invalid base64 in an
    # encoded word, found by tests/test_properties.py) escaped and crashed the parse.
    except (ValueError, AssertionError, LookupError, HeaderParseError):  # malformed words
        if defects is not None:
            defects.append("malformed encoded word in header")
        return text
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset, defects))
    return "".join(out)


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    """Decode with the declared charset, falling back to UTF-8 then windows-1252."""
    for candidate in (charset, "utf-8", "windows-1252"):
        if not candidate or candidate.lower() in ("unknown-8bit", "x-unknown", "unknown"):
            continue
        try:
            return data.decode(_charset_alias(candidate))
        # ValueError: a charset name with a NUL in it ("=?\x00utf-8?B?...?=") makes the
        # codec lookup itself raise (found by tests/test_properties.py).
        except (LookupError, ValueError):
            continue
    if defects is not None:
        defects.append(f"undecodable bytes in charset {charset or 'undeclared'}")
    return data.decode("utf-8", errors="replace")


def _charset_alias(charset: str) -> str:
    # Senders label windows-1252 text as latin-1 all the time (WHATWG Encoding §4.2 maps
    # iso-8859-1 to windows-1252 for this reason); ks_c_5601-1987 is Outlook's name for cp949.
    lowered = charset.strip().strip('"').lower()
    return {
        "iso-8859-1": "windows-1252",
        "latin1": "windows-1252",
        "latin-1": "windows-1252",
        "us-ascii": "windows-1252",
        "ascii": "windows-1252",
        "ks_c_5601-1987": "cp949",
    }.get(lowered, lowered)


def _undo_surrogates(text: str, defects: list[str] | None) -> str:
    # compat32 keeps undeclared 8-bit header bytes as surrogate escapes; RFC 6532 says
    # UTF-8, but French mailers still send raw windows-1252.
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = text.encode("utf-8", errors="surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        if defects is not None:
            defects.append("undeclared 8-bit header decoded as windows-1252")
        return raw.decode("windows-1252", errors="replace")


def _fold(text: str) -> str:
    return _WS.sub(" ", _CONTROLS.sub("", text)).strip()


def _plain(value: object) -> str | None:
    if value is None:
        return None
    return _fold(_undo_surrogates(str(value), None))


def _first_msgid(value: object) -> str | None:
    if value is None:
        return None
    text = _plain(value) or ""
    match = _MSGID.search(text)
    if match:
        return match.group(1)
    # Some mailers omit the brackets; a bare token is still an identifier.
    return text if text and " " not in text and len(text) <= 998 else None


def _msgids(values: list[str]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for value in values:
        for mid in _MSGID.findall(_plain(value) or ""):
            found.setdefault(mid, None)
    return tuple(found)


def _addresses(values: list[str], defects: list[str]) -> tuple[Address, ...]:
    raw = [_undo_surrogates(v, defects)[:MAX_ADDRESS_HEADER_CHARS] for v in values]
    try:
        pairs = getaddresses(raw)
    except RecursionError:  # the stdlib parser recurses per word of a display name
        defects.append("address header too convoluted to read")
        return ()
    result: list[Address] = []
    for name, addr in pairs[:MAX_ADDRESSES]:
        addr = _CONTROLS.sub("", addr).strip().lower()
        display = _fold(decode_text_header(name, defects))
        if not addr and not display:
            continue
        # Kept without "@" too ("MAILER-DAEMON"): it tells a bounce; nothing is sent there.
        result.append(Address(address=addr, name=display))
    return tuple(result)


def _first_address(values: list[str], defects: list[str]) -> Address | None:
    found = _addresses(values, defects)
    return found[0] if found else None


def _return_path(value: object) -> str | None:
    if value is None:
        return None
    text = (_plain(value) or "").strip()
    if not text:
        return None  # an empty header is no reverse-path at all, not the null one
    if text == "<>":
        return ""
    match = re.search(r"<([^<>]*)>", text)
    return (match.group(1) if match else text).lower()


def _date(value: object, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(_plain(value) or "")
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unreadable Date header")
        return None
    if parsed.tzinfo is None:  # "-0000": time in UTC, origin zone unknown (RFC 5322 §3.3)
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _param(msg: Message, name: str, defects: list[str]) -> str | None:
    try:
        value = msg.get_param(name)
    except (AttributeError, ValueError, TypeError):  # 8-bit bytes in Content-Type
        defects.append("unreadable Content-Type parameters")
        return None
    if isinstance(value, str):
        return value.lower()
    return None


def _defect_names(found: list[MessageDefect]) -> list[str]:
    return [type(d).__name__ for d in found]


# --- body ----------------------------------------------------------------------------


def _leaf_parts(msg: Message, defects: list[str]) -> Iterator[Message]:
    """Leaf parts in order, not descending into attached messages; bounded in count."""
    stack = [msg]
    seen = 0
    while stack:
        part = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            defects.append(f"more than {MAX_PARTS} MIME parts: the rest was not read")
            return
        defects.extend(_defect_names(part.defects))
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(p for p in reversed(payload) if isinstance(p, Message))
            continue
        yield part


def _body(msg: Message, defects: list[str], elided: Elided) -> tuple[str, list[Attachment], str]:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in _leaf_parts(msg, defects):
        ctype = part.get_content_type()
        filename = _filename(part, defects)
        disposition = _raw_header(part, "content-disposition").split(";")[0].strip().lower()
        is_body_text = (
            ctype in ("text/plain", "text/html") and not filename and (disposition != "attachment")
        )
        if is_body_text and ctype == "text/plain" and plain is None:
            plain = _part_text(part, defects)
        elif is_body_text and ctype == "text/html" and html is None:
            html = _part_text(part, defects)
        elif not is_body_text:
            attachments.append(
                Attachment(filename=filename, content_type=ctype, size=_encoded_size(part, elided))
            )
    if plain is not None and plain.strip():
        text = plain
    elif html is not None:
        text = html_to_text(html)
    else:
        text = plain or ""
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        defects.append("body text truncated")
    # Truncated again: the spaces added must not push the text past its bound.
    text = _break_overlong_words(text, defects)[:MAX_TEXT_CHARS]
    return text, attachments, msg.get_content_type()


def _break_overlong_words(text: str, defects: list[str]) -> str:
    # Triage's signature and personal-data patterns backtrack over a run of non-space
    # characters: quadratic, 14 s for a 40,000-character word, minutes for the 200,000
    # kept here (found by tests/test_hostile.py). A space every 998 characters keeps them
    # linear and changes nothing a person wrote.
    broken = _OVERLONG_WORD.sub(lambda m: m.group(0) + " ", text)
    if broken != text:
        defects.append(f"words over {MAX_WORD_CHARS} characters broken")
    return broken


def _filename(part: Message, defects: list[str]) -> str:
    try:
        name = part.get_filename()  # handles RFC 2231 continuations
    except (ValueError, LookupError, TypeError, AttributeError):
        defects.append("unreadable attachment filename")
        return ""
    if not name:
        return ""
    return _fold(decode_text_header(name, defects))[:255]


def _part_text(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        defects.append("undecodable transfer encoding")
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        return raw.replace("\x00", "") if isinstance(raw, str) else ""
    return decode_bytes(payload, part.get_content_charset(), defects).replace("\x00", "")


def _encoded_size(part: Message, elided: Elided) -> int:
    payload = part.get_payload()
    if isinstance(payload, str):
        # Raw text: get() returns a Header object for 8-bit bytes in the value, which has
        # no .strip() (AttributeError found by tests/test_properties.py).
        cte = _raw_header(part, "content-transfer-encoding").strip().lower()
        length = elided.encoded_length(payload)
        return length * 3 // 4 if cte == "base64" else length
    if isinstance(payload, list):
        return sum(_encoded_size(p, elided) for p in payload if isinstance(p, Message))
    return 0


class _TextExtractor(HTMLParser):
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (_WS.sub(" ", line).strip() for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
