"""Generate realistic contacts as CSV for metadir demos, tests and benchmarks.

    python scripts/generate_contacts.py --count 100000 --seed 1 --out contacts.csv
    python scripts/generate_contacts.py --from contacts.csv --change-percent 1 --seed 2 \\
        --out contacts-changed.csv

The first form writes COUNT contacts of a German company's customers and partners: mostly
German, some from AT, CH, FR, IT, GB, NL, US, PL, ES and DK, with names in their own spelling
(Müller, Groß, Zoë, François, Łukasz, Núñez, Søren), companies, departments, titles, business
addresses and phone numbers in the mixed formats real CRMs hold ("(089) 1234-567",
"+49 (0)89 1234567", "0049 89 1234567", "089/1234567", bare local numbers for Munich,
"+41 44 668 18 00", "+1 (212) 555-0100"…). Every number is unique in the file, however it is
written, so each caller-ID lookup has exactly one answer. Some contacts are company-only (no
person name), some have no phone at all, a few have notes with a line break or a ";".

``--international`` draws the German customers of other origins, four times as many, from a
wider pool (Greek names in Greek script, Turkish ones with İ ı ş ğ, O'Brien, D'Angelo, N'Diaye:
what case folding and filter escaping meet); without it the same seed gives the same file as
ever. ``--format ldif`` writes the contacts as an OpenLDAP export (inetOrgPerson entries, for
metadir's ldif replicator with flavor openldap) in which every fifth contact with an e-mail
address has a second one.

The second form copies FILE (one written by the first form) and changes PERCENT % of its rows,
chosen by SEED: a new job title, department, street or business phone number (new numbers
stay unique). Rows are neither added nor removed, so a re-sync sees exactly that many updates.

Output (csv): the layout of demo/contacts.csv, so demo/metadir.yaml's mapping reads it:
columns CustomerNo;FirstName;LastName;Company;Department;Title;Email;Phone;Mobile;Fax;
HomePhone;Street;PostalCode;City;Country;Notes, ";"-delimited, UTF-8 with BOM, CRLF line ends
(as Excel writes it). CustomerNo (K100000, K100001, …) is the unique key. The same arguments
give the same file (with the same Python version); at most 1,000,000 contacts.
"""

from __future__ import annotations

import argparse
import base64
import csv
import random
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = [
    "CustomerNo", "FirstName", "LastName", "Company", "Department", "Title", "Email", "Phone",
    "Mobile", "Fax", "HomePhone", "Street", "PostalCode", "City", "Country", "Notes",
]  # fmt: skip
MAX_COUNT = 1_000_000
FIRST_NUMBER = 100_000  # CustomerNo of the first contact, after its "K"

# Which number a landline is: part of what makes it unique within its row.
PHONE, FAX, HOME, CHANGED = range(4)
KINDS = 4


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


class Digits(str):
    """A number's digits that format fields can slice: ``"{s[:4]}-{s[4:]}".format(s=...)``."""

    def __getitem__(self, key):
        if isinstance(key, str):  # str.format hands over "[:4]" as the text ":4"
            start, _, stop = key.partition(":")
            key = slice(int(start) if start else None, int(stop) if stop else None)
        return str.__getitem__(self, key)


def scrambled(index: int, offset: int) -> int:
    """A different value below a million for each index below a million (737373 is prime
    to 10), so that consecutive contacts get unrelated numbers."""
    return (index * 737_373 + offset) % MAX_COUNT


def pick(choices: list, slot: int, width: int) -> tuple:
    """One of ``choices`` and ``width`` digits for ``slot``: different slots, different pairs,
    as long as len(choices) * 10**width > slot (tests/test_generate_contacts.py checks)."""
    rest, at = divmod(slot, len(choices))
    # spread the remainder over all width-digit values; a bijection, as 7654321 is prime to 10
    return choices[at], f"{rest * 7_654_321 % 10**width:0{width}d}"


def landline(country: Country, area: str, kind: int, unique: int, rng: random.Random) -> str:
    width = country.subscriber_digits - len(country.leads[0])
    lead, rest = pick(country.leads, unique * KINDS + kind, width)
    s = Digits(lead + rest)
    if country.code == "DE" and area == "89" and rng.random() < 0.1:
        return s  # a local number, as a Munich office writes it
    return rng.choice(country.landline).format(a=area, s=s)


def mobile(country: Country, unique: int, rng: random.Random) -> str:
    (prefix, lead), rest = pick(country.mobile_ranges, unique, country.mobile_digits - 1)
    s = Digits(lead + rest)
    return rng.choice(country.mobile).format(p=prefix, s=s)


def ascii_name(text: str) -> str:
    """``text`` as it goes into an e-mail address: Müller -> mueller, Łukasz -> lukasz."""
    text = text.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("ø", "oe"), ("æ", "ae"),
                 ("å", "aa"), ("ł", "l"), ("đ", "d"), ("ı", "i")):  # fmt: skip
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    country: Country
    city: str
    postal_code: str
    area: str
    street: str


def make_company(rng: random.Random) -> Company:
    country = rng.choices(COUNTRIES, weights=[c.weight for c in COUNTRIES])[0]
    city, postal, area = rng.choice(country.cities)
    owner = rng.choice(country.last)
    industry = rng.choice(country.industries)
    form = rng.choice(country.legal_forms)
    pattern = rng.random()
    if pattern < 0.5:
        name = f"{owner} {industry}"
    elif pattern < 0.75:
        name = f"{owner} & {rng.choice(country.last)}"
    else:
        name = f"{industry} {city}"
    domain = f"{ascii_name(name)[:30].strip('-')}.{country.tld}"
    number = f"{rng.randrange(1, 120)}{rng.choice(['', '', '', '', 'a', 'b'])}"
    street = rng.choice(country.streets)
    street = f"{number} {street}" if country.house_first else f"{street} {number}"
    postal_code = country.postal(rng, postal)
    return Company(f"{name} {form}", domain, country, city, postal_code, area, street)


def contacts(count: int, seed: int, international: bool = False) -> Iterator[list[str]]:
    """``count`` contacts as rows in ``COLUMNS`` order; the same for the same arguments."""
    if not 0 <= count <= MAX_COUNT:  # here, not in the generator: before a file is opened
        raise ValueError(f"count must be between 0 and {MAX_COUNT:,}")
    rng = random.Random(seed)
    offset = rng.randrange(MAX_COUNT)
    companies = [make_company(rng) for _ in range(max(1, count // 4))]
    return (
        contact(index, rng.choice(companies), scrambled(index, offset), rng, international)
        for index in range(count)
    )


def contact(
    index: int, company: Company, unique: int, rng: random.Random, international: bool = False
) -> list[str]:
    """One contact at ``company``; ``unique`` makes its numbers unique in the file."""
    country = company.country
    first = last = title = ""
    roll = rng.random()
    if roll < 0.04:  # the company itself: switchboard, reception
        german = country.departments is GERMAN_DEPARTMENTS
        department = rng.choice(
            ["Zentrale", "Empfang", "Service-Hotline"] if german else ["Reception", "Main office"]
        )
        email = f"info@{company.domain}"
    else:
        male = rng.random() < 0.5
        names = (country.male, country.female, country.last)
        # the same draws with or without --international: other callers' files stay the same
        if country.code == "DE" and rng.random() < (0.6 if international else 0.15):
            names = INTERNATIONAL_DIVERSE if international else GERMAN_DIVERSE
        if roll > 0.05:  # a few are known by their last name only
            first = rng.choice(names[0] if male else names[1])
        last = rng.choice(names[2])
        department = rng.choice(country.departments)
        title = rng.choice(country.titles)[0 if male else 1]
        local = ".".join(ascii_name(part) for part in (first, last) if part)
        email = f"{local}@{company.domain}" if rng.random() < 0.9 else ""
    no_phone = rng.random() < 0.03
    area = company.area
    phone = "" if no_phone else landline(country, area, PHONE, unique, rng)
    mobile_number = "" if no_phone or rng.random() < 0.4 else mobile(country, unique, rng)
    fax = "" if no_phone or rng.random() < 0.6 else landline(country, area, FAX, unique, rng)
    home = "" if no_phone or rng.random() < 0.8 else landline(country, area, HOME, unique, rng)
    notes = rng.choice(NOTES) if rng.random() < 0.1 else ""
    return [
        f"K{FIRST_NUMBER + index}", first, last, company.name, department, title, email, phone,
        mobile_number, fax, home, company.street, company.postal_code, company.city, country.code,
        notes,
    ]  # fmt: skip


def changed(rows: list[list[str]], percent: float, seed: int) -> list[list[str]]:
    """``rows`` with ``percent`` % of them changed in one field each."""
    rng = random.Random(seed)
    at = {name: i for i, name in enumerate(COLUMNS)}
    picked = rng.sample(range(len(rows)), round(len(rows) * percent / 100))
    out = [list(row) for row in rows]
    for n, i in enumerate(picked):
        row = out[i]
        country = BY_CODE.get(row[at["Country"]], BY_CODE["DE"])
        change = n % 4
        if change == 3 and row[at["Phone"]]:
            index = int(row[at["CustomerNo"]].removeprefix("K")) - FIRST_NUMBER
            area = next((a for c, _, a in country.cities if c == row[at["City"]]), "")
            # a fixed offset: the same row always gets the same new number, unique among rows
            new = landline(country, area, CHANGED, scrambled(index, 0), rng)
            if new != row[at["Phone"]]:
                row[at["Phone"]] = new
                continue
        if change == 2:
            street, _, number = row[at["Street"]].rpartition(" ")
            if street and number.isdigit():
                row[at["Street"]] = f"{street} {int(number) + rng.randrange(1, 9)}"
                continue
        column, choices = (
            ("Department", country.departments) if change == 1 else
            ("Title", [t[0] for t in country.titles])
        )  # fmt: skip
        row[at[column]] = rng.choice([c for c in choices if c != row[at[column]]])
    return out


def write_csv(path: Path, rows: Iterator[list[str]] | list[list[str]]) -> int:
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file, delimiter=";", lineterminator="\r\n")
        writer.writerow(COLUMNS)
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


# --format ldif: each column as the attribute an OpenLDAP export holds it in
LDIF_ATTRIBUTES = {
    "CustomerNo": "uid", "FirstName": "givenName", "LastName": "sn", "Company": "o",
    "Department": "ou", "Title": "title", "Email": "mail", "Phone": "telephoneNumber",
    "Mobile": "mobile", "Fax": "facsimileTelephoneNumber", "HomePhone": "homePhone",
    "Street": "street", "PostalCode": "postalCode", "City": "l", "Country": "c",
    "Notes": "description",
}  # fmt: skip


def write_ldif(path: Path, rows: Iterator[list[str]] | list[list[str]]) -> int:
    """The rows as inetOrgPerson entries below ou=people,dc=example; the contacts whose
    number ends in 0 or 5 and that have an e-mail address get a second one."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as file:
        for row in rows:
            values = dict(zip(COLUMNS, row, strict=True))
            person = " ".join(v for v in (values["FirstName"], values["LastName"]) if v)
            lines = [
                f"dn: uid={values['CustomerNo']},ou=people,dc=example",
                "objectClass: inetOrgPerson",
                _ldif_line("cn", person or values["Company"]),
            ]
            lines += [_ldif_line(a, values[c]) for c, a in LDIF_ATTRIBUTES.items() if values[c]]
            if values["Email"] and values["CustomerNo"][-1] in "05":
                local, _, domain = values["Email"].partition("@")
                lines.append(_ldif_line("mail", f"{local}@mail.{domain}"))
            file.write("\n".join(lines) + "\n\n")
            count += 1
    return count


def _ldif_line(attribute: str, value: str) -> str:
    # RFC 2849: anything but plain printable ASCII without edge spaces goes base64
    if value.isascii() and value.isprintable() and value == value.strip() and value[0] not in ":<":
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode()).decode()}"


WRITERS = {"csv": write_csv, "ldif": write_ldif}


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, delimiter=";")
        header = next(reader, None)
        if header != COLUMNS:
            raise ValueError(f"{path}: not a file from this generator (columns {header})")
        return list(reader)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate realistic contacts as CSV (see the module docstring).",
    )
    parser.add_argument("--count", type=int, help="how many contacts to generate")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    parser.add_argument("--format", choices=list(WRITERS), default="csv", help="output format")
    parser.add_argument(
        "--international", action="store_true", help="more names of other origins and scripts"
    )
    parser.add_argument("--from", dest="source", type=Path, help="a generated file to change")
    parser.add_argument("--change-percent", type=float, help="share of rows to change, in %%")
    args = parser.parse_args(argv)
    if (args.source is None) != (args.change_percent is None):
        parser.error("--from and --change-percent go together")
    if (args.count is None) == (args.source is None):
        parser.error("give either --count or --from with --change-percent")
    if args.change_percent is not None and not 0 <= args.change_percent <= 100:
        parser.error("--change-percent must be between 0 and 100")
    started = time.perf_counter()
    try:
        if args.source is not None:
            rows = read_csv(args.source)
            written = WRITERS[args.format](args.out, changed(rows, args.change_percent, args.seed))
        else:
            rows = contacts(args.count, args.seed, args.international)
            written = WRITERS[args.format](args.out, rows)
    except (OSError, ValueError) as exc:
        print(f"generate_contacts: {exc}", file=sys.stderr)
        return 1
    took = time.perf_counter() - started
    print(f"wrote {written:,} contacts to {args.out} in {took:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
