"""The LDAP replicator against a real slapd holding an Active-Directory-like directory
(``tests/source_schema.ldif``: AD's attribute names and OIDs), with OpenLDAP, Domino and
generic entries beside it: presets, paging, failover, TLS, failures, binary values.

The AD-specific parts that need a real domain controller (ranged attribute retrieval,
``(objectCategory=person)`` as AD reads it) are tested against Samba AD elsewhere; here
``objectCategory`` holds a plain ``person``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from metadir.config import Config, load_config
from metadir.core.errors import ConfigError, SourceError
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.mapping import Mapping
from replicators.base import Context, Problem, Record, Replicator
from replicators.ldap import LdapConfig
from replicators.ldap.source import LdapReplicator
from replicators.ldap.values import EntryReader, filetime, guid_text, sid_text, split_description
from tests import samba
from tests.conftest import need_slapd
from tests.pki import Authority, issue, make_authority, write_pair
from tests.servers import SourceSlapd, connect, free_port

BASE = "dc=corp,dc=example"
ADMIN, SECRET = "cn=admin,dc=corp,dc=example", "secret"
USERS = 300  # ordinary users; the special ones come on top
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01"
# S-1-5-21-1004336348-1177238915-682003330-1105
SID = bytes.fromhex("010500000000000515000000dcf4dc3b833d2b46828ba62851040000")
Values = dict[str, list[str | bytes]]


# --- test data -----------------------------------------------------------------------


def ldif_text(entries: list[tuple[str, Values]]) -> str:
    """Entries as LDIF; bytes and non-ASCII text base64-encoded."""
    blocks = []
    for dn, attributes in entries:
        lines = [f"dn: {dn}"]
        for name, values in attributes.items():
            for value in values:
                if isinstance(value, bytes) or not value.isascii():
                    raw = value if isinstance(value, bytes) else value.encode("utf-8")
                    lines.append(f"{name}:: {base64.b64encode(raw).decode('ascii')}")
                else:
                    lines.append(f"{name}: {value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def guid(i: int) -> uuid.UUID:
    return uuid.UUID(int=0x5EED_0000 + i)


def user(i: int, name: str | None = None, **extra: list[str | bytes]) -> tuple[str, Values]:
    cn = name or f"User {i:03}"
    return f"cn={cn},ou=staff,{BASE}", {
        "objectClass": ["user"],
        "cn": [cn],
        "objectCategory": ["person"],
        "objectGUID": [guid(i).bytes_le],
        "givenName": [f"Given{i}"],
        "sn": [f"Family{i}"],
        "telephoneNumber": [f"+49 89 1234-{i:03}"],
        "mail": [f"user{i}@corp.example"],
        "sAMAccountName": [f"user{i}"],
        "userAccountControl": ["512"],
        **extra,
    }


# every attribute the AD preset maps, with the seed tables' names
FULL = user(
    1000,
    "Jürgen Müller",
    displayName=["Müller, Jürgen"],
    givenName=["Jürgen"],
    sn=["Müller"],
    initials=["JM"],
    company=["Bäckerei Groß GmbH"],
    department=["Geschäftsführung"],
    title=["Geschäftsführer"],
    physicalDeliveryOfficeName=["München, 2. OG"],
    mail=["juergen.mueller@corp.example"],
    wWWHomePage=["https://corp.example/jm"],
    userPrincipalName=["jmueller@corp.example"],
    preferredLanguage=["de-DE"],
    description=["Chef"],
    info=["Notiz"],
    telephoneNumber=["+49 89 1234-100"],
    otherTelephone=["089 1234-101", "089 1234-102", "089 1234-103"],
    homePhone=["089 555 1"],
    otherHomePhone=["089 555 2", "089 555 3"],
    mobile=["0170 1234567"],
    otherMobile=["0171 7654321"],
    pager=["0160 111"],
    ipPhone=["100"],
    otherIpPhone=["101"],
    facsimileTelephoneNumber=["+49 89 1234-199"],
    otherFacsimileTelephoneNumber=["+49 89 1234-198"],
    streetAddress=["Königstraße 1"],
    postOfficeBox=["Postfach 12"],
    postalCode=["80331"],
    l=["München"],
    st=["Bayern"],
    c=["DE"],
    co=["Deutschland"],
    objectSid=[SID],
    thumbnailPhoto=[JPEG],
)
NOW = datetime.now(UTC)
INACTIVE = {
    "disabled": user(1001, userAccountControl=["514"]),
    "expired": user(1002, accountExpires=[str(samba.filetime(NOW - timedelta(days=1)))]),
}
ACTIVE = {
    "expires later": user(1003, accountExpires=[str(samba.filetime(NOW + timedelta(days=30)))]),
    "never expires": user(1004, accountExpires=["9223372036854775807"]),
    "no expiry set": user(1005, accountExpires=["0"]),
}
# a value that is no text where text is expected (userPassword is an octet string)
ODD = user(1006, userPassword=[b"\xff\xfe\x00 not text"])
CONTACTS = [
    (
        f"cn=Contact {i},ou=contacts,{BASE}",
        {
            "objectClass": ["contact"],
            "cn": [f"Contact {i}"],
            "sn": [f"Lieferant{i}"],
            "objectCategory": ["person"],
            "objectGUID": [guid(2000 + i).bytes_le],
            "company": ["Zulieferer AG"],
            "telephoneNumber": [f"+49 30 555-{i}"],
        },
    )
    for i in range(3)
]
COMPUTER = (
    f"cn=PC1,ou=machines,{BASE}",
    {
        "objectClass": ["computer"],
        "cn": ["PC1"],
        "sn": ["PC1"],
        "objectCategory": ["computer"],
        "objectGUID": [guid(3000).bytes_le],
    },
)
PEOPLE = [  # OpenLDAP's inetOrgPerson; telephoneNumber is multi-valued there
    (
        f"uid=p{i},ou=people,{BASE}",
        {
            "objectClass": ["inetOrgPerson"],
            "uid": [f"p{i}"],
            "cn": [f"Zoë Person{i}"],
            "sn": [f"Person{i}"],
            "givenName": ["Zoë"],
            "o": ["Open GmbH"],
            "ou": ["Vertrieb"],
            "mail": [f"p{i}@open.example"],
            "telephoneNumber": [f"+49 40 777-{i}", f"+49 40 777-9{i}"],
            "mobile": [f"0172 {i}000"],
            "street": ["Elbchaussee 5"],
            "l": ["Hamburg"],
        },
    )
    for i in range(3)
]
DOMINO = [
    (
        f"cn=Notes User{i},ou=domino,{BASE}",
        {
            "objectClass": ["dominoPerson"],
            "cn": [f"Notes User{i}"],
            "sn": [f"User{i}"],
            "givenName": ["Notes"],
            "dominoUNID": [f"OF{i:030X}"],
            "mail": [f"notes{i}@domino.example"],
            "telephoneNumber": [f"+41 44 111-{i}"],
            "ipPhone": [f"{300 + i}"],
            "facsimileTelephoneNumber": ["+41 44 111-99"],
            "mobile": ["079 1234567"],
            "ou": ["Einkauf"],
            "preferredLanguage": ["de-CH"],
            "userPrincipalName": [f"notes{i}@domino.example"],
        },
    )
    for i in range(2)
]
GENERIC = [  # another metadirectory: attributes already named as metadir serves them
    (
        f"cn=Meta {i},ou=generic,{BASE}",
        {
            "objectClass": ["contact"],
            "cn": [f"Meta {i}"],
            "sn": [f"Meta{i}"],
            "displayName": [f"Meta Kontakt {i}"],
            "company": ["Meta AG"],
            "telephoneNumber": [f"+49 711 200-{i}"],
            "otherTelephone": ["+49 711 200-50", "+49 711 200-51"],
            "otherHomePhone": ["0711 300"],
            "ipPhone": [f"{400 + i}"],
        },
    )
    for i in range(2)
]


def directory() -> list[tuple[str, Values]]:
    containers = [
        (BASE, {"objectClass": ["dcObject", "organization"], "dc": ["corp"], "o": ["Corp"]}),
        *[
            (f"ou={ou},{BASE}", {"objectClass": ["organizationalUnit"], "ou": [ou]})
            for ou in ("staff", "contacts", "machines", "people", "domino", "generic")
        ],
    ]
    users = [user(i) for i in range(USERS)]
    special = [FULL, *INACTIVE.values(), *ACTIVE.values(), ODD]
    return [*containers, *users, *special, *CONTACTS, COMPUTER, *PEOPLE, *DOMINO, *GENERIC]


ALL_USERS = USERS + 1 + len(INACTIVE) + len(ACTIVE) + 1


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Authority]:
    """A throw-away CA that signs the source's certificate, and one that signed nothing."""
    where = tmp_path_factory.mktemp("authorities")
    return make_authority(where, "source CA"), make_authority(where, "some other CA")


@pytest.fixture(scope="module")
def source(
    tmp_path_factory: pytest.TempPathFactory, authorities: tuple[Authority, Authority]
) -> Iterator[SourceSlapd]:
    """The directory above in a slapd speaking ldap:// (StartTLS) and ldaps://."""
    need_slapd()
    ca, _ = authorities
    workdir = tmp_path_factory.mktemp("source")
    cert, key = workdir / "server.pem", workdir / "server.key"
    write_pair(issue(ca, "source", 7), cert, key)
    server = SourceSlapd(workdir, tls=(cert, key))
    server.load(ldif_text(directory()))
    server.start()
    yield server
    server.stop()


def settings(url: str | list[str], **more: object) -> dict:
    return {
        "name": "ad",
        "type": "ldap",
        "flavor": "ad",
        "url": url,
        "base_dn": BASE,
        "bind_dn": ADMIN,
        "password": SECRET,
        "retry_delay": 0,
        "retries": 1,
        **more,
    }


def replicator(tmp_path: Path, url: str | list[str], **more: object) -> LdapReplicator:
    return LdapReplicator(LdapConfig.model_validate(settings(url, **more)), Context(tmp_path))


def read_all(rep: Replicator) -> tuple[dict[tuple[str, ...], Record], list[Problem]]:
    """The records by key (each key once) and the problems of a full read."""
    records: dict[tuple[str, ...], Record] = {}
    problems = []
    for item in rep.read(None):
        if isinstance(item, Record):
            assert item.key not in records, f"{item.key} read twice"
            records[item.key] = item
        elif isinstance(item, Problem):
            problems.append(item)
    return records, problems


def write_config(tmp_path: Path, rep: dict, **directory: object) -> Config:
    config = {
        "store": {"url": "sqlite:///metadir.db"},
        "location": {"country": "DE", "area_code": "89"},
        "directories": [{"name": "staff", "replicators": [rep], **directory}],
    }
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def sync(config: Config, **options: bool) -> RunRecord:
    directory = config.directories[0]
    with Store.open(config.store_url()) as store:
        return run_replicator(store, config.job(directory, directory.replicators[0]), **options)


def stored(config: Config) -> dict[str, dict[str, list[str]]]:
    """The live entries of the store, by source key."""
    with Store.open(config.store_url()) as store:
        _, entries = store.snapshot()
    return {entry.key[0]: entry.attributes for entry in entries}


# --- full load -----------------------------------------------------------------------


def test_a_full_load_is_served_by_metadir(source: SourceSlapd, make_metadir) -> None:
    """No mapping: the AD preset alone gives a useful directory, paged, served over LDAP."""
    rep = {k: v for k, v in settings(source.url, page_size=40).items() if k != "password"}
    rep["password"] = "${SOURCE_PASSWORD}"
    config = {
        "location": {"country": "DE", "area_code": "89"},
        "directories": [{"name": "staff", "replicators": [rep]}],
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SOURCE_PASSWORD", SECRET)
        server = make_metadir(config)
    conn = connect(server.url)
    assert conn.search("ou=staff,dc=meta", "(objectClass=*)", attributes=["cn"], paged_size=500)
    assert len(conn.entries) == ALL_USERS + 1  # and the container
    conn.search("ou=staff,dc=meta", "(sn=müller)", attributes=["*"])
    (entry,) = conn.entries
    assert entry.displayName.value == "Müller, Jürgen"
    assert entry.company.value == "Bäckerei Groß GmbH"
    assert entry.street.value == "Königstraße 1"
    assert sorted(entry.otherTelephone.values) == ["+49891234101", "+49891234102", "+49891234103"]
    # a number search finds the contact by any of its numbers
    conn.search("ou=staff,dc=meta", "(otherTelephone=089 1234-103)", attributes=["cn"])
    assert [e.cn.value for e in conn.entries] == ["Müller, Jürgen"]
    conn.unbind()


def test_paged_read_in_several_pages_keeps_every_entry(
    source: SourceSlapd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rep = replicator(tmp_path, source.url, page_size=7)
    with caplog.at_level(logging.DEBUG, logger="replicators.ldap.source"):
        records, problems = read_all(rep)
    assert not problems
    assert len(records) == ALL_USERS
    pages = -(-ALL_USERS // 7)
    assert f"{pages} pages read" in caplog.text
    # the key is the objectGUID, as Windows writes it
    assert (str(guid(5)),) in records


def test_sync_into_the_store_then_nothing_changes(source: SourceSlapd, tmp_path: Path) -> None:
    config = write_config(tmp_path, settings(source.url, page_size=100))
    first = sync(config)
    assert (first.outcome, first.added, first.skipped) == ("ok", ALL_USERS, 0), first.message
    entries = stored(config)
    full = entries[str(guid(1000))]
    assert full["otherHomePhone"] == ["+49895552", "+49895553"]
    assert full["ipPhone"] == ["100"]
    again = sync(config)
    assert (again.outcome, again.unchanged, again.added, again.updated) == ("ok", ALL_USERS, 0, 0)


# --- presets -------------------------------------------------------------------------

SEED_AD = {  # the seed tables' LDAP attributes, and what the full user has in them
    "givenName": ["Jürgen"],
    "sn": ["Müller"],
    "company": ["Bäckerei Groß GmbH"],
    "mail": ["juergen.mueller@corp.example"],
    "homePhone": ["089 555 1"],
    "telephoneNumber": ["+49 89 1234-100"],
    "mobile": ["0170 1234567"],
    "pager": ["0160 111"],
    "facsimileTelephoneNumber": ["+49 89 1234-199"],
    "otherHomePhone": ["089 555 2", "089 555 3"],
    "otherTelephone": ["089 1234-101", "089 1234-102", "089 1234-103"],
    "ipPhone": ["100"],
    "department": ["Geschäftsführung"],
    "userPrincipalName": ["jmueller@corp.example"],
    "displayName": ["Müller, Jürgen"],
    "cn": ["Müller, Jürgen"],
    "street": ["Königstraße 1"],
    "url": ["https://corp.example/jm"],
    "c": ["DE"],
    "co": ["Deutschland"],
    "otherFacsimileTelephoneNumber": ["+49 89 1234-198"],
}


def mapped(rep_settings: dict, record: Record) -> dict[str, list[str]]:
    mapping = LdapConfig.model_validate(rep_settings).mapping
    attributes, _ = Mapping.compile(mapping).apply(record.values)
    return attributes


def test_ad_preset_gives_what_the_seed_tables_promise(source: SourceSlapd, tmp_path: Path) -> None:
    records, _ = read_all(replicator(tmp_path, source.url))
    full = records[(str(guid(1000)),)]
    attributes = mapped(settings(source.url), full)
    assert {name: attributes.get(name) for name in SEED_AD} == SEED_AD
    # binary attributes are not asked for unless mapped: no photo, no SID
    assert "thumbnailPhoto" not in full.values and "objectSid" not in full.values


@pytest.mark.parametrize(
    ("flavor", "base", "key", "expected"),
    [
        (
            "openldap",
            f"ou=people,{BASE}",
            "entryUUID",
            {"cn": ["Zoë Person1"], "company": ["Open GmbH"], "department": ["Vertrieb"],
             "telephoneNumber": ["+49 40 777-1"], "mobile": ["0172 1000"],
             "street": ["Elbchaussee 5"], "l": ["Hamburg"], "givenName": ["Zoë"]},
        ),
        (
            "domino",
            f"ou=domino,{BASE}",
            "dominoUNID",
            {"cn": ["Notes User1"], "ipPhone": ["301"], "department": ["Einkauf"],
             "telephoneNumber": ["+41 44 111-1"], "facsimileTelephoneNumber": ["+41 44 111-99"],
             "preferredLanguage": ["de-CH"], "userPrincipalName": ["notes1@domino.example"]},
        ),
        (
            "generic",
            f"ou=generic,{BASE}",
            "entryUUID",
            {"displayName": ["Meta Kontakt 1"], "company": ["Meta AG"], "ipPhone": ["401"],
             "otherTelephone": ["+49 711 200-50", "+49 711 200-51"],
             "otherHomePhone": ["0711 300"]},
        ),
    ],
)  # fmt: skip
def test_other_presets(
    source: SourceSlapd, tmp_path: Path, flavor: str, base: str, key: str, expected: dict
) -> None:
    rep_settings = settings(source.url, flavor=flavor, base_dn=base)
    records, problems = read_all(LdapConfig.model_validate(rep_settings).build(Context(tmp_path)))
    assert not problems
    assert len(records) in (2, 3)
    (record,) = [r for r in records.values() if r.values.get("cn") in (
        "Zoë Person1", "Notes User1", "Meta 1")]  # fmt: skip
    assert record.key == (record.values[key],)
    attributes = mapped(rep_settings, record)
    assert {name: attributes.get(name) for name in expected} == expected


def test_contacts_and_all_objects(source: SourceSlapd, tmp_path: Path) -> None:
    contacts, _ = read_all(replicator(tmp_path, source.url, objects="contacts"))
    assert sorted(r.values["sn"] for r in contacts.values()) == [
        "Lieferant0", "Lieferant1", "Lieferant2"
    ]  # fmt: skip
    everyone, _ = read_all(replicator(tmp_path, source.url, objects="all"))
    # users and contacts; never the computer (objectCategory computer)
    assert len(everyone) == ALL_USERS + len(CONTACTS)


def test_a_mapping_extends_and_overrides_the_preset(source: SourceSlapd, tmp_path: Path) -> None:
    more = {
        "Mobile": "otherMobile",
        "custom1": "sAMAccountName",
        "custom2": "objectSid",
        "custom3": "{otherTelephone} ({sn})",  # a template takes a field's first value
    }
    rep_settings = settings(source.url, mapping=more)
    records, _ = read_all(LdapConfig.model_validate(rep_settings).build(Context(tmp_path)))
    attributes = mapped(rep_settings, records[(str(guid(1000)),)])
    assert attributes["mobile"] == ["0171 7654321"]  # the preset's mobile is replaced
    assert attributes["custom1"] == ["user1000"]
    assert (
        attributes["custom2"]
        == [sid_text(SID)]
        == ["S-1-5-21-1004336348-1177238915-682003330-1105"]
    )
    assert attributes["custom3"] == ["089 1234-101 (Müller)"]
    assert attributes["telephoneNumber"] == ["+49 89 1234-100"]  # the rest of the preset stays
    only = LdapConfig.model_validate(settings(source.url, mapping=more, preset_mapping=False))
    assert set(only.mapping) == set(more)


def test_skip_disabled_leaves_out_disabled_and_expired_accounts(
    source: SourceSlapd, tmp_path: Path
) -> None:
    account = {"custom1": "sAMAccountName"}
    records, _ = read_all(replicator(tmp_path, source.url, skip_disabled=True, mapping=account))
    accounts = {r.values["sAMAccountName"] for r in records.values()}
    assert len(records) == ALL_USERS - len(INACTIVE)
    for name, (_, attributes) in INACTIVE.items():
        assert attributes["sAMAccountName"][0] not in accounts, name
    for name, (_, attributes) in ACTIVE.items():
        assert attributes["sAMAccountName"][0] in accounts, name
    everyone, _ = read_all(replicator(tmp_path, source.url, mapping=account))
    assert len(everyone) == ALL_USERS


# --- values --------------------------------------------------------------------------


def test_binary_values_as_text() -> None:
    raw = guid(7).bytes_le
    assert guid_text(raw) == str(guid(7))
    assert sid_text(SID) == "S-1-5-21-1004336348-1177238915-682003330-1105"
    with pytest.raises(ValueError):
        guid_text(b"\x00" * 15)
    assert filetime(116444736000000000) == datetime(1970, 1, 1, tzinfo=UTC)


def test_range_options_of_attribute_descriptions() -> None:
    # AD's answer for an attribute with more values than MaxValRange
    assert split_description("member;range=0-1499") == ("member", 1500)
    assert split_description("member;range=1500-*") == ("member", None)
    assert split_description("userCertificate;binary") == ("userCertificate", None)
    assert split_description("cn;lang-de") is None
    assert split_description("mobile") == ("mobile", None)


def test_a_value_that_is_not_text_is_a_problem_naming_entry_and_attribute(
    source: SourceSlapd, tmp_path: Path
) -> None:
    rep = replicator(tmp_path, source.url, mapping={"custom3": "userPassword"})
    records, problems = read_all(rep)
    assert len(records) == ALL_USERS - 1
    assert [p.message for p in problems] == [f"{ODD[0]}: userPassword: a value is not UTF-8 text"]


def test_binary_attributes_are_read_only_when_mapped(source: SourceSlapd, tmp_path: Path) -> None:
    # a photo has no text form but base64; a user who maps it gets that
    records, _ = read_all(replicator(tmp_path, source.url, mapping={"custom3": "thumbnailPhoto"}))
    photos = [r.values["thumbnailPhoto"] for r in records.values() if "thumbnailPhoto" in r.values]
    assert photos == [base64.b64encode(JPEG).decode("ascii")]


def test_non_ascii_filter(source: SourceSlapd, tmp_path: Path) -> None:
    records, _ = read_all(replicator(tmp_path, source.url, filter="(sn=Müller)"))
    assert [r.values["givenName"] for r in records.values()] == ["Jürgen"]


# --- connection: failover, TLS -------------------------------------------------------


def dead_url() -> str:
    return f"ldap://127.0.0.1:{free_port()}"


def test_failover_to_the_next_url(
    source: SourceSlapd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = dead_url()
    with caplog.at_level(logging.INFO, logger="replicators.ldap.connection"):
        records, _ = read_all(replicator(tmp_path, [dead, source.url]))
    assert len(records) == ALL_USERS
    assert f"{dead}: " in caplog.text


def test_no_server_answers(tmp_path: Path) -> None:
    first, second = dead_url(), dead_url()
    with pytest.raises(SourceError) as raised:
        replicator(tmp_path, [first, second], retries=1).check()
    message = str(raised.value)
    assert message.startswith("cannot connect (2 attempts): ")
    assert f"{first}: " in message and f"; {second}: " in message
    assert "refused" in message


def test_starttls_and_ldaps_with_a_ca_file(
    source: SourceSlapd, tmp_path: Path, authorities: tuple[Authority, Authority]
) -> None:
    tls = {"ca_file": str(authorities[0].path)}
    assert replicator(tmp_path, source.url, tls={**tls, "start_tls": True}).check()
    assert source.ldaps_url is not None
    records, _ = read_all(replicator(tmp_path, source.ldaps_url, tls=tls))
    assert len(records) == ALL_USERS


def test_certificates_are_verified(
    source: SourceSlapd, tmp_path: Path, authorities: tuple[Authority, Authority]
) -> None:
    assert source.ldaps_url is not None
    wrong = {"ca_file": str(authorities[1].path)}
    for url, tls, how in [
        (source.ldaps_url, wrong, ""),
        (source.url, {**wrong, "start_tls": True}, "StartTLS failed: "),
        (source.ldaps_url, {}, ""),  # the system's CAs do not know the test CA either
    ]:
        with pytest.raises(SourceError) as raised:
            replicator(tmp_path, url, tls=tls).check()
        message = str(raised.value)
        assert f"{url}: {how}TLS: certificate verify failed" in message, message
        assert "tls.ca_file names the CA to trust" in message
    # verification off (a test setup only): connects, and says so in the log
    assert replicator(tmp_path, source.ldaps_url, tls={"verify": False}).check()


def test_a_missing_ca_file(source: SourceSlapd, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^tls.ca_file: cannot read .*nowhere.pem$"):
        replicator(tmp_path, source.ldaps_url, tls={"ca_file": "nowhere.pem"}).check()


# --- failures: one clear error, the directory as it was ------------------------------


def test_failures_name_the_replicator_and_change_nothing(
    source: SourceSlapd, tmp_path: Path
) -> None:
    good = settings(source.url)
    config = write_config(tmp_path, good)
    assert sync(config).outcome == "ok"
    before = stored(config)
    assert len(before) == ALL_USERS
    dead = dead_url()
    failures = {
        "wrong password": (
            {"password": "wrong"},
            f"replicator ad: {source.url}: cannot bind as {ADMIN}: invalid credentials (49)",
        ),
        "unreachable host": (
            {"url": dead},
            f"replicator ad: cannot connect (2 attempts): {dead}: ",
        ),
        "bad base DN": (
            {"base_dn": f"ou=nowhere,{BASE}"},
            f"replicator ad: {source.url}: base_dn 'ou=nowhere,{BASE}' does not exist "
            f"(the server has '{BASE}')",
        ),
        "unknown user": (
            {"bind_dn": f"cn=nobody,{BASE}"},
            f"replicator ad: {source.url}: cannot bind as cn=nobody,{BASE}: "
            "invalid credentials (49)",
        ),
    }
    for what, (change, message) in failures.items():
        config = write_config(tmp_path, {**good, **change})
        run = sync(config)
        assert run.outcome == "failed", what
        assert run.message.startswith(message), (what, run.message)
        assert SECRET not in run.message and "wrong" not in run.message
        assert stored(config) == before, what
    with Store.open(config.store_url()) as store:
        assert store.last_runs()["ad"].outcome == "failed"


def test_a_bad_filter_is_a_config_error(source: SourceSlapd, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, settings(source.url, filter="(&(objectClass=user)(sn=x)"))
    (problem,) = raised.value.problems
    assert problem.endswith(
        "metadir.yaml: directories[0].replicators[0].filter: "
        "bad filter '(&(objectClass=user)(sn=x)': 1 '(' not closed"
    )


def test_sync_command_prints_one_line_per_failure(source: SourceSlapd, tmp_path: Path) -> None:
    import subprocess
    import sys

    write_config(tmp_path, settings(source.url, password="wrong"))
    done = subprocess.run(
        [sys.executable, "-m", "metadir", "sync", "-c", str(tmp_path / "metadir.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ad (ldap -> staff): failed in ")
    assert lines[1] == (
        f"  replicator ad: {source.url}: cannot bind as {ADMIN}: invalid credentials (49)"
    )


# --- a source that dies mid-load -----------------------------------------------------


@pytest.fixture
def big_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourceSlapd]:
    """1500 users, read in pages of 25 below: a read that takes 60 round trips."""
    need_slapd()
    server = SourceSlapd(tmp_path_factory.mktemp("big"))
    containers = [
        (BASE, {"objectClass": ["dcObject", "organization"], "dc": ["corp"], "o": ["Corp"]}),
        (f"ou=staff,{BASE}", {"objectClass": ["organizationalUnit"], "ou": ["staff"]}),
    ]
    server.load(ldif_text([*containers, *(user(i) for i in range(1500))]))
    server.start()
    yield server
    server.stop()


def test_a_lost_connection_is_reopened_and_nothing_read_twice(
    big_source: SourceSlapd, tmp_path: Path
) -> None:
    rep = replicator(tmp_path, big_source.url, page_size=25, retries=3, retry_delay=0.1)
    reading = rep.read()
    keys = [next(reading).key for _ in range(200)]
    assert big_source.process is not None
    big_source.process.send_signal(signal.SIGKILL)
    big_source.process.wait()
    big_source.process = None
    big_source.start()  # back on the same port, as a restarted server would be
    keys += [item.key for item in reading if isinstance(item, Record)]
    assert len(keys) == len(set(keys)) == 1500


def test_a_source_that_stays_away_fails_the_read(big_source: SourceSlapd, tmp_path: Path) -> None:
    rep = replicator(tmp_path, big_source.url, page_size=25, retries=2, retry_delay=0.05)
    reading = rep.read()
    for _ in range(100):
        next(reading)
    assert big_source.process is not None
    big_source.process.send_signal(signal.SIGKILL)
    big_source.process.wait()
    big_source.process = None
    with pytest.raises(SourceError) as raised:
        list(reading)
    message = str(raised.value)
    assert message.startswith(f"{big_source.url}: connection lost during the read (")
    assert "; cannot connect (3 attempts): " in message


class Relay:
    """A TCP relay in front of slapd that drops everything once ``budget`` bytes came back
    from the server: a source dying mid-load, as the network shows it to the replicator."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.budget: int | None = None
        self.passed = 0
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, counted: bool) -> None:
        try:
            while data := source.recv(65536):
                with self.lock:
                    if (
                        counted
                        and self.budget is not None
                        and self.passed + len(data) > self.budget
                    ):
                        target.sendall(data[: self.budget - self.passed])
                        self.cut()
                        return
                    self.passed += len(data) if counted else 0
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                sock.close()

    def cut(self) -> None:
        """Drop every connection and take no more."""
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_a_source_dying_mid_load_fails_the_run_and_deletes_nothing(
    big_source: SourceSlapd, tmp_path: Path
) -> None:
    relay = Relay(big_source.port)
    try:
        config = write_config(tmp_path, settings(relay.url, page_size=25, retry_delay=0.05))
        assert sync(config).added == 1500
        before = stored(config)
        whole_run, relay.passed = relay.passed, 0
        relay.budget = whole_run // 2  # the second run breaks off halfway
        run = sync(config)
        assert run.outcome == "failed"
        assert run.message.startswith(
            f"replicator ad: {relay.url}: connection lost during the read ("
        ), run.message
        assert stored(config) == before
        with Store.open(config.store_url()) as store:
            recorded = store.last_runs()["ad"]
        assert (recorded.outcome, recorded.message) == ("failed", run.message)
    finally:
        relay.cut()


# --- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"url": "http://dc1"}, "url: 'http://dc1': expected ldap://HOST[:PORT] or ldaps://"),
        ({"url": "ldap://dc1/dc=corp"}, "url: 'ldap://dc1/dc=corp': give the base DN as base_dn"),
        ({"url": []}, "url: give at least one ldap:// or ldaps:// URL"),
        ({"url": "ldaps://dc1", "tls": {"start_tls": True}},
         "tls.start_tls: ldaps:// URLs speak TLS already; use ldap:// URLs"),
        ({"tls": {"ca": "x.pem"}}, "tls.ca: unknown key"),
        ({"password": None}, "password: required with bind_dn (or give password_file)"),
        ({"bind_dn": None}, "bind_dn: required with a password"),
        ({"filter": "(cn=x))"}, "filter: bad filter '(cn=x))': ')' at position 7 closes nothing"),
        ({"filter": "(cn=x)(sn=y)"},
         "filter: bad filter '(cn=x)(sn=y)': text after the filter at position 7"),
        ({"filter": "(cn~x)"}, "filter: bad filter '(cn~x)': each part must read (attribute="),
        ({"base_dn": "dc=corp,,dc=example"}, "base_dn: not a valid DN: "),
        ({"flavor": "novell"}, "flavor: Input should be 'ad', 'openldap', 'domino' or 'generic'"),
        ({"objects": "groups"}, "objects: flavor ad has users, contacts, all, not 'groups'"),
        ({"flavor": "openldap", "skip_disabled": True},
         "skip_disabled: only for flavor ad (it reads userAccountControl and accountExpires)"),
        ({"page_size": 0}, "page_size: must be at least 1, not 0"),
        ({"password_file": "secret.txt"},
         "give either 'password' or 'password_file', not both"),
        ({"password": None, "password_file": "missing.txt"},
         "password_file: cannot read "),
        ({"base": BASE}, "base: unknown key (did you mean 'base_dn'?)"),
        ({"mapping": {"mobil": "mobile"}}, "mapping.mobil: unknown attribute (did you mean"),
        ({"preset_mapping": False}, "mapping: required when preset_mapping is false"),
    ],
)  # fmt: skip
def test_settings_errors_name_the_key(tmp_path: Path, change: dict, problem: str) -> None:
    rep = {k: v for k, v in {**settings("ldap://dc1"), **change}.items() if v is not None}
    with pytest.raises(ConfigError) as raised:
        write_config(tmp_path, rep)
    assert any(
        "directories[0].replicators[0]" in p and problem in p for p in raised.value.problems
    ), raised.value.problems


def test_settings_defaults_and_secrets(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("from-a-file\n", encoding="utf-8")
    rep = {k: v for k, v in settings("ldap://dc1").items() if k != "password"}
    config = write_config(tmp_path, {**rep, "password_file": "secret.txt", "filter": "sn=x"})
    ldap = config.directories[0].replicators[0]
    assert isinstance(ldap, LdapConfig)
    assert ldap.password.get_secret_value() == "from-a-file"
    assert "from-a-file" not in repr(ldap)
    assert ldap.search_filter == "(sn=x)"
    assert (ldap.page_size, ldap.tls.verify, ldap.tls.start_tls) == (500, True, False)
    assert ldap.key_attributes == ("objectGUID", "dn")
    anonymous = LdapConfig.model_validate({"name": "x", "type": "ldap", "url": "ldaps://h",
                                           "base_dn": BASE})  # fmt: skip
    assert anonymous.search_filter == "(objectClass=person)"  # flavor generic


def test_check_command_finds_a_typo_in_the_mapping(source: SourceSlapd, tmp_path: Path) -> None:
    import subprocess
    import sys

    def check() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "metadir", "check", "-c", str(tmp_path / "metadir.yaml")],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    write_config(tmp_path, settings(source.url, mapping={"custom1": "sAMAccountName"}))
    done = check()
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    write_config(tmp_path, settings(source.url, mapping={"mobile": "mobil"}))
    done = check()
    assert done.returncode == 1
    assert "directories[0].replicators[0].mapping.mobile: the source has no field 'mobil'" in (
        done.stderr
    )


# --- a broken entry keeps its key where it can be trusted ------------------------------

GUID = uuid.UUID("4f3c5b0e-6d2a-4e7b-9a43-1c2d3e4f5a6b")
DN = "CN=Jürgen Müller,OU=Users,DC=corp,DC=example"


@pytest.mark.parametrize(
    ("attributes", "key"),
    [
        # a bad value beside the key: the key was read, the contact stays as it was
        ({"objectGUID": [GUID.bytes_le], "sn": [b"M\xfcller"]}, (str(GUID),)),
        ({"objectGUID": [GUID.bytes_le], "userAccountControl": [b"x"]}, (str(GUID),)),
        # no objectGUID at all: the DN is the key
        ({"sn": [b"M\xfcller"]}, ("cn=jürgen müller,ou=users,dc=corp,dc=example",)),
        # the key itself cannot be read: falling back to the DN would be another key
        ({"objectGUID": [b"short"], "sn": [b"Meier"]}, None),
    ],
    ids=["bad-value", "bad-account-control", "dn-key", "bad-key"],
)
def test_a_broken_entry_carries_its_key_if_it_can_be_trusted(
    attributes: dict[str, list[bytes]], key: tuple[str, ...] | None
) -> None:
    reader = EntryReader(
        ["objectGUID", "sn", "userAccountControl", "accountExpires"],
        ("objectGUID", "dn"),
        skip_disabled=True,
    )
    problem = reader.record(DN, attributes, 7)
    assert isinstance(problem, Problem)
    assert (problem.line, problem.key) == (7, key)
