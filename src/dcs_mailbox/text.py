"""Text normalisation shared by the pure stages."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")  # str patterns match U+00A0 and other Unicode spaces as \s


def fold(text: str) -> str:
    """Case-, accent- and whitespace-insensitive form of `text`, for matching only.

    Keeps a one-to-one length mapping impossible in general, so spans found in the
    folded text are reported as the folded evidence, not as offsets in the original.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WS.sub(" ", stripped.casefold()).strip()
