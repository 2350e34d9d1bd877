"""Splitting a body into the requester's own words, their signature and quoted history."""

from __future__ import annotations

import pytest

from dcs_mailbox.message import Address
from dcs_mailbox.triage.body import SplitBody, split_body

SENDER = Address(address="m.lacroix@transports-exemple.example", name="Marc Lacroix")
QUESTION = "Les agents de sûreté peuvent-ils inspecter les coffres des véhicules ?"


def test_message_without_salutation_signature_or_quotes_is_all_own_text() -> None:
    assert split_body(QUESTION, SENDER) == SplitBody(own=QUESTION, signature="", quoted="")


@pytest.mark.parametrize(
    "salutation",
    ["Bonjour,", "Madame, Monsieur,", "Bonjour Monsieur,", "Monsieur le Préfet,",
     "Bonjour M. Martin,", "Mesdames, Messieurs,", "Chère Madame,"],
)  # fmt: skip
def test_salutation_is_not_own_text(salutation: str) -> None:
    split = split_body(f"{salutation}\n\n{QUESTION}", SENDER)
    assert split.own == QUESTION


def test_salutation_on_the_same_line_as_the_question_is_removed() -> None:
    assert split_body(f"Bonjour, {QUESTION}", SENDER).own == QUESTION


def test_sentence_opening_with_a_civility_and_a_name_is_not_a_salutation() -> None:
    text = "Monsieur Paul DURAND, salarié de notre société, est-il autorisé à porter une arme ?"
    assert split_body(text, SENDER).own == text


@pytest.mark.parametrize(
    "closing",
    ["Cordialement,", "Bien cordialement", "Bien à vous,", "Respectueusement,", "Merci.",
     "Merci par avance pour votre retour.", "Salutations distinguées,",
     "En vous remerciant par avance,", "Sincères salutations",
     "Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées."],
)  # fmt: skip
def test_closing_formula_starts_the_signature(closing: str) -> None:
    text = f"{QUESTION}\n\n{closing}\n\nMarc Lacroix\nResponsable sûreté\nTél. 01 99 00 45 45"
    split = split_body(text, SENDER)
    assert split.own == QUESTION
    assert split.signature.startswith(closing)
    assert split.signature.endswith("01 99 00 45 45")


def test_dash_dash_space_delimiter_starts_the_signature() -> None:
    split = split_body(f"{QUESTION}\n-- \nM. L.\nTransports Exemple", SENDER)
    assert split.own == QUESTION
    assert split.signature == "--\nM. L.\nTransports Exemple"


def test_block_starting_with_the_senders_name_is_the_signature() -> None:
    for name_line in ("Marc Lacroix", "LACROIX Marc", "M. Lacroix", "Marc LACROIX – Sûreté"):
        split = split_body(f"{QUESTION}\n\n{name_line}\nTransports Exemple", SENDER)
        assert split.own == QUESTION, name_line


def test_senders_name_is_matched_without_accents() -> None:
    sender = Address(address="h.lefevre@example.org", name="Hélène Lefèvre")
    split = split_body(f"{QUESTION}\nHELENE LEFEVRE\nDirectrice sûreté", sender)
    assert split.own == QUESTION


def test_trailing_contact_lines_are_the_signature_without_a_closing() -> None:
    text = (
        f"{QUESTION}\n\nDirection de la sûreté\nTransports Exemple SAS\n"
        "12 avenue de la Gare, 69003 Lyon\nTél. +33 1 99 00 45 45\nwww.transports-exemple.example"
    )
    split = split_body(text, None)
    assert split.own == QUESTION
    assert split.signature.startswith("Direction de la sûreté")


def test_phone_number_announced_in_the_text_stays_own_text() -> None:
    text = "Un individu nous harcèle au téléphone. Voici son numéro :\n01 99 00 71 72"
    assert split_body(text, SENDER).own == text


def test_closing_word_inside_a_request_is_not_a_signature() -> None:
    text = f"Merci de bien vouloir nous indiquer la marche à suivre.\n{QUESTION}"
    assert split_body(text, SENDER).own == text


def test_postscript_after_the_signature_is_own_text() -> None:
    text = f"{QUESTION}\n\nCordialement,\nMarc Lacroix\nPS : le site est classé Seveso."
    split = split_body(text, SENDER)
    assert split.own == f"{QUESTION}\n\nPS : le site est classé Seveso."
    assert "PS" not in split.signature


def test_mobile_footer_and_disclaimer_are_the_signature() -> None:
    disclaimer = (
        "Ce message et toutes les pièces jointes sont confidentiels et établis à "
        "l'intention exclusive de ses destinataires. " * 4
    )
    split = split_body(f"{QUESTION}\n\nEnvoyé de mon iPhone\n\n{disclaimer}", SENDER)
    assert split.own == QUESTION


@pytest.mark.parametrize(
    "history",
    [
        "> Bonjour,\n> Votre question a bien été reçue.",
        "Le lun. 3 mars 2025 à 10:12, DCS <sec-dcs@interieur.gouv.fr> a écrit :\n> Bonjour",
        "Le 03/03/2025 à 10:12, Délégation aux coopérations de sécurité a\nécrit :\n> Bonjour",
        "-----Message d'origine-----\nDe : DCS\nEnvoyé : lundi 3 mars 2025 10:12\nObjet : RE",
        "De : DCS <sec-dcs@interieur.gouv.fr>\nEnvoyé : lundi 3 mars 2025 10:12\n"
        "À : Marc Lacroix\nObjet : RE: Saisine CDSE\n\nBonjour,",
        "________________________________\nDe : DCS\nEnvoyé : lundi 3 mars 2025\nÀ : moi",
        "From: DCS <sec-dcs@interieur.gouv.fr>\nSent: Monday, March 3, 2025 10:12 AM\n"
        "To: Marc Lacroix\nSubject: RE: Saisine CDSE",
        "On Mon, Mar 3, 2025 at 10:12 AM DCS <sec-dcs@interieur.gouv.fr> wrote:\n> Hello",
        "---------- Forwarded message ---------\nDe : Jean\nDate: lun. 3 mars 2025",
        "-------- Message transféré --------\nSujet : question\nDate : Mon, 3 Mar 2025",
        '----- Mail original -----\nDe: "DCS" <sec-dcs@interieur.gouv.fr>',
        "Début du message réexpédié :\n\nDe: DCS\nObjet: question",
    ],
)
def test_quoted_history_is_set_apart(history: str) -> None:
    text = f"{QUESTION}\n\nCordialement,\nMarc Lacroix\n\n{history}\n> M. Hugo TESSIER"
    split = split_body(text, SENDER)
    assert split.own == QUESTION
    assert split.signature == "Cordialement,\nMarc Lacroix"
    assert split.quoted.startswith(history.splitlines()[0])
    assert split.quoted.endswith("> M. Hugo TESSIER")


def test_inline_quotes_between_answers_are_set_apart() -> None:
    text = "> Quel est votre site ?\nLe dépôt de Lyon.\n> Quelle date ?\nLe 12 mai."
    split = split_body(text, SENDER)
    assert split.own == "Le dépôt de Lyon.\nLe 12 mai."
    assert split.quoted == "> Quel est votre site ?\n> Quelle date ?"


def test_reply_written_below_the_quotes_is_own_text() -> None:
    text = (
        "Le 3 mars 2025 à 10:12, DCS <sec-dcs@interieur.gouv.fr> a écrit :\n"
        "> Pouvez-vous préciser le site concerné ?\n\n"
        f"Il s'agit du dépôt de Lyon. {QUESTION}\n\nCordialement,\nMarc Lacroix"
    )
    split = split_body(text, SENDER)
    assert split.own == f"Il s'agit du dépôt de Lyon. {QUESTION}"
    assert split.quoted.endswith("> Pouvez-vous préciser le site concerné ?")


def test_attribution_followed_by_unmarked_text_quotes_the_rest() -> None:
    # An HTML quote turned into text loses its « > » marks.
    text = f"{QUESTION}\n\nLe 3 mars 2025 à 10:12, DCS a écrit :\nMonsieur,\nNotre réponse."
    split = split_body(text, SENDER)
    assert split.own == QUESTION
    assert split.quoted.endswith("Notre réponse.")


def test_last_sentence_without_full_stop_is_not_taken_for_a_job_title() -> None:
    text = "Nous voudrions connaître la procédure de sécurité\nMarc Lacroix\n01 99 00 45 45"
    assert split_body(text, SENDER).own == "Nous voudrions connaître la procédure de sécurité"


def test_sentence_ending_with_a_ecrit_is_not_an_attribution() -> None:
    text = f"La préfecture nous a écrit :\nles palpations sont interdites. {QUESTION}"
    assert split_body(text, SENDER).own == text


def test_crlf_line_endings_are_handled() -> None:
    text = f"Bonjour,\r\n\r\n{QUESTION}\r\n\r\nCordialement,\r\nMarc Lacroix\r\n"
    split = split_body(text, SENDER)
    assert split.own == QUESTION
    assert split.signature == "Cordialement,\nMarc Lacroix"


def test_empty_body() -> None:
    assert split_body("", None) == SplitBody(own="", signature="", quoted="")
