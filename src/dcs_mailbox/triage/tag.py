"""Is a channel's tag (« Saisine CDSE ») in the subject?

The protocol asks requesters to put « Saisine CDSE » in the subject. People type it
in any case, with or without accents, doubled spaces, inside brackets, after RE:/TR:
prefixes, or with a hyphen; the subject may arrive RFC 2047-encoded in any charset
(already decoded by parse). Only the subject counts: a tag in the body alone does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from dcs_mailbox.text import fold


@dataclass(frozen=True)
class TagMatch:
    channel: str
    evidence: str  # the folded subject span that matched


@lru_cache(maxsize=64)
def _pattern(tag: str) -> re.Pattern[str]:
    words = [re.escape(word) for word in fold(tag).split()]
    # Separators people use between the words: spaces, hyphens, underscores, dots, colons.
    separator = r"[\s\-_.:/]*"
    return re.compile(r"(?<![a-z0-9])" + separator.join(words) + r"(?![a-z0-9])")


def find_tag(subject: str, channels: Iterable[tuple[str, str]]) -> TagMatch | None:
    """Return the first channel (name, tag) whose tag appears in the subject."""
    folded = fold(subject)
    for name, tag in channels:
        match = _pattern(tag).search(folded)
        if match:
            return TagMatch(channel=name, evidence=match.group(0))
    return None
