"""The tags agents see and set in Thunderbird, and what each one means.

Facts designed with (Thunderbird's tag service): a keyword shows as a tag only when a
tag with that *key* exists in the client's tag list; a tag created by hand gets a key
derived from its name — characters illegal in an IMAP atom replaced by "_", converted
to IMAP modified UTF-7 (RFC 3501 §5.1.3), then lower-cased; renaming a tag keeps its key.
So the daemon writes lower-case keywords, and the agents' tags below use exactly the
keys Thunderbird would derive from their French names: an agent who creates « Clos »
by hand gets the key the daemon reads. `dcs-mailbox thunderbird-tags` prints the whole
list as preferences (user.js) so nobody has to create anything by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from imapclient import imap_utf7

from dcs_mailbox import keywords as kw

_ILLEGAL = ' ()/{%*<>\\"'


def thunderbird_key(name: str) -> str:
    """The key Thunderbird derives for a tag created with this name."""
    replaced = "".join("_" if ch in _ILLEGAL else ch for ch in name)
    encoded: bytes = imap_utf7.encode(replaced)
    return encoded.decode("ascii").lower()


class AgentAction(StrEnum):
    CLOSE = "close"
    REFER = "refer"
    SCOPE_OUT = "scope_out"
    SCOPE_IN = "scope_in"
    PERSONAL_DATA = "personal_data"
    NOT_A_REQUEST = "not_a_request"


@dataclass(frozen=True)
class Tag:
    label: str  # French, as agents see it
    color: str
    key: str
    action: AgentAction | None = None  # None: set by the daemon, informative


def _agent(label: str, color: str, action: AgentAction) -> Tag:
    return Tag(label, color, thunderbird_key(label), action)


AGENT_TAGS: tuple[Tag, ...] = (
    _agent("Clos", "#2E7D32", AgentAction.CLOSE),
    _agent("Orienté", "#1565C0", AgentAction.REFER),
    _agent("Hors périmètre", "#E65100", AgentAction.SCOPE_OUT),
    _agent("Dans le périmètre", "#00838F", AgentAction.SCOPE_IN),
    _agent("Données personnelles", "#6A1B9A", AgentAction.PERSONAL_DATA),
    _agent("Pas une saisine", "#616161", AgentAction.NOT_A_REQUEST),
)

DAEMON_TAGS: tuple[Tag, ...] = (
    Tag("Accusé envoyé", "#9E9E9E", kw.ACK_SENT),
    Tag("Sans accusé", "#F9A825", kw.ACK_WITHHELD),
    Tag("Suivi", "#90A4AE", kw.FOLLOWUP),
    Tag("Automatique", "#BDBDBD", kw.AUTOMATED),
    Tag("Historique", "#BDBDBD", kw.HISTORY),
    Tag("Sans mention de saisine", "#8D6E63", kw.NOT_A_REQUEST),
    Tag("Quarantaine", "#B71C1C", kw.QUARANTINED),
    Tag("URGENT", "#D50000", kw.URGENT),
    Tag("Hors périmètre ? (tri)", "#FFB74D", kw.OUT_OF_SCOPE),
    Tag("Données personnelles ? (tri)", "#BA68C8", kw.PERSONAL_DATA),
    Tag("Non membre (tri)", "#A1887F", kw.NOT_A_MEMBER),
)

ACTIONS_BY_KEY = {tag.key: tag.action for tag in AGENT_TAGS if tag.action is not None}


def channel_tags(channel_keywords: dict[str, str]) -> tuple[Tag, ...]:
    return tuple(
        Tag(f"Saisine {name}", "#0D47A1", keyword) for name, keyword in channel_keywords.items()
    )


def thunderbird_prefs(channel_keywords: dict[str, str]) -> str:
    """user.js lines defining every tag (mailnews.tags.<key>.tag / .color / .ordinal)."""
    lines = [
        "// dcs-mailbox: tags for the shared mailbox sec-dcs (Thunderbird).",
        "// Copy into user.js of the Thunderbird profile, Thunderbird closed, then restart.",
    ]
    tags = (*channel_tags(channel_keywords), *DAEMON_TAGS, *AGENT_TAGS)
    for ordinal, tag in enumerate(tags, start=1):
        label = tag.label.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'user_pref("mailnews.tags.{tag.key}.tag", "{label}");')
        lines.append(f'user_pref("mailnews.tags.{tag.key}.color", "{tag.color}");')
        lines.append(f'user_pref("mailnews.tags.{tag.key}.ordinal", "dcs{ordinal:02d}");')
    return "\n".join(lines) + "\n"
