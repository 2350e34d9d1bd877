"""Does a request ask for, or disclose, personal data about an identifiable third party?

The DCS gives no information on natural or legal persons (protocol; README of
../shared/requests, `personal_data`). Pure and fast: regular expressions, checksums
(python-stdnum) and the numbering plan (phonenumbers) on the subject and the requester's
own words (triage/body.py: the sender's salutation, signature and quoted history, the main
source of false alarms, are set aside). No spaCy: measured misfires on French mail, 280 MB.

Two families of rules: identifiers that point at one person or company by themselves
(checksum-valid NIR, IBAN, SIREN/SIRET with a context word, VAT number; phone, plate,
passport, date of birth, drone operator, e-mail, home address…), and a named natural or
legal person tied to a request for information about them (« antécédents », « fiché S »,
« fait-elle l'objet d'une enquête »…) in one sentence, or by a later sentence that points
back at the name (« Est-il connu de vos services ? ») or an earlier one that announces it.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
from stdnum import iban
from stdnum.fr import nir, siren, siret, tva

from dcs_mailbox.message import InboundMessage
from dcs_mailbox.triage import pd_lexicon as lex
from dcs_mailbox.triage.body import SplitBody, split_body
from dcs_mailbox.triage.verdict import Reason

MAX_REASONS = 12
MAX_EVIDENCE = 200
CONTEXT_CHARS = 60  # how far a context word may stand from what it qualifies


@dataclass(frozen=True)
class PersonalDataFinding:
    found: bool
    reasons: tuple[Reason, ...]


def detect_personal_data(
    message: InboundMessage, body: SplitBody | None = None
) -> PersonalDataFinding:
    """`body` is `split_body(message.text, message.sender)` when the caller has it."""
    if body is None:
        body = split_body(message.text, message.sender)
    sender_name = message.sender.name if message.sender else ""
    sender_domain = message.sender.domain if message.sender else ""
    if sender_domain in lex.WEBMAIL_DOMAINS:
        sender_domain = ""  # a webmail user's « colleagues » are strangers
    text = _Text(message.subject, body.own, _words(sender_name))
    people = (message.sender, message.reply_to, *message.to, *message.cc)
    participants = {a.address for a in people if a}
    organisations = _organisations(text)
    inside = [(o.start, o.end) for o in organisations]
    persons = [p for p in _persons(text) if not any(a <= p.start < b for a, b in inside)]
    reasons: list[Reason] = []
    for found in (
        _identifiers(text),
        _phones(text, own=body.signature, identity=bool(persons)),
        _emails(text, participants, own=body.signature, home=sender_domain),
        _checks(text, persons, _PERSON_TIE),
        _checks(text, organisations, _ORGANISATION_TIE),
        _own_organisation_checks(text),
    ):
        reasons.extend(r for r in found if r not in reasons)
    return PersonalDataFinding(found=bool(reasons), reasons=tuple(reasons[:MAX_REASONS]))


# --- text ----------------------------------------------------------------------------


class _FoldTable(dict[int, str]):
    """str.translate table: one character in, one out, so offsets hold in both texts."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char.isspace():
            value = "\n" if char == "\n" else " "
        elif char in "’‘ʼ`´‐‑‒–—−":
            value = "'" if char in "’‘ʼ`´" else "-"
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            base = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
            value = base if len(base) == 1 else char.lower()[:1] or char
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


def _fold_aligned(text: str) -> str:
    """Lower case, no accents, plain apostrophes and dashes: same length as `text`."""
    return text.translate(_FOLD_TABLE)


def _words(name: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z]+", _fold_aligned(name)) if len(w) >= 2)


def _words_re(fragments: tuple[str, ...]) -> re.Pattern[str]:
    body = "|".join(f.replace(" ", r"\s+") for f in fragments)
    return re.compile(rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])")


# A sentence ends at . ! ? or at a blank line; not at the full stop of « M. », « Mme. », an
# initial or another abbreviation.
_SENTENCE_END = re.compile(r"[.!?]+(?=\s)|\n[ \t]*\n")
_ABBREVIATION = re.compile(r"(?:\b(?:M|MM|Mr|Mme|Mlle|Dr|av|bd|art|cf|n°)|\b[A-Z])\.$")


class _Text:
    """Subject and own words, folded alongside, with sentence starts."""

    def __init__(self, subject: str, own: str, sender_words: frozenset[str]) -> None:
        self.original = original = f"{subject}\n\n{own}"
        self.folded = _fold_aligned(original)
        self.subject_end = len(subject)
        self.sender_words = sender_words
        self.starts = [0]
        for m in _SENTENCE_END.finditer(original):
            if _ABBREVIATION.search(original, max(0, m.start() - 5), m.end()):
                continue
            if original[self.starts[-1] : m.end()].strip(" \t\n.!?"):
                self.starts.append(m.end())  # « fin. » then a blank line: one boundary

    def sentence(self, position: int) -> int:
        return bisect_right(self.starts, position) - 1

    def sentence_text(self, index: int) -> str:
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.folded)
        return self.folded[self.starts[index] : end]

    def near(self, pattern: re.Pattern[str], start: int, end: int) -> bool:
        window = self.folded[max(0, start - CONTEXT_CHARS) : end + CONTEXT_CHARS // 2]
        return pattern.search(window) is not None


def _reason(rule: str, detail: str, evidence: str) -> Reason:
    return Reason(rule=rule, detail=detail, evidence=" ".join(evidence.split())[:MAX_EVIDENCE])


# --- identifiers ---------------------------------------------------------------------

_NIR, _IBAN, _SIRET, _SIREN, _VAT = (
    re.compile(lex.NIR), re.compile(lex.IBAN), re.compile(lex.SIRET), re.compile(lex.SIREN),
    re.compile(lex.VAT),
)  # fmt: skip
_SIV_PLATE, _FNI_PLATE = re.compile(lex.SIV_PLATE), re.compile(lex.FNI_PLATE)
_DRONE, _CNAPS_CARD = re.compile(lex.DRONE_OPERATOR), re.compile(lex.CNAPS_CARD)
_BIRTH = re.compile(rf"{_words_re(lex.BIRTH_MARKERS).pattern}\s*{lex.DATE}")
_HOME = re.compile(
    rf"{_words_re(lex.RESIDENCE_WORDS).pattern}\s+(?:au |a |a l'adresse |: ?)?\s*"
    rf"\d{{1,4}}(?: ?(?:bis|ter))?,? (?:{lex.STREET_TYPES})\b[^\n,.;]{{0,60}}"
)
_SIREN_CONTEXT = _words_re(lex.COMPANY_ID_CONTEXT)
_NIR_CONTEXT = _words_re(lex.NIR_CONTEXT)
_DOCUMENTS = (
    (re.compile(lex.PASSPORT_NUMBER), _words_re(lex.PASSPORT_CONTEXT), "pd.passport",
     "Numéro de passeport"),
    (re.compile(lex.ID_CARD_NUMBER), _words_re(lex.ID_DOCUMENT_CONTEXT), "pd.id-document",
     "Numéro de pièce d'identité"),
)  # fmt: skip


def _identifiers(text: _Text) -> Iterator[Reason]:
    yield from _checksummed(text)
    yield from _shaped(text)


def _checksummed(text: _Text) -> Iterator[Reason]:
    original = text.original
    for m in _NIR.finditer(original):
        digits = re.sub(r"[ .]", "", m.group(0))
        # Written in its groups (« 1 88 07 … ») a valid key says NIR; a bare run of digits
        # passes the key one time in 97, so it needs a context word, as does a NIR without key.
        grouped = digits != m.group(0) and len(digits) == 15
        if (grouped or text.near(_NIR_CONTEXT, *m.span())) and (
            nir.is_valid(digits) or len(digits) == 13
        ):
            yield _reason("pd.nir", "Numéro de sécurité sociale (NIR)", m.group(0))
    for m in _IBAN.finditer(original):
        candidate = m.group(0)  # its last group may have swallowed a word (« … 189 EUR »)
        while " " in candidate and not iban.is_valid(candidate):
            candidate = candidate.rsplit(" ", 1)[0]
        if iban.is_valid(candidate):
            yield _reason("pd.iban", "Coordonnées bancaires (IBAN)", candidate)
    for m in _VAT.finditer(original):
        if tva.is_valid(m.group(0)):
            yield _reason("pd.vat", "Numéro de TVA intracommunautaire d'une entreprise", m.group(0))
    for pattern, checksum, label in ((_SIRET, siret, "SIRET"), (_SIREN, siren, "SIREN")):
        for m in pattern.finditer(original):
            if checksum.is_valid(m.group(0)) and text.near(_SIREN_CONTEXT, *m.span()):
                yield _reason(f"pd.{label.lower()}", f"Numéro {label} d'une entreprise", m.group(0))


def _shaped(text: _Text) -> Iterator[Reason]:
    original = text.original
    for pattern, kind in ((_SIV_PLATE, "SIV"), (_FNI_PLATE, "FNI")):
        for m in pattern.finditer(original):
            yield _reason("pd.plate", f"Immatriculation de véhicule ({kind})", m.group(0))
    for pattern, context, rule, detail in _DOCUMENTS:
        if context.search(text.folded) is None:
            continue  # cheap: the number patterns match much of an encoded attachment
        for m in pattern.finditer(original):
            if text.near(context, *m.span()) and not iban.is_valid(m.group(0)):
                yield _reason(rule, detail, m.group(0))
    for m in _DRONE.finditer(original):
        yield _reason("pd.drone-operator", "Numéro d'exploitant ou d'aéronef de drone", m.group(0))
    for m in _CNAPS_CARD.finditer(original):
        yield _reason("pd.cnaps-card", "Numéro de carte professionnelle CNAPS", m.group(0))
    for m in _BIRTH.finditer(text.folded):
        yield _reason("pd.birth-date", "Date de naissance", original[m.start() : m.end()])
    for m in _HOME.finditer(text.folded):
        yield _reason("pd.home-address", "Adresse personnelle", original[m.start() : m.end()])


# --- phone numbers and e-mail addresses ------------------------------------------------

_PHONE = re.compile(lex.PHONE)
_OWN_CONTACT = _words_re(lex.OWN_CONTACT_CONTEXT)
_TYPE = phonenumbers.PhoneNumberType
_HOTLINES = frozenset({_TYPE.TOLL_FREE, _TYPE.PREMIUM_RATE, _TYPE.SHARED_COST, _TYPE.UAN})


def _phones(text: _Text, *, own: str, identity: bool) -> Iterator[Reason]:
    """Third parties' numbers: not hotlines, not the sender's own (signature, « me joindre »).

    The regulator's mobile fiction range (06 39 98) is possible but not valid for
    phonenumbers: a merely possible number counts only beside a name or a date of birth.
    """
    own_numbers = {_digits(m.group(0)) for m in _PHONE.finditer(own)}
    identity = identity or _BIRTH.search(text.folded) is not None
    for m in _PHONE.finditer(text.original):
        try:
            number = phonenumbers.parse(m.group(0), "FR")
        except phonenumbers.NumberParseException:
            continue
        if (
            _digits(m.group(0)) in own_numbers
            or phonenumbers.number_type(number) in _HOTLINES
            or _own_contact(text, m.start())
        ):
            continue
        if phonenumbers.is_valid_number(number) or (
            identity and phonenumbers.is_possible_number(number)
        ):
            yield _reason("pd.phone", "Numéro de téléphone d'un tiers", m.group(0))


def _digits(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    for prefix in ("0033", "33"):
        if digits.startswith(prefix):
            return "0" + digits[len(prefix) :].lstrip("0")
    return digits


def _own_contact(text: _Text, start: int) -> bool:
    return _OWN_CONTACT.search(text.folded[max(0, start - CONTEXT_CHARS) : start]) is not None


_EMAIL = re.compile(lex.EMAIL)


def _emails(text: _Text, participants: set[str], *, own: str, home: str) -> Iterator[Reason]:
    """Third parties' addresses: not the correspondents', not role mailboxes, not colleagues'."""
    excluded = participants | {m.group(0).lower() for m in _EMAIL.finditer(own)}
    for m in _EMAIL.finditer(text.original):
        address = m.group(0).lower().rstrip(".")
        local, _, domain = address.rpartition("@")
        if (
            address in excluded
            or domain == home
            or local.startswith(lex.ROLE_MAILBOX_PREFIXES)
            or any(domain == d or domain.endswith("." + d) for d in lex.ADMINISTRATION_DOMAINS)
            or _own_contact(text, m.start())
        ):
            continue
        yield _reason("pd.email", "Adresse électronique d'un tiers", address)


# --- named persons, natural and legal ----------------------------------------------------

_CIVILITY_NAME = re.compile(rf"(?<![\w.])(?:{'|'.join(lex.CIVILITIES)})[ \t]+{lex.NAME}")
# (introducer found in the folded text, what follows it in the original text)
_INTRODUCED_NAMES = (
    (_words_re(lex.NAME_INTRODUCERS), re.compile(rf"[ \t]+{lex.NAME}")),
    (_words_re(lex.NICKNAME_INTRODUCERS), re.compile(rf"[ \t]*{lex.QUOTED_NAME}")),
    (_words_re(lex.NAME_ANNOUNCERS), re.compile(rf"\s*{lex.NAME}")),
    (
        re.compile(rf"(?m:^[ \t\-•*]*(?:{'|'.join(lex.NAME_LABELS)})[ \t]*:)"),
        re.compile(rf"[ \t]*{lex.NAME}"),
    ),
)
_BARE_NAME, _GIVEN_NAME = re.compile(lex.BARE_NAME), re.compile(lex.GIVEN_NAME)
_INITIALLED_NAME = re.compile(lex.INITIALLED_NAME)
_FIRST_NAMES = frozenset(lex.FIRST_NAMES.split())
_ORGANISATION_WORD = _words_re(lex.ORGANISATION_WORDS)
_ORG_NAME, _FORM_NAME = re.compile(lex.ORGANISATION_NAME), re.compile(lex.NAME_WITH_LEGAL_FORM)
_NOT_NAMES = frozenset(_fold_aligned(lex.NOT_NAMES).split())
_ACRONYMS = frozenset(lex.ACRONYMS.split())
_VOWEL = re.compile(f"[AEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜŸ{lex.LOWER}]")
_PARTICLES = lex.PARTICLES


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    name: str


def _persons(text: _Text) -> Iterator[_Mention]:
    found = [(m, 1) for m in _CIVILITY_NAME.finditer(text.original)]
    civilities = {m.start() for m, _ in found}
    found += [(m, 2) for m in _BARE_NAME.finditer(text.original)]
    found += [  # « de Créteil M. Yohan X »: the « initial » is a civility
        (m, 2) for m in _INITIALLED_NAME.finditer(text.original) if m.end() - 2 not in civilities
    ]
    found += [
        (m, 2)
        for m in _GIVEN_NAME.finditer(text.original)
        if _fold_aligned(m.group("given")) in _FIRST_NAMES
    ]
    for introducer, follower in _INTRODUCED_NAMES:
        for intro in introducer.finditer(text.folded):
            m = follower.match(text.original, intro.end())
            if m is not None:
                found.append((m, 1))
    for m, least in found:
        quoted = m.groupdict().get("quoted")
        name = quoted or _clean_name(m.group("name"), least=least)
        if name and not _is_sender(name, text.sender_words):
            yield _Mention(m.start(), m.end(), name)


def _organisations(text: _Text) -> list[_Mention]:
    found: list[_Mention] = []
    for word in _ORGANISATION_WORD.finditer(text.folded):
        m = _ORG_NAME.match(text.original, word.end())
        if m and (m.group("quoted") or _clean_name(m.group("name"), least=1)):
            found.append(_Mention(word.start(), m.end(), text.original[word.start() : m.end()]))
    for m in _FORM_NAME.finditer(text.original):
        if _clean_name(m.group("name"), least=1):
            found.append(_Mention(m.start(), m.end(), m.group(0)))
    # « la société X SARL » is found twice, « l'association « Collectif Y » » too: keep
    # the mention that starts first.
    found.sort(key=lambda o: (o.start, -o.end))
    return [o for i, o in enumerate(found) if not any(p.end > o.start for p in found[:i])]


def _clean_name(name: str, *, least: int) -> str:
    """The name up to the first title, function word or acronym; "" if too little is left."""
    kept: list[str] = []
    for word in name.split():
        bare = word.strip(".,'’")
        if word in _PARTICLES:
            kept.append(word)
            continue
        if _fold_aligned(bare) in _NOT_NAMES and not (not kept and bare in ("Le", "La")):
            break
        if bare.isupper() and len(bare) > 1 and (bare in _ACRONYMS or not _VOWEL.search(bare)):
            break
        kept.append(word)
    while kept and kept[-1] in (*_PARTICLES, "Le", "La"):
        kept.pop()
    return " ".join(kept) if len(kept) >= least else ""


def _is_sender(name: str, sender_words: frozenset[str]) -> bool:
    words = {w for w in re.findall(r"[a-z]+", _fold_aligned(name)) if len(w) >= 2}
    return bool(words) and words <= sender_words


@dataclass(frozen=True)
class _Tie:
    """How a request for information is tied to a mention, and how an agent is told."""

    checks: re.Pattern[str]  # what is asked, in the mention's sentence or one tied to it
    back: re.Pattern[str]  # a later sentence that points back at the mention
    forward: re.Pattern[str] | None  # an earlier sentence that announces it
    rule: str
    detail: str


_OBJECT_CHECK = _words_re(lex.OBJECT_CHECKS)
_FOLLOWING_REQUEST = _words_re(lex.FOLLOWING_REQUESTS)
_PERSON_TIE = _Tie(
    _words_re(lex.PERSON_CHECKS), _words_re(lex.ANAPHORS), _words_re(lex.CATAPHORS),
    "pd.named-person-check", "Personne nommée visée par une demande d'information",
)  # fmt: skip
_ORGANISATION_TIE = _Tie(
    _words_re(lex.ORGANISATION_CHECKS), _words_re(lex.ORGANISATION_ANAPHORS), None,
    "pd.legal-person-check", "Personne morale nommée visée par une demande d'information",
)  # fmt: skip


def _checks(text: _Text, mentions: list[_Mention], tie: _Tie) -> Iterator[Reason]:
    for mention in mentions:
        check = _tied_check(text, mention, tie)
        if check is not None:
            yield _reason(tie.rule, tie.detail, f"{mention.name} … {check}")


def _tied_check(text: _Text, mention: _Mention, tie: _Tie) -> str | None:
    home = text.sentence(mention.start)
    since = max(text.starts[home], mention.start - CONTEXT_CHARS)
    before = _OBJECT_CHECK.search(text.folded, since, mention.start)
    if before is not None:
        return before.group(0)  # « des renseignements sur M. X »
    # A name in the subject is what the whole message is about.
    last = len(text.starts) if mention.start < text.subject_end else home + 3
    for index in range(max(0, home - 3), min(len(text.starts), last)):
        sentence = text.sentence_text(index)
        if index == home:
            found = _specific(tie.checks, sentence)
        elif index > home and tie.back.search(sentence):
            found = _specific(tie.checks, sentence) or _specific(_FOLLOWING_REQUEST, sentence)
        elif index < home and tie.forward is not None and tie.forward.search(sentence):
            found = _specific(tie.checks, sentence) or _specific(_OBJECT_CHECK, sentence)
        else:
            continue
        if found:
            return found
    return None


_GENERIC_GROUP = re.compile(rf"(?:\s+[\w'-]+){{0,3}}?\s+{_words_re(lex.GENERIC_GROUPS).pattern}")


def _specific(checks: re.Pattern[str], sentence: str) -> str:
    """The first check in `sentence` that is not about a group (« le casier des candidats »)."""
    for m in checks.finditer(sentence):
        if not _GENERIC_GROUP.match(sentence, m.end()):
            return m.group(0)
    return ""


_OWN_ORGANISATION = _words_re(lex.OWN_ORGANISATION)
_OWN_ORGANISATION_CHECK = _words_re(lex.OWN_ORGANISATION_CHECKS)


def _own_organisation_checks(text: _Text) -> Iterator[Reason]:
    """« Notre société fait-elle l'objet d'une enquête ? »: the DCS says nothing on it either."""
    for m in _OWN_ORGANISATION_CHECK.finditer(text.folded):
        sentence = text.sentence_text(text.sentence(m.start()))
        if "nous" in m.group(0) or _OWN_ORGANISATION.search(sentence):
            yield _reason(
                "pd.own-organisation-check",
                "Question sur la propre entreprise du demandeur (enquête, surveillance)",
                text.original[m.start() : m.end()],
            )
