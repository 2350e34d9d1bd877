"""Is a request within the protocol's remit (art. 2)? In, out, or for an agent to judge.

The contact point answers general, administrative or legal questions touching internal
security and points everything else to the competent service. A legitimate request
wrongly called "out" costs the requester, so "out" is said only on unambiguous signals:

- a *genre* outside the remit whatever its topic (sales pitch, job application, a
  complaint filed by e-mail): "out";
- an out-of-scope *topic* (tax, labour law, GDPR, Justice, Economy, procurement, visas)
  with no in-scope topic anywhere: "out";
- an in-scope topic and no out-of-scope one: "in";
- both: "in" when the subject names only the in-scope topic (the other is mentioned in
  passing), otherwise "uncertain";
- nothing recognised: "uncertain".

Measured: no lexicon alone is reliable on unseen mail (../shared/notes/triage-findings.md,
"Scope"), hence the wide "uncertain". A classifier trained on agents' corrections
(`scope_model.py`) may settle what the rules leave open, above its stored threshold; it
never turns a message with an in-scope topic "out" (the machine must not be the one that
refuses).

Pure: no I/O, no clock. The built-in services directory is read once, at import.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from dcs_mailbox.errors import ConfigError
from dcs_mailbox.text import fold
from dcs_mailbox.triage.scope_lexicon import IN_SCOPE_RULES, OUT_OF_SCOPE_RULES, LexiconRule
from dcs_mailbox.triage.verdict import Reason

if TYPE_CHECKING:
    from dcs_mailbox.triage.scope_model import ScopeModel


class Scope(StrEnum):
    IN = "in"
    OUT = "out"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Service:
    """A competent service the DCS points a requester to."""

    key: str
    name: str
    url: str | None
    # Where agents write when they refer a request to this service: full addresses, or
    # "@domain" for any address at that domain or a subdomain (docs/lifecycle.md).
    addresses: tuple[str, ...] = ()

    def receives(self, address: str) -> bool:
        address = address.lower()
        domain = address.rpartition("@")[2]
        for entry in self.addresses:
            entry = entry.lower()
            if entry.startswith("@"):
                if domain == entry[1:] or domain.endswith("." + entry[1:]):
                    return True
            elif address == entry:
                return True
        return False


@dataclass(frozen=True)
class ScopeFinding:
    scope: Scope
    category: str | None
    service: Service | None  # for "out": where to point the requester
    confidence: float | None  # the classifier's, when it was consulted; rules give none
    reasons: tuple[Reason, ...]


DEFAULT_SERVICES_FILE = Path(__file__).resolve().parents[1] / "resources" / "services.toml"
_SERVICE_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_EVIDENCE_CHARS = 200
# A request states its question in its first lines; cost grows with length (~1 ms per
# 1,000 characters), and parse allows far longer bodies.
MAX_SCOPE_CHARS = 20_000


def load_services(path: Path) -> dict[str, Service]:
    """The services directory: one TOML table per service key, with `name` and `url`."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"services directory {path} cannot be read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"services directory {path} is not valid UTF-8 TOML: {exc}") from exc
    return {key: _service(path, key, table) for key, table in data.items()}


def _service(path: Path, key: str, table: object) -> Service:
    where = f"services directory {path}, [{key}]"
    if not _SERVICE_KEY.match(key):
        raise ConfigError(f"{where}: a key uses lower-case letters, digits and '-' only")
    if not isinstance(table, dict):
        raise ConfigError(f'{where}: expected a table with name = "…" and url = "…"')
    unknown = set(table) - {"name", "url", "addresses"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    name, url = table.get("name"), table.get("url")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name must be a non-empty string")
    if url is not None and (not isinstance(url, str) or not url.startswith("https://")):
        raise ConfigError(f"{where}: url must be an https:// address (or be left out)")
    addresses = table.get("addresses", [])
    if not isinstance(addresses, list) or not all(
        isinstance(a, str) and "@" in a and " " not in a for a in addresses
    ):
        raise ConfigError(f'{where}: addresses must be a list like ["x@y.fr", "@domaine.fr"]')
    return Service(key=key, name=name.strip(), url=url, addresses=tuple(addresses))


DEFAULT_SERVICES: Mapping[str, Service] = MappingProxyType(load_services(DEFAULT_SERVICES_FILE))


@dataclass(frozen=True)
class _Hit:
    rule: LexiconRule
    in_subject: int
    in_body: int
    evidence: str

    @property
    def weight(self) -> int:
        # The subject is where a requester names the topic.
        return 2 * self.in_subject + self.in_body


def _boundaried(rule: LexiconRule) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9])(?:{rule.pattern})(?![a-z0-9])")


_IN = tuple((rule, _boundaried(rule)) for rule in IN_SCOPE_RULES)
_OUT = tuple((rule, _boundaried(rule)) for rule in OUT_OF_SCOPE_RULES)
# fold() keeps typographic apostrophes; the lexicon is written with "'".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})


def _normalise(text: str) -> str:
    return fold(text).translate(_APOSTROPHES)


def _hits(
    rules: Sequence[tuple[LexiconRule, re.Pattern[str]]], subject: str, body: str
) -> list[_Hit]:
    hits = []
    for rule, pattern in rules:
        in_subject = [m.group(0) for m in pattern.finditer(subject)]
        in_body = [m.group(0) for m in pattern.finditer(body)]
        if in_subject or in_body:
            evidence = (in_subject or in_body)[0][:_EVIDENCE_CHARS]
            hits.append(_Hit(rule, len(in_subject), len(in_body), evidence))
    return hits


def _best(hits: Sequence[_Hit]) -> _Hit | None:
    # Rules without a category (a bare statute reference) name no topic; ties keep the
    # lexicon's order, which lists the most specific topics first.
    ranked = [h for h in hits if h.rule.category is not None]
    return max(ranked, key=lambda h: h.weight, default=None)


def _service_of(hit: _Hit | None, services: Mapping[str, Service]) -> Service | None:
    if hit is None or hit.rule.service is None:
        return None
    return services.get(hit.rule.service)


def _reason(hit: _Hit, services: Mapping[str, Service]) -> Reason:
    rule = hit.rule
    if rule in IN_SCOPE_RULES:
        detail = f"Thème du protocole (art. 2) : {rule.detail}"
    elif rule.genre:
        detail = f"{rule.detail} : hors du protocole (art. 2), quel que soit le thème"
    else:
        detail = f"Thème hors du protocole (art. 2) : {rule.detail}"
    service = _service_of(hit, services)
    if service is not None:
        detail += f" ; service compétent : {service.name}"
    return Reason(rule=rule.id, detail=detail, evidence=hit.evidence)


def assess_scope(
    subject: str,
    own_text: str,
    *,
    model: ScopeModel | None = None,
    services: Mapping[str, Service] = DEFAULT_SERVICES,
) -> ScopeFinding:
    """Scope of a request from its subject and the requester's own new text.

    `own_text` should be the requester's words only (no signature, no quoted thread):
    a signature or a quoted answer from the DCS would lend its vocabulary to the request.
    """
    own_text = own_text[:MAX_SCOPE_CHARS]
    folded_subject, folded_body = _normalise(subject), _normalise(own_text)
    ins = _hits(_IN, folded_subject, folded_body)
    outs = _hits(_OUT, folded_subject, folded_body)
    reasons = tuple(_reason(hit, services) for hit in (*outs, *ins))
    best_in, best_out = _best(ins), _best(outs)
    category = best_in.rule.category if best_in else None

    genres = [hit for hit in outs if hit.rule.genre]
    if genres or (outs and not ins):
        chosen = max(genres or outs, key=lambda hit: hit.weight)
        return ScopeFinding(
            Scope.OUT, chosen.rule.category, _service_of(chosen, services), None, reasons
        )
    if ins and not outs:
        return ScopeFinding(Scope.IN, category, None, None, reasons)
    if ins and outs and _subject_names_only_in_scope(ins, outs):
        note = Reason(
            rule="scope.in.subject",
            detail="L'objet ne nomme qu'un thème du protocole ; "
            "le thème hors protocole n'apparaît que dans le corps",
            evidence=subject[:_EVIDENCE_CHARS],
        )
        return ScopeFinding(Scope.IN, category, None, None, (*reasons, note))

    if ins:  # and outs: contrary signals
        open_reason = Reason(
            rule="scope.conflict",
            detail="Indices contraires (thème du protocole et thème hors protocole) : "
            "à apprécier par un agent",
        )
    else:
        open_reason = Reason(
            rule="scope.none", detail="Aucun thème reconnu : à apprécier par un agent"
        )
        category = best_out.rule.category if best_out else None
    if model is None:
        return ScopeFinding(Scope.UNCERTAIN, category, None, None, (*reasons, open_reason))
    return _model_decision(
        model, f"{subject}\n{own_text}", category, (*reasons, open_reason), has_in=bool(ins)
    )


def _subject_names_only_in_scope(ins: Sequence[_Hit], outs: Sequence[_Hit]) -> bool:
    return any(h.in_subject for h in ins) and not any(h.in_subject for h in outs)


def _model_decision(
    model: ScopeModel,
    text: str,
    category: str | None,
    reasons: tuple[Reason, ...],
    *,
    has_in: bool,
) -> ScopeFinding:
    predicted, confidence = model.predict(text)
    label = "dans le périmètre" if predicted is Scope.IN else "hors périmètre"
    figures = f"confiance {confidence:.0%}, seuil {model.threshold:.0%}".replace("%", " %")
    if confidence < model.threshold:
        detail = f"Classifieur appris : {label}, non retenu ({figures})"
        scope = Scope.UNCERTAIN
    elif predicted is Scope.OUT and has_in:
        detail = (
            f"Classifieur appris : {label} ({figures}), non retenu : "
            "un thème du protocole est présent"
        )
        scope = Scope.UNCERTAIN
    else:
        detail = f"Classifieur appris : {label} ({figures})"
        scope = predicted
    reason = Reason(rule="scope.model", detail=detail, evidence=f"{confidence:.3f}")
    return ScopeFinding(scope, category, None, confidence, (*reasons, reason))
