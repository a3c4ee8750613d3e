"""The filters tests/integration/test_differential.py sends to metadir and to slapd, and the
divergences metadir keeps on purpose. Fixed filters name what the generated contacts hold
(``generate_contacts.py --international``: Müller, Groß, İnce, Işık, Παπαδόπουλος, O'Brien…);
the others are made from the contacts as metadir serves them."""

from __future__ import annotations

from dataclasses import dataclass

from ldap.filter import escape_filter_chars as esc

Contacts = list[dict[str, list[str]]]

NAMES = [
    # case, umlauts, accents
    "(sn=MÜLLER)", "(sn=müller)", "(SN=mÜlLeR)", "(sn=Muller)", "(sn=OBERMÜLLER)", "(sn=weiß)",
    "(sn=WEIß)", "(sn=ÇELIK)", "(givenName=JÜRGEN)", "(givenName=zoë)", "(givenName=ÉLODIE)",
    "(GIVENNAME=björn)", "(l=MÜNCHEN)", "(l=münchen)", "(company=*GMBH)",
    # point 5: Turkish İ ı ş ğ (slapd folds İ to i; ı and I stay apart)
    "(sn=ince)", "(sn=INCE)", "(sn=İNCE)", "(sn=i\u0307nce)", "(sn=İn*)", "(sn=*NCE)",
    "(sn=ışık)", "(sn=IŞIK)", "(sn=Işık)", "(givenName=IŞIL)", "(givenName=işıl)",
    "(givenName=İSMAİL)", "(givenName=ismail)", "(givenName=ISMAIL)", "(sn=DOĞAN)",
    "(sn=*oğlu)", "(sn=ŞİMŞEK)", "(sn=şimşek)", "(sn=yıldız)", "(sn=YILDIZ)", "(sn=yilmaz)",
    "(sn=ÖZDEMİR)", "(givenName=ÇAĞLA)", "(givenName=barış)", "(cn=*ş*)", "(cn=ayşe *)",
    # Greek, without a final sigma where slapd and metadir agree
    "(sn=γεωργίου)", "(sn=ΓΕΩΡΓΊΟΥ)", "(sn=νικολ*)", "(sn=ΟΙΚΟΝΌΜΟΥ)", "(givenName=σοφία)",
    "(givenName=ΣΟΦΊΑ)", "(givenName=Σοφ*)", "(givenName=δήμητρα)", "(sn=παπαδόπουλος)",
    "(sn=*πουλος)", "(givenName=Νίκος)", "(givenName=νίκος)", "(sn=Γεωργιου)",
    # apostrophes, and the typographic one that is another character
    "(sn=o'brien)", "(sn=O'BRIEN)", "(sn=o’brien)", "(sn=d'*)", "(sn=*'*)", "(cn=*'neill)",
    "(sn=N'DIAYE)", "(sn=dell'orto)", "(cn=*o'c*)",
    # accents and Unicode forms: decomposed, full width, ligatures
    "(givenName=AÏSSATOU)", "(givenName=siobhán)", "(givenName=SIOBHAN)", "(sn=Mu\u0308ller)",
    "(sn=ｍüller)", "(sn=ﬁscher)", "(givenName=ŁUKASZ)", "(sn=NGUYỄN)", "(sn=Nguye\u0302\u0303n)",
    # substrings: initial, any, final, several anys
    "(sn=Mü*)", "(sn=schm*)", "(sn=*mann)", "(sn=*ÜLLER)", "(sn=*ö*)", "(cn=*ü*)",
    "(cn=j*ü*n*)", "(cn=a*n*a*)", "(cn=s*e*r)", "(cn=a*y*xyz)", "(cn=*ann*mann)",
    "(department=*einkauf*)", "(title=*leiter*)", "(mail=*@*.de)", "(mail=J*)",
]  # fmt: skip

STRUCTURE = [
    # presence; empty fields are absent attributes
    "(mobile=*)", "(homePhone=*)", "(info=*)", "(givenName=*)", "(facsimileTelephoneNumber=*)",
    "(!(mail=*))", "(&(sn=*)(!(givenName=*)))",
    # and / or / not, nested
    "(&(l=München)(sn=M*))", "(|(sn=Müller)(sn=Meier)(sn=Maier)(sn=Meyer))",
    "(&(c=DE)(!(mobile=*)))", "(!(c=DE))", "(&(|(l=Wien)(l=Zürich))(!(department=Vertrieb)))",
    "(|(&(c=AT)(sn=H*))(&(c=CH)(sn=*er)))", "(!(|(c=DE)(c=AT)(c=CH)))",
    "(&(objectClass=person)(|(title=*manager*)(department=IT)))",
    # ordering, where the slapd schema defines an ORDERING rule
    "(company>=M)", "(company<=D)", "(&(department>=E)(department<=L))", "(custom0>=K101450)",
    "(custom0<=k100010)", "(&(c=AT)(company>=M))", "(&(l=Wien)(custom0>=K101250))",
    "(&(c=CH)(department<=F))",
    # approximate, where it can only mean "the same letters in other case" (slapd matches
    # each word: a company-only contact's sn "Schmid & Zimmermann OHG" is ~= ZIMMERMANN)
    "(&(givenName=*)(sn~=ZIMMERMANN))", "(givenName~=ZOË)",
    # unknown attribute types are Undefined, and so are their negations
    "(fooBar=x)", "(!(fooBar=x))", "(|(fooBar=x)(sn=Müller))", "(&(fooBar=*)(sn=Müller))",
    "(!(&(fooBar=x)(sn=Müller)))", "(!(|(fooBar=x)(sn=Müller)))",
    # aliases
    "(surname=müller)", "(gn=Anna)", "(commonName=*müller*)", "(localityName=Berlin)",
    "(homeTelephoneNumber=*)", "(mobileTelephoneNumber=*)", "(rfc822Mailbox=*@*.ch)",
    "(streetAddress=*gasse*)", "(countryName=at)",
    # mail is single-valued in metadir: of a source's two addresses it serves the first
    "(mail=*@mail.*)",
]  # fmt: skip

STANDARDS = [
    # point 7: attribute types and classes by numeric OID
    "(2.5.4.4=Müller)", "(2.5.4.4=müller*)", "(2.5.4.42=*)", "(0.9.2342.19200300.100.1.3=*.ch)",
    "(&(2.5.4.4=İnce)(2.5.4.0=person))", "(objectClass=2.5.6.6)", "(objectClass=2.5.6.0)",
    "(2.5.4.3:2.5.13.5:=Zoë Weber)",
    # point 8: attribute options
    "(cn;lang-de=x)", "(!(cn;lang-de=x))", "(sn;lang-de=Müller)", "(!(sn;lang-de=Müller))",
    "(!(sn;x-foo=Müller))", "(cn;binary=*)", "(!(cn;binary=*))",
    # point 9: extensible match
    "(sn:caseExactMatch:=Müller)", "(sn:2.5.13.5:=Müller)", "(sn:caseExactMatch:=müller)",
    "(sn:caseIgnoreMatch:=MÜLLER)", "(sn:2.5.13.2:=İnce)", "(sn:=O'BRIEN)",
    "(:caseIgnoreMatch:=jäger)", "(:caseIgnoreMatch:=münchen)", "(:caseExactMatch:=München)",
    "(:caseExactMatch:=münchen)", "(:2.5.13.2:=vertrieb)", "(ou:dn:=contacts)", "(ou:=contacts)",
    "(dc:dn:=meta)", "(:dn:caseIgnoreMatch:=contacts)", "(ou:dn:caseExactMatch:=Contacts)",
    "(!(:dn:caseIgnoreOrderingMatch:=d))", "(sn:caseIgnoreOrderingMatch:=b)",
    "(!(sn:caseIgnoreOrderingMatch:=b))", "(company:caseExactOrderingMatch:=M)",
    "(givenName:caseIgnoreOrderingMatch:=Ç)", "(sn:caseIgnoreSubstringsMatch:=mü)",
    "(!(sn:caseIgnoreSubstringsMatch:=mü))", "(sn:fooMatch:=x)", "(!(sn:fooMatch:=x))",
    "(!(sn:1.2.3.4:=x))", "(!(:fooMatch:=x))", "(!(foo:caseIgnoreMatch:=x))",
    "(!(sn:numericStringMatch:=1))", "(!(:numericStringMatch:=1))",
    "(!(sn:telephoneNumberMatch:=1))", "(!(sn:generalizedTimeMatch:=20200101000000Z))",
    "(!(:octetStringMatch:=x))", "(!(sn:octetStringMatch:=x))",
    "(!(objectClass:objectIdentifierMatch:=person))", "(!(objectClass:caseIgnoreMatch:=person))",
    "(!(sn:caseIgnoreMatch:=))", "(!(sn:caseIgnoreMatch:=\\ff))",
    "(createTimestamp:generalizedTimeOrderingMatch:=20990101000000Z)",
    "(!(createTimestamp:generalizedTimeMatch:=garbage))",
    "(entryDN:distinguishedNameMatch:=OU=Contacts, DC=meta)",
    "(!(:distinguishedNameMatch:=ou=contacts,dc=meta))",
    # point 10: objectClass by objectIdentifierMatch
    "(objectClass=per*)", "(!(objectClass=per*))", "(!(objectClass=*son))",
    "(objectClass>=person)", "(!(objectClass>=person))", "(!(objectClass<=person))",
    "(objectClass=person )", "(!(objectClass=person ))", "(!(objectClass= person))",
    "(objectClass=PERSON)", "(objectClass~=person)", "(!(objectClass=))", "(!(objectClass=foo))",
    "(!(objectClass=2.5.6.6 ))",
    "(objectclass=INETORGPERSON)", "(objectClass=organizationalUnit)", "(objectClass=top)",
    "(objectClass=*)", "(objectClass=person)",
    # point 12: the root and the containers have entryUUID and timestamps too
    "(entryUUID=*)", "(createTimestamp=*)", "(modifyTimestamp=*)",
    "(createTimestamp>=19700101000000Z)", "(modifyTimestamp<=20991231235959Z)",
    "(!(createTimestamp<=19700101000000Z))", "(&(objectClass=organizationalUnit)(entryUUID=*))",
    # point 13: degenerate and malformed assertion values
    "(!(sn=\\ff))", "(!(sn=M\\c3))", "(sn=\\ff*)", "(!(sn=*\\ff))", "(!(cn=\\c3\\28))",
    "(|(sn=\\ff)(sn=Müller))", "(!(&(sn=\\fe)(sn=*)))", "(cn=* *)", "(!(cn=* *))", "(sn=)",
    "(!(sn=))", "(!(sn>=))", "(!(telephoneNumber=\\ff))", "(!(telephoneNumber=))", "(!(mobile=))",
]  # fmt: skip


@dataclass(frozen=True)
class Divergence:
    """A filter on which metadir answers otherwise than slapd, on purpose: metadir finds
    what slapd finds for the filters ``as_slapd`` together, and slapd does not."""

    filter: str
    as_slapd: tuple[str, ...]
    reason: str


SHARP_S = "ß is ss (full Unicode case folding): phones and keypads cannot type ß"
SIGMA = "ς is σ: upper case has one sigma, so slapd finds no Greek name ending in ς by it"
MAIL_SYNTAX = "mail is a Directory String in metadir's schema, an IA5 String in slapd's"
DC_SYNTAX = "dc is matched as text in metadir, an IA5 String slapd's text rules refuse"
DIVERGENCES = [
    Divergence("(sn=GROSS)", ("(sn=groß)",), SHARP_S),
    Divergence("(sn=weiss)", ("(sn=weiß)",), SHARP_S),
    Divergence("(sn=STRASSER)", ("(sn=straßer)",), SHARP_S),
    Divergence("(sn=osswald*)", ("(sn=oßwald*)",), SHARP_S),
    Divergence("(sn=*SSL)", ("(sn=*ßl)", "(sn=*ssl)"), SHARP_S),
    Divergence("(street=*STRASSE*)", ("(street=*straße*)", "(street=*strasse*)"), SHARP_S),
    Divergence("(street=*straße*)", ("(street=*straße*)", "(street=*strasse*)"), SHARP_S),
    Divergence("(sn=ΠΑΠΑΔΌΠΟΥΛΟΣ)", ("(sn=παπαδόπουλος)",), SIGMA),
    Divergence("(givenName=ΝΊΚΟΣ)", ("(givenName=νίκος)",), SIGMA),
    Divergence("(givenName=ιωάννησ)", ("(givenName=ιωάννης)",), SIGMA),
    Divergence("(givenName=*ΟΣ)", ("(givenName=*ος)", "(givenName=*οσ)"), SIGMA),
    Divergence("(dc:caseIgnoreMatch:=META)", ("(dc=meta)",), DC_SYNTAX),
]


def mail_divergences(contacts: Contacts) -> list[Divergence]:
    mail = next(c["mail"][0] for c in contacts if "mail" in c)
    return [
        Divergence(f"(:caseIgnoreMatch:={esc(mail.upper())})", (f"(mail={mail})",), MAIL_SYNTAX)
    ]


def digits(number: str) -> str:
    return number.replace(" ", "").replace("-", "")


def number_filters(contacts: Contacts) -> list[str]:
    """Equality and substring filters on phone numbers exactly as served, with spaces and
    hyphens moved about (telephoneNumberMatch ignores both)."""
    served = [c[a][0] for c in contacts for a in ("telephoneNumber", "mobile") if a in c]
    spaced = [n for n in served if " " in n][:4]
    hyphened = [n for n in served if "-" in n][:3]
    filters = []
    for n in spaced + hyphened:
        plain = digits(n)
        grouped = "-".join(plain[i : i + 3] for i in range(0, len(plain), 3))
        final = f"{plain[-7:-3]} {plain[-3:]}"
        filters += [
            f"(telephoneNumber={esc(plain)})",
            f"(TelePhoneNumber={esc(grouped)})",
            f"(telephoneNumber=*{esc(final)})",
            f"(telephoneNumber=*{esc(plain[-6:-2])}*)",
            f"(Mobile={esc(n)})",
            f"(|(telephoneNumber={esc(n)})(mobile={esc(n)})(homePhone={esc(n)}))",
            f"(telephoneNumber:telephoneNumberMatch:={esc(grouped)})",
            f"(telephoneNumber:caseIgnoreMatch:={esc(n)})",
        ]
    return filters


def data_filters(contacts: Contacts) -> list[str]:
    uid = contacts[17]["entryUUID"][0]
    domain = next(c["mail"][0].split("@")[1] for c in contacts if "mail" in c)
    names = [c["cn"][0] for c in contacts if len(c["cn"][0]) > 8][:3]
    stamp = contacts[0]["createTimestamp"][0]
    return [
        f"(entryUUID={uid})",
        f"(entryUUID={uid.upper()})",
        f"(mail=*@{esc(domain.upper())})",
        f"(createTimestamp={stamp})",
        f"(createTimestamp:generalizedTimeMatch:={stamp})",
        f"(:generalizedTimeMatch:={stamp})",
        *(f"(cn={esc(n[0])}*{esc(n[len(n) // 2])}*{esc(n[-3:])})" for n in names),
        *(f"(cn={esc(n.swapcase())})" for n in names),
        *(f"(cn:caseExactMatch:={esc(n)})" for n in names),
        *(f"(cn:caseExactMatch:={esc(n.swapcase())})" for n in names),
    ]


def phone_filters(contacts: Contacts) -> list[tuple[str, bool]]:
    """Filters on numbers, each with whether metadir must find exactly what slapd finds (a
    number as served) or at least that: slapd compares the digits as text, metadir the number
    (a suffix as typed and as a number, several readings of a full number)."""
    loose = [
        "(telephoneNumber=*0049*)", "(telephoneNumber=*089*)", "(telephoneNumber=00*)",
        "(telephoneNumber=0*)", "(telephoneNumber=+49*)", "(mobile=+4917*)",
        "(telephoneNumber=*1234*)", "(homePhone=*00*)", "(facsimileTelephoneNumber=+41*)",
    ]  # fmt: skip
    out = [(filter, False) for filter in loose]
    for c in contacts[::97]:
        for attr in ("telephoneNumber", "mobile"):
            if attr in c:
                n = c[attr][0]
                out += [
                    (f"({attr}={esc(n)})", True),
                    (f"(|(telephoneNumber={esc(n)})(mobile={esc(n)}))", True),
                    (f"({attr}=*{esc(n[-7:])})", False),
                    (f"({attr}=*{esc(n[-9:-3])}*)", False),
                    (f"({attr}={esc(n[:7])}*)", False),
                ]
    return out


def corpus(contacts: Contacts) -> list[str]:
    return NAMES + STRUCTURE + STANDARDS + number_filters(contacts) + data_filters(contacts)
