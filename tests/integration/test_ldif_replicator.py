"""The LDIF replicator on real files: RFC 2849 details (folding, base64, comments, version,
change records), broken records reported with their line, presets, and an export of a real
slapd read as the LDAP replicator reads the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from metadir.core.errors import SourceError
from metadir.sync.engine import open_source
from metadir.sync.mapping import MappingError
from replicators.base import Context, Problem, Record
from replicators.ldif import LdifConfig, LdifReplicator
from tests.integration.test_ldap_replicator import (
    ADMIN,
    ALL_USERS,
    BASE,
    CONTACTS,
    GENERIC,
    SECRET,
    authorities,  # noqa: F401 - the slapd holding the directory, and its CA
    directory,
    guid,
    ldif_text,
    read_all,
    replicator,
    source,  # noqa: F401
    stored,
    sync,
    write_config,
)
from tests.servers import SourceSlapd, run_ldapsearch

UUID = "4f3c5b0e-6d2a-4e7b-9a43-1c2d3e4f5a6b"
PERSON = """\
version: 1

# an export of two people; this comment
 goes on over a folded line
dn: cn=Jürgen Müller,ou=people,dc=corp,dc=example
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
cn: Jürgen Müller
sn:: TcO8bGxlcg==
givenName: Jürgen
description: a long value fol
 ded over two lines
telephoneNumber: +49 89 1234-100
telephoneNumber: +49 89 1234-101
entryUUID: {uuid}

dn:: Y249Wm/DqyBQZXJzb24sb3U9cGVvcGxlLGRjPWNvcnAsZGM9ZXhhbXBsZQ==
changetype: add
objectClass: inetOrgPerson
cn: Zoë Person
sn: Person
mail: zoe@corp.example
"""


def ldif_replicator(tmp_path: Path, text: str | bytes, **settings: object) -> LdifReplicator:
    path = tmp_path / "export.ldif"
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    values = {"name": "export", "type": "ldif", "path": path.name, **settings}
    return LdifReplicator(LdifConfig.model_validate(values), Context(tmp_path))


def records_of(rep: LdifReplicator) -> list[Record]:
    out = list(rep.read(None))
    assert not [p for p in out if isinstance(p, Problem)], out
    return out  # type: ignore[return-value]


# --- RFC 2849 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: text.replace("\n", "\r\n").encode("utf-8"),
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),  # a byte order mark
    ],
    ids=["lf", "crlf", "bom"],
)
def test_an_ldif_file_is_read(tmp_path: Path, encode: Callable[[str], bytes]) -> None:
    rep = ldif_replicator(
        tmp_path, encode(PERSON.format(uuid=UUID)), flavor="openldap",
        mapping={"description": "description"},
    )  # fmt: skip
    first, second = records_of(rep)
    assert first.key == (UUID,)
    assert first.line == 5
    assert first.values["sn"] == "Müller"
    assert first.values["description"] == "a long value folded over two lines"
    assert first.values["telephoneNumber"] == ["+49 89 1234-100", "+49 89 1234-101"]
    # no entryUUID: the DN is the key; changetype: add is an entry
    assert second.key == ("cn=zoë person,ou=people,dc=corp,dc=example",)
    assert second.values["cn"] == "Zoë Person"
    assert second.line == 19


BROKEN = """\
dn: cn=Good One,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
cn: Good One
sn: One

cn: no dn here
sn: x

dn: cn=Garbage,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
this line has no colon

dn: cn=Bad Base64,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
sn:: not*base64

dn: cn=Changed,ou=people,dc=corp,dc=example
changetype: modify
replace: telephoneNumber
telephoneNumber: 1

dn: cn=Photo,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
jpegPhoto:< file:///etc/passwd

 folded: with nothing before it

dn: cn=Good Two,ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
cn: Good Two
sn: Two
"""


def test_broken_records_are_problems_with_their_line(tmp_path: Path) -> None:
    rep = ldif_replicator(tmp_path, BROKEN, flavor="openldap")
    items = list(rep.read(None))
    records = [i for i in items if isinstance(i, Record)]
    problems = [(p.line, p.message) for p in items if isinstance(p, Problem)]
    assert [r.values["cn"] for r in records] == ["Good One", "Good Two"]
    assert [r.line for r in records] == [1, 28]
    dn = "ou=people,dc=corp,dc=example"
    assert problems == [
        (6, "the record starts with 'cn', not with dn:"),
        (11, "not an 'attribute: value' line: 'this line has no colon'"),
        (15, "sn: the value after '::' is not base64"),
        (18, f"cn=Changed,{dn}: changetype: modify records are not read "
             "(an export lists entries, not changes); skipped"),
        (24, "jpegPhoto: values given by URL (:<) are not read"),
        (26, "a folded line (starting with a space) with no line before it"),
    ]  # fmt: skip


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"export\.ldif: cannot read: No such file"):
        LdifReplicator(
            LdifConfig.model_validate({"name": "x", "type": "ldif", "path": "export.ldif"}),
            Context(tmp_path),
        ).check()
    with pytest.raises(SourceError, match=r"export\.ldif: no entries \(is it an LDIF file\?\)"):
        ldif_replicator(tmp_path, "Id;Name\n1;Müller\n").check()
    # the replicator's own mapping must name attributes the file has
    path = tmp_path / "export.ldif"
    path.write_text(PERSON.format(uuid=UUID), encoding="utf-8")
    settings = {"name": "x", "type": "ldif", "path": path.name, "mapping": {"mobile": "mobil"}}
    with pytest.raises(MappingError, match=r"^mapping.mobile: the source has no field 'mobil'"):
        open_source(LdifConfig.model_validate(settings), Context(tmp_path))


# --- presets -------------------------------------------------------------------------


def ad_export() -> str:
    """An Active Directory export as ldifde writes one: containers, users, contacts, a
    computer; objectGUID in base64."""
    return ldif_text(directory())


def test_an_ad_export(tmp_path: Path) -> None:
    rep = ldif_replicator(tmp_path, ad_export(), flavor="ad")
    records = {r.key: r for r in records_of(rep)}
    assert len(records) == ALL_USERS  # users only: no containers, contacts, computer
    full = records[(str(guid(1000)),)]
    assert full.values["otherTelephone"] == ["089 1234-101", "089 1234-102", "089 1234-103"]
    assert full.values["streetAddress"] == "Königstraße 1"
    # contacts: in a file the object class tells (the generic test entries are contacts too)
    contacts = records_of(ldif_replicator(tmp_path, ad_export(), flavor="ad", objects="contacts"))
    expected = [str(c[1]["sn"][0]) for c in [*CONTACTS, *GENERIC]]
    assert sorted(r.values["sn"] for r in contacts) == sorted(expected)
    active = records_of(ldif_replicator(tmp_path, ad_export(), flavor="ad", skip_disabled=True))
    assert len(active) == ALL_USERS - 2


def test_object_classes_and_base_dn_select_entries(tmp_path: Path) -> None:
    computers = records_of(
        ldif_replicator(tmp_path, ad_export(), object_classes=["computer"], key="objectGUID")
    )
    assert [r.key for r in computers] == [(str(guid(3000)),)]  # test_ldap_replicator.COMPUTER
    below = records_of(
        ldif_replicator(tmp_path, ad_export(), flavor="ad", base_dn=f"OU=Contacts,{BASE}",
                        objects="all")
    )  # fmt: skip
    assert len(below) == len(CONTACTS)


def test_an_export_syncs_into_the_store(tmp_path: Path) -> None:
    (tmp_path / "export.ldif").write_text(ad_export(), encoding="utf-8")
    config = write_config(
        tmp_path, {"name": "ad", "type": "ldif", "flavor": "ad", "path": "export.ldif"}
    )
    run = sync(config)
    assert (run.outcome, run.added, run.skipped) == ("ok", ALL_USERS, 0), run.message
    full = stored(config)[str(guid(1000))]
    assert full["otherTelephone"] == ["+49891234101", "+49891234102", "+49891234103"]
    assert full["displayName"] == ["Müller, Jürgen"]


# --- an export of a real server -------------------------------------------------------


def test_an_ldapsearch_export_reads_as_the_server_does(
    source: SourceSlapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Exported with ``ldapsearch -LLL`` (folded lines, base64 values), the file gives the
    records the LDAP replicator reads from the server itself."""
    code, out, err = run_ldapsearch(
        ["-LLL", "-x", "-H", source.url, "-D", ADMIN, "-w", SECRET, "-b", BASE,
         "-E", "pr=100/noprompt", "-o", "ldif-wrap=40", "(objectClass=*)", "*", "+"]
    )  # fmt: skip
    assert code == 0, err
    assert "::" in out and "\n " in out  # base64 values and folded lines
    from_file = {r.key: r.values for r in records_of(ldif_replicator(tmp_path, out, flavor="ad"))}
    from_server, problems = read_all(replicator(tmp_path, source.url))
    assert not problems
    assert len(from_file) == ALL_USERS
    assert from_file == {key: record.values for key, record in from_server.items()}
    assert from_file[(str(guid(1000)),)]["objectGUID"] == str(guid(1000))


def test_broken_records_keep_their_key_where_it_can_be_trusted(tmp_path: Path) -> None:
    rep = ldif_replicator(tmp_path, BROKEN, flavor="openldap")
    keys = [(p.line, p.key) for p in rep.read(None) if isinstance(p, Problem)]
    dn = "ou=people,dc=corp,dc=example"
    # a line whose name cannot be read may be the entryUUID: the DN would be another key
    assert keys == [
        (6, None),
        (11, None),
        (15, (f"cn=bad base64,{dn}",)),
        (18, None),
        (24, (f"cn=photo,{dn}",)),
        (26, None),
    ]


@pytest.mark.parametrize(
    ("lines", "line", "key"),
    [
        (f"entryUUID: {UUID}\nsn:: not*base64", 4, (UUID,)),
        (f"entryUUID: {UUID}\nsn:: /w==", 1, (UUID,)),  # not UTF-8: the record's line
        ("entryUUID:: not*base64\nsn: Person", 3, None),
        ("sn:: not*base64", 3, ("cn=zoe person,ou=people,dc=corp,dc=example",)),
        ("sn: Person\nentryUUID:< file:///uuid", 4, None),
    ],
    ids=["bad-value", "not-utf8", "bad-key", "dn-key", "key-by-url"],
)
def test_a_broken_record_carries_its_key_if_it_can_be_trusted(
    tmp_path: Path, lines: str, line: int, key: tuple[str, ...] | None
) -> None:
    record = "dn: cn=Zoe Person,ou=people,dc=corp,dc=example\nobjectClass: inetOrgPerson\n"
    rep = ldif_replicator(tmp_path, record + lines + "\n", flavor="openldap")
    (problem,) = list(rep.read(None))
    assert isinstance(problem, Problem)
    assert (problem.line, problem.key) == (line, key)
