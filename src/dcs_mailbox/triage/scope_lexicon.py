"""Vocabulary of the protocol's remit (art. 2), for `scope.py`. Data only: extend freely.

Each rule's pattern is a regular expression over *folded* text (`text.fold`: lower case,
no accents, single spaces; typographic apostrophes become "'"), a list of alternatives
joined by "|". `scope.py` adds word boundaries on both sides of each alternative, so
write whole words and spell the inflections out (`cameras?`), never bare prefixes.

Written from general French administrative and security vocabulary, not from any one
message: a phrase lifted from a single example would match that example and little
else (see ../shared/notes/triage-findings.md, "Scope"). Out-of-scope patterns must be
unambiguous: an agent can always rescue an "uncertain" message, but a wrong "out" costs
the requester (protocol art. 2: the DCS answers anything touching internal security).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LexiconRule:
    id: str  # stable: stored in verdict reasons
    category: str | None  # None: a general signal that names no topic
    detail: str  # French, for agents
    pattern: str  # alternatives over folded text, without the word boundaries
    service: str | None = None  # key in services.toml (out-of-scope rules)
    # Out-of-scope rules only. A *genre* (sales pitch, job application, a complaint filed
    # by e-mail) is outside the remit whatever security topic the message mentions: a
    # vendor of anti-drone systems writes about drones. Topic rules (tax, GDPR…) yield
    # to any in-scope topic instead.
    genre: bool = False


IN_SCOPE_RULES: tuple[LexiconRule, ...] = (
    LexiconRule(
        id="scope.in.securite-privee",
        category="securite-privee",
        detail="Sécurité privée (CNAPS, agents, cartes professionnelles)",
        pattern=(
            r"cnaps|conseil national des activites privees de securite"
            r"|activites privees de securite|securite privee|cartes? professionnelles?"
            r"|agents? (?:prives? )?de (?:securite|surete|surveillance|gardiennage|prevention)"
            r"|agents? prives?|agents? cynophiles?|gardiennage|surveillance humaine"
            r"|telesurveillance|transports? de fonds"
            r"|protection (?:physique|rapprochee) des personnes|gardes? du corps"
            r"|services? internes? de (?:securite|surete)|agrements? (?:de )?dirigeants?"
            r"|surveillance de la voie publique|livre vi du code de la securite interieure"
            r"|(?:article )?l\. ?61[1-7]-\d+"
        ),
    ),
    LexiconRule(
        id="scope.in.videoprotection",
        category="videoprotection",
        detail="Vidéoprotection",
        pattern=(
            r"videoprotection|video-?surveillance|cameras?|cameras?[- ]pietons?|lapi"
            r"|lecture automatisee (?:des|de) plaques|l\. ?25[1-5]-\d+"
        ),
    ),
    LexiconRule(
        id="scope.in.palpations",
        category="palpations",
        detail="Palpations de sécurité et inspection des bagages",
        pattern=(
            r"palpations?|fouilles?|inspections? visuelles?|controles? visuels?"
            r"|(?:ouverture|inspection|controle|fouille)s? (?:des|de|du) "
            r"(?:sacs?|bagages?|vehicules?|coffres?)"
            r"|portiques? (?:de detection|detecteurs?)|magnetometres?|detecteurs? de metaux"
            r"|l\. ?613-[23]"
        ),
    ),
    LexiconRule(
        id="scope.in.vigipirate",
        category="vigipirate",
        detail="Plan et posture Vigipirate",
        pattern=(
            r"vigipirate|urgence attentat|securite renforcee[- ]risque attentat|sgdsn"
            r"|secretariat general de la defense et de la securite nationale"
            r"|niveau de (?:la )?menace"
        ),
    ),
    LexiconRule(
        id="scope.in.evenements",
        category="evenements",
        detail="Sécurité d'un événement ou d'un rassemblement",
        pattern=(
            r"grands? evenements?"
            r"|evenements? (?:sportifs?|culturels?|festifs?|publics?|recreatifs?)"
            r"|manifestations? (?:sportives?|culturelles?|festives?|publiques?|recreatives?)"
            r"|manifestations? sur la voie publique|rassemblements?|festivals?|concerts?|matchs?"
            r"|spectateurs?"
            r"|(?:plus de |environ |pres de )?\d[\d ]*\d (?:personnes|participants|invites)"
            r"|perimetres? de protection"
            r"|organisateurs? (?:d'evenements?|de manifestations?|de la manifestation)"
            r"|manifestants?|manifestations? (?:revendicatives?|non declarees?)|jeux olympiques"
        ),
    ),
    LexiconRule(
        id="scope.in.terrorisme-radicalisation",
        category="terrorisme-radicalisation",
        detail="Terrorisme et radicalisation",
        pattern=(
            r"terrorismes?|terroristes?|anti-?terroristes?|attentats?"
            r"|radicalis(?:ation|ations|e|es|ee|ees)|cnapr|fiches? s|fsprt"
            r"|fichier des personnes recherchees|fpr|propagande|d?jihad(?:isme|iste|istes)?"
            r"|extremism(?:e|es)|extremistes?|ultra-?(?:droite|gauche)"
            r"|s'echapper,? se cacher,? alerter"
        ),
    ),
    LexiconRule(
        id="scope.in.drones",
        category="drones",
        detail="Drones",
        pattern=(
            r"drones?|anti-?drones?|telepilotes?"
            r"|aeronefs? (?:sans (?:equipage|personne a bord)|telepilotes?"
            r"|circulant sans personne)"
            r"|(?:interdictions?|zones? interdites?) de survol"
        ),
    ),
    LexiconRule(
        id="scope.in.armes",
        category="armes",
        detail="Armes et armement des agents",
        pattern=(
            r"armes?|armements?|port d'armes?|batons? de defense|tonfas?|matraques?"
            r"|aerosols? (?:lacrymogenes?|incapacitants?)|pistolets? a impulsion electrique"
            r"|tasers?"
        ),
    ),
    LexiconRule(
        id="scope.in.cyber",
        category="cyber",
        detail="Signalement d'incident ou de menace cyber",
        pattern=(
            r"cyber-?(?:attaques?|securite|malveillance|menaces?|criminalite|incidents?)"
            r"|cybermalveillance(?:\.gouv\.fr)?|anssi|rancongiciels?|ransomwares?|piratages?"
            r"|hameconnages?|phishing|attaques? informatiques?"
            r"|incidents? (?:cyber|informatiques?|de securite informatique)"
            r"|intrusions? informatiques?|denis? de service|nis ?2|directive nis|ddos|pharos"
        ),
    ),
    LexiconRule(
        id="scope.in.protocole",
        category="protocole",
        detail="Question sur le protocole DCS–CDSE",
        pattern=(
            r"protocole (?:dcs|du 6 janvier 2015|de cooperation|dcs-cdse|de partenariat)"
            r"|point de contact unique|modalites de saisine|(?:nos|vos|les|des|ces) saisines"
            r"|fonctionnement (?:de la|du) (?:dcs|point de contact|delegation)"
        ),
    ),
    LexiconRule(
        id="scope.in.surete-site",
        category="surete-site",
        detail="Sûreté et protection des sites",
        pattern=(
            r"surete (?:du site|des sites|de (?:nos|notre) sites?|des installations|interne"
            r"|portuaire|aeroportuaire)"
            r"|protection des sites|controles? d'acces|controles? d'identite|intrusions?"
            r"|operateurs? d'importance vitale|(?:points?|sites?|secteurs?) d'importance vitale"
            r"|oiv|saiv|seveso|zones? (?:protegees?|a regime restrictif)|referents? surete"
            r"|(?:diagnostics?|audits?|etudes?) de surete|plans? de surete"
            r"|etablissements? recevant du public"
        ),
    ),
    LexiconRule(
        id="scope.in.alerte-evacuation",
        category="alerte-evacuation",
        detail="Alerte, évacuation, confinement et gestion de crise",
        pattern=(
            r"evacuations?|evacuer|confinement|mise a l'abri|alertes? a la bombe"
            r"|(?:colis|objets?|sacs?|bagages?|vehicules?) (?:suspects?|abandonnes?)"
            r"|engins? explosifs?|explosifs?|nrbc|(?:appels?|courriers?|colis) malveillants?"
            r"|levees? de doute|demineurs?|deminage"
            r"|exercices? (?:de surete|d'evacuation|de confinement|de crise|conjoints?)"
            r"|fiches? reflexes?|(?:cellule|gestion) de crise|ppms"
        ),
    ),
    LexiconRule(
        id="scope.in.malveillance",
        category="malveillance",
        detail="Menaces, agressions et actes de malveillance",
        pattern=(
            r"menaces?|menace(?:e|s|es)|agressions?|agresse(?:e|s|es)?|violences?|cambriolages?"
            r"|vols? (?:commis|a l'etalage|avec violence|a main armee)|degradations?|vandalisme"
            r"|squats?|blocages?|escroqueries?|arnaques?|usurpations? d'identite"
            r"|(?:comportements?|individus?|personnes?) suspect(?:s|e|es)?"
            r"|fraudes? au (?:president|faux \w+)"
            r"|faux (?:fournisseur|president|conseiller|ordre de virement)|changements? de rib"
            r"|protection (?:des|de nos|de leurs) (?:collaborateurs|salaries|personnels|agents)"
        ),
    ),
    LexiconRule(
        id="scope.in.enquetes-administratives",
        category="enquetes-administratives",
        detail="Enquêtes administratives et criblage",
        pattern=(
            r"enquetes? administratives?|criblage"
            r"|habilitations? (?:secret|confidentiel|defense|de securite)"
            r"|connue?s? (?:de vos|des|par vos|par les) services|l\. ?114-[1-2]"
            r"|postes? sensibles?"
        ),
    ),
    LexiconRule(
        id="scope.in.securite-interieure",
        category=None,
        detail="Référence au code de la sécurité intérieure",
        pattern=(r"code de la securite interieure|csi"),
    ),
)

OUT_OF_SCOPE_RULES: tuple[LexiconRule, ...] = (
    LexiconRule(
        id="scope.out.demarchage",
        category="demarchage",
        detail="Démarchage commercial",
        genre=True,
        pattern=(
            r"vous presenter (?:notre|nos) (?:solutions?|offres?|produits?|gammes?|technologies?"
            r"|plateformes?)"
            r"|(?:notre|nos) grilles? tarifaires?"
            r"|(?:notre|nos) (?:catalogue|brochure|plaquette commerciale)"
            r"|tarifs? (?:preferentiels?|administrations?|secteur public)"
            r"|offres? (?:commerciales?|promotionnelles?|speciales?|de lancement)"
            r"|demonstrations? (?:gratuites?|de (?:notre|nos) (?:solutions?|produits?))"
            r"|je serais (?:heureux|heureuse|ravi|ravie) de vous (?:presenter|rencontrer|faire)"
            r"|(?:se|vous) desabonner|(?:se|vous) desinscrire"
        ),
    ),
    LexiconRule(
        id="scope.out.candidature",
        category="candidature",
        detail="Candidature à un emploi ou à un stage",
        service="choisir-le-service-public",
        genre=True,
        pattern=(
            r"candidatures? spontanees?"
            r"|(?:ma|mon) (?:candidature|cv|curriculum vitae|lettre de motivation)"
            r"|lettre de motivation|curriculum vitae"
            r"|(?:je recherche|a la recherche d'|je suis a la recherche d') ?(?:un|une) "
            r"(?:stage|emploi|poste|alternance|contrat d'apprentissage|apprentissage)"
            r"|(?:demande|recherche) de stage"
        ),
    ),
    LexiconRule(
        id="scope.out.plainte-par-courriel",
        category="plainte",
        detail="Dépôt de plainte adressé par courriel",
        service="plainte",
        genre=True,
        pattern=(
            r"(?:porter|deposer) plainte (?:aupres de vous|par (?:courriel|mail|e-?mail|messagerie"
            r"|ce (?:courriel|mail|message)))"
            r"|(?:ce|le present) (?:courriel|mail|message) (?:vaut|valant|tient lieu de) plainte"
            r"|(?:prendre|enregistrer|recevoir|recueillir) (?:ma|notre) plainte"
        ),
    ),
    LexiconRule(
        id="scope.out.plainte",
        category="plainte",
        detail="Volonté de porter plainte",
        service="plainte",
        pattern=(
            r"(?:je|nous) (?:souhaite|souhaitons|voudrais|voudrions|veux|voulons|desire"
            r"|desirons) (?:porter|deposer) plainte"
        ),
    ),
    LexiconRule(
        id="scope.out.fiscal",
        category="fiscal",
        detail="Question fiscale",
        service="dgfip",
        pattern=(
            r"tva|taxe sur la valeur ajoutee|impots?|impositions?|fiscal(?:e|es|ite|aux)?"
            r"|credits? d'impot|cotisation fonciere des entreprises|dgfip"
            r"|taxes? (?:fonciere|d'apprentissage|sur les salaires)|avis d'imposition|rescrits?"
        ),
    ),
    LexiconRule(
        id="scope.out.securite-sociale",
        category="travail",
        detail="Cotisations et protection sociales",
        service="urssaf",
        pattern=(
            r"urssaf|cotisations? (?:sociales|patronales|salariales)"
            r"|charges (?:sociales|patronales)|exonerations? de charges"
            r"|declaration sociale nominative|cpam|caisse primaire|accidents? du travail"
            r"|(?:pensions?|caisses?) de retraite|retraite complementaire"
        ),
    ),
    LexiconRule(
        id="scope.out.travail",
        category="travail",
        detail="Droit du travail",
        service="travail",
        pattern=(
            r"droit du travail|code du travail|contrats? de travail|licenciements?|licencier"
            r"|ruptures? conventionnelles?|heures supplementaires"
            r"|(?:temps|duree) (?:de|du) travail|conventions? collectives?"
            r"|inspect(?:ion|eur|rice)s? du travail|prud'?hom(?:mes|al|ale|ales|aux)|conges payes"
            r"|arrets? (?:de travail|maladie)|periodes? d'essai|medecine du travail"
            r"|comite social et economique|bulletins? de (?:paie|salaire)|fiches? de paie"
        ),
    ),
    LexiconRule(
        id="scope.out.rgpd",
        category="donnees-personnelles-rgpd",
        detail="Protection des données personnelles (RGPD)",
        service="cnil",
        pattern=(
            r"rgpd|reglement general sur la protection des donnees|cnil"
            # Not « données personnelles » alone: the DCS's own refusals use it, and
            # requesters quote it back in security questions. GDPR is about what is done
            # with the data.
            r"|(?:traitements?|traiter|conserver|conservation|collecte|collecter|stocker"
            r"|stockage|transferts?|effacer|effacement|supprimer|suppression) (?:des |de |les "
            r"|ces |leurs |ses |nos |vos )?donnees (?:personnelles|a caractere personnel)"
            r"|protection des donnees|conservation des donnees"
            r"|delegues? a la protection des donnees|dpo"
            r"|droits? d'(?:acces|opposition|effacement) (?:a ses|a leurs|aux|a des) donnees"
            r"|droit a l'effacement|registres? des (?:activites de )?traitements?"
            r"|analyses? d'impact|aipd|(?:violations?|fuites?) de donnees"
        ),
    ),
    LexiconRule(
        id="scope.out.casier-judiciaire",
        category="justice",
        detail="Casier judiciaire",
        service="casier-judiciaire",
        pattern=(r"casiers? judiciaires?|extraits? de casier|bulletins? n ?[°o]? ?[123]"),
    ),
    LexiconRule(
        id="scope.out.justice",
        category="justice",
        detail="Procédure judiciaire en cours",
        service="justice",
        pattern=(
            r"parties? civiles?"
            r"|(?:etat|avancement|suites?) (?:de|d'avancement de) (?:la|ma|notre) "
            r"(?:procedure|plainte)"
            r"|ou en est (?:la|ma|notre|l') (?:procedure|enquete|plainte|affaire)"
            r"|suites? donnees? a (?:ma|notre|la) plainte|classements? sans suite"
            r"|juges? d'instruction|dommages et interets|citations? directes?"
            r"|tribunal (?:judiciaire|correctionnel|de commerce|de police)|jugements?"
        ),
    ),
    LexiconRule(
        id="scope.out.investissements-etrangers",
        category="economie",
        detail="Investissements étrangers et sanctions économiques",
        service="dg-tresor",
        pattern=(
            r"investissements? etrangers?|controle des investissements|gel des avoirs"
            r"|sanctions? (?:economiques|internationales|europeennes|financieres internationales)"
            r"|mesures restrictives|embargos?|biens a double usage|licences? d'exportation"
            r"|controle des exportations"
        ),
    ),
    LexiconRule(
        id="scope.out.douane",
        category="economie",
        detail="Douane",
        service="douane",
        pattern=(r"douanes?|douaniers?|dedouanements?|dgddi|droits de douane"),
    ),
    LexiconRule(
        id="scope.out.marches-publics",
        category="marches-publics",
        detail="Marché public",
        service="marches-publics",
        pattern=(
            r"marches? publics?|commande publique|appels? d'offres? (?:publics?|publies?)"
            r"|repondre a (?:un|l'|cet) appel d'offres?|reglements? de (?:la )?consultation"
            r"|dossiers? de consultation|acheteurs? publics?|pouvoirs? adjudicateurs?"
            r"|attributaires?"
        ),
    ),
    LexiconRule(
        id="scope.out.facture",
        category="marches-publics",
        detail="Facture ou paiement",
        service="chorus-pro",
        pattern=(
            r"factures?(?: [\w']+){0,6} (?:impayees?|non reglees?|en souffrance)"
            r"|factures?(?: [\w']+){0,6} n'a (?:toujours )?pas ete reglee|impayes?"
            r"|retards? de paiement|interets moratoires|chorus(?: pro)?|relances? de paiement"
        ),
    ),
    LexiconRule(
        id="scope.out.visas",
        category="visas-titres",
        detail="Visa",
        service="france-visas",
        pattern=(
            r"(?:demande|dossier|delivrance|obtention|refus)s? (?:de|d'un|du) visas?"
            r"|visas? (?:de long sejour|de court sejour|schengen|d'entree|etudiants?|talents?)"
            r"|france-visas|consulats?"
        ),
    ),
    LexiconRule(
        id="scope.out.titres-sejour",
        category="visas-titres",
        detail="Titre de séjour",
        service="etrangers",
        pattern=(r"titres? de sejour|cartes? de sejour|naturalisations?|anef"),
    ),
    LexiconRule(
        id="scope.out.ants",
        category="visas-titres",
        detail="Titre d'identité ou de circulation (ANTS)",
        service="ants",
        pattern=(
            r"ants"
            r"|(?:demande|renouvellement|delivrance|obtention|perte)s? (?:de|d'un|d'une|du"
            r"|de mon|de ma) (?:passeport|carte nationale d'identite|carte d'identite"
            r"|permis de conduire|certificat d'immatriculation|carte grise)"
            r"|cartes? grises?|certificats? d'immatriculation"
        ),
    ),
    LexiconRule(
        id="scope.out.contraventions",
        category="contraventions",
        detail="Contravention ou amende",
        service="antai",
        pattern=(
            r"contraventions?|amendes? forfaitaires?|antai|retraits? de points"
            r"|proces-verbal de stationnement"
        ),
    ),
)
