"""The subschema entry cn=Subschema: every attribute metadir serves is described there in
well-formed RFC 4512 syntax, with standard OIDs where they exist; ldap3 and ldapsearch read it
from the real server, and a real slapd accepts the definitions as its own schema."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import ldap3
import pytest

from metadir.core import fields
from metadir.directory.attributes import attribute_type, operational_names
from metadir.directory.matching import GENERALIZED_TIME, PHONE
from metadir.ldap import subschema
from tests import slapd_schema
from tests.conftest import need_slapd
from tests.servers import (
    MetadirServer,
    SlapdServer,
    parse_ldif,
    run_ldapsearch,
    start_metadir,
    stop_metadir,
)

# the UUID schema/subschema.yaml documents, as a decimal number by hand: 2.25.<that>
ARC = "2.25.155373463260457165303244366362905226945"
TIMESTAMP = re.compile(r"^\d{14}Z$")
TREE_ATTRIBUTES = ("objectClass", "ou", "organizationalUnitName", "dc", "domainComponent")
VIRTUAL_ATTRIBUTES = ("searchNumber", "metaSearchNumber", "searchContact", "searchIndividual")
OPENLDAP_FILES = (*slapd_schema.STANDARD_SCHEMAS, "msuser.ldif")  # msuser: AD's attributes


# --- a strict RFC 4512 §4.1 reader -----------------------------------------------------------

NUMERICOID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
DESCR = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")
TOKEN = re.compile(r"\s*(\(|\)|\$|'(?:[^'\\]|\\5[Cc]|\\27)*'|[^\s()$']+)")

# the terms of each kind of description, in the order RFC 4512 requires, with their value
GRAMMAR = {
    "attributeTypes": (
        ("NAME", "qdescrs"), ("DESC", "qdstring"), ("OBSOLETE", None), ("SUP", "oid"),
        ("EQUALITY", "oid"), ("ORDERING", "oid"), ("SUBSTR", "oid"), ("SYNTAX", "noidlen"),
        ("SINGLE-VALUE", None), ("COLLECTIVE", None), ("NO-USER-MODIFICATION", None),
        ("USAGE", "usage"),
    ),
    "objectClasses": (
        ("NAME", "qdescrs"), ("DESC", "qdstring"), ("OBSOLETE", None), ("SUP", "oids"),
        ("ABSTRACT", None), ("STRUCTURAL", None), ("AUXILIARY", None), ("MUST", "oids"),
        ("MAY", "oids"),
    ),
    "matchingRules": (
        ("NAME", "qdescrs"), ("DESC", "qdstring"), ("OBSOLETE", None), ("SYNTAX", "numericoid"),
    ),
    "ldapSyntaxes": (("DESC", "qdstring"),),
}  # fmt: skip
USAGES = ("userApplications", "directoryOperation", "distributedOperation", "dSAOperation")


@dataclass
class Definition:
    oid: str
    terms: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.terms.get("NAME", ()))


def parse(kind: str, text: str) -> Definition:
    """One description of ``kind`` (the subschema attribute holding it); AssertionError if
    it is not well-formed."""
    tokens = []
    pos = 0
    while pos < len(text.rstrip()):
        m = TOKEN.match(text, pos)
        assert m, f"cannot read {text[pos:]!r} in {text}"
        tokens.append(m.group(1))
        pos = m.end()
    assert tokens[0] == "(" and tokens[-1] == ")", text
    body = tokens[1:-1]
    assert NUMERICOID.match(body[0]), f"bad OID {body[0]!r}: {text}"
    definition = Definition(body[0])
    grammar = GRAMMAR[kind]
    order = [keyword for keyword, _ in grammar]
    i, last = 1, -1
    while i < len(body):
        keyword = body[i]
        if keyword.startswith("X-"):  # extensions close a description
            i = _value("qdstrings", body, i + 1, text)[1]
            last = len(order)
            continue
        assert keyword in order, f"unknown term {keyword!r}: {text}"
        assert order.index(keyword) > last, f"{keyword} out of order or twice: {text}"
        last = order.index(keyword)
        shape = dict(grammar)[keyword]
        if shape is None:
            definition.terms[keyword] = True
            i += 1
        else:
            definition.terms[keyword], i = _value(shape, body, i + 1, text)
    if kind == "objectClasses":
        kinds = [k for k in ("ABSTRACT", "STRUCTURAL", "AUXILIARY") if k in definition.terms]
        assert len(kinds) <= 1, text
    return definition


def _value(shape: str, body: list[str], i: int, text: str) -> tuple[Any, int]:
    assert i < len(body), f"a term without its value: {text}"
    token = body[i]
    if shape in ("qdescrs", "qdstrings", "oids") and token == "(":
        end = body.index(")", i)
        items = body[i + 1 : end]
        if shape == "oids":
            assert items[1::2] == ["$"] * (len(items) // 2), f"oids need $: {text}"
            items = items[::2]
        assert items, f"an empty list: {text}"
        return [_single(shape, item, text) for item in items], end + 1
    return (
        [_single(shape, token, text)] if shape in ("qdescrs", "qdstrings", "oids") else
        _single(shape, token, text)
    ), i + 1  # fmt: skip


def _single(shape: str, token: str, text: str) -> str:
    if shape in ("qdescrs", "qdstring", "qdstrings"):
        assert len(token) >= 2 and token[0] == token[-1] == "'", f"{token!r} unquoted: {text}"
        value = token[1:-1].replace("\\27", "'").replace("\\5C", "\\").replace("\\5c", "\\")
        assert shape != "qdescrs" or DESCR.match(value), f"bad name {value!r}: {text}"
        return value
    if shape in ("oid", "oids"):
        assert NUMERICOID.match(token) or DESCR.match(token), f"bad oid {token!r}: {text}"
        return token
    if shape == "noidlen":
        oid = re.sub(r"\{\d+\}$", "", token)
        assert NUMERICOID.match(oid), f"bad syntax {token!r}: {text}"
        return oid
    if shape == "numericoid":
        assert NUMERICOID.match(token), f"bad OID {token!r}: {text}"
        return token
    assert shape == "usage" and token in USAGES, f"bad usage {token!r}: {text}"
    return token


def definitions(attrs: dict) -> dict[str, list[Definition]]:
    """The parsed descriptions of a subschema entry's attributes (any case of their names)."""
    by_lower = {name.lower(): values for name, values in attrs.items()}
    return {kind: [parse(kind, v) for v in by_lower.get(kind.lower(), ())] for kind in GRAMMAR}


def by_name(found: list[Definition]) -> dict[str, Definition]:
    return {name.lower(): d for d in found for name in d.names}


def test_the_reader_refuses_what_is_not_rfc_4512() -> None:
    good = "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )"
    assert parse("attributeTypes", good).names == ["cn", "commonName"]
    for bad in (
        "2.5.4.3 NAME 'cn' )",  # no opening parenthesis
        "( cn NAME 'cn' )",  # no numeric OID
        "( 2.5.4.3 NAME cn )",  # unquoted name
        "( 2.5.4.3 SYNTAX 1.2 NAME 'cn' )",  # out of order
        "( 2.5.4.3 NAME 'c n' )",  # not a descr
        "( 2.5.4.3 NAME 'cn' USAGE everyone )",
        "( 2.5.4.3 NAME 'cn' SINGLE )",
    ):
        with pytest.raises(AssertionError):
            parse("attributeTypes", bad)
    with pytest.raises(AssertionError):
        parse("objectClasses", "( 2.5.6.6 NAME 'person' MAY ( sn cn ) )")  # no $


# --- the schema as data --------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> dict[str, list[Definition]]:
    return definitions(subschema.subschema_entry().attributes)


def served_names() -> list[str]:
    """Every attribute name metadir answers to: contact fields and aliases, the tree's and the
    operational attributes, the search-only ones."""
    names = [name for f in fields.all_fields() for name in (f.name, *f.aliases)]
    return [*names, *TREE_ATTRIBUTES, *operational_names(), *VIRTUAL_ATTRIBUTES]


def test_every_served_attribute_is_described(served: dict[str, list[Definition]]) -> None:
    described = by_name(served["attributeTypes"])
    for name in served_names():
        assert name.lower() in described, f"{name} is not in attributeTypes"
        definition = described[name.lower()]
        attr = attribute_type(name)
        assert attr is not None
        # the subschema names the attribute as the directory does, and matches it the same way
        assert definition.names[0] == attr.name, name
        equality = definition.terms.get("EQUALITY")
        if not attr.virtual:  # those stand for other attributes, with their rules
            assert (equality == "telephoneNumberMatch") == (attr.rule is PHONE), name
            assert (equality == "generalizedTimeMatch") == (attr.rule is GENERALIZED_TIME), name
        usage = definition.terms.get("USAGE", "userApplications")
        assert (usage != "userApplications") == attr.operational, name
        assert ("NO-USER-MODIFICATION" in definition.terms) == attr.operational, name
    for f in fields.all_fields():
        definition = described[f.name.lower()]
        assert definition.names == [f.name, *f.aliases]
        assert ("SINGLE-VALUE" in definition.terms) == (not f.multi), f.name
    for name in VIRTUAL_ATTRIBUTES:
        assert "search-only" in described[name.lower()].terms["DESC"]


def test_oids_and_names_are_unique(served: dict[str, list[Definition]]) -> None:
    for kinds in (("attributeTypes", "objectClasses"), ("matchingRules",), ("ldapSyntaxes",)):
        oids = [d.oid for kind in kinds for d in served[kind]]
        assert len(oids) == len(set(oids)), f"an OID is used twice in {kinds}"
    for kind in ("attributeTypes", "objectClasses", "matchingRules"):
        names = [name.lower() for d in served[kind] for name in d.names]
        assert len(names) == len(set(names)), f"a name is used twice in {kind}"


def test_every_reference_resolves(served: dict[str, list[Definition]]) -> None:
    attributes = by_name(served["attributeTypes"])
    classes = by_name(served["objectClasses"])
    rules = by_name(served["matchingRules"])
    syntaxes = {d.oid for d in served["ldapSyntaxes"]}
    used_rules, used_syntaxes = set(), set()
    for attr in served["attributeTypes"]:
        assert attr.terms["SYNTAX"] in syntaxes, attr
        used_syntaxes.add(attr.terms["SYNTAX"])
        for term in ("EQUALITY", "ORDERING", "SUBSTR"):
            if term in attr.terms:
                assert str(attr.terms[term]).lower() in rules, (term, attr)
                used_rules.add(str(attr.terms[term]).lower())
    for rule in served["matchingRules"]:
        assert rule.terms["SYNTAX"] in syntaxes, rule
        used_syntaxes.add(rule.terms["SYNTAX"])
    assert used_rules == set(rules), "matchingRules lists rules no attribute uses"
    assert used_syntaxes == syntaxes, "ldapSyntaxes lists syntaxes nothing uses"
    for cls in served["objectClasses"]:
        for sup in cls.terms.get("SUP", ()):
            assert sup.lower() in classes, (sup, cls)
        for name in [*cls.terms.get("MUST", ()), *cls.terms.get("MAY", ())]:
            assert name.lower() in attributes, f"{cls.names[0]} lists unknown {name}"


def allowed(classes: dict[str, Definition], name: str) -> tuple[set[str], set[str]]:
    """(must, may) of class ``name`` and its superclasses, lower case."""
    cls = classes[name.lower()]
    must = {n.lower() for n in cls.terms.get("MUST", ())}
    may = {n.lower() for n in cls.terms.get("MAY", ())}
    for parent in cls.terms.get("SUP", ()):
        parent_must, parent_may = allowed(classes, parent)
        must |= parent_must
        may |= parent_may
    return must, may


def test_contacts_may_hold_every_field(served: dict[str, list[Definition]]) -> None:
    classes = by_name(served["objectClasses"])
    contact = classes["contactperson"]
    assert "STRUCTURAL" in contact.terms and contact.terms["SUP"] == ["inetOrgPerson"]
    assert contact.oid.startswith(ARC + ".")
    must, may = allowed(classes, "contactperson")
    assert must == {"objectclass", "sn", "cn"}  # standard person; metadir serves sn always
    assert {f.name.lower() for f in fields.all_fields()} <= must | may


def test_own_oids_sit_below_the_uuid_arc(served: dict[str, list[Definition]]) -> None:
    assert subschema.arc() == ARC == f"2.25.{UUID('74e3d72d-ffde-4c6b-bd44-ba10f5812ec1').int}"
    described = by_name(served["attributeTypes"])
    for name in ("mail2", "sipAddress", "telephoneCar", "custom0", "custom9", *VIRTUAL_ATTRIBUTES):
        assert described[name.lower()].oid.startswith(ARC + "."), name
    for name, oid in {
        "cn": "2.5.4.3",
        "telephoneNumber": "2.5.4.20",
        "mobile": "0.9.2342.19200300.100.1.41",
        "displayName": "2.16.840.1.113730.3.1.241",
        "company": "1.2.840.113556.1.2.146",
        "ipPhone": "1.2.840.113556.1.4.721",
        "entryUUID": "1.3.6.1.1.16.4",
    }.items():
        assert described[name.lower()].oid == oid, name


def test_standard_oids_are_openldaps(served: dict[str, list[Definition]]) -> None:
    """Where OpenLDAP's schema files (and their copy of AD's) define a name metadir serves,
    it has the same OID there."""
    need_files()
    theirs = slapd_schema.defined_oids(OPENLDAP_FILES)
    compared = 0
    for d in served["attributeTypes"] + served["objectClasses"]:
        for name in d.names:
            if name.lower() in theirs:
                assert d.oid == theirs[name.lower()], f"{name}: {d.oid}, OpenLDAP {theirs[name]}"
                compared += 1
    assert compared > 50


def need_files() -> None:
    missing = [f for f in OPENLDAP_FILES if not (slapd_schema.SCHEMA_DIR / f).exists()]
    if missing:
        pytest.skip(f"OpenLDAP's schema files are not installed: {missing} (Debian package slapd)")


# --- over the wire -------------------------------------------------------------------------


def all_fields_csv() -> str:
    """Two contacts: one with a value in every field, and a company without a person."""
    names = [f.name for f in fields.all_fields()]
    full = []
    for n, f in enumerate(fields.all_fields()):
        if f.is_phone:
            full.append(f"+49 89 5550{n:03d}")
        elif f.name == "c":
            full.append("DE")
        elif f.name.startswith("mail"):
            full.append(f"{f.name}@example.org")
        else:
            full.append(f"{f.label} value")
    company = ["" for _ in names]
    company[names.index("company")] = "Nur Firma GmbH"
    company[names.index("custom0")] = "K2"
    full[names.index("custom0")] = "K1"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([names, full, company])
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadirServer]:
    config = {
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": "all", "type": "csv", "path": "all.csv", "key": "custom0"}
                ],
            }
        ]
    }
    workdir = tmp_path_factory.mktemp("subschema")
    started = start_metadir(workdir, config, {"all.csv": all_fields_csv()})
    yield started
    stop_metadir(started)


def ldapsearch(server: MetadirServer, *args: str) -> list[tuple[str, dict[str, list[str]]]]:
    code, out, err = run_ldapsearch(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", server.url, *args])
    assert code == 0, err
    return parse_ldif(out)


def test_ldapsearch_reads_the_subschema(server: MetadirServer) -> None:
    entry = subschema.subschema_entry()
    ((dn, attrs),) = ldapsearch(server, "-b", "cn=Subschema", "-s", "base", "+")
    assert dn == "cn=Subschema"
    for name in ("attributeTypes", "objectClasses", "ldapSyntaxes", "matchingRules"):
        assert attrs[name] == list(entry.attributes[name]), name
    assert len(attrs["attributeTypes"]) == len(subschema.attribute_types()) > 80
    assert TIMESTAMP.match(attrs["createTimestamp"][0])
    assert attrs["modifyTimestamp"] == attrs["createTimestamp"]
    assert attrs["objectClass"] == ["top", "subentry", "subschema"] and attrs["cn"] == ["Subschema"]
    parsed = definitions(attrs)
    assert len(parsed["objectClasses"]) == len(subschema.object_classes())


def test_subschema_reads_as_clients_send_them(server: MetadirServer) -> None:
    # RFC 4512 §4.4: (objectClass=subschema); named attributes in any case; the DN in any case
    ((_, attrs),) = ldapsearch(
        server, "-b", "CN=subschema", "-s", "base", "(objectClass=subschema)", "ATTRIBUTETYPES"
    )
    assert list(attrs) == ["attributeTypes"]
    ((_, attrs),) = ldapsearch(server, "-b", "cn=Subschema", "-s", "base", "(objectclass=*)")
    assert {"attributeTypes", "objectClasses", "cn", "modifyTimestamp"} <= set(attrs)
    ((_, attrs),) = ldapsearch(server, "-b", "cn=Subschema", "-s", "base", "*", "1.1")
    assert "attributeTypes" in attrs  # special entries show everything for "*", like the root DSE
    (only,) = ldapsearch(server, "-b", "cn=Subschema", "-s", "base", "(objectClass=*)", "1.1")
    assert only == ("cn=Subschema", {})
    # built once: the same timestamps in every answer
    stamps = {
        ldapsearch(server, "-b", "cn=Subschema", "-s", "base", "modifyTimestamp")[0][1][
            "modifyTimestamp"
        ][0]
        for _ in range(2)
    }
    assert len(stamps) == 1
    # not one of its classes: no entry
    for filter in ("(objectClass=person)", "(!(objectClass=*))"):
        assert ldapsearch(server, "-b", "cn=Subschema", "-s", "base", filter) == [], filter
    # only a base search finds it
    code, _, err = run_ldapsearch(["-x", "-H", server.url, "-b", "cn=Subschema", "-s", "one"])
    assert code == 32, err


def test_root_dse_names_the_subschema(server: MetadirServer) -> None:
    ((_, attrs),) = ldapsearch(server, "-b", "", "-s", "base", "(objectClass=extensibleObject)")
    assert attrs["subschemaSubentry"] == ["cn=Subschema"]


def test_ldap3_reads_the_schema(server: MetadirServer) -> None:
    """ldap3 fetches the schema itself (get_info=ALL) and parses every definition; a client
    that checks names against it can then use aliases and the search-only attributes."""
    ldap_server = ldap3.Server(server.url, get_info=ldap3.ALL, connect_timeout=5)
    conn = ldap3.Connection(ldap_server, raise_exceptions=True, receive_timeout=10)
    conn.bind()
    try:
        schema = ldap_server.schema
        assert schema is not None and schema.schema_entry == "cn=Subschema"
        assert TIMESTAMP.match(str(schema.modify_time_stamp[0]))
        ours = {a.oid: a for a in subschema.attribute_types()}
        theirs = {a.oid: a for a in schema.attribute_types.values()}
        assert set(theirs) == set(ours)
        for oid, attr in ours.items():
            parsed = theirs[oid]
            assert parsed.name == list(attr.names) and parsed.syntax == attr.syntax
            assert parsed.equality == ([attr.equality] if attr.equality else None)
            assert bool(parsed.single_value) == attr.single
            assert bool(parsed.no_user_modification) == attr.operational
        for name in served_names():
            assert schema.attribute_types[name].oid in ours, name
        classes = {c.oid: c for c in schema.object_classes.values()}
        assert {c.oid for c in subschema.object_classes()} == set(classes)
        for cls in subschema.object_classes():
            parsed = classes[cls.oid]
            assert parsed.name == [cls.name]
            assert (parsed.must_contain or []) == list(cls.must), cls.name
            assert (parsed.may_contain or []) == list(cls.may), cls.name
        assert len({r.oid for r in schema.matching_rules.values()}) == len(
            subschema.matching_rules()
        )
        assert len(schema.ldap_syntaxes) == len(subschema.ldap_syntaxes())
        conn.search(
            "dc=meta",
            "(&(searchNumber=+49 89 5550019)(mobileTelephoneNumber=*))",
            attributes=["commonName", "fax", "entryUUID"],
        )
        (found,) = conn.entries
        assert found.entry_dn.startswith("entryUUID=")
    finally:
        conn.unbind()


def test_served_entries_fit_the_schema(
    served: dict[str, list[Definition]], server: MetadirServer
) -> None:
    """Every attribute of every entry served is described; user attributes are allowed by the
    entry's classes, the classes' MUST attributes are there, single-valued ones have one value."""
    described = by_name(served["attributeTypes"])
    classes = by_name(served["objectClasses"])
    entries = ldapsearch(server, "-b", "dc=meta", "(objectClass=*)", "*", "+")
    entries += ldapsearch(server, "-b", "", "-s", "base", "+")
    entries += ldapsearch(server, "-b", "cn=Subschema", "-s", "base", "+")
    assert len(entries) == 1 + 1 + 2 + 2
    for dn, attrs in entries:
        must: set[str] = set()
        may: set[str] = set()
        for cls in attrs["objectClass"]:
            cls_must, cls_may = allowed(classes, cls)
            must |= cls_must
            may |= cls_may
        extensible = "extensibleobject" in {c.lower() for c in attrs["objectClass"]}
        for name, values in attrs.items():
            assert name.lower() in described, f"{dn}: {name} is not described"
            definition = described[name.lower()]
            assert definition.names[0] == name, f"{dn}: served as {name}"
            if "SINGLE-VALUE" in definition.terms:
                assert len(values) == 1, f"{dn}: {name} {values}"
            if "USAGE" not in definition.terms and not extensible:
                assert name.lower() in must | may, f"{dn}: no class of it allows {name}"
        assert must <= {n.lower() for n in attrs}, f"{dn} lacks {must - set(map(str.lower, attrs))}"


# --- slapd accepts it ----------------------------------------------------------------------


class SchemaSlapd(SlapdServer):
    """slapd without a database, its schema only what is built in plus ``schema`` (LDIF)."""

    def __init__(self, workdir: Path, schema: str | None) -> None:
        self.schema = schema
        super().__init__(workdir)

    def _schema_files(self) -> list[Path]:
        if self.schema is None:
            return []
        path = self.workdir / "schema.ldif"
        path.write_text(self.schema, encoding="utf-8")
        return [path]

    def _database_ldif(self) -> list[str]:
        return []


def slapd_subschema(slapd: SlapdServer) -> dict[str, list[Definition]]:
    code, out, err = run_ldapsearch(
        ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", slapd.url, "-b", "cn=Subschema", "-s", "base",
         "+"]
    )  # fmt: skip
    assert code == 0, err
    ((_, attrs),) = parse_ldif(out)
    return definitions(attrs)


@dataclass
class Slapds:
    builtin: dict[str, list[Definition]]  # what slapd knows with no schema loaded
    loaded: dict[str, list[Definition]]  # ... with metadir's schema loaded
    ldif: str


@pytest.fixture(scope="module")
def slapds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapds]:
    need_slapd()
    bare = SchemaSlapd(tmp_path_factory.mktemp("slapd-bare"), None)
    try:
        bare.start()
        builtin = slapd_subschema(bare)
    finally:
        bare.stop()
    known = {d.oid for kind in ("attributeTypes", "objectClasses") for d in builtin[kind]}
    # slapd lets nobody but itself define operational attributes ("is operational")
    refused = {a.names[0] for a in subschema.attribute_types() if a.operational} - {
        name for d in builtin["attributeTypes"] for name in d.names
    }
    assert refused == {"defaultNamingContext"}, refused
    ldif = slapd_schema.olc_schema_ldif(
        "metadir",
        [a for a in subschema.attribute_types() if a.oid not in known and not a.operational],
        [c for c in subschema.object_classes() if c.oid not in known],
    )
    loaded = SchemaSlapd(tmp_path_factory.mktemp("slapd-metadir"), ldif)
    try:
        loaded.start()
        yield Slapds(builtin, slapd_subschema(loaded), ldif)
    finally:
        loaded.stop()


@pytest.mark.slapd
def test_slapd_builtins_agree(served: dict[str, list[Definition]], slapds: Slapds) -> None:
    """What slapd has built in (operational attributes, cn, top...) carries the same OIDs and
    names in metadir's schema; every syntax and matching rule is one slapd knows."""
    for kind in ("attributeTypes", "objectClasses"):
        builtin = {d.oid: d for d in slapds.builtin[kind]}
        for d in served[kind]:
            if d.oid in builtin:
                theirs = {n.lower() for n in builtin[d.oid].names}
                assert {n.lower() for n in d.names} <= theirs, (d.names, builtin[d.oid].names)
    rules = {d.oid: d for d in slapds.builtin["matchingRules"]}
    differ = set()
    for rule in served["matchingRules"]:
        assert rule.oid in rules, rule
        assert rule.names == rules[rule.oid].names
        if rule.terms["SYNTAX"] != rules[rule.oid].terms["SYNTAX"]:
            differ.add(rule.names[0])
    # slapd gives it the IA5 String syntax; RFC 4517 §4.2.14 the Substring Assertion, as here
    assert differ == {"caseIgnoreIA5SubstringsMatch"}
    # slapd does not list every syntax it has (Substring Assertion, say), but uses them
    known = {d.oid for d in slapds.builtin["ldapSyntaxes"]} | {
        d.terms.get("SYNTAX") for kind in ("attributeTypes", "matchingRules")
        for d in slapds.builtin[kind]
    }  # fmt: skip
    assert {d.oid for d in served["ldapSyntaxes"]} <= known


@pytest.mark.slapd
def test_every_standard_oid_is_known_elsewhere(
    served: dict[str, list[Definition]], slapds: Slapds
) -> None:
    """No invented standard OIDs: each one outside metadir's arc is slapd's built-in or in
    OpenLDAP's schema files, under the same name."""
    need_files()
    files = slapd_schema.defined_oids(OPENLDAP_FILES)
    builtin = {
        name.lower(): d.oid
        for kind in ("attributeTypes", "objectClasses")
        for d in slapds.builtin[kind]
        for name in d.names
    }
    for d in served["attributeTypes"] + served["objectClasses"]:
        if d.oid.startswith(ARC + "."):
            continue
        name = d.names[0].lower()
        assert d.oid in (files.get(name), builtin.get(name)), f"{d.names[0]}: {d.oid}"


@pytest.mark.slapd
def test_slapd_accepts_the_schema(served: dict[str, list[Definition]], slapds: Slapds) -> None:
    """slapd, loaded with every definition it does not have built in, starts and then serves
    each of metadir's attribute types and object classes as metadir describes it."""
    assert "contactperson" in slapds.ldif and "'cn'" not in slapds.ldif  # cn is built in
    for kind in ("attributeTypes", "objectClasses"):
        theirs = {d.oid: d for d in slapds.loaded[kind]}
        for d in served[kind]:
            if d.names[0] == "defaultNamingContext":
                continue  # operational, so slapd refuses it (see the fixture)
            assert d.oid in theirs, f"slapd lacks {d.names}"
            if f"( {d.oid} " not in slapds.ldif:
                continue  # built in: compared by name above
            loaded = theirs[d.oid]
            assert loaded.names == d.names
            for term, value in d.terms.items():
                if term != "DESC":
                    assert loaded.terms.get(term) == value, (d.names[0], term)
