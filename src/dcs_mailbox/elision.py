"""Large attachment bodies set aside before MIME parsing, their length kept.

The stdlib feed parser keeps every line of a part as a str, then joins them: a 30 MB
attachment cost the daemon ~400 MB at peak (docs/benchmarks.md). parse.py never reads an
attachment's bytes, only its headers and encoded size. So, in a large message, the body
of each part declared neither text, multipart nor message is replaced by one placeholder
line before parsing, and the placeholder tells how many characters it stands for.

Only lines made of the base64 alphabet are set aside: such a line can be neither a
boundary nor a header, so the parser sees the same structure, and the last line of a body
is kept so its end (the line break before a boundary, RFC 2046 §5.1.1) is read as before.
Anything this scanner is unsure of (a header block it cannot read, an odd line break) is
left to the parser untouched: the fallback is the old cost, never a different reading.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from email.errors import MessageError
from email.parser import BytesHeaderParser
from email.policy import compat32

ELIDE_FROM = 1024 * 1024  # smaller messages are parsed as they are: nothing worth saving
MIN_ELIDED = 64 * 1024  # a shorter body is left in place
MAX_HEADER_BLOCK = 256 * 1024
MAX_HEADER_BLOCKS = 500  # as parse.MAX_PARTS: bounds the work on MIME bombs
MAX_NESTING = 100

# email.feedparser.headerRE: what the parser takes for a header line.
_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")
# Possessive: linear, and no backtracking state kept for a 40 MB run.
_BASE64_LINES = re.compile(rb"(?:[A-Za-z0-9+/=]*+\r?\n)*+")


@dataclass(frozen=True)
class Elided:
    """The bytes to hand to the MIME parser, and what their placeholders stand for."""

    raw: bytes
    marker: str = ""
    missing: tuple[int, ...] = ()
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def encoded_length(self, payload: str) -> int:
        """Length of a part's payload as it was on the wire, placeholders counted back."""
        if self._pattern is None:
            return len(payload)
        found = self._pattern.findall(payload)
        return len(payload) + sum(self.missing[int(index)] for index in found)


def elide_attachment_bodies(raw: bytes) -> Elided:
    if len(raw) < ELIDE_FROM:
        return Elided(raw)
    # Random per message: a sender cannot forge a placeholder (and so an attachment size).
    marker = f"dcselided{secrets.token_hex(8)}n"
    scanner = _Scanner(raw, marker.encode())
    scanner.run()
    if not scanner.missing:
        return Elided(raw)
    pattern = re.compile(re.escape(marker) + r"(\d+)")
    return Elided(scanner.assembled(), marker, tuple(scanner.missing), pattern)


class _Scanner:
    """Follows the MIME structure the way email.feedparser does, from header block to
    boundary line, and records which byte ranges become placeholders."""

    def __init__(self, raw: bytes, marker: bytes) -> None:
        self.raw = raw
        self.marker = marker
        self.pieces: list[bytes] = []
        self.copied = 0  # raw[:copied] is in pieces already
        self.missing: list[int] = []
        self.boundaries: list[bytes] = []  # of the enclosing multiparts, outermost first
        self.blocks = 0

    def run(self) -> None:
        pos: int | None = self._part(0)
        while pos is not None and self.blocks < MAX_HEADER_BLOCKS:
            found = self._next_boundary(pos)
            if found is None:
                return
            after, depth, closing = found
            del self.boundaries[depth if closing else depth + 1 :]
            pos = after if closing else self._part(after)

    def assembled(self) -> bytes:
        return b"".join([*self.pieces, self.raw[self.copied :]])

    def _part(self, pos: int) -> int | None:
        """Read the part whose header block starts at `pos`; returns where its body's
        boundary search starts, or None when nothing can be said any more."""
        while True:
            self.blocks += 1
            body = self._header_block_end(pos)
            if body is None:
                return pos
            kind, boundary = self._kind(self.raw[pos:body])
            if kind == "unsure" or (boundary and len(self.boundaries) >= MAX_NESTING):
                return None
            if boundary:
                self.boundaries.append(boundary)
            if kind == "message":
                pos = body  # an attached message: its own header block follows (RFC 2046 §5.2)
                continue
            if kind == "opaque":
                return self._elide_body(body)
            return body

    def _header_block_end(self, pos: int) -> int | None:
        end = pos
        while end - pos <= MAX_HEADER_BLOCK:
            newline = self.raw.find(b"\n", end)
            if newline == -1:
                return None
            line = self.raw[end:newline]
            line = line.removesuffix(b"\r")
            if not line:
                return newline + 1
            # A lone CR is a line break for the parser: the lines would not be the same.
            if b"\r" in line or not _HEADER_LINE.match(line):
                return None
            end = newline + 1
        return None

    @staticmethod
    def _kind(block: bytes) -> tuple[str, bytes | None]:
        """What the parser will make of a part's body, judged on its header block:
        "multipart" (with its boundary), "message", "opaque" (to elide), "text" or "unsure"."""
        try:
            headers = BytesHeaderParser(policy=compat32).parsebytes(block)
            content_type = headers.get_content_type()
            boundary = headers.get_boundary()
            maintype = content_type.partition("/")[0]
            if maintype == "multipart":
                if boundary is None:
                    return "text", None  # the parser keeps the whole body as one text
                return "multipart", boundary.encode("ascii", "surrogateescape")
        except (MessageError, ValueError, LookupError, TypeError, AttributeError):
            return "unsure", None  # UnicodeEncodeError is a ValueError
        if maintype == "message" and content_type != "message/delivery-status":
            return "message", None
        if maintype in ("text", "message"):
            return "text", None
        return "opaque", None

    def _elide_body(self, start: int) -> int:
        match = _BASE64_LINES.match(self.raw, start)
        end = match.end() if match else start
        if end == start:
            return start
        last_line = max(self.raw.rfind(b"\n", start, end - 1) + 1, start)
        if last_line > start and last_line - start >= MIN_ELIDED:
            placeholder = self.marker + str(len(self.missing)).encode() + b"\n"
            self.pieces += [self.raw[self.copied : start], placeholder]
            self.copied = last_line
            self.missing.append(last_line - start - len(placeholder))
        return end

    def _next_boundary(self, pos: int) -> tuple[int, int, bool] | None:
        """The next boundary line of an enclosing multipart at or after `pos`:
        (where the next line starts, its depth in the stack, is it a closing one)."""
        if not self.boundaries:
            return None
        raw = self.raw
        dash = raw.find(b"--", pos)
        while dash != -1:
            if dash == 0 or raw[dash - 1] in b"\r\n":
                found = self._boundary_line(dash)
                if found is not None:
                    return found
            dash = raw.find(b"--", dash + 2)
        return None

    def _boundary_line(self, start: int) -> tuple[int, int, bool] | None:
        # email.feedparser's boundaryre: --B, then "--" on a closing one, blanks, line end.
        raw = self.raw
        ends = [i for i in (raw.find(b"\n", start), raw.find(b"\r", start)) if i != -1]
        end = min(ends) if ends else len(raw)
        after = end + 2 if raw[end : end + 2] == b"\r\n" else end + 1
        text = raw[start + 2 : end].rstrip(b" \t")
        for depth in range(len(self.boundaries) - 1, -1, -1):
            boundary = self.boundaries[depth]
            if text == boundary:
                return after, depth, False
            if text == boundary + b"--":
                return after, depth, True
        return None
