"""What scripts/generate_contacts.py draws contacts from: names, companies, places and the
numbering plans of the countries it writes (data, with the few helpers that spell it)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


def _s(words: str) -> list[str]:
    return words.split("|")


def _leads(first: str, exclude: str = "") -> list[str]:
    """Two-digit leads starting with one of ``first``, except those in ``exclude``."""
    return [f"{a}{b}" for a in first for b in "0123456789" if f"{a}{b}" not in _s(exclude)]


def _ranges(prefixes: str, digits: str = "0123456789") -> list[tuple[str, str]]:
    return [(prefix, digit) for prefix in prefixes.split() for digit in digits]


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    tld: str
    # city, first postal code, area code (national, without trunk prefix)
    cities: list[tuple[str, str, str]]
    male: list[str]
    female: list[str]
    last: list[str]
    streets: list[str]
    legal_forms: list[str]
    industries: list[str]
    departments: list[str]
    # job titles as (male, female) wording
    titles: list[tuple[str, str]]
    # landline formats: {a} area code, {s} subscriber number, {s[...]} parts of it
    landline: list[str]
    # what a landline subscriber number starts with, all of one length: only numbers valid
    # in the country's numbering plan, whatever digits follow
    leads: list[str]
    subscriber_digits: int
    # mobile formats: {p} network prefix, {s} the rest
    mobile: list[str]
    # (network prefix, first digit of the rest) pairs valid whatever digits follow
    mobile_ranges: list[tuple[str, str]]
    mobile_digits: int  # after the prefix
    house_first: bool = False  # "350 5th Avenue" rather than "Hauptstraße 5"
    postal: Callable[[random.Random, str], str] = lambda rng, base: base


def _postal_num(rng: random.Random, base: str) -> str:
    return str(int(base) + rng.randrange(40)).zfill(len(base))


def _postal_gb(rng: random.Random, base: str) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{base} {rng.randrange(1, 10)}{rng.choice(letters)}{rng.choice(letters)}"


def _postal_nl(rng: random.Random, base: str) -> str:
    letters = "ABCDEGHJKLMNPRSTVWXZ"
    return f"{int(base) + rng.randrange(20)} {rng.choice(letters)}{rng.choice(letters)}"


def _postal_pl(rng: random.Random, base: str) -> str:
    return f"{base[:2]}-{int(base[2:]) + rng.randrange(100):03d}"


GERMAN_DEPARTMENTS = _s(
    "Einkauf|Vertrieb|Buchhaltung|Geschäftsführung|IT|Personal|Marketing|Kundendienst|Lager|"
    "Produktion|Qualitätssicherung|Technik|Recht|Controlling|Logistik|Entwicklung"
)
GERMAN_TITLES = [
    ("Geschäftsführer", "Geschäftsführerin"), ("Einkaufsleiter", "Einkaufsleiterin"),
    ("Sachbearbeiter", "Sachbearbeiterin"), ("Vertriebsleiter", "Vertriebsleiterin"),
    ("Key Account Manager", "Key Account Managerin"), ("Teamleiter IT", "Teamleiterin IT"),
    ("Prokurist", "Prokuristin"), ("Buchhalter", "Buchhalterin"),
    ("Projektleiter", "Projektleiterin"),
    ("Assistent der Geschäftsführung", "Assistentin der Geschäftsführung"),
    ("Technischer Leiter", "Technische Leiterin"), ("Werkstattmeister", "Werkstattmeisterin"),
    ("Kaufmännischer Angestellter", "Kaufmännische Angestellte"), ("Disponent", "Disponentin"),
    ("Leiter Kundendienst", "Leiterin Kundendienst"),
    ("Entwicklungsingenieur", "Entwicklungsingenieurin"),
]  # fmt: skip
ENGLISH_DEPARTMENTS = _s(
    "Purchasing|Sales|Finance|IT|Operations|Customer Service|Management|Logistics|Engineering|"
    "Human Resources|Marketing|Legal|Quality"
)
ENGLISH_TITLES = [
    (t, t)
    for t in _s(
        "Managing Director|Head of Procurement|Purchasing Manager|Sales Manager|Account Manager|"
        "IT Manager|Office Manager|CFO|Project Manager|Buyer|Operations Manager|Sales Engineer|"
        "Head of Customer Service|Logistics Coordinator|Product Manager"
    )
]
GERMAN_MALE = _s(
    "Jürgen|Jörg|Günter|Björn|Sören|Uwe|Klaus|Stefan|Thomas|Michael|Andreas|Matthias|Markus|"
    "Tobias|Lukas|Jonas|Felix|Maximilian|Florian|Sebastian|Hans-Peter|Karl-Heinz|Ulrich|Rüdiger|"
    "Dieter|Wolfgang|Bernd|Frank|Holger|Jan|Tim|Niklas|Moritz|Leon|Paul|Benedikt|Korbinian|Xaver"
)
GERMAN_FEMALE = _s(
    "Anna|Anja|Bärbel|Gisela|Ursula|Sabine|Petra|Claudia|Julia|Lena|Sophie|Hannah|Lea|Käthe|"
    "Renée|Franziska|Annegret|Birgit|Jutta|Monika|Katrin|Susanne|Stefanie|Nicole|Sandra|Maren|"
    "Antje|Dörte|Heike|Miriam|Theresa|Veronika|Johanna|Magdalena|Svenja|Frauke"
)
GERMAN_LAST = _s(
    "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann|Schäfer|Koch|"
    "Bauer|Richter|Klein|Wolf|Schröder|Neumann|Schwarz|Zimmermann|Braun|Krüger|Hofmann|Hartmann|"
    "Lange|Schmitt|Werner|Schmitz|Krause|Meier|Lehmann|Schmid|Schulze|Maier|Köhler|Herrmann|König|"
    "Walter|Mayer|Huber|Kaiser|Fuchs|Peters|Lang|Scholz|Möller|Weiß|Jung|Hahn|Schubert|Vogel|"
    "Friedrich|Keller|Günther|Frank|Berger|Winkler|Roth|Beck|Lorenz|Baumann|Franke|Albrecht|"
    "Schuster|Simon|Ludwig|Böhm|Winter|Kraus|Schumacher|Krämer|Vogt|Stein|Jäger|Otto|Sommer|Groß|"
    "Seidel|Heinrich|Brandt|Haas|Schreiber|Graf|Schulte|Dietrich|Ziegler|Kuhn|Kühn|Pohl|Engel|"
    "Horn|Busch|Bergmann|Voigt|Sauer|Arnold|Wolff|Pfeiffer|von Bülow|Oßwald|Straßer|Fußmann|Dück|"
    "Obermüller|Hölzl|Brückner|Löffler|Gößl|zu Löwenstein"
)
# Germany's customers are not all named Müller
GERMAN_DIVERSE = (
    _s("Mehmet|Emre|Dragan|Nikolaos|Luca|Noël|Ahmet|Duc Anh|Mateusz|Arjun"),
    _s("Ayşe|Elif|Zeynep|Milica|Eleni|Zoë|Chloé|Mia|Đorđa|Priya"),
    _s(
        "Yılmaz|Öztürk|Kaya|Demir|Şahin|Çelik|Jovanović|Papadopoulos|Nguyễn|Kovačević|Nowak|"
        "Dąbrowski|Rossi|García|Al-Hassan|Sharma"
    ),
)
# --international: Germany's customers of other origins, spelt as in their own script
INTERNATIONAL_DIVERSE = (
    GERMAN_DIVERSE[0] + _s("İsmail|Oğuz|Barış|Γιώργος|Κωνσταντίνος|Νίκος|Seán|Mamadou|Ιωάννης"),
    GERMAN_DIVERSE[1] + _s("İpek|Işıl|Gülşen|Αικατερίνη|Σοφία|Δήμητρα|Siobhán|Aïssatou|Çağla"),
    GERMAN_DIVERSE[2]
    + _s(
        "İnce|Işık|Doğan|Ağaoğlu|Yıldız|Güneş|Şimşek|Özdemir|Παπαδόπουλος|Νικολάου|Γεωργίου|"
        "Οικονόμου|O'Brien|D'Angelo|N'Diaye|O'Neill|D'Souza|Dell'Orto"
    ),
)
GERMAN_STREETS = _s(
    "Hauptstraße|Bahnhofstraße|Gartenstraße|Schulstraße|Bergstraße|Lindenstraße|Kirchstraße|"
    "Leopoldstraße|Maximilianstraße|Sonnenstraße|Prinzregentenstraße|Rosenheimer Straße|"
    "Landsberger Straße|Friedrichstraße|Schillerstraße|Goethestraße|Mozartstraße|Am Mühlbach|"
    "Königsallee|Ludwigstraße|Theresienstraße|Türkenstraße|Brienner Straße|Weißenburger Platz|"
    "Zülpicher Straße|Große Bleichen|Jungfernstieg|Karl-Marx-Allee|Kurfürstendamm|Domplatz|"
    "Industriestraße|Gewerbering|Am Flughafen|Höhenkirchener Weg|Äußere Sulzbacher Straße"
)
GERMAN_INDUSTRIES = _s(
    "Elektrotechnik|Maschinenbau|Logistik|Haustechnik|Metallbau|Medizintechnik|Software|Druckerei|"
    "Steuerberatung|Immobilien|Sanitär|Kältetechnik|Bau|Consulting|Versicherungsmakler|Werkzeugbau|"
    "Gebäudereinigung|Spedition|Feinmechanik|Kunststofftechnik|Autohaus|Getränkehandel"
)
GERMAN_LANDLINE = [
    "(0{a}) {s[:4]}-{s[4:]}", "0{a}/{s}", "+49 (0){a} {s}", "0049 {a} {s}", "+49 {a} {s}",
    "0{a} {s}", "0{a}-{s}", "+49 {a} {s[:4]}-{s[4:]}", "+49{a}{s}", "0{a} {s[:3]} {s[3:]}",
]  # fmt: skip
GERMAN_MOBILE = [
    "0{p} {s}",
    "0{p}/{s}",
    "+49 {p} {s}",
    "+49 (0){p} {s}",
    "0049 {p} {s}",
    "0{p}-{s}",
]

COUNTRIES = [
    Country(
        code="DE", weight=70, tld="de",
        cities=[
            ("München", "80331", "89"), ("München", "81241", "89"), ("München", "80796", "89"),
            ("Berlin", "10115", "30"), ("Hamburg", "20095", "40"), ("Köln", "50667", "221"),
            ("Frankfurt am Main", "60311", "69"), ("Stuttgart", "70173", "711"),
            ("Düsseldorf", "40213", "211"), ("Leipzig", "04109", "341"),
            ("Dresden", "01067", "351"),
            ("Hannover", "30159", "511"), ("Nürnberg", "90402", "911"), ("Bremen", "28195", "421"),
            ("Essen", "45127", "201"), ("Dortmund", "44135", "231"), ("Bonn", "53111", "228"),
            ("Augsburg", "86150", "821"), ("Regensburg", "93047", "941"),
            ("Freiburg im Breisgau", "79098", "761"), ("Mannheim", "68159", "621"),
            ("Karlsruhe", "76133", "721"), ("Würzburg", "97070", "931"),
            ("Münster", "48143", "251"),
            ("Göttingen", "37073", "551"), ("Saarbrücken", "66111", "681"),
        ],
        male=GERMAN_MALE, female=GERMAN_FEMALE, last=GERMAN_LAST, streets=GERMAN_STREETS,
        legal_forms=_s("GmbH|GmbH|GmbH|AG|GmbH & Co. KG|KG|e.K.|SE|OHG|UG (haftungsbeschränkt)"),
        industries=GERMAN_INDUSTRIES, departments=GERMAN_DEPARTMENTS, titles=GERMAN_TITLES,
        landline=GERMAN_LANDLINE,
        leads=_leads("23456789"), subscriber_digits=7,
        mobile=GERMAN_MOBILE, mobile_digits=8, postal=_postal_num,
        mobile_ranges=_ranges("151 152 157 159 160 162 163 170 171 172 173 174 175 176 177 "
                              "178 179"),
    ),
    Country(
        code="AT", weight=7, tld="at",
        cities=[("Wien", "1010", "1"), ("Graz", "8010", "316"), ("Linz", "4020", "732"),
                ("Salzburg", "5020", "662"), ("Innsbruck", "6020", "512"),
                ("Klagenfurt am Wörthersee", "9020", "463")],
        male=_s("Hubert|Leopold|Alois|Josef|Florian|Lukas|Andreas|Wolfgang|Günther|Franz"),
        female=_s("Theresia|Maria|Katharina|Elisabeth|Sophie|Lena|Andrea|Birgit|Verena|Johanna"),
        last=_s("Gruber|Huber|Pichler|Steiner|Moser|Hofer|Leitner|Berger|Fuchs|Eder|Wallner|"
                "Lechner|Haider|Schwaiger|Strobl|Mayrhofer|Öhlinger|Pöschl|Weißenböck"),
        streets=_s("Mariahilfer Straße|Landstraßer Hauptstraße|Getreidegasse|Herrengasse|"
                   "Wiedner Hauptstraße|Annenstraße|Maria-Theresien-Straße|Landstraße"),
        legal_forms=_s("GmbH|GmbH|AG|KG|e.U."), industries=GERMAN_INDUSTRIES,
        departments=GERMAN_DEPARTMENTS, titles=GERMAN_TITLES,
        landline=["+43 {a} {s[:4]} {s[4:]}", "0043 {a} {s}", "+43 (0){a} {s}", "+43 {a} {s}"],
        leads=_leads("23456789"), subscriber_digits=7,
        mobile=["+43 {p} {s}", "0043 {p} {s}", "+43 (0){p} {s}"],
        mobile_ranges=_ranges("664 676 650 699 660"), mobile_digits=7, postal=_postal_num,
    ),
    Country(
        code="CH", weight=6, tld="ch",
        cities=[("Zürich", "8001", "44"), ("Genève", "1201", "22"), ("Basel", "4051", "61"),
                ("Bern", "3011", "31"), ("Lausanne", "1003", "21"), ("Luzern", "6003", "41")],
        male=_s("Urs|Reto|Beat|Ueli|Marco|Nicolò|Jean-Luc|Thomas|Daniel|Lukas"),
        female=_s("Heidi|Mélanie|Corinne|Regula|Andrea|Nadine|Céline|Barbara|Sarah|Franziska"),
        last=_s("Meier|Müller|Keller|Brunner|Baumann|Frei|Zürcher|Gerber|Favre|Rochat|"
                "Bernasconi|Schärer|Bühler|Graf|Moser|Wyss|Käser|Lüthi"),
        streets=_s("Bahnhofstrasse|Rue du Rhône|Limmatquai|Freie Strasse|Marktgasse|"
                   "Avenue de la Gare|Seestrasse|Pilatusstrasse"),
        legal_forms=_s("AG|AG|GmbH|SA|Sàrl"), industries=GERMAN_INDUSTRIES,
        departments=GERMAN_DEPARTMENTS, titles=GERMAN_TITLES,
        landline=["+41 {a} {s[:3]} {s[3:5]} {s[5:]}", "0041 {a} {s[:3]} {s[3:5]} {s[5:]}",
                  "+41 (0){a} {s[:3]} {s[3:5]} {s[5:]}", "+41 {a} {s}"],
        leads=_leads("23456789"), subscriber_digits=7,
        mobile=["+41 {p} {s[:3]} {s[3:5]} {s[5:]}", "0041 {p} {s}"],
        mobile_ranges=_ranges("76 77 78 79"), mobile_digits=7, postal=_postal_num,
    ),
    Country(
        code="FR", weight=3, tld="fr",
        cities=[("Paris", "75001", "1"), ("Lyon", "69001", "4"), ("Marseille", "13001", "4"),
                ("Toulouse", "31000", "5"), ("Lille", "59000", "3"), ("Strasbourg", "67000", "3"),
                ("Bordeaux", "33000", "5"), ("Nantes", "44000", "2")],
        male=_s("François|Jérôme|Loïc|Benoît|Stéphane|Hervé|Mathieu|Thibault|Gaël|Rémi"),
        female=_s("Amélie|Hélène|Océane|Gaëlle|Cécile|Élodie|Margaux|Anaïs|Séverine|Béatrice"),
        last=_s("Lefèvre|Dubois|Moreau|Laurent|Girard|Rousseau|Bonnet|Mercier|Fontaine|"
                "Chevalier|Bérenger|Faure|Lemaître|Garnier|Besançon|Duprés"),
        streets=_s("rue de la Paix|avenue des Champs-Élysées|boulevard Haussmann|rue Mercière|"
                   "quai Saint-Antoine|rue du Faubourg Saint-Honoré|cours Mirabeau"),
        legal_forms=_s("SAS|SARL|SA"), industries=_s("Ingénierie|Logistique|Conseil|Électronique|"
                                                     "Mécanique|Informatique|Transports"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+33 {a} {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}",
                  "0033 {a} {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}",
                  "+33 (0){a} {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}", "+33{a}{s}"],
        leads=_leads("123456789", exclude="62|90|94"), subscriber_digits=8,
        mobile=["+33 {p} {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}", "0033 {p}{s}"],
        mobile_ranges=_ranges("6", "0124568") + _ranges("7", "3456789"), mobile_digits=8,
        postal=_postal_num,
    ),
    Country(
        code="IT", weight=3, tld="it",
        cities=[("Roma", "00184", "06"), ("Milano", "20121", "02"), ("Torino", "10121", "011"),
                ("Napoli", "80133", "081"), ("Bologna", "40121", "051"),
                ("Firenze", "50122", "055")],
        male=_s("Giuseppe|Giovanni|Nicolò|Matteo|Andrea|Lorenzo|Alessandro|Davide|Fabrizio|Luca"),
        female=_s("Francesca|Chiara|Federica|Alessandra|Giulia|Martina|Valentina|Elena|Sara"),
        last=_s("Rossi|Russo|Ferrari|Esposito|Bianchi|Romano|Colombo|Ricci|Marino|Greco|"
                "D'Angelo|Lombardi|Conti|Mancini|Fabbri|Caruso|Galli|Pellegrini"),
        streets=_s("Via Roma|Via del Corso|Corso Buenos Aires|Piazza San Carlo|Via Garibaldi|"
                   "Via Toledo|Via dell'Indipendenza"),
        legal_forms=_s("S.r.l.|S.r.l.|S.p.A."), industries=_s("Meccanica|Logistica|Impianti|"
                                                              "Elettronica|Tessile|Alimentari"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["0039 {a} {s[:4]} {s[4:]}", "+39 {a} {s[:4]} {s[4:]}", "+39 {a} {s}",
                  "0039 {a}{s}"],
        leads=_leads("23456789", exclude="69"), subscriber_digits=8,
        mobile=["+39 {p} {s}", "0039 {p} {s}"],
        mobile_ranges=_ranges("320 328 333 338 340 347 348 349 366 393"), mobile_digits=7,
        postal=_postal_num,
    ),
    Country(
        code="GB", weight=3, tld="co.uk",
        cities=[("London", "EC2V", "20"), ("London", "SW1A", "20"), ("London", "W1T", "20"),
                ("London", "E14", "20"), ("London", "SE1", "20")],
        male=_s("Oliver|Harry|George|James|William|Seán|Rhys|Callum|Edward|Thomas"),
        female=_s("Amelia|Zoë|Chloë|Siobhán|Olivia|Emily|Charlotte|Niamh|Grace|Eleanor"),
        last=_s("Smith|Jones|Taylor|Brown|Williams|Wilson|Evans|Thomas|O'Brien|O'Connor|"
                "Davies|Robinson|Wright|Hughes|MacDonald|Fitzgerald"),
        streets=_s("Baker Street|High Street|Deansgate|Princes Street|King Street|"
                   "Victoria Road|Bishopsgate|Corporation Street"),
        legal_forms=_s("Ltd|Ltd|PLC|LLP"), industries=_s("Logistics|Engineering|Software|"
                                                         "Consulting|Medical|Foods|Systems"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+44 {a} {s[:4]} {s[4:]}", "+44 (0){a} {s[:4]} {s[4:]}", "0044 {a} {s}",
                  "+44 {a} {s}"],
        leads=_leads("378"), subscriber_digits=8,
        mobile=["+44 {p} {s}", "+44 (0){p} {s}", "0044 {p}{s}"],
        mobile_ranges=_ranges("7400 7480 7520 7590 7712 7788 7823 7956"), mobile_digits=6,
        house_first=True, postal=_postal_gb,
    ),
    Country(
        code="NL", weight=2, tld="nl",
        cities=[("Amsterdam", "1012", "20"), ("Rotterdam", "3011", "10"),
                ("Den Haag", "2511", "70"), ("Utrecht", "3511", "30"), ("Eindhoven", "5611", "40")],
        male=_s("Daan|Sem|Bram|Joost|Pieter|Maarten|Sjoerd|Thijs"),
        female=_s("Anouk|Fleur|Sanne|Zoë|Femke|Lotte|Marieke|Eline"),
        last=_s("de Vries|van Dijk|Jansen|de Jong|Bakker|Visser|Smit|van den Berg|Meijer|"
                "van der Linden|Dekker|Brouwer"),
        streets=_s("Keizersgracht|Damrak|Coolsingel|Oudegracht|Lange Voorhout|Stratumseind"),
        legal_forms=_s("B.V.|B.V.|N.V."), industries=_s("Techniek|Logistiek|Installaties|"
                                                        "Handel|Automatisering"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+31 {a} {s[:3]} {s[3:]}", "0031 {a} {s}", "+31 (0){a} {s}"],
        leads=_leads("23456789"), subscriber_digits=7,
        mobile=["+31 {p} {s[:2]} {s[2:]}", "0031 {p}{s}"],
        mobile_ranges=_ranges("6", "123458"), mobile_digits=8, postal=_postal_nl,
    ),
    Country(
        code="US", weight=2, tld="com",
        cities=[("New York", "10001", "212"), ("San Francisco", "94103", "415"),
                ("Chicago", "60601", "312"), ("Boston", "02108", "617"), ("Austin", "78701", "512"),
                ("Seattle", "98101", "206")],
        male=_s("Michael|Christopher|David|José|Daniel|Matthew|Andrew|Kevin|Brian"),
        female=_s("Jennifer|Jessica|Ashley|Renée|Zoë|Emily|Sarah|Megan|Lauren"),
        last=_s("Johnson|Williams|Garcia|Rodriguez|Miller|Davis|Martinez|Hernández|O'Neill|"
                "Nguyen|Anderson|Thompson"),
        streets=_s("5th Avenue|Market Street|Michigan Avenue|Broadway|Congress Avenue|"
                   "Pike Street|Boylston Street"),
        legal_forms=_s("Inc.|LLC|Corp."), industries=_s("Logistics|Engineering|Software|"
                                                        "Consulting|Medical Devices|Networks"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+1 ({a}) {s[:3]}-{s[3:]}", "+1 {a}-{s[:3]}-{s[3:]}", "001 {a} {s[:3]} {s[3:]}",
                  "+1 {a} {s[:3]} {s[3:]}"],
        leads=_leads("23456789"), subscriber_digits=7,
        mobile=["+1 ({p}) {s[:3]}-{s[3:]}", "+1 {p}-{s[:3]}-{s[3:]}"],
        mobile_ranges=_ranges("646 917 628 872 857 737 425", "23456789"), mobile_digits=7,
        house_first=True, postal=_postal_num,
    ),
    Country(
        code="PL", weight=2, tld="pl",
        cities=[("Warszawa", "00950", "22"), ("Kraków", "30001", "12"), ("Wrocław", "50001", "71"),
                ("Gdańsk", "80001", "58"), ("Poznań", "60001", "61")],
        male=_s("Łukasz|Paweł|Wojciech|Krzysztof|Józef|Tomasz|Michał|Piotr"),
        female=_s("Małgorzata|Agnieszka|Zofia|Grażyna|Katarzyna|Joanna|Magdalena|Anna"),
        last=_s("Nowak|Kowalski|Wiśniewski|Wójcik|Kowalczyk|Kamiński|Lewandowski|Zieliński|"
                "Szymański|Woźniak|Dąbrowski|Kozłowski|Jabłoński|Król"),
        streets=_s("ul. Marszałkowska|ul. Floriańska|ul. Świętojańska|ul. Piotrkowska|"
                   "ul. Długa|al. Jerozolimskie"),
        legal_forms=_s("Sp. z o.o.|Sp. z o.o.|S.A."), industries=_s("Logistyka|Elektronika|"
                                                                    "Budownictwo|Informatyka"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+48 {a} {s[:3]} {s[3:5]} {s[5:]}", "0048 {a} {s}", "+48 {a}{s}"],
        leads=_leads("23456789"), subscriber_digits=7,
        mobile=["+48 {p} {s[:3]} {s[3:]}", "0048 {p}{s}"],
        mobile_ranges=_ranges("501 502 601 602 691 725 781 885"), mobile_digits=6,
        postal=_postal_pl,
    ),
    Country(
        code="ES", weight=1, tld="es",
        cities=[("Madrid", "28013", "91"), ("Barcelona", "08001", "93"),
                ("Valencia", "46001", "96"), ("Sevilla", "41001", "95"), ("Bilbao", "48001", "94")],
        male=_s("José|Íñigo|Ángel|Martín|Jesús|Andrés|Rubén|Sergio"),
        female=_s("María|Begoña|Lucía|Sofía|Inés|Nuria|Ainhoa|Rocío"),
        last=_s("García|Fernández|González|Rodríguez|López|Martínez|Sánchez|Pérez|Núñez|Ñúñez|"
                "Muñoz|Ibáñez|Peña|Etxeberria"),
        streets=_s("Calle de Alcalá|Gran Vía|Passeig de Gràcia|Calle Mayor|"
                   "Avenida de la Constitución|Calle de Colón"),
        legal_forms=_s("S.L.|S.L.|S.A."), industries=_s("Ingeniería|Logística|Consultoría|"
                                                        "Electrónica|Alimentación"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+34 {a} {s[:3]} {s[3:5]} {s[5:]}", "0034 {a}{s}", "+34 {a} {s}"],
        leads=_leads("23456789", exclude="90"), subscriber_digits=7,
        mobile=["+34 {p} {s[:3]} {s[3:]}", "0034 {p}{s}"],
        mobile_ranges=_ranges("600 610 620 630 650 660 680 690"), mobile_digits=6,
        postal=_postal_num,
    ),
    Country(
        code="DK", weight=1, tld="dk",
        cities=[("København", "1050", ""), ("Aarhus", "8000", ""), ("Odense", "5000", ""),
                ("Aalborg", "9000", "")],
        male=_s("Søren|Jørgen|Frederik|Bjørn|Rasmus|Mads|Anders|Kasper"),
        female=_s("Mette|Signe|Ditte|Åse|Camilla|Louise|Sofie|Maja"),
        last=_s("Jensen|Nielsen|Hansen|Pedersen|Andersen|Christensen|Larsen|Sørensen|"
                "Rasmussen|Jørgensen|Møller|Kjærgaard"),
        streets=_s("Strøget|Nørregade|Østergade|Vesterbrogade|Åboulevarden|Søndergade"),
        legal_forms=_s("ApS|A/S"), industries=_s("Teknik|Logistik|Rådgivning|Software|Energi"),
        departments=ENGLISH_DEPARTMENTS, titles=ENGLISH_TITLES,
        landline=["+45 {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}", "0045 {s}", "+45 {s}"],
        # no area codes; 2… is mobile, so landlines start with 3 to 9
        leads=_s("301|307|314|321|327|334|341|355|368|385|393|401|407|414|421|427|435|443|449|"
                 "456|464|475|484|502|508|515|522|528|535|544|554|562|568|582|593|602|608|615|"
                 "622|631|637|645|653|659|671|677|683|689|701|707|714|721|727|734|741|747|754|"
                 "761|767|776|787|796|813|819|828|866|873|879|886|893|899|916|923|929|936|943|"
                 "949|965|972|978|985|992|998"),
        subscriber_digits=8,
        mobile=["+45 {p}{s[:1]} {s[1:3]} {s[3:5]} {s[5:]}", "0045 {p}{s}"],
        mobile_ranges=_ranges("2", "678"), mobile_digits=7, postal=_postal_num,
    ),
]  # fmt: skip
BY_CODE = {c.code: c for c in COUNTRIES}

NOTES = _s(
    "Rahmenvertrag bis 12/2027|Bevorzugt per E-Mail kontaktieren|Ansprechpartner für Reklamationen|"
    "VIP-Kunde|Newsletter abbestellt|Messekontakt Hannover Messe|Nur vormittags erreichbar|"
    'Zahlungsziel 30 Tage; 2 % Skonto|Sagt immer: "Rufen Sie mich direkt an"|'
    "Rückruf erbeten\nBitte vor 12 Uhr|Lieferadresse abweichend:\nTor 3, Rampe 7"
)
