"""Scope rules on hand-written French requests: one per rule family, and the traps."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dcs_mailbox.errors import ConfigError
from dcs_mailbox.triage.scope import (
    DEFAULT_SERVICES,
    MAX_SCOPE_CHARS,
    Scope,
    Service,
    assess_scope,
    load_services,
)
from dcs_mailbox.triage.scope_lexicon import IN_SCOPE_RULES, OUT_OF_SCOPE_RULES
from dcs_mailbox.triage.scope_model import FeatureSpec, ScopeModel

SUBJECT = "Saisine CDSE - question"

IN_SCOPE_CATEGORIES = {
    "securite-privee", "videoprotection", "palpations", "vigipirate", "evenements",
    "terrorisme-radicalisation", "drones", "armes", "cyber", "protocole", "surete-site",
    "alerte-evacuation", "malveillance", "enquetes-administratives",
}  # fmt: skip
OUT_OF_SCOPE_CATEGORIES = {
    "fiscal", "travail", "donnees-personnelles-rgpd", "justice", "economie",
    "marches-publics", "demarchage", "candidature", "plainte", "visas-titres",
    "contraventions",
}  # fmt: skip


# (category, text): the rule is scope.in.<category>.
IN_SCOPE_CASES = [
    ("securite-privee", "Un agent de sécurité privée peut-il exercer sans carte professionnelle ?"),
    ("videoprotection", "Faut-il une autorisation pour la vidéoprotection de notre vitrine ?"),
    ("palpations", "Nos agents peuvent-ils faire des palpations à l'entrée du salon ?"),
    ("vigipirate", "Quelles mesures du plan Vigipirate concernent les gares routières ?"),
    ("evenements", "Quelles obligations pour un festival d'environ 4 000 personnes ?"),
    ("terrorisme-radicalisation", "Un guide de prévention de la radicalisation existe-t-il ?"),
    ("drones", "Un drone survole notre usine chaque nuit : que faire ?"),
    ("armes", "Nos équipes peuvent-elles porter des aérosols lacrymogènes ?"),
    ("cyber", "Victimes d'un rançongiciel, à quel service le signaler ?"),
    ("protocole", "Le protocole DCS-CDSE s'applique-t-il à nos filiales ?"),
    ("surete-site", "Notre dépôt est classé Seveso : qui fait un diagnostic de sûreté ?"),
    ("alerte-evacuation", "Alerte à la bombe : faut-il privilégier le confinement ?"),
    ("malveillance", "Nos livreurs subissent des agressions : quelle prévention ?"),
    ("enquetes-administratives", "Pouvons-nous demander une enquête administrative ?"),
]

# (rule, category, service, text): the rule is scope.out.<rule>.
OUT_OF_SCOPE_CASES = [
    ("demarchage", "demarchage", None,
     "Je serais ravi de vous présenter notre solution de contrôle d'accès biométrique."),
    ("candidature", "candidature", "choisir-le-service-public",
     "Titulaire d'un master de sécurité intérieure, je vous adresse ma candidature."),
    ("plainte-par-courriel", "plainte", "plainte",
     "Notre entrepôt a été cambriolé : je veux porter plainte par courriel."),
    ("plainte", "plainte", "plainte", "Nous voulons déposer plainte contre un ancien fournisseur."),
    ("fiscal", "fiscal", "dgfip", "Quel taux de TVA appliquer aux refacturations internes ?"),
    ("securite-sociale", "travail", "urssaf", "Cotisations URSSAF sur une prime ?"),
    ("travail", "travail", "travail", "Un salarié conteste sa rupture conventionnelle."),
    ("rgpd", "donnees-personnelles-rgpd", "cnil",
     "Notre DPO s'interroge sur la conservation des données de nos clients (RGPD)."),
    ("casier-judiciaire", "justice", "casier-judiciaire",
     "Comment obtenir un extrait de casier judiciaire pour un salarié expatrié ?"),
    ("justice", "justice", "justice", "Partie civile depuis un an, où en est la procédure ?"),
    ("investissements-etrangers", "economie", "dg-tresor",
     "Un fonds américain entre à notre capital : le contrôle des investissements étrangers ?"),
    ("douane", "economie", "douane", "Trois de nos conteneurs sont retenus en douane au Havre."),
    ("marches-publics", "marches-publics", "marches-publics",
     "Comment obtenir le dossier de consultation d'un marché public de travaux ?"),
    ("facture", "marches-publics", "chorus-pro",
     "Notre facture du mois de mars reste impayée malgré deux relances."),
    ("visas", "visas-titres", "france-visas", "Notre consultant attend un visa de long séjour."),
    ("titres-sejour", "visas-titres", "etrangers", "Une salariée renouvelle son titre de séjour."),
    ("ants", "visas-titres", "ants", "Quel délai pour le renouvellement d'un passeport ?"),
    ("contraventions", "contraventions", "antai", "Notre fourgon a reçu une contravention."),
]  # fmt: skip


@pytest.mark.parametrize(("category", "text"), IN_SCOPE_CASES)
def test_in_scope_topics_are_in(category: str, text: str) -> None:
    finding = assess_scope(SUBJECT, text)
    assert finding.scope is Scope.IN
    assert finding.category == category
    assert finding.service is None
    assert f"scope.in.{category}" in {reason.rule for reason in finding.reasons}


def test_a_statute_reference_alone_is_in_without_a_topic() -> None:
    finding = assess_scope(SUBJECT, "Que prévoit le code de la sécurité intérieure sur ce point ?")
    assert finding.scope is Scope.IN
    assert finding.category is None
    assert [reason.rule for reason in finding.reasons] == ["scope.in.securite-interieure"]


@pytest.mark.parametrize(("rule", "category", "service", "text"), OUT_OF_SCOPE_CASES)
def test_out_of_scope_topics_are_out_with_their_service(
    rule: str, category: str, service: str | None, text: str
) -> None:
    finding = assess_scope(SUBJECT, text)
    assert finding.scope is Scope.OUT
    assert finding.category == category
    assert (finding.service.key if finding.service else None) == service
    assert f"scope.out.{rule}" in {reason.rule for reason in finding.reasons}


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        (
            SUBJECT,
            "Nous installons une vidéoprotection dans nos parkings, et la CNIL nous dit "
            "qu'aucune formalité n'est nécessaire auprès d'elle : quelle autorisation "
            "demander en préfecture ?",
        ),
        (
            SUBJECT,
            "Nos agents de sécurité privée : leurs temps de pause relèvent-ils du droit du "
            "travail ou des règles du CNAPS ?",
        ),
        (
            "Saisine CDSE - radicalisation d'un collaborateur",
            "Sans viser personne, quelles limites le droit du travail pose-t-il à "
            "l'employeur qui constate des signes de radicalisation ?",
        ),
        (
            SUBJECT,
            "Le CNAPS consulte-t-il le casier judiciaire des demandeurs de carte professionnelle ?",
        ),
        (
            SUBJECT,
            "Je comprends que vous ne pouvez pas communiquer de données personnelles. "
            "Pouvez-vous au moins m'indiquer la procédure générale à suivre ?",
        ),
        (
            SUBJECT,
            "Nos images de vidéoprotection sont conservées 30 jours : pouvons-nous les "
            "remettre aux enquêteurs sans réquisition ?",
        ),
        (
            SUBJECT,
            "Notre prestataire de gardiennage nous propose une ronde supplémentaire : le "
            "coût est-il déductible des impôts ?",
        ),
    ],
)
def test_in_scope_questions_mentioning_out_of_scope_words_are_not_out(
    subject: str, text: str
) -> None:
    assert assess_scope(subject, text).scope is not Scope.OUT


def test_the_subject_settles_a_mention_in_passing() -> None:
    finding = assess_scope(
        "Saisine CDSE - vidéoprotection de nos parkings",
        "La CNIL nous dit qu'elle n'est pas compétente : à qui demander l'autorisation ?",
    )
    assert finding.scope is Scope.IN
    assert finding.category == "videoprotection"
    assert "scope.in.subject" in {reason.rule for reason in finding.reasons}


def test_contrary_signals_are_left_to_an_agent() -> None:
    finding = assess_scope(SUBJECT, "Nos vigiles de gardiennage : quel taux de TVA facturer ?")
    assert finding.scope is Scope.UNCERTAIN
    assert {"scope.out.fiscal", "scope.in.securite-privee", "scope.conflict"} <= {
        reason.rule for reason in finding.reasons
    }
    assert finding.service is None


def test_a_sales_pitch_is_out_whatever_security_topic_it_sells() -> None:
    finding = assess_scope(
        "Proposition de démonstration",
        "Je serais heureux de vous présenter notre solution de détection de drones ; "
        "notre grille tarifaire est jointe.",
    )
    assert finding.scope is Scope.OUT
    assert finding.category == "demarchage"


def test_nothing_recognised_is_uncertain() -> None:
    finding = assess_scope(SUBJECT, "Pouvez-vous me rappeler au sujet de notre échange ?")
    assert finding.scope is Scope.UNCERTAIN
    assert finding.category is None
    assert [reason.rule for reason in finding.reasons] == ["scope.none"]


def test_reasons_quote_the_matched_span_and_speak_french() -> None:
    finding = assess_scope(SUBJECT, "Le taux de TVA sur nos prestations a-t-il changé ?")
    reason = next(r for r in finding.reasons if r.rule == "scope.out.fiscal")
    assert reason.evidence == "tva"
    assert "Question fiscale" in reason.detail
    assert "Direction générale des Finances publiques" in reason.detail


def test_typographic_apostrophes_match() -> None:
    finding = assess_scope(SUBJECT, "Comment réagir à une alerte à la bombe dans l’entrepôt ?")
    assert finding.scope is Scope.IN


def test_words_inside_other_words_do_not_match() -> None:
    # « ants » (ANTS), « tva », « armes » inside longer words.
    finding = assess_scope(SUBJECT, "Les restaurants et les larmes de nos participants.")
    assert finding.scope is Scope.UNCERTAIN


def test_only_the_start_of_a_very_long_text_is_read() -> None:
    text = "Bonjour. " * (MAX_SCOPE_CHARS // 9 + 10) + "Quel taux de TVA ?"
    assert assess_scope(SUBJECT, text).scope is Scope.UNCERTAIN


# --- the lexicon and the services directory ----------------------------------------


def test_rule_ids_are_unique_and_categories_known() -> None:
    rules = (*IN_SCOPE_RULES, *OUT_OF_SCOPE_RULES)
    ids = [rule.id for rule in rules]
    assert len(ids) == len(set(ids))
    for rule in IN_SCOPE_RULES:
        assert re.fullmatch(r"scope\.in\.[a-z-]+", rule.id)
        assert rule.category is None or rule.category in IN_SCOPE_CATEGORIES
        assert not rule.genre and rule.service is None
    for rule in OUT_OF_SCOPE_RULES:
        assert re.fullmatch(r"scope\.out\.[a-z-]+", rule.id)
        assert rule.category in OUT_OF_SCOPE_CATEGORIES


def test_no_pattern_matches_an_empty_or_blank_text() -> None:
    for rule in (*IN_SCOPE_RULES, *OUT_OF_SCOPE_RULES):
        assert re.fullmatch(rule.pattern, "") is None, rule.id
        assert re.fullmatch(rule.pattern, " ") is None, rule.id


def test_every_service_a_rule_names_is_in_the_directory() -> None:
    named = {rule.service for rule in OUT_OF_SCOPE_RULES if rule.service}
    assert named <= set(DEFAULT_SERVICES)
    for service in DEFAULT_SERVICES.values():
        assert service.name
        assert service.url is None or service.url.startswith("https://")


def test_an_operator_copy_of_the_directory_is_used(tmp_path: Path) -> None:
    path = tmp_path / "services.toml"
    path.write_text(
        '[dgfip]\nname = "SIE de Lyon"\nurl = "https://www.impots.gouv.fr/sie-lyon"\n',
        encoding="utf-8",
    )
    services = load_services(path)
    assert services == {
        "dgfip": Service("dgfip", "SIE de Lyon", "https://www.impots.gouv.fr/sie-lyon")
    }
    finding = assess_scope(SUBJECT, "Quel taux de TVA ?", services=services)
    assert finding.service == services["dgfip"]
    # A key the copy lacks: still out, no service to suggest.
    finding = assess_scope(SUBJECT, "Où en est la procédure ? Nous sommes partie civile.",
                           services=services)  # fmt: skip
    assert finding.scope is Scope.OUT and finding.service is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[cnil]\nurl = "https://www.cnil.fr"\n', "name must be a non-empty string"),
        ('[cnil]\nname = "CNIL"\nurl = "www.cnil.fr"\n', "url must be an https://"),
        ('[cnil]\nname = "CNIL"\nmail = "x"\n', "unknown field(s) mail"),
        ('[CNIL]\nname = "CNIL"\n', "lower-case letters"),
        ('cnil = "CNIL"\n', "expected a table"),
        ("[cnil\n", "not valid UTF-8 TOML"),
    ],
)
def test_a_broken_directory_is_refused_with_the_reason(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "services.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_services(path)


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_services(tmp_path / "absent.toml")


# --- the classifier's place --------------------------------------------------------


def keyword_model(weight: float, *, threshold: float = 0.8) -> ScopeModel:
    """A one-feature model: « zorglub » pushes towards "in" (weight > 0) or "out"."""
    return ScopeModel(
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        training_size=2,
        label_counts={"in": 1, "out": 1},
        cv_folds=2,
        cv_accuracy=1.0,
        threshold=threshold,
        features=FeatureSpec(),
        intercept=0.0,
        terms={"w zorglub": (1.0, weight)},
    )


def test_the_model_settles_what_the_rules_leave_open() -> None:
    finding = assess_scope(SUBJECT, "Question zorglub.", model=keyword_model(4.0))
    assert finding.scope is Scope.IN
    assert finding.confidence is not None and finding.confidence > 0.95
    reason = finding.reasons[-1]
    assert reason.rule == "scope.model"
    assert "confiance 98 %" in reason.detail and "seuil 80 %" in reason.detail


def test_the_model_below_its_threshold_leaves_it_uncertain() -> None:
    finding = assess_scope(SUBJECT, "Question zorglub.", model=keyword_model(4.0, threshold=0.99))
    assert finding.scope is Scope.UNCERTAIN
    assert "non retenu" in finding.reasons[-1].detail


def test_rules_win_over_the_model() -> None:
    finding = assess_scope(SUBJECT, "Vidéoprotection zorglub ?", model=keyword_model(-4.0))
    assert finding.scope is Scope.IN
    assert "scope.model" not in {reason.rule for reason in finding.reasons}


def test_the_model_never_turns_an_in_scope_topic_out() -> None:
    text = "Nos vigiles de gardiennage : quel taux de TVA facturer ? zorglub"
    finding = assess_scope(SUBJECT, text, model=keyword_model(-4.0))
    assert finding.scope is Scope.UNCERTAIN
    assert "un thème du protocole est présent" in finding.reasons[-1].detail


def test_the_model_may_say_out_when_no_topic_is_recognised() -> None:
    finding = assess_scope(SUBJECT, "Question zorglub.", model=keyword_model(-4.0))
    assert finding.scope is Scope.OUT
    assert finding.service is None
