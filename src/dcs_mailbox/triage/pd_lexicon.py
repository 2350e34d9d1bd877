"""Lexicons of the personal-data detector (triage/personal_data.py).

Each entry is a regular-expression fragment (several alternatives may share a line).
Unless stated otherwise, entries are matched against the *folded* text: lower case, no
accents, plain apostrophes and dashes; a space in an entry stands for any run of
whitespace, line breaks included; entries match whole words. Write them from the general
language of French security and administrative mail, never from one message: the
labelled set grows with mail no rule has seen.
"""

from __future__ import annotations

# --- natural persons -----------------------------------------------------------------

# Matched case-sensitively on the original text, followed by a name.
CIVILITIES = (r"M\.", r"Mr\.?", r"MM\.", r"Mme\.?", r"Mmes\.?", r"Mlle\.?", r"Monsieur",
              r"Madame", r"Mademoiselle", r"MONSIEUR", r"MADAME")  # fmt: skip
# Words that introduce a person's name (the name that follows keeps its case).
NAME_INTRODUCERS = (
    r"nommee?|denommee?|prenommee?|le nomme|la nommee|le sieur|la dame",
    r"un certain|une certaine|identifiee? comme|se faisant appeler|repondant au nom de",
)
# A nickname between quotes: « surnommé « Le Grec » », « alias "Bébert" ».
NICKNAME_INTRODUCERS = (r"surnommee?|alias|dite?|connue? sous le (?:nom|surnom|pseudonyme) de",)
# Form fields of an identity (« Nom : DUPONT », « Prénom : Paul »), at the start of a line.
NAME_LABELS = (
    r"nom|nom de famille|nom d'usage|nom de naissance|nom et prenoms?|nom/prenom|prenoms?",
    r"identite|individu|personne concernee|salarie concerne|candidat",
)
# Capitalised words that are not names, though they follow a civility or stand beside an
# ALL-CAPS word: titles, function words, calendar words, words that open a sentence.
NOT_NAMES = (
    "le la les l de du des un une et ou en au aux à a ce cet cette son sa ses mon ma mes"
    " notre nos votre vos leur leurs je il elle nous vous ils elles on qui que quoi dont"
    " préfet préfète sous-préfet ministre président présidente directeur directrice"
    " commissaire général générale colonel commandant capitaine lieutenant adjudant chef"
    " délégué déléguée secrétaire conseiller conseillère maire député sénateur procureur"
    " juge maître docteur professeur responsable officier agent gendarme policier"
    " monsieur madame mademoiselle messieurs mesdames objet saisine bonjour bonsoir merci"
    " cordialement re tr fwd fw pj nb ps urgent important attention question demande"
    " protocole direction service préfecture ministère note plan fiche dossier référence"
    " janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
    " lundi mardi mercredi jeudi vendredi samedi dimanche pouvez pourriez pourrions"
    " est sont a-t-il a-t-elle est-il est-elle fait peut doit"
    " article articles livre titre chapitre section annexe partie paragraphe alinéa code loi"
    " décret arrêté circulaire instruction ordonnance règlement directive"
)
# ALL-CAPS words that are acronyms or shouting, not surnames.
ACRONYMS = (
    "CDSE DCS DGSI DGSE DGPN DGGN DRSD DGA SGDSN ANSSI CNAPS CNIL RGPD TAJ FPR FSPRT FIJAIS"
    " FINIADA FNI SIV SIA PNAT SDAT GIGN RAID BRI OPJ APJ PJ DDSP DIPN DDPN SGAMI CSI CGI"
    " CP CPP JORF SNCF RATP EDF SIRET SIREN RCS TVA IBAN NIR CNI ANTS OQTF CEDEX BP RN ZI ZA"
    " SAS SARL SA SASU EURL SCI SNC ONG PDG DG DRH RH RSSI DSI CSO CEO CFO CTO UE EU ONU"
    " OTAN NATO USA UK FRA FR URGENT IMPORTANT SAISINE OBJET RE TR FW FWD NB PS SVP"
    " VIGIPIRATE SEVESO ERP IGH OIV PIV SAIV COVID ATTENTION INFO INFORMATION DEMANDE"
    " QUESTION NORD SUD EST OUEST PARIS LYON MARSEILLE FRANCE"
)

# What is asked about a named person (protocol: no information on natural persons).
PERSON_CHECKS = (
    r"antecedents?|casier|fiche s|fiche (?:de renseignement|de signalement|de recherche)",
    r"fichee?s? (?:s|au|aux|par|comme|pour)|inscrite? (?:au|aux|dans (?:un|le|les)) fichiers?",
    r"fpr|taj|fsprt|fijais|finiada",
    r"connue?s? (?:des|de vos|par vos|de nos|par les|de la|du) (?:services|police|gendarmerie"
    r"|justice|forces de l'ordre|autorites|renseignement)",
    r"(?:defavorablement|deja) connue?s?",
    r"(?:verifier|controler|confirmer) (?:son|sa|leur) identite",
    r"(?:est|etait|serait|soit)-(?:il|elle) (?:connue?|fichee?|signalee?|recherchee?|suivie?"
    r"|surveillee?|dangereu(?:x|se)|radicalisee?|inscrite?|repertoriee?|defavorablement)",
    # « n'est pas fiché », « serait déjà signalé », « soit connu des services »
    r"(?:n'|ne )?(?:est|etait|serait|soit)(?: pas| plus| deja| bien| toujours| encore)?"
    r" (?:fichee?|signalee?|recherchee?|surveillee?|radicalisee?|defavorablement"
    r"|connue? (?:des|de vos|par vos))",
    r"(?:a|aurait|ait)(?:-t-(?:il|elle))? (?:des antecedents|deja ete|un casier|fait l'objet)",
    r"(?:a|ont|aurait|avait|aient|ait)(?: deja)? ete (?:condamnee?|interpellee?|signalee?"
    r"|fichee?|incarceree?|ecrouee?|placee? en garde a vue|mise? en (?:cause|examen))",
    r"fai(?:t|sait|re|rait)(?:-(?:il|elle))? l'objet",
    r"(?:deja )?signalee? (?:aux|a vos|par|comme|pour)|signalement (?:le |la )?concernant",
    r"radicalisee?|radicalisation (?:de|du)|(?:est|serait) recherchee?",
    r"port d'armes?|(?:detention|acquisition|detenteur|detentrice) d'armes?|licence de tir",
    r"permis de (?:port|detention|chasser)|autorisation de (?:port|detention|detenir|porter)",
    r"interdite? (?:d'acquisition|de detention|de stade|de paraitre|du territoire)",
    r"(?:passe|parcours) judiciaire|condamnations?|en garde a vue|sous surveillance",
    r"suivie? par (?:vos|les) services|(?:le|la) localiser",
    r"(?:adresse|domicile|lieu de residence) (?:actuel|actuelle|personnel|personnelle)",
    r"ou (?:il|elle) (?:reside|habite|vit|se trouve|demeure)",
    r"carte professionnelle (?:de|du|d')",
)
# A check followed by a group of people is a general question (« le casier judiciaire
# des candidats »), whoever is named in the sentence.
GENERIC_GROUPS = (
    r"(?:des|les|nos|vos|leurs|ses|tous les|toutes les|chaque|d'un|d'une|un|une)"
    r" (?:candidat|salarie|agent|personne|visiteur|employe|collaborateur|personnel|prestataire"
    r"|intervenant|individu|client|benevole|stagiaire|interimaire|postulant|recrue|gens"
    r"|spectateur|usager|passager|resident|locataire|supporter|participant|exposant)e?s?",
)
# Checks that take their object after them (« des renseignements sur M. X », « vérifier la
# société Y »): in the name's sentence they count only when the name follows closely.
OBJECT_CHECKS = (
    r"(?:informations?|renseignements?|elements?|precisions?) (?:sur|concernant|au sujet d"
    r"|relatifs? a|relatives? a|a propos d)",
    r"(?:se|me|nous|vous) renseigner (?:sur|au sujet d|a propos d)",
    r"enquetes? (?:administratives? |de moralite |de voisinage )?(?:sur|concernant|visant"
    r"|a propos d)",
    r"(?:verifier|controler|verification|controle|criblage|screening|localiser)"
    r"(?: de| du| des| d')?",
    r"(?:coordonnees|numero de telephone|adresse|identite|moralite|dangerosite) (?:de|du|d')",
)
# Requests for information in a sentence that points back at the person or organisation
# (« les informations dont vous disposez sur cette association »).
FOLLOWING_REQUESTS = (
    r"(?:informations?|renseignements?|elements?)(?: [a-z'-]+){0,6}? (?:sur|concernant"
    r"|au sujet d|a propos d|relatifs? a)",
    r"(?:identite|coordonnees|adresse|numero) (?:de|du|des|d')",
)
# A sentence that points back at someone already named (« Est-il connu de vos services ? »).
ANAPHORS = (
    r"il|elle|lui|l'interessee?|celui-ci|celle-ci|ce dernier|cette derniere|son|sa|ses",
    r"cette personne|cet individu|cet homme|cette femme|ce monsieur|cette dame",
    r"ce (?:salarie|candidat|collaborateur|jeune|agent|visiteur|client|prestataire|stagiaire"
    r"|interimaire|benevole|locataire|riverain|voisin)",
    r"cette (?:salariee|candidate|collaboratrice|jeune|stagiaire|interimaire|benevole"
    r"|locataire|riveraine|voisine)",
    r"le concernant|la concernant|a son (?:sujet|egard|encontre)",
)
# Announces a name on what follows the colon (« la personne suivante : Julien Morvan »).
NAME_ANNOUNCERS = (r"(?:suivante?s?|ci-dessous|ci-apres|identite|concernee?) ?:",)
# Common given names in France: before a capitalised word, they make a bare name
# (« Julien Morvan »). Words that are also common nouns (Marine, Rose, Claire…) are left out.
FIRST_NAMES = (
    "adam alain alexandre alexis ali alice amandine amelie amine anais andre anne antoine"
    " arnaud arthur aurelien aurelie bastien baptiste benjamin benoit bernard bruno camille"
    " caroline catherine cedric celine charles charlotte chloe christian christine"
    " christophe claude clement corinne damien daniel david denis didier dominique dylan"
    " eddy elodie emilie emma emmanuel enzo eric estelle etienne fabien fabrice fatima"
    " fatou florence florian francis francois frederic gabriel gael gerard gilles gregory"
    " guillaume hamza helene herve hugo ibrahim ines isabelle jacques jean jeremy jerome"
    " johan jonathan jordan joseph julie julien justine karim kevin laetitia laura laurence"
    " laurent lea leo leon lina louis loic luc lucas lucie ludovic manon marc marie"
    " martine mathieu mathilde matthieu maxime medhi mehdi melanie michel mickael mohamed"
    " mohammed moussa nadia nathalie nicolas noemie olivier omar pascal patrice patrick"
    " paul pauline philippe pierre quentin rachid raphael remi renaud richard robert romain"
    " sabrina samir samuel sandrine sarah sebastien sophie stephane stephanie sylvain"
    " sylvie theo thierry thomas tristan valentin valerie vincent virginie xavier yann"
    " yannick yassine yohan youssef yves"
)
# A sentence that announces a name to come (« la personne suivante : »).
CATAPHORS = (
    r"suivante?s?|ci-(?:dessous|apres|joint|jointe)",
    r"dont (?:voici|l'identite|le nom|les coordonnees)|voici (?:son|l') identite",
)

# --- legal persons -------------------------------------------------------------------

# Words that introduce an organisation's name; the name keeps its case.
ORGANISATION_WORDS = (
    r"societe|entreprise|association|fondation|cabinet|groupe|groupement|enseigne|agence",
    r"compagnie|federation|collectif|club|ong|structure|organisme|organisation|start-?up",
    r"prestataire|fournisseur|sous-traitant|filiale|holding|communaute|mosquee|eglise",
    r"lieu de culte|salle de sport|ecole|institut|centre culturel|syndicat|mouvement",
)
# Legal forms written after a company name (case-sensitive).
LEGAL_FORMS = ("SAS", "SASU", "SARL", "SA", "EURL", "SCI", "SNC", "SCOP", "SCA", "GIE")
# What is asked about a named organisation (protocol: no information on legal persons).
ORGANISATION_CHECKS = (
    r"est-elle (?:bien |deja |toujours |actuellement )?(?:connue|fichee|signalee|surveillee"
    r"|suivie|visee|defavorablement|liee|impliquee|soupconnee|sous|repertoriee|referencee"
    r"|inscrite|fiable|serieuse|sure|habilitee|agreee|autorisee|radicalisee|infiltree)",
    r"(?:fait|fera|faisait|ferait|aurait fait|a fait)(?:-elle|-t-elle)? (?:actuellement |deja )?"
    r"l'objet",
    r"(?:sont|seraient)-ils (?:connus|fiches|signales|surveilles|suivis|defavorablement)",
    r"connue?s? (?:des|de vos|par vos|de nos) services|defavorablement connue?s?",
    r"enquetes? (?:en cours|judiciaires?|penales?|administratives?|preliminaires?|ouvertes?)",
    r"sous enquete|visee?s? par (?:une|des|vos)",
    r"(?:n'|ne )?(?:est|serait|soit)(?: pas| plus| deja| bien| toujours)? (?:liee|impliquee"
    r"|fichee|signalee|surveillee|infiltree|radicalisee|defavorablement|connue des)",
    r"dirigeants?|gerants?|actionnaires?|beneficiaires? effectifs?|associes|antecedents",
    r"(?:liens?|proximite|accointances?) (?:avec|entre)|mouvance|derives? sectaires?",
    r"radica\w*|separatis\w*|islamis\w*|extremis\w*|terroris\w*|djihad\w*|jihad\w*",
    r"salafis\w*|infiltr\w*|blanchiment",
    r"financement (?:du terrorisme|illicite|occulte)|fiabilite|honorabilite|probite",
)
# A sentence that points back at an organisation already named.
ORGANISATION_ANAPHORS = (
    r"cette (?:societe|entreprise|association|structure|organisation|enseigne|federation"
    r"|agence|filiale|communaute|ong)",
    r"ce (?:groupe|cabinet|club|collectif|prestataire|fournisseur|sous-traitant|organisme"
    r"|mouvement|syndicat)",
    r"celle-ci|elle|ses (?:dirigeants|gerants|responsables|membres|actionnaires|associes)",
    r"son (?:dirigeant|gerant|president|responsable)",
)
# The requester's own organisation, and what asking about it looks like: « notre
# société fait-elle l'objet d'une enquête ? » is still a question about a legal person.
OWN_ORGANISATION = (
    r"(?:notre|ma) (?:societe|entreprise|groupe|structure|association|filiale|enseigne"
    r"|etablissement|organisation|maison mere|direction|site|marque)",
)
OWN_ORGANISATION_CHECKS = (
    r"(?:fait|ferait|aurait fait|a fait|faisons|ferions|avons fait)(?:-elle|-t-elle|-nous|-il"
    r"|-t-il)? (?:actuellement |deja )?l'objet d'(?:une|un|des) (?:enquete|surveillance"
    r"|procedure|signalement|investigation|fiche|suivi|mesure|attention|note|criblage"
    r"|verification)",
    r"(?:est|serait|sommes|serions)-(?:elle|il|nous) (?:connue?s?|fichee?s?|signalee?s?"
    r"|surveillee?s?|suivie?s?|visee?s?|sous enquete|sous surveillance)",
    r"enquetes? (?:judiciaires? |administratives? |penales? )?(?:est-elle |sont-elles )?"
    r"(?:en cours |ouvertes? )?(?:sur|concernant|visant|a l'encontre de) (?:notre|nous|ma)",
    r"(?:une|des) (?:enquete|investigation|procedure|surveillance)s? (?:serait|seraient|est"
    r"|sont)(?:-elle|-elles)? (?:actuellement )?(?:en cours|ouvertes?)",
)

# --- identifiers -----------------------------------------------------------------------

# Words that make a 9- or 14-digit number a SIREN / SIRET: about 1 in 10 random numbers
# passes the Luhn check, so the number alone proves nothing.
COMPANY_ID_CONTEXT = (
    r"siren|siret|rcs|registre du commerce|immatriculee?|identifiant",
    r"(?:numero|n[°o]) d'(?:identification|entreprise|immatriculation)",
)
NIR_CONTEXT = (r"securite sociale|nir|numero de secu|n[°o] (?:de )?secu|insee|carte vitale",)
PASSPORT_CONTEXT = (r"passeport|passport",)
ID_DOCUMENT_CONTEXT = (
    r"carte (?:nationale )?d'identite|cni|titre de sejour|carte de sejour",
    r"permis de conduire|piece d'identite",
)
# Numbers and addresses the sender gives as their own (« vous pouvez me joindre au … »).
OWN_CONTACT_CONTEXT = (
    r"(?:me|nous) (?:joindre|contacter|rappeler|appeler|telephoner|ecrire|repondre)",
    r"(?:mon|notre|ma) (?:numero|telephone|tel|portable|ligne|standard|mobile|gsm|fixe)",
    r"(?:je suis|nous sommes|je reste|nous restons) (?:joignables?|disponibles?"
    r"|a votre disposition)",
)
# Where a person lives (not where an event takes place or a company sits).
RESIDENCE_WORDS = (
    r"domiciliee?|demeurant|residant|reside|habite|habitant|vit",
    r"adresse personnelle|adresse du domicile|son domicile",
)
STREET_TYPES = (
    r"rue|avenue|av\.|boulevard|bd|place|allee|chemin|quai|impasse|route|cours|square"
    r"|residence|lotissement|hameau|lieu-dit|cite|passage|voie|sentier"
)
MONTHS = (
    r"janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre"
    r"|janv\.?|fevr?\.?|avr\.?|juil\.?|sept?\.?|oct\.?|nov\.?|dec\.?"
)
BIRTH_MARKERS = (
    r"nee? le|ne\(e\) le|nee? \(e\) le|date de naissance ?:?|ddn ?:?",
    r"nee? a [a-z'-]+(?: [a-z'-]+){0,3},? le",
)
# Role mailboxes of organisations: not a person's address.
ROLE_MAILBOX_PREFIXES = (
    "contact", "info", "accueil", "secretariat", "standard", "support", "noreply",
    "no-reply", "ne-pas-repondre", "webmaster", "postmaster", "mailer-daemon",
    "communication", "presse", "securite", "surete", "dcs", "sec-dcs", "pref-", "sp-",
    "ddsp", "cabinet", "courrier", "service", "rgpd", "dpo",
)  # fmt: skip
ADMINISTRATION_DOMAINS = ("gouv.fr",)
# Public webmail: sharing one with the sender does not make an address a colleague's.
WEBMAIL_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.fr", "yahoo.com", "hotmail.fr", "hotmail.com",
    "outlook.fr", "outlook.com", "live.fr", "live.com", "msn.com", "icloud.com", "me.com",
    "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "neuf.fr", "laposte.net", "bbox.fr",
    "gmx.fr", "gmx.com", "proton.me", "protonmail.com", "aol.com", "aol.fr",
)  # fmt: skip

# --- shapes, matched case-sensitively on the original text -----------------------------
# Case matters: a case-insensitive plate pattern matches « 646 du 25 » (measured).

NIR = (
    r"(?<![\d])[12][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[AB])[ .]?\d{3}"
    r"[ .]?\d{3}(?:[ .]?\d{2})?(?![\d])"
)
IBAN = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"
SIRET = r"(?<![\d.])\d{3}([ .]?)\d{3}\1\d{3}\1?\d{5}(?!\d)"
SIREN = r"(?<![\d.])\d{3}([ .]?)\d{3}\1\d{3}(?!\d|[ .]\d)"
VAT = r"\bFR ?[0-9A-HJ-NP-Z]{2} ?\d{3} ?\d{3} ?\d{3}\b"
SIV_PLATE = r"\b[A-HJ-NP-TV-Z]{2}([- ])\d{3}\1[A-HJ-NP-TV-Z]{2}\b"  # I, O, U never used
FNI_PLATE = (
    r"\b[1-9]\d{0,3}([- ])(?!(?:ET|OU|DE|DU|LE|LA|EN|AU|BIS|TER)\b)[A-Z]{1,3}\1"
    r"(?:0[1-9]|[1-8]\d|9[0-5]|2[AB]|97[1-6])\b"
)
PASSPORT_NUMBER = r"\b(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{8,9}\b"
ID_CARD_NUMBER = r"\b(?=(?:[A-Z]*\d){4})[A-Z0-9]{9,12}\b"
# EU operator registration (Regulation (EU) 2019/947 art. 14): country, 12 characters, a
# checksum, and 3 secret characters not shown; UAS-FR-… is the AlphaTango registration.
DRONE_OPERATOR = r"\bFRA[a-zA-Z0-9]{12,13}(?:-[a-zA-Z0-9]{3})?\b|\bUAS-FR-\d{3,}\b"
CNAPS_CARD = r"\bCAR-\d{3}-\d{4}-\d{2}-\d{2}-\d{5,}\b"
PHONE = (
    r"(?<![\w+])(?:(?:\+|00) ?33 ?(?:\(0\) ?)?[1-9]|0[1-9])(?:[ .-]?\d{2}){4}(?!\d)"
    r"|(?<![\w+])(?:\+|00)(?!33)[1-9]\d{0,2}(?:[ .-]?\d{1,4}){2,5}(?!\d)"
)
EMAIL = r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
# Matched on the folded text, after a birth marker.
DATE = rf"\d{{1,2}}(?:er)?[ /.-]+(?:\d{{1,2}}|{MONTHS})[ /.-]+(?:19|20)?\d{{2}}(?!\d)"
# Letters of names, and the particles of French and foreign surnames.
UPPER = "A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ"
LOWER = "a-zàâäçéèêëîïôöùûüÿæœñ"
PARTICLES = ("de", "du", "des", "d'", "d’", "van", "von", "der", "ben", "el", "al", "da", "di",
             "dos", "le", "la")  # fmt: skip
_PARTICLE = "(?:" + "|".join(p if p.endswith(("'", "’")) else p + " " for p in PARTICLES) + ")"
_CAP = rf"[{UPPER}][{LOWER}]+(?:[-'’][{UPPER}]?[{LOWER}]+)*"  # Dupont, Jean-Marc, D'Souza
_CAPS = rf"[{UPPER}]{{2,}}(?:[-'’][{UPPER}]{{2,}})*"  # DUPONT, LE-GOFF
_TOKEN = rf"(?:{_CAPS}|{_CAP}|[{UPPER}]\.)"
_END = rf"(?![{LOWER}{UPPER}])"
# A name after a civility or an introducer, in group « name »: « Paul DURAND », « de Villiers ».
NAME = rf"(?P<name>{_PARTICLE}?{_TOKEN}(?:[ \t]{_PARTICLE}?{_TOKEN}){{0,3}}{_END})"
QUOTED_NAME = r"[«\"“]\s*(?P<quoted>[^»\"”\n]{2,60}?)\s*[»\"”]"
# No introducer, so both words are required: « Paul DURAND », « DURAND Paul »; two
# capitalised words only after a common given name (group « given »): « Julien Morvan »;
# a given name and a surname's initial, the usual way of half-naming someone: « Anthony R. ».
BARE_NAME = rf"(?<![\w.])(?P<name>{_CAP}(?:[ \t]{_CAP})?[ \t]{_CAPS}|{_CAPS}[ \t]{_CAP}){_END}"
GIVEN_NAME = rf"(?<![\w.])(?P<name>(?P<given>{_CAP})[ \t]{_PARTICLE}?{_CAP}){_END}"
INITIALLED_NAME = rf"(?<![\w.])(?P<name>{_CAP}[ \t][{UPPER}]\.)(?!\w)"
# An organisation's name after one of ORGANISATION_WORDS, or before a legal form.
_ORG_TOKEN = rf"[{UPPER}0-9][\w&'’-]*"  # « Sécurigarde », « BatiSur », « 3F »
ORGANISATION_NAME = (
    rf"[ \t]+(?:(?i:d[ée]nomm[ée]e?|nomm[ée]e?|appel[ée]e?|dite?)[ \t]+)?(?:{QUOTED_NAME}"
    rf"|(?P<name>{_ORG_TOKEN}(?:[ \t](?:de |du |des |et |& )?{_ORG_TOKEN}){{0,4}}))"
)
NAME_WITH_LEGAL_FORM = (
    rf"(?<![\w&'’-])(?P<name>{_ORG_TOKEN}(?:[ \t]{_ORG_TOKEN}){{0,3}})[ \t]+"
    rf"(?:{'|'.join(LEGAL_FORMS)})\b"
)
