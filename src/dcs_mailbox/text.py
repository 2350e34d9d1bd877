"""Text normalisation shared by the pure stages."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")  # str patterns match U+00A0 and other Unicode spaces as \s


class _StripCombining(dict[int, int | None]):
    """str.translate table dropping combining marks, filled on first sight of each
    code point: the translation runs in C instead of a Python loop over characters.
    Only the first planes' scripts are remembered, so hostile text cannot grow it
    beyond a few hundred KB."""

    def __missing__(self, code: int) -> int | None:
        value = None if unicodedata.combining(chr(code)) else code
        if code < _CACHED_BELOW:
            self[code] = value
        return value


_CACHED_BELOW = 0x3000


_STRIP_COMBINING = _StripCombining()


def fold(text: str) -> str:
    """Case-, accent- and whitespace-insensitive form of `text`, for matching only.

    Keeps a one-to-one length mapping impossible in general, so spans found in the
    folded text are reported as the folded evidence, not as offsets in the original.
    """
    if text.isascii():  # NFKD and combining marks change nothing; casefold() is lower()
        return _WS.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = decomposed.translate(_STRIP_COMBINING)
    return _WS.sub(" ", stripped.casefold()).strip()
