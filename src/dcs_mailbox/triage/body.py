"""Split a message body into the requester's own words, their signature, and quoted history.

The sender's own identity (their name, phone, address, their company's SIRET) is not
third-party data, and quoted history is not what they are asking now: both set off every
detector downstream (../shared/notes/triage-findings.md: stripping them removed every
signature false positive). What is kept in `own` is what the requester wrote in this
message, without salutation, signature or quotes.

Everything here works line by line and looks only at general mail conventions (RFC 3676
§4.3 signature delimiter, reply attributions and header blocks of the common French and
English mailers, closing formulas of French correspondence), never at a sender's habits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dcs_mailbox.message import Address
from dcs_mailbox.text import fold


@dataclass(frozen=True)
class SplitBody:
    own: str  # the requester's new text, without salutation, signature, quotes
    signature: str
    quoted: str


# --- quoted history ------------------------------------------------------------------
# Matched against fold(line): lower case, no accents, single spaces.

ATTRIBUTION_ENDINGS = ("a ecrit :", "a ecrit:", "wrote:", "wrote :", "schrieb:")
FORWARD_SEPARATORS = (
    r"-{2,} ?(?:message d'origine|original message|mail original|message original"
    r"|message transfere|forwarded message|message transmis|courriel original) ?-{2,}",
    r"(?:debut du message reexpedie|begin forwarded message) ?:",
)
# One line of a reply header block (Outlook « De : … Envoyé : … À : … Objet : … »).
HEADER_FIELDS = r"\*?(?:de|from|expediteur|envoye|envoye le|sent|date|a|to|cc|objet|subject)\*? ?:"
HEADER_START = r"\*?(?:de|from|expediteur)\*? ?:"
SEPARATOR_RULE = r"_{10,}|-{10,}|={10,}"

_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_SPACES = re.compile(r"\s+")
_FORWARD = re.compile("|".join(FORWARD_SEPARATORS))
_HEADER_FIELD = re.compile(HEADER_FIELDS)
_HEADER_START = re.compile(HEADER_START)
_SEPARATOR_RULE = re.compile(SEPARATOR_RULE)

# --- salutation ----------------------------------------------------------------------

SALUTATION_WORDS = (
    r"bonjour|bonsoir|madame|monsieur|mesdames|messieurs|mademoiselle|cher|chere|chers"
    r"|cheres|hello|salut|a l'attention d[eu]|a l'attention de la|dear"
)
# The salutation runs to its comma (or to the end of the line): « Bonjour M. Martin, ».
_SALUTATION = re.compile(
    rf"(?:{SALUTATION_WORDS})(?![a-z])(?P<rest>[^,:;!?\n]{{0,60}}?)(?:[,:;!]|\.?$)"
)
_CIVILITY_NAME = re.compile(
    r"(?:Monsieur|Madame|Mademoiselle|M\.|Mme|Mlle)\s+(?!(?:le|la|Le|La|les|Les)\b)[A-ZÀ-Ý]"
)

# --- signature -----------------------------------------------------------------------

CLOSING_FORMULAS = (
    r"(?:tres |bien |tres bien |tres )?cordialement(?: votre)?",
    r"bien (?:a vous|a toi|sincerement)",
    r"(?:tres )?respectueusement",
    r"(?:sinceres |meilleures |bien sinceres |mes |nos )?salutations"
    r"(?: distinguees| cordiales| respectueuses| les meilleures)?",
    r"(?:avec )?(?:mes|nos) (?:remerciements|salutations|respects|sentiments)[a-z ]*",
    r"merci(?: beaucoup| bien| infiniment| d'avance| par avance| a vous| encore)*"
    r"(?: (?:pour|de) (?:votre|vos|l'|la) [a-z' ]{2,40})?",
    r"(?:je vous |nous vous )?(?:en )?remerci\w*(?: par avance| d'avance| vivement)?"
    r"(?: (?:pour|de) (?:votre|vos|l'|la) [a-z' ]{2,40})?",
    r"(?:en )?vous remerciant(?: par avance| d'avance| de votre| pour votre)?[a-z' ]{0,40}",
    r"dans l'attente de (?:votre|vous) [a-z' ]{2,40}",
    r"(?:best |kind |warm )?regards|thanks?(?: you)?|sincerely|yours",
    r"(?:tres )?sincerement|amities|a bientot|bonne (?:journee|soiree|fin de journee)",
)
# The long French letter closings: « Je vous prie d'agréer, Madame, Monsieur, … ».
FORMAL_CLOSING = (
    r"(?:je vous prie|nous vous prions|veuillez|vous prie) (?:de (?:bien vouloir )?)?"
    r"(?:agreer|croire|recevoir)|l'expression de (?:mes|nos) (?:salutations|sentiments)"
    r"|(?:mes|nos) salutations distinguees|ma (?:haute |parfaite |respectueuse )?consideration"
)
# Closing optionally followed by a name on the same line (« Cordialement, Jean Dupont »).
_CLOSING = re.compile(rf"(?:{'|'.join(CLOSING_FORMULAS)})[ ,.!;:]*(?:[a-z.' -]{{0,40}})?")
_FORMAL_CLOSING = re.compile(FORMAL_CLOSING)

BOILERPLATE = (
    r"envoye (?:de|depuis) (?:mon|ma|un)|sent from my|get outlook for|telecharger outlook",
    r"ce (?:message|courriel|mail|e-mail|courrier electronique)(?: et| ainsi que)?(?: toutes)?"
    r" (?:les |ses |leurs )?(?:pieces jointes|fichiers joints|est confidentiel|sont confidentiel)",
    r"this (?:e-?mail|message)(?: and any)?.{0,20}(?:confidential|attachments|intended)",
    r"pensez a l'environnement|avant d'imprimer|please consider the environment",
    r"(?:avertissement|disclaimer|confidentialite) ?:",
)
_BOILERPLATE = re.compile("|".join(BOILERPLATE))

# Contact lines of a signature block.
CONTACT_LINE = (
    r"(?:tel|telephone|phone|mob|mobile|portable|port|gsm|fax|ligne directe|standard)"
    r"\.? ?(?:fixe|direct|pro)?\.? ?:?\s*(?:\+|\(|0)",
    r"(?:^|[:\s(])(?:\+ ?|00)\d{1,3}[ .)(]*\d|(?<!\d)0\d(?:[ .-]?\d{2}){4}(?!\d)",
    r"[\w.+-]+@[\w-]+\.[\w.-]+|www\.|https?://|linkedin",
    r"(?<!\d)\d{5} [a-z]|cedex|\bbp \d|\bcs \d",
    r"^\d{1,4}(?: ?(?:bis|ter))?,? (?:rue|avenue|av\.|bd|boulevard|place|allee|chemin|quai"
    r"|impasse|route|cours|square|rond-point|esplanade|parvis|voie|zone|za|zi)\b",
    r"\b(?:siret|siren|rcs|tva|capital de|n° tva|naf|ape)\b",
)
JOB_TITLES = (
    r"directeur|directrice|direction|responsable|chef|head of|manager|officer|adjoint"
    r"|adjointe|delegue|deleguee|charge de|chargee de|president|presidente|gerant|gerante"
    r"|coordinateur|coordinatrice|referent|referente|rssi|dsi|cso|cdse|surete|securite"
    r"|security|director|directeur general|secretaire general|conseiller|conseillere|expert"
    r"|analyste|juriste|assistant|assistante|ingenieur|ingenieure|groupe|group|sas|sa|sarl"
)
_CONTACT = re.compile("|".join(CONTACT_LINE))
_JOB_TITLE = re.compile(rf"(?<![a-z])(?:{JOB_TITLES})(?![a-z])")
# Words of a sentence, which a name, a title or a contact line does not have.
PROSE_WORDS = (
    r"je|j'|nous|vous|il|elle|ils|elles|on|est|sont|ont|avons|pouvez|pourriez|pouvons"
    r"|souhaite|souhaitons|voudrions|voudrais|merci|si|que|qui|quel|quelle|comment|pourquoi"
)
_PROSE = re.compile(rf"(?<![\w'])(?:{PROSE_WORDS})(?![\w'])")
_PS = re.compile(r"\s*p\.? ?-?s\.?\s*(?::|-|\s)", re.IGNORECASE)
_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
_NAME_WORD = re.compile(r"[A-ZÀ-Ý][\w'’.-]*|[a-zà-ÿ]{1,3}|&|-|[A-ZÀ-Ý]\.")

MAX_TAIL_LINES = 15  # a signature block is short; a longer tail is text
MAX_TAIL_LINE_CHARS = 160
MAX_SALUTATION_WORDS = 7
MAX_CONTACT_WORDS = 12  # « 12 rue de la Paix, 75002 Paris – Tél. 01 99 00 12 34 »


def split_body(text: str, sender: Address | None) -> SplitBody:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    new, quoted = _unquoted(lines, _fold_lines(lines))
    body = _without_salutation(new)
    start = _signature_start(body, _fold_lines(body), _name_tokens(sender))
    postscript, signature = _postscript(body[start:])
    return SplitBody(
        own="\n\n".join(part for part in (_join(body[:start]), _join(postscript)) if part),
        signature=_join(signature),
        quoted=_join(quoted),
    )


def _fold_lines(lines: list[str]) -> list[str]:
    """`fold` of each line, done in one pass over the text: bodies reach 200,000 characters."""
    if not lines:
        return []
    decomposed = unicodedata.normalize("NFKD", "\n".join(lines))
    bare = _COMBINING.sub("", decomposed).casefold()
    return [_SPACES.sub(" ", line).strip() for line in bare.split("\n")]


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip()


# --- quoted history ------------------------------------------------------------------


def _unquoted(lines: list[str], folded: list[str]) -> tuple[list[str], list[str]]:
    """The lines written now, and the quoted ones.

    A forward separator or a reply header block (Outlook) quotes everything after it. An
    attribution (« Le … a écrit : ») followed by « > » lines quotes those lines only: what
    follows them unmarked is a reply written below or between the quotes. Followed by
    unmarked lines (an HTML quote turned to text), it quotes everything after it.
    """
    new: list[str] = []
    quoted: list[str] = []
    i = 0
    while i < len(lines):
        line = folded[i]
        rule = _SEPARATOR_RULE.fullmatch(line) and _is_header_block(folded, _next_text(folded, i))
        if _FORWARD.match(line) or _is_header_block(folded, i) or rule:
            return new, [*quoted, *lines[i:]]
        span = _attribution_span(folded, i)
        if span:
            after = _next_text(folded, i + span - 1)
            if after < len(folded) and not folded[after].startswith(">"):
                return new, [*quoted, *lines[i:]]
            quoted.extend(lines[i : i + span])
            i += span
            continue
        (quoted if line.startswith(">") else new).append(lines[i])
        i += 1
    return new, quoted


def _next_text(folded: list[str], i: int) -> int:
    j = i + 1
    while j < len(folded) and not folded[j]:
        j += 1
    return j


def _attribution_span(folded: list[str], i: int) -> int:
    """Lines taken by « Le lun. 3 mars 2025 à 10:12, Jean <j@x.fr> a écrit : », else 0.

    Often wrapped over lines; never across a blank line, and a wrapped one opens with
    « Le » / « On ».
    """
    line = folded[i]
    if not line or line.startswith(">"):
        return 0
    opening = line.startswith(("le ", "on ", "am ", "<"))
    joined = line
    for j in range(i, min(i + 3, len(folded))):
        if j > i:
            if not folded[j] or not opening:
                return 0
            joined = f"{joined} {folded[j]}"
        if len(joined) > 300:
            return 0
        if joined.endswith(ATTRIBUTION_ENDINGS):
            dated = opening or "@" in joined or re.search(r"\d", joined) is not None
            return j - i + 1 if dated else 0
    return 0


def _is_header_block(folded: list[str], i: int) -> bool:
    if i >= len(folded) or not _HEADER_START.match(folded[i]):
        return False
    following = [line for line in folded[i + 1 : i + 10] if line][:5]
    return sum(1 for line in following if _HEADER_FIELD.match(line)) >= 2


# --- salutation ----------------------------------------------------------------------


def _without_salutation(lines: list[str]) -> list[str]:
    """`lines` without the salutation that opens them (« Madame, Monsieur, », « Bonjour, »)."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        rest = _strip_salutation(line)
        if rest is None:
            return lines[i:]
        if rest:
            return [rest, *lines[i + 1 :]]
        # A whole line of salutation: a second one may follow (« Madame, Monsieur, » then
        # « Bonjour, ») but the loop stops at the first line that is not one.
    return []


def _strip_salutation(line: str) -> str | None:
    rest = line.strip()
    stripped = False
    for _ in range(3):  # « Bonjour Madame, Monsieur, »
        folded = fold(rest)
        match = _SALUTATION.match(folded)
        if match is None or len(match.group("rest").split()) > MAX_SALUTATION_WORDS:
            break
        whole = match.end() >= len(folded)
        # « Monsieur Paul DUPONT, salarié de notre société, … » opens a sentence about
        # someone: only a line holding nothing but the civility and name is a salutation.
        if not whole and _CIVILITY_NAME.match(rest):
            break
        rest = rest[_original_length(rest, match.end()) :].lstrip(" \t,;:!")
        stripped = True
        if not rest:
            break
    return rest if stripped else None


def _original_length(original: str, folded_length: int) -> int:
    """Length of the prefix of `original` whose fold is `folded_length` characters long."""
    for end in range(len(original) + 1):
        if len(fold(original[:end])) >= folded_length:
            return end
    return len(original)


# --- signature -----------------------------------------------------------------------


def _name_tokens(sender: Address | None) -> frozenset[str]:
    if sender is None or not sender.name:
        return frozenset()
    name = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", " ", sender.name)
    return frozenset(w for w in _WORD.findall(fold(name)) if len(w) >= 2)


def _signature_start(lines: list[str], folded: list[str], names: frozenset[str]) -> int:
    short = _short_tails(lines, folded)
    for i, line in enumerate(folded):
        if lines[i].rstrip() in ("--", "-- ", "—", "–"):
            return i
        if not line or not short[i + 1]:
            continue
        if _is_closing(line) or _BOILERPLATE.search(line) or _is_own_name(line, names):
            return i
    return _contact_block_start(lines, folded, names)


def _short_tails(lines: list[str], folded: list[str]) -> list[bool]:
    """For each index: are the lines from there on, up to a disclaimer, few and short?"""
    short = [True] * (len(lines) + 1)
    count, long_line = 0, False
    for i in range(len(lines) - 1, -1, -1):
        if _BOILERPLATE.search(folded[i]):
            count, long_line = 0, False  # a disclaimer runs to the end, however long
        elif folded[i]:
            count += 1
            long_line = long_line or len(lines[i]) > MAX_TAIL_LINE_CHARS
        short[i] = count <= MAX_TAIL_LINES and not long_line
    return short


def _is_closing(line: str) -> bool:
    if _CLOSING.fullmatch(line.strip(" ,.!;:-")):
        return True
    return len(line) <= 300 and _FORMAL_CLOSING.search(line) is not None


def _is_own_name(line: str, names: frozenset[str]) -> bool:
    """« Jean Dupont », « DUPONT Jean », « J. Dupont », « Jean Dupont – Directeur sûreté »."""
    if not names or len(line.split()) > 8 or line.endswith(("?", ".")) or _PROSE.search(line):
        return False
    words = _WORD.findall(line)[:3]
    leading = [w for w in words if w in names]
    if len(leading) >= min(2, len(names)):
        return True
    return len(words) >= 2 and len(words[0]) == 1 and words[1] in names


def _contact_block_start(lines: list[str], folded: list[str], names: frozenset[str]) -> int:
    """Start of a trailing block of contact lines (name, title, phone, address), if any."""
    start = len(lines)
    strong = False
    size = 0
    for i in range(len(lines) - 1, -1, -1):
        line = folded[i]
        if not line:
            continue
        if len(lines) - i > 3 * MAX_TAIL_LINES:
            break
        if _BOILERPLATE.search(line):
            strong = True
        elif len(line.split()) > MAX_CONTACT_WORDS or "?" in line:
            break
        elif _CONTACT.search(line) or _is_own_name(line, names):
            strong = True
        elif not (_is_title_line(line) or _is_name_line(lines[i])):
            break
        start = i
        size += 1
    # One trailing line of digits is more often data given in the text (« son numéro :
    # 06 … ») than a signature; so is a block announced by a colon.
    previous = [line for line in folded[:start] if line][-1:]
    announced = bool(previous) and previous[0].endswith(":")
    return start if strong and size >= 2 and not announced else len(lines)


def _is_title_line(line: str) -> bool:
    if line.endswith(".") or _PROSE.search(line):
        return False
    return _JOB_TITLE.search(line) is not None


def _is_name_line(line: str) -> bool:
    words = line.strip(" ,").split()
    if not 1 <= len(words) <= 5 or line.rstrip().endswith(("?", ".", ":")):
        return False
    if _PROSE.search(fold(line)):
        return False
    return all(_NAME_WORD.fullmatch(w.strip(",")) for w in words)


def _postscript(signature: list[str]) -> tuple[list[str], list[str]]:
    """« PS : … » after the signature is still the requester's text."""
    for i, line in enumerate(signature):
        if i > 0 and _PS.match(line):
            end = i
            while end < len(signature) and signature[end].strip():
                end += 1
            return signature[i:end], signature[:i] + signature[end:]
    return [], signature
