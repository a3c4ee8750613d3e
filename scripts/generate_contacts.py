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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# run as a script (python scripts/generate_contacts.py) or imported as scripts.generate_contacts
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.contact_data import (
    BY_CODE,
    COUNTRIES,
    GERMAN_DEPARTMENTS,
    GERMAN_DIVERSE,
    INTERNATIONAL_DIVERSE,
    NOTES,
    Country,
)

COLUMNS = [
    "CustomerNo", "FirstName", "LastName", "Company", "Department", "Title", "Email", "Phone",
    "Mobile", "Fax", "HomePhone", "Street", "PostalCode", "City", "Country", "Notes",
]  # fmt: skip
MAX_COUNT = 1_000_000
FIRST_NUMBER = 100_000  # CustomerNo of the first contact, after its "K"

# Which number a landline is: part of what makes it unique within its row.
PHONE, FAX, HOME, CHANGED = range(4)
KINDS = 4


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
    as long as len(choices) * 10**width > slot (tests/e2e/test_generate_contacts.py checks)."""
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
