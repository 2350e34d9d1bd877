"""Personal data about third parties: one example per detector, and what must not fire.

Every message here is written for these tests; identifiers carry valid checksums and
phone numbers sit in the regulator's fiction ranges (01 99 00, 06 39 98).
"""

from __future__ import annotations

import pytest

from dcs_mailbox.message import Address, InboundMessage
from dcs_mailbox.triage.personal_data import PersonalDataFinding, detect_personal_data

SENDER = Address(address="c.vasseur@groupe-exemple.example", name="Claire Vasseur")
SIGNATURE = """
Bien cordialement,

Claire Vasseur
Directrice sûreté – Groupe Exemple SAS
SIRET 412 365 876 00017
8 rue du Commerce, 92100 Boulogne-Billancourt
Tél. : 01 99 00 87 65 – Mob. : 06 39 98 70 01
c.vasseur@groupe-exemple.example
"""


def detect(body: str, subject: str = "Saisine CDSE - question") -> PersonalDataFinding:
    message = InboundMessage(
        sha256="0" * 64,
        size=len(body),
        message_id="test@example.org",
        subject=subject,
        sender=SENDER,
        to=(Address(address="sec-dcs@interieur.gouv.fr"),),
        text=f"Madame, Monsieur,\n\n{body}\n{SIGNATURE}",
    )
    return detect_personal_data(message)


def rules(finding: PersonalDataFinding) -> set[str]:
    return {reason.rule for reason in finding.reasons}


@pytest.mark.parametrize(
    ("body", "rule", "evidence"),
    [
        (
            "Un visiteur a oublié à l'accueil une attestation portant le numéro de sécurité "
            "sociale 1 87 03 69 123 045 31. À qui devons-nous la remettre ?",
            "pd.nir",
            "1 87 03 69 123 045 31",
        ),
        (
            "Un fournisseur nous demande de régler sa facture sur le compte "
            "FR14 2004 1010 0505 0001 3M02 606 : ce compte est-il connu pour des fraudes ?",
            "pd.iban",
            "FR14 2004 1010 0505 0001 3M02 606",
        ),
        (
            "Un sous-traitant, SIREN 527 198 436, souhaite intervenir sur notre site sensible.",
            "pd.siren",
            "527 198 436",
        ),
        (
            "Pouvez-vous nous dire si l'établissement SIRET 41236587600017 est sérieux ?",
            "pd.siret",
            "41236587600017",
        ),
        (
            "La société dont le numéro de TVA est FR89412365876 nous démarche avec insistance.",
            "pd.vat",
            "FR89412365876",
        ),
        (
            "Un individu nous appelle depuis le 01 99 00 45 67 en se présentant comme policier.",
            "pd.phone",
            "01 99 00 45 67",
        ),
        (
            "Mme Laure ROUSSEL, notre hôtesse, reçoit des menaces au 06 39 98 41 22. "
            "Comment la protéger ?",
            "pd.phone",
            "06 39 98 41 22",
        ),
        (
            "Une camionnette immatriculée GH-482-KL stationne chaque nuit devant le dépôt.",
            "pd.plate",
            "GH-482-KL",
        ),
        (
            "Une vieille berline immatriculée 4521 TX 69 tourne autour du site depuis lundi.",
            "pd.plate",
            "4521 TX 69",
        ),
        (
            "Le candidat nous a présenté un passeport n° 19FR45872 qui nous paraît douteux.",
            "pd.passport",
            "19FR45872",
        ),
        (
            "Le visiteur, né le 3 mars 1987 à Lille, a tenté de forcer le portique.",
            "pd.birth-date",
            "né le 3 mars 1987",
        ),
        (
            "Un drone a survolé notre centrale ; le numéro d'exploitant relevé est "
            "FRAa1b2c3d4e5f6g. Que faire ?",
            "pd.drone-operator",
            "FRAa1b2c3d4e5f6g",
        ),
        (
            "Nous recevons des courriels menaçants envoyés depuis k.morel@messagerie.example.",
            "pd.email",
            "k.morel@messagerie.example",
        ),
        (
            "L'auteur des tags serait un jeune homme demeurant au 8 rue des Lilas à Montreuil.",
            "pd.home-address",
            "demeurant au 8 rue des Lilas à Montreuil",
        ),
        (
            "Un agent se présente avec la carte professionnelle CAR-075-2031-04-12-20310045678.",
            "pd.cnaps-card",
            "CAR-075-2031-04-12-20310045678",
        ),
    ],
)
def test_identifier_of_a_third_party_is_found(body: str, rule: str, evidence: str) -> None:
    finding = detect(body)
    assert finding.found
    assert any(r.rule == rule and r.evidence == evidence for r in finding.reasons), finding


@pytest.mark.parametrize(
    "body",
    [
        "Pouvez-vous nous indiquer si M. Hugo TESSIER est connu de vos services ?",
        "Nous envisageons d'embaucher Mme Inès Carpentier comme agent d'accueil. "
        "A-t-elle des antécédents ?",
        "Pouvez-vous vérifier la personne suivante avant son recrutement.\n\n"
        "Nom : LEFEVRE\nPrénom : Marc",
        "Un de nos agents, M. Karim Haddad, serait fiché S. Pouvez-vous le confirmer ?",
        "Nous souhaitons des renseignements sur Monsieur Paul Girardin, notre futur chauffeur.",
        "Un client, le dénommé Sébastien Roux, nous menace. Dispose-t-il d'un permis de "
        "port d'arme ?",
        "Notre nouveau prestataire nous présente M. Yann LE GOFF. Pouvez-vous me dire s'il "
        "n'est pas défavorablement connu ?",
        "Notre magasinier de l'entrepôt de Vénissieux, Ludovic T., 41 ans, tient des propos "
        "inquiétants. Est-il signalé à vos services ?",
        "Pourriez-vous me dire si la personne suivante fait l'objet d'une fiche S : "
        "Julien Morvan, 34 ans.",
        "Un individu surnommé « le Gaucher » rôde autour du dépôt. Est-il connu de vos services ?",
    ],
)
def test_named_person_tied_to_a_check_is_found(body: str) -> None:
    finding = detect(body)
    assert rules(finding) == {"pd.named-person-check"}, finding


def test_name_in_the_subject_is_tied_to_a_check_in_the_body() -> None:
    finding = detect(
        "Nous avons un doute sur ce candidat. Est-il fiché au FPR ?",
        subject="Saisine CDSE - recrutement de M. Thomas BERNIER",
    )
    assert rules(finding) == {"pd.named-person-check"}


@pytest.mark.parametrize(
    "body",
    [
        "L'association « Les Veilleurs du Quartier » est-elle connue de vos services ?",
        "Pouvez-vous nous renseigner sur la société Transports Vauclair et ses dirigeants ?",
        "Le collectif « Terre Debout » appelle à bloquer notre usine. Pouvez-vous nous "
        "transmettre les informations dont vous disposez sur ce collectif ?",
        "La société Nettoyage Horizon SARL a-t-elle fait l'objet d'une enquête ?",
    ],
)
def test_named_organisation_asked_about_is_found(body: str) -> None:
    finding = detect(body)
    assert rules(finding) == {"pd.legal-person-check"}, finding


@pytest.mark.parametrize(
    "body",
    [
        "Notre société fait-elle l'objet d'une enquête de vos services ?",
        "Notre groupe est-il surveillé depuis l'incident de juin ?",
        "Faisons-nous l'objet d'un signalement particulier ?",
    ],
)
def test_question_on_the_requesters_own_company_is_found(body: str) -> None:
    assert rules(detect(body)) == {"pd.own-organisation-check"}


@pytest.mark.parametrize(
    "body",
    [
        # statutes, decrees, orders
        "L'article L. 613-2 du code de la sécurité intérieure autorise-t-il la palpation ?",
        "Le décret n° 2017-1844 du 29 décembre 2017 s'applique-t-il à nos agents ?",
        "La loi n° 2021-646 du 25 mai 2021 a-t-elle modifié l'article L. 611-1 ?",
        "L'arrêté du 25 novembre 2016 fixe-t-il le contenu de la formation ?",
        "Le texte publié au JORF du 3 janvier prévoit-il une dérogation ?",
        "L'article R. 613-3 du code de la sécurité intérieure impose-t-il un signalement "
        "concernant les agents condamnés ?",
        # postal codes and the company's own address
        "Notre entrepôt du 12 avenue Jean Jaurès, 69007 Lyon, peut-il installer des caméras ?",
        # event dates
        "Notre salon aura lieu du 12 au 14 juin 2025 : faut-il déclarer les palpations ?",
        "Le concert du 14/07/2025 à 21 h réunira 8 000 personnes ; quelles obligations ?",
        # a company or a person mentioned only as context
        "Notre prestataire Gardiennage Plus SAS nous propose d'équiper ses agents de "
        "caméras-piétons. Est-ce autorisé ?",
        "Notre directeur général, M. Olivier Brunet, souhaite connaître la réglementation "
        "applicable aux palpations de sécurité.",
        "Suite à l'échange avec Mme Durand de la préfecture, nous voudrions savoir si le "
        "plan Vigipirate impose des contrôles d'identité à l'entrée.",
        # unidentified people, general questions
        "Un de nos salariés serait fiché S : quelles démarches devons-nous suivre ?",
        "Comment une entreprise peut-elle savoir si un candidat est fiché S ?",
        "Un individu a été interpellé hier devant le magasin ; comment signaler ce type "
        "d'incident à l'avenir ?",
        "M. Leroy, notre responsable accueil, demande comment vérifier l'identité des visiteurs.",
        "M. Dupont, notre DRH, a rejoint le groupe en mai. Il souhaite savoir si nous pouvons "
        "demander le casier judiciaire des candidats.",
        # numbers that are not a third party's
        "Le numéro d'horodatage 201702281549075 figure sur le ticket de caisse.",
        "Vous pouvez me joindre au 01 99 00 12 34 pour en discuter.",
        "Le numéro vert 0 800 00 11 22 de l'assistance est-il compatible avec le protocole ?",
        "Un numéro seul, 06 39 98 00 17, figurait sur le tract ; faut-il le signaler ?",
        # titles are not names
        "Monsieur le Préfet nous a demandé de renforcer le signalement des colis suspects.",
    ],
)
def test_must_not_fire(body: str) -> None:
    finding = detect(body)
    assert not finding.found, finding


def test_signature_of_the_sender_is_not_third_party_data() -> None:
    # The signature carries a name, phones, an address, a SIRET and an e-mail address.
    finding = detect("Quelles sont les règles applicables aux agents cynophiles ?")
    assert finding == PersonalDataFinding(found=False, reasons=())


def test_sender_introducing_themselves_is_not_a_named_person() -> None:
    finding = detect(
        "Je suis Claire Vasseur, directrice sûreté. Mme Claire VASSEUR, c'est-à-dire moi, "
        "a-t-elle besoin d'une carte professionnelle pour faire des palpations ?"
    )
    assert not finding.found, finding


def test_quoted_history_is_not_read() -> None:
    message = InboundMessage(
        sha256="0" * 64,
        size=1,
        message_id=None,
        subject="RE: Saisine CDSE",
        sender=SENDER,
        text="Merci pour votre réponse.\n\nLe 3 mars 2025 à 10:12, DCS a écrit :\n"
        "> M. Hugo TESSIER est-il connu de vos services ?\n> Immatriculation GH-482-KL",
    )
    assert not detect_personal_data(message).found


def test_reasons_are_french_and_evidence_is_bounded() -> None:
    finding = detect(
        "Une camionnette immatriculée GH-482-KL et une autre immatriculée AB-123-CD "
        "stationnent devant le site. " + "Le conducteur est très agressif. " * 20
    )
    assert [r.detail for r in finding.reasons] == ["Immatriculation de véhicule (SIV)"] * 2
    assert all(len(r.evidence) <= 200 for r in finding.reasons)


def test_message_without_text_or_sender_finds_nothing() -> None:
    message = InboundMessage(sha256="0" * 64, size=0, message_id=None)
    assert detect_personal_data(message) == PersonalDataFinding(found=False, reasons=())
