"""Was this message sent by a machine? Loop and backscatter protection.

An acknowledgement sent to an auto-responder, a bounce, a mailing list or our own
address starts a mail loop or spreads backscatter (RFC 3834 §2). This module
answers two separate questions, purely from the parsed message:

- `detect_automated`: a machine sent it (auto-reply, bounce, list, notice). The kind
  changes and the message is never acknowledged.
- `no_autoreply_requested`: a person may well have written it, but the sender asked
  not to be answered automatically (Microsoft X-Auto-Response-Suppress). The kind
  stays what the rest of triage says; only the acknowledgement is withheld.

Each rule is a small named check with a stable id, after GNU Mailman 3's rules: one
question each, no chain of if/elif. Every rule that fires is reported; the kind is
the most specific one named (`_KIND_PRIORITY`). The rules and their sources are
listed in docs/loop-protection.md.

A message with no usable sender address is not flagged here: nothing says a machine
sent it, and the record stage sees `sender is None` and cannot answer anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dcs_mailbox.message import AutomationHeaders, InboundMessage
from dcs_mailbox.text import fold
from dcs_mailbox.triage.verdict import Kind, Reason

EVIDENCE_CHARS = 200

# --- lexicons: extend here ------------------------------------------------------------
# Matched on the folded text (case, accents and whitespace ignored) at the start of the
# subject (of the body for BOUNCE_BODY_OPENINGS). Inside a phrase, a space or hyphen
# also matches "", "_" or several spaces ("auto reply" matches « Auto-Reply »,
# « AutoReply », « auto_reply »). A trailing ":" is required, with or without a space
# before it.
# fmt: off

AUTO_REPLY_SUBJECTS: tuple[str, ...] = (
    # French (Outlook, Thunderbird, Zimbra, webmails)
    "réponse automatique", "absence du bureau", "absent du bureau", "absente du bureau",
    "message d'absence", "notification d'absence", "avis d'absence", "absence :",
    # English
    "automatic reply", "auto reply", "auto response", "automatic response",
    "out of office", "out of the office", "ooo :",
    "auto :",  # RFC 3834 §3.1.5 suggests the prefix "Auto:" (Sieve vacation uses it)
    # German, Dutch, Italian, Spanish, Portuguese
    "abwesenheitsnotiz", "automatische antwort", "abwesend :", "automatisch antwoord",
    "afwezig :", "risposta automatica", "fuori sede", "fuori ufficio",
    "respuesta automática", "fuera de la oficina", "resposta automática",
    "fora do escritório",
    # Nordic, Finnish, Polish, Czech
    "autosvar", "automatisk svar", "automatiskt svar", "automaattinen vastaus",
    "odpowiedź automatyczna", "automatyczna odpowiedź", "automatická odpověď",
)

# Markers some responders put anywhere in the subject, always bracketed: « [Auto-Reply] ».
AUTO_REPLY_MARKERS: tuple[str, ...] = (
    "auto reply", "auto response", "automatic reply", "out of office",
    "réponse automatique", "absence",
)

BOUNCE_SUBJECTS: tuple[str, ...] = (
    # Exchange / Outlook in French, then in other languages
    "non remis :", "non distribuable :", "échec de la remise", "échec de remise",
    "rapport de non-remise", "notification d'état de remise", "message non délivré",
    "undeliverable", "unzustellbar", "nicht zustellbar", "non recapitabile",
    "no se puede entregar", "onbestelbaar", "delayed :",
    # Postfix, Sendmail, Exim, qmail, Gmail, Domino, GroupWise, Yahoo
    "undelivered mail", "undelivered message", "delivery status notification",
    "mail delivery status notification", "delivery status :", "returned mail",
    "mail delivery failed", "mail delivery failure", "mail delivery problem",
    "mail delivery warning", "delivery failure", "delivery failed", "delivery has failed",
    "delivery notification", "permanent delivery failure", "failure notice",
    "failure delivery", "failed delivery", "mail failed", "mail not delivered",
    "message not delivered", "mail could not be delivered",
    "message could not be delivered", "non deliverable", "delayed mail",
    "delivery delayed", "warning: could not send message",
)

# How mail systems open the text of a bounce, matched at the very start of the body
# only: a person forwarding a bounce writes first, or their mailer puts a forward
# header (« -----Message d'origine----- ») first. Catches bounces with no header mark.
BOUNCE_BODY_OPENINGS: tuple[str, ...] = (
    "votre message n'a pas pu être remis", "votre message n'a pas pu être délivré",
    "votre message n'a pas pu être distribué",
    "la remise aux destinataires ou groupes suivants a échoué",  # Exchange
    "delivery has failed to these recipients or groups",
    "your message did not reach some or all of the intended recipients",
    "this message was created automatically by mail delivery software",  # Exim
    "this is an automatically generated delivery status notification",  # Gmail
    "this is the mail system at host", "this is the postfix program at host",  # Postfix
    "hi. this is the qmail-send program at", "the original message was received at",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed", "your message could not be delivered",
    "this message could not be delivered", "sorry, we were unable to deliver your message",
    "unable to deliver message to", "address not found",
)

# Local parts (or a run of the parts between ".", "-", "_", "+") of addresses that take
# no answer. Compared after folding and removing the separators: « ne-pas-répondre »,
# « ne_pas_repondre » and « nepasrepondre » are all "nepasrepondre".
NO_REPLY_LOCAL_PARTS: tuple[str, ...] = (
    "noreply", "donotreply", "dontreply", "nepasrepondre", "nereponsepas",
    "notification", "notifications", "mailer",
)
# List robots, which RFC 3834 §2 lets responders skip: "owner-*", "*-request"; Mailman
# also sends from "*-owner" and "*-bounces".
NO_REPLY_LOCAL_PREFIXES: tuple[str, ...] = ("owner-",)
NO_REPLY_LOCAL_SUFFIXES: tuple[str, ...] = ("-request", "-owner", "-bounces")

# The addresses and display names mail systems send bounces from: RFC 3834 §2 names
# MAILER-DAEMON, RFC 5321 §4.5.1 requires postmaster; Postfix and Exim sign "Mail
# Delivery System", Gmail "Mail Delivery Subsystem".
BOUNCE_LOCAL_PARTS: tuple[str, ...] = ("mailerdaemon", "postmaster", "mdaemon")
# Exchange sends its non-delivery reports from MicrosoftExchange329e71ec…@<domain>.
BOUNCE_LOCAL_PART_PREFIXES: tuple[str, ...] = ("microsoftexchange",)
BOUNCE_DISPLAY_NAMES: tuple[str, ...] = (
    "mail delivery system", "mail delivery subsystem", "mailer daemon", "postmaster",
)

# fmt: on

# X-Auto-Response-Suppress values that cover our acknowledgement ([MS-OXCMAIL]):
# "All", and "AutoReply" (auto-replies other than out-of-office). "OOF" only asks to
# suppress out-of-office notices and DR/NDR/RN/NRN only delivery and read reports.
AUTO_RESPONSE_SUPPRESS_VALUES: tuple[str, ...] = ("all", "autoreply")


# --- rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutomatedFinding:
    """A machine sent the message: its kind, and every rule that said so."""

    kind: Kind
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Hit:
    """What one rule saw: the kind it points at, in French for agents, and the proof."""

    kind: Kind
    detail: str
    evidence: str


Check = Callable[[InboundMessage, frozenset[str]], Hit | None]


@dataclass(frozen=True)
class Rule:
    id: str  # stable: stored with verdicts and cited in docs/loop-protection.md
    description: str  # English, for the documentation
    check: Check
    # A fallback rule names its kind only when no other rule fired: the null reverse
    # path marks bounces, but RFC 3834 has auto-responders send with it too.
    fallback: bool = False


def _evidence(text: str) -> str:
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def _phrase_pattern(phrase: str) -> str:
    words = re.split(r"[\s\-]+", fold(phrase).removesuffix(":").strip())
    body = r"[\s\-_]*".join(re.escape(word).replace("'", "['’ ]?") for word in words)
    return body + (r"\s*:" if phrase.endswith(":") else r"(?![a-z0-9])")


def _prefix_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    # Leading brackets and punctuation are allowed: « [Réponse automatique] », « *** ».
    return re.compile(r"^[^a-z0-9]*(?:" + "|".join(map(_phrase_pattern, phrases)) + ")")


def _marker_regex(phrases: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"[\[(]\s*(?:" + "|".join(map(_phrase_pattern, phrases)) + r")\s*[\])]")


_AUTO_REPLY_SUBJECT = _prefix_regex(AUTO_REPLY_SUBJECTS)
_AUTO_REPLY_MARKER = _marker_regex(AUTO_REPLY_MARKERS)
_BOUNCE_SUBJECT = _prefix_regex(BOUNCE_SUBJECTS)
_BOUNCE_BODY = _prefix_regex(BOUNCE_BODY_OPENINGS)
BODY_OPENING_CHARS = 300
_SEPARATORS = re.compile(r"[._+\-]+")


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(text))


def _local_part_runs(address: str) -> set[str]:
    """Every run of consecutive parts of the local part, separators removed."""
    parts = [p for p in _SEPARATORS.split(fold(address.rpartition("@")[0])) if p]
    return {"".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}


def _keyword(value: str) -> str:
    # "auto-generated (failure)", "auto-replied; owner-email=…": the keyword comes first.
    return re.split(r"[\s;(]", value.strip().lower(), maxsplit=1)[0]


def _auto_submitted(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    # RFC 3834 §5: any value but "no" marks automatic mail. "auto-replied" is a response
    # to a message (out-of-office, vacation); "auto-generated" is a notice sent on its
    # own initiative (alerts, reports), not an answer to us, hence OTHER.
    value = message.automation.auto_submitted
    if value is None or _keyword(value) in ("", "no"):
        return None
    if _keyword(value) == "auto-replied":
        kind, meaning = Kind.AUTO_REPLY, "réponse automatique"
    else:
        kind, meaning = Kind.OTHER, "message généré automatiquement"
    return Hit(kind, f"En-tête Auto-Submitted: {value} ({meaning}, RFC 3834)", value)


def _x_autoreply(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    headers = message.automation
    for name, value in (
        ("X-Autoreply", headers.x_autoreply),
        ("X-Autorespond", headers.x_autorespond),
    ):
        if value is not None and value.strip().lower() not in ("no", "false", "0"):
            detail = f"En-tête {name} présent (réponse automatique d'un répondeur)"
            return Hit(Kind.AUTO_REPLY, detail, f"{name}: {value}")
    return None


_PRECEDENCE_MEANING = {
    "bulk": (Kind.OTHER, "envoi en nombre"),
    "junk": (Kind.OTHER, "envoi en nombre ou indésirable"),
    "list": (Kind.OTHER, "liste de diffusion"),
    "auto_reply": (Kind.AUTO_REPLY, "réponse automatique"),
}


def _precedence(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    # Not standard (RFC 2076 lists it, RFC 3834 §2 recommends nothing about it), but
    # vacation programs and list servers have long treated bulk, junk and list as
    # "do not answer", and some responders mark their replies auto_reply.
    value = message.automation.precedence
    found = _PRECEDENCE_MEANING.get(_keyword(value or ""))
    if value is None or found is None:
        return None
    kind, meaning = found
    return Hit(kind, f"En-tête Precedence: {value} ({meaning})", value)


def _header_check(
    header: Callable[[AutomationHeaders], str | None], name: str, meaning: str
) -> Check:
    def check(message: InboundMessage, own: frozenset[str]) -> Hit | None:
        value = header(message.automation)
        if not value:
            return None
        return Hit(Kind.OTHER, f"En-tête {name} présent : {meaning}", value)

    return check


def _auto_reply_subject(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    folded = fold(message.subject)
    if not (_AUTO_REPLY_SUBJECT.search(folded) or _AUTO_REPLY_MARKER.search(folded)):
        return None
    detail = "Objet de réponse automatique ou de message d'absence"
    return Hit(Kind.AUTO_REPLY, detail, message.subject)


def _bounce_subject(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    if not _BOUNCE_SUBJECT.search(fold(message.subject)):
        return None
    return Hit(Kind.BOUNCE, "Objet d'avis de non-remise", message.subject)


def _bounce_body(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    opening = fold(message.text[:BODY_OPENING_CHARS])
    match = _BOUNCE_BODY.search(opening)
    if match is None:
        return None
    detail = "Le texte commence comme un avis de non-remise de serveur de messagerie"
    return Hit(Kind.BOUNCE, detail, match.group(0).lstrip(" *-=#"))


def _null_return_path(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    # RFC 5321 §4.5.5: notifications go out with the null reverse-path "<>". Sendmail
    # writes it as "<MAILER-DAEMON>" when it delivers locally.
    path = message.return_path
    if path is None or (path and _compact(path.partition("@")[0]) != "mailerdaemon"):
        return None
    shown = f"<{path}>"
    detail = "Adresse de retour vide (Return-Path: <>) : marque d'un avis de non-remise"
    return Hit(Kind.BOUNCE, detail, shown)


_REPORTS: dict[str, tuple[frozenset[str], Kind, str]] = {
    # report-type: (parts that carry the report anywhere in the message, kind, French)
    "delivery-status": (
        frozenset({"message/delivery-status", "message/global-delivery-status"}),
        Kind.BOUNCE,
        "Avis de non-remise normalisé (multipart/report, delivery-status, RFC 3464)",
    ),
    "disposition-notification": (
        frozenset({"message/disposition-notification", "message/global-disposition-notification"}),
        Kind.BOUNCE,
        "Accusé de lecture ou de traitement (disposition-notification, RFC 8098)",
    ),
    "feedback-report": (
        frozenset({"message/feedback-report"}),
        Kind.BOUNCE,
        "Signalement d'abus ou de courriel indésirable (feedback-report, RFC 5965)",
    ),
}


def _report_check(report_type: str) -> Check:
    part_types, kind, detail = _REPORTS[report_type]

    def check(message: InboundMessage, own: frozenset[str]) -> Hit | None:
        # RFC 6522: the report-type names the report; the machine-readable part is
        # looked for too, as MTAs nest reports inside multipart/mixed.
        if message.report_type == report_type:
            return Hit(kind, detail, f"{message.content_type}; report-type={report_type}")
        for attachment in message.attachments:
            if attachment.content_type in part_types:
                return Hit(kind, detail, attachment.content_type)
        return None

    return check


def _other_report(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    # Any other multipart/report is still a mail system's report (RFC 6522), e.g. TLS
    # reports (RFC 8460): machine notices, never requests.
    if message.content_type != "multipart/report" or message.report_type in _REPORTS:
        return None
    shown = f"{message.content_type}; report-type={message.report_type or '?'}"
    return Hit(Kind.OTHER, "Rapport automatique d'un serveur de messagerie (RFC 6522)", shown)


def _bounce_sender(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    sender = message.sender
    if sender is None:
        return None
    local = _compact(sender.local_part)
    by_address = local in BOUNCE_LOCAL_PARTS or local.startswith(BOUNCE_LOCAL_PART_PREFIXES)
    by_name = fold(sender.name) in BOUNCE_DISPLAY_NAMES
    if not (by_address or by_name):
        return None
    detail = "Expéditeur système de messagerie (MAILER-DAEMON, postmaster) : avis de non-remise"
    shown = f"{sender.name} <{sender.address}>" if sender.name else sender.address
    return Hit(Kind.BOUNCE, detail, shown)


def _own_address(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    sender = message.sender
    if sender is None or sender.address.casefold() not in {a.casefold() for a in own}:
        return None
    detail = "Message envoyé depuis notre propre adresse : il nous revient"
    return Hit(Kind.OTHER, detail, sender.address)


def _no_reply_sender(message: InboundMessage, own: frozenset[str]) -> Hit | None:
    # Only the address counts: a display name is free text a person chooses.
    sender = message.sender
    if sender is None:
        return None
    local = fold(sender.local_part)
    robot = local.startswith(NO_REPLY_LOCAL_PREFIXES) or local.endswith(NO_REPLY_LOCAL_SUFFIXES)
    if not (robot or _local_part_runs(sender.address) & set(NO_REPLY_LOCAL_PARTS)):
        return None
    detail = "Adresse d'expéditeur qui n'accepte pas de réponse (no-reply)"
    return Hit(Kind.OTHER, detail, sender.address)


RULES: tuple[Rule, ...] = (
    Rule(
        "auto.auto-submitted", "Auto-Submitted present and not 'no' (RFC 3834 §5)", _auto_submitted
    ),
    Rule("auto.x-autoreply", "X-Autoreply or X-Autorespond present", _x_autoreply),
    Rule("auto.precedence", "Precedence: bulk, junk, list or auto_reply", _precedence),
    Rule("auto.subject", "Out-of-office or auto-reply subject", _auto_reply_subject),
    Rule(
        "list.list-id",
        "List-Id present (RFC 2919)",
        _header_check(lambda h: h.list_id, "List-Id", "message diffusé par une liste (RFC 2919)"),
    ),
    Rule(
        "list.list-unsubscribe",
        "List-Unsubscribe present (RFC 2369)",
        _header_check(
            lambda h: h.list_unsubscribe,
            "List-Unsubscribe",
            "lettre d'information ou liste (RFC 2369)",
        ),
    ),
    Rule(
        "list.feedback-id",
        "Feedback-ID present (bulk sender)",
        _header_check(
            lambda h: h.feedback_id, "Feedback-ID", "envoi en nombre par un routeur de courriels"
        ),
    ),
    Rule(
        "report.delivery-status",
        "Delivery status notification (RFC 3464)",
        _report_check("delivery-status"),
    ),
    Rule(
        "report.disposition-notification",
        "Message disposition notification, read receipt (RFC 8098)",
        _report_check("disposition-notification"),
    ),
    Rule(
        "report.feedback-report",
        "Abuse feedback report, ARF (RFC 5965)",
        _report_check("feedback-report"),
    ),
    Rule("report.other", "multipart/report of another type (RFC 6522)", _other_report),
    Rule("bounce.sender", "Sender is MAILER-DAEMON, postmaster or a mail system", _bounce_sender),
    Rule("bounce.subject", "Non-delivery subject", _bounce_subject),
    Rule("bounce.body", "Body opens with a mail system's non-delivery text", _bounce_body),
    Rule(
        "bounce.null-return-path",
        "Null reverse-path <> (RFC 5321 §4.5.5)",
        _null_return_path,
        fallback=True,
    ),
    Rule("sender.own-address", "Sender is one of our own addresses", _own_address),
    Rule("sender.no-reply", "Sender's local part is a no-reply address", _no_reply_sender),
)

# Most specific first: a Postfix bounce carries Auto-Submitted: auto-replied, an
# out-of-office relayed by a list carries List-Id.
_KIND_PRIORITY = (Kind.BOUNCE, Kind.AUTO_REPLY, Kind.OTHER)


def detect_automated(
    message: InboundMessage, own_addresses: frozenset[str]
) -> AutomatedFinding | None:
    """The kind of a machine-sent message and every rule that fired; None if a person wrote it."""
    fired = [(rule, hit) for rule in RULES if (hit := rule.check(message, own_addresses))]
    if not fired:
        return None
    deciding = [hit for rule, hit in fired if not rule.fallback] or [hit for _, hit in fired]
    kind = min((hit.kind for hit in deciding), key=_KIND_PRIORITY.index)
    reasons = tuple(
        Reason(rule=rule.id, detail=hit.detail, evidence=_evidence(hit.evidence))
        for rule, hit in fired
    )
    return AutomatedFinding(kind=kind, reasons=reasons)


def no_autoreply_requested(message: InboundMessage) -> Reason | None:
    """The sender asked not to be answered automatically; the kind is left alone.

    Outlook and Exchange set X-Auto-Response-Suppress on mail from people too (mail
    sent through some distribution lists, meeting requests, ticketing tools), so this
    withholds the acknowledgement without turning a request into machine mail.
    """
    value = message.automation.x_auto_response_suppress
    if value is None:
        return None
    tokens = {token.lower() for token in re.split(r"[\s,;]+", value) if token}
    if not tokens & set(AUTO_RESPONSE_SUPPRESS_VALUES):
        return None
    return Reason(
        rule="noreply.auto-response-suppress",
        detail=(
            f"L'expéditeur demande à ne pas recevoir de réponse automatique "
            f"(X-Auto-Response-Suppress: {value})"
        ),
        evidence=_evidence(value),
    )
